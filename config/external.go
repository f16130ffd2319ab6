package config

import (
	"fmt"
	"time"

	"github.com/latentda/latentda/external"
)

// DefaultExternalTimeout is model.timeout's default for external models.
const DefaultExternalTimeout = 10 * time.Minute

// externalDefaults fills in an external model's defaults: nx is the state
// size, one process, a 10-minute timeout per request.
func (m *ModelConfig) externalDefaults() {
	if m.Nx == 0 {
		m.Nx = m.StateSize
	}
	if m.Processes == 0 {
		m.Processes = 1
	}
	if m.Timeout == 0 {
		m.Timeout = DefaultExternalTimeout
	}
}

// ValidateExternal checks the fields of an external model, and that the
// other models do not set them, without starting the model.
func (m ModelConfig) ValidateExternal() error {
	if m.Name != "external" {
		if len(m.Command) > 0 || len(m.Env) > 0 || m.Workdir != "" || m.StateSize != 0 || m.Processes != 0 || m.Timeout != 0 || m.Transport != "" {
			return fmt.Errorf("model: command, env, workdir, state_size, processes, timeout and transport are for model external, not %s", m.Name)
		}
		return nil
	}
	if m.Forcing != 0 || m.Length != 0 || m.Sigma != 0 || m.Rho != 0 || m.Beta != 0 {
		return fmt.Errorf("model: forcing, length, sigma, rho and beta are not parameters of model external (pass the program its parameters in command or env)")
	}
	if m.Nx != m.StateSize {
		return fmt.Errorf("model.nx: %d differs from model.state_size %d (leave nx out)", m.Nx, m.StateSize)
	}
	if err := m.External().Validate(); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	return nil
}

// External is the external model's configuration (model name external).
func (m ModelConfig) External() external.Config {
	return external.Config{Command: m.Command, Env: m.Env, Workdir: m.Workdir, StateSize: m.StateSize,
		Dt: m.Dt, Processes: m.Processes, Timeout: m.Timeout, Transport: m.Transport}
}
