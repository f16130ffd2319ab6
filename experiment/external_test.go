package experiment

import (
	"strings"
	"testing"
	"time"
)

func TestExternalModelConfig(t *testing.T) {
	base := func() Config {
		c := DapperConfigs(1000)["l96-etkf"]
		c.Model = ModelConfig{Name: "external", Command: []string{"./l96go"}, StateSize: 40, Dt: 0.05}
		return c
	}
	c := base().WithDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("valid external config: %v", err)
	}
	if m := c.Model; m.Nx != 40 || m.Processes != 1 || m.Timeout != DefaultExternalTimeout {
		t.Errorf("defaults: nx %d, processes %d, timeout %v; want 40, 1, %v", m.Nx, m.Processes, m.Timeout, DefaultExternalTimeout)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no command", func(c *Config) { c.Model.Command = nil }, "command"},
		{"no dt", func(c *Config) { c.Model.Dt = 0 }, "dt"},
		{"no state size", func(c *Config) { c.Model.StateSize = 0 }, "state_size"},
		{"nx differs", func(c *Config) { c.Model.Nx = 41 }, "model.nx"},
		{"forcing", func(c *Config) { c.Model.Forcing = 8 }, "not parameters of model external"},
		{"negative timeout", func(c *Config) { c.Model.Timeout = -time.Second }, "timeout"},
		{"command for lorenz96", func(c *Config) {
			c.Model = ModelConfig{Name: "lorenz96", Command: []string{"x"}}
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
