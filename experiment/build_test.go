package experiment

import (
	"strings"
	"testing"

	"github.com/latentda/latentda/config"
)

const validYAML = `
name: l96-etkf
seed: 7
cycles: 100
burn_in: 1
model: {name: lorenz96, nx: 40, forcing: 8, dt: 0.05}
observations: {operator: every-k, every: 2, variance: 1}
filter: {method: etkf, members: 20, inflation: 1.02, rotate: true}
`

// TestBuildRejects covers errors that only the numerics can see.
func TestBuildRejects(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"every-k beyond state", strings.Replace(validYAML, "every: 2", "every: 2, offset: 99", 1), "observations"},
		{"subset out of range", strings.Replace(validYAML, "operator: every-k, every: 2", "operator: subset, indices: [1, 40]", 1), "observations"},
		{"l96 too small", strings.Replace(validYAML, "nx: 40", "nx: 3", 1), "model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(tc.yaml))
			if err == nil {
				_, err = Build(cfg)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// FuzzParse checks that no input makes Parse panic and that an accepted
// config builds or is rejected with an error.
func FuzzParse(f *testing.F) {
	f.Add([]byte(validYAML))
	f.Add([]byte("name: x\ncycles: 3\nmodel: {name: lorenz63}\nfilter: {method: enkf, members: 3}\n"))
	f.Add([]byte("name: x\ncycles: 3\nmodel: {name: ks, nx: 16}\nfilter: {method: letkf, members: 3, loc_radius: 2}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse(data)
		if err != nil {
			return
		}
		if cfg.Model.Nx > 4096 || cfg.Filter.Members > 64 {
			return // valid but too big to build quickly
		}
		_, _ = Build(cfg)
	})
}
