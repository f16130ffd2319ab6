package experiment

import "github.com/latentda/latentda/config"

// DapperConfigs returns the twin experiments of the DAPPER benchmark suite
// (dapper/mods/Lorenz63/sakov2012.py, Lorenz96/sakov2008.py,
// KS/bocquet2019.py) by name (l63-etkf, l63-enkf, l96-etkf, l96-enkf,
// l96-denkf, l96-letkf, ks-letkf, ks-etkf; examples/NAME.yaml is each one
// as a file), with cycles analysis cycles each (0: the defaults, chosen so
// that the time means are stable to about 1%). The published RMSEs they
// reproduce are in the bench package's table.
func DapperConfigs(cycles int) map[string]config.Config {
	n := func(def int) int {
		if cycles > 0 {
			return cycles
		}
		return def
	}
	l63 := func(name, method string, members int, infl config.Inflation, rot bool) config.Config {
		return config.Config{
			Name: name, Seed: 3, Cycles: n(20000), BurnIn: 16,
			Model:        config.ModelConfig{Name: "lorenz63", Dt: 0.01},
			Observations: config.ObsConfig{Operator: "identity", Variance: 2, StepsBetween: 25},
			Filter:       config.FilterConfig{Method: method, Members: members, Inflation: infl, Rotate: rot},
			Init:         config.InitConfig{Variance: 2},
		}
	}
	l96 := func(name, method string, members int, infl config.Inflation, rot bool, loc float64, batch int) config.Config {
		return config.Config{
			Name: name, Seed: 3, Cycles: n(10000), BurnIn: 20,
			Model:        config.ModelConfig{Name: "lorenz96", Nx: 40, Forcing: 8, Dt: 0.05},
			Observations: config.ObsConfig{Operator: "identity", Variance: 1, StepsBetween: 1},
			Filter:       config.FilterConfig{Method: method, Members: members, Inflation: infl, Rotate: rot, LocRadius: loc, BatchSize: batch},
			Init:         config.InitConfig{Variance: 0.001},
		}
	}
	ks := func(name, method string, members int, infl config.Inflation, loc float64, batch int) config.Config {
		return config.Config{
			Name: name, Seed: 3, Cycles: n(5000), BurnIn: 200,
			Model:        config.ModelConfig{Name: "ks", Nx: 128, Dt: 0.5},
			Observations: config.ObsConfig{Operator: "identity", Variance: 1, StepsBetween: 2},
			Filter:       config.FilterConfig{Method: method, Members: members, Inflation: infl, Rotate: true, LocRadius: loc, BatchSize: batch},
			Init:         config.InitConfig{Variance: 0.001},
		}
	}
	out := map[string]config.Config{}
	for _, c := range []config.Config{
		l63("l63-etkf", "etkf", 10, 1.02, true),
		l63("l63-enkf", "enkf", 10, 1.04, false),
		l96("l96-etkf", "etkf", 24, 1.013, true, 0, 0),
		l96("l96-enkf", "enkf", 40, 1.06, false, 0, 0),
		l96("l96-denkf", "denkf", 40, 1.01, false, 0, 0),
		l96("l96-letkf", "letkf", 7, 1.04, true, 4, 2),
		// DAPPER's loc_rad=51/1.82 with batches of 4 grid points.
		ks("ks-letkf", "letkf", 16, 1.02, 51/1.82, 4),
		ks("ks-etkf", "etkf", 20, 1.03, 0, 0),
	} {
		out[c.Name] = c
	}
	return out
}
