package experiment

import (
	"strings"
	"testing"
	"time"

	"github.com/latentda/latentda/config"
)

func TestExternalModelConfig(t *testing.T) {
	base := func() config.Config {
		c := DapperConfigs(1000)["l96-etkf"]
		c.Model = config.ModelConfig{Name: "external", Command: []string{"./l96go"}, StateSize: 40, Dt: 0.05}
		return c
	}
	c := base().WithDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("valid external config: %v", err)
	}
	if m := c.Model; m.Nx != 40 || m.Processes != 1 || m.Timeout != config.DefaultExternalTimeout {
		t.Errorf("defaults: nx %d, processes %d, timeout %v; want 40, 1, %v", m.Nx, m.Processes, m.Timeout, config.DefaultExternalTimeout)
	}
	for _, tc := range []struct {
		name string
		edit func(*config.Config)
		want string
	}{
		{"no command", func(c *config.Config) { c.Model.Command = nil }, "command"},
		{"no dt", func(c *config.Config) { c.Model.Dt = 0 }, "dt"},
		{"no state size", func(c *config.Config) { c.Model.StateSize = 0 }, "state_size"},
		{"nx differs", func(c *config.Config) { c.Model.Nx = 41 }, "model.nx"},
		{"forcing", func(c *config.Config) { c.Model.Forcing = 8 }, "not parameters of model external"},
		{"negative timeout", func(c *config.Config) { c.Model.Timeout = -time.Second }, "timeout"},
		{"unknown transport", func(c *config.Config) { c.Model.Transport = "mmap" }, "transport"},
		{"transport for lorenz96", func(c *config.Config) {
			c.Model = config.ModelConfig{Name: "lorenz96", Nx: 40, Forcing: 8, Dt: 0.05, Transport: "shm"}
		}, "for model external, not lorenz96"},
		{"command for lorenz96", func(c *config.Config) {
			c.Model = config.ModelConfig{Name: "lorenz96", Command: []string{"x"}}
		}, "for model external, not lorenz96"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(&c)
			err := c.WithDefaults().Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
