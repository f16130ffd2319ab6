package experiment

// BenchCase is one row of the DAPPER reference table: a published
// time-mean analysis RMSE for a set-up and a filter.
type BenchCase struct {
	Case      string  `json:"case"`
	Source    string  `json:"source"`
	Method    string  `json:"method"`
	Reference float64 `json:"reference"`
	Config    Config  `json:"-"`
}

// DapperCases returns the benchmark rows of the DAPPER suite
// (dapper/mods/Lorenz63/sakov2012.py, Lorenz96/sakov2008.py,
// KS/bocquet2019.py) with cycles analysis cycles each (0: the defaults,
// chosen so the time means are stable to about 1%).
func DapperCases(cycles int) []BenchCase {
	n := func(def int) int {
		if cycles > 0 {
			return cycles
		}
		return def
	}
	l63 := func(name, method string, members int, infl float64, rot bool) Config {
		return Config{
			Name: name, Seed: 3, Cycles: n(20000), BurnIn: 16,
			Model:        ModelConfig{Name: "lorenz63", Dt: 0.01},
			Observations: ObsConfig{Operator: "identity", Variance: 2, StepsBetween: 25},
			Filter:       FilterConfig{Method: method, Members: members, Inflation: infl, Rotate: rot},
			Init:         InitConfig{Variance: 2},
		}
	}
	l96 := func(name, method string, members int, infl float64, rot bool, loc float64, batch int) Config {
		return Config{
			Name: name, Seed: 3, Cycles: n(10000), BurnIn: 20,
			Model:        ModelConfig{Name: "lorenz96", Nx: 40, Forcing: 8, Dt: 0.05},
			Observations: ObsConfig{Operator: "identity", Variance: 1, StepsBetween: 1},
			Filter:       FilterConfig{Method: method, Members: members, Inflation: infl, Rotate: rot, LocRadius: loc, BatchSize: batch},
			Init:         InitConfig{Variance: 0.001},
		}
	}
	ks := func(name, method string, members int, infl float64, loc float64, batch int) Config {
		return Config{
			Name: name, Seed: 3, Cycles: n(5000), BurnIn: 200,
			Model:        ModelConfig{Name: "ks", Nx: 128, Dt: 0.5},
			Observations: ObsConfig{Operator: "identity", Variance: 1, StepsBetween: 2},
			Filter:       FilterConfig{Method: method, Members: members, Inflation: infl, Rotate: true, LocRadius: loc, BatchSize: batch},
			Init:         InitConfig{Variance: 0.001},
		}
	}
	return []BenchCase{
		{"L63", "Sakov 2012", "ETKF N=10 infl=1.02 rot", 0.60, l63("l63-etkf", "etkf", 10, 1.02, true)},
		{"L63", "Sakov 2012", "EnKF N=10 infl=1.04", 0.65, l63("l63-enkf", "enkf", 10, 1.04, false)},
		{"L96", "Sakov 2008", "ETKF N=24 infl=1.013 rot", 0.18, l96("l96-etkf", "etkf", 24, 1.013, true, 0, 0)},
		{"L96", "Sakov 2008", "EnKF N=40 infl=1.06", 0.22, l96("l96-enkf", "enkf", 40, 1.06, false, 0, 0)},
		{"L96", "Sakov 2008", "DEnKF N=40 infl=1.01", 0.18, l96("l96-denkf", "denkf", 40, 1.01, false, 0, 0)},
		{"L96", "Sakov 2008", "LETKF N=7 infl=1.04 rot loc=4", 0.22, l96("l96-letkf", "letkf", 7, 1.04, true, 4, 2)},
		// DAPPER's loc_rad=51/1.82 with batches of 4 grid points.
		{"KS", "Bocquet 2019", "LETKF N=16 infl=1.02 rot loc=28", 0.11, ks("ks-letkf", "letkf", 16, 1.02, 51/1.82, 4)},
		{"KS", "Bocquet 2019", "ETKF N=20 infl=1.03 rot", 0.115, ks("ks-etkf", "etkf", 20, 1.03, 0, 0)},
	}
}
