package config

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/latentda/latentda/store"
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

func TestParseValid(t *testing.T) {
	cfg, err := Parse([]byte(validYAML))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Seed != 7 || cfg.Model.Nx != 40 || cfg.Observations.Every != 2 || cfg.Filter.Members != 20 {
		t.Errorf("unexpected config %+v", cfg)
	}
	if cfg.Observations.StepsBetween != 1 || cfg.Init.Variance != 0.001 {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	// Marshal then Parse is the identity on a defaulted config.
	data, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(data)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, data)
	}
	if again.Name != cfg.Name || !reflect.DeepEqual(again.Model, cfg.Model) || again.Filter != cfg.Filter {
		t.Errorf("round trip changed the config:\n%+v\n%+v", cfg, again)
	}
}

// TestStoreSection: the store section's settings become the retention
// policy; the settings left out keep everything, and a config without
// the section keeps everything.
func TestStoreSection(t *testing.T) {
	cfg, err := Parse([]byte(validYAML + "store: {forecast: mean, analysis: every 10}\n"))
	if err != nil {
		t.Fatal(err)
	}
	keep, err := cfg.Store.Retention()
	want := store.Retention{Forecast: store.Keep{MeanOnly: true}, Analysis: store.Keep{Every: 10}}
	if err != nil || keep != want || cfg.Store.Latent != StoreAll {
		t.Errorf("store section %+v gives %+v (%v), want %+v", cfg.Store, keep, err, want)
	}
	plain, err := Parse([]byte(validYAML))
	if err != nil {
		t.Fatal(err)
	}
	if keep, err := plain.Store.Retention(); plain.Store != nil || keep != (store.Retention{}) || err != nil {
		t.Errorf("no store section: %+v gives %+v (%v), want everything kept", plain.Store, keep, err)
	}
}

func TestParseRejects(t *testing.T) {
	replace := func(old, new string) string { return strings.Replace(validYAML, old, new, 1) }
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"empty", "", "empty config"},
		{"not yaml", "{{{", "invalid YAML"},
		{"key written twice", replace("seed: 7", "seed: 7\nseed: 8"), `invalid YAML: line 4: mapping key "seed" already defined at line 3`},
		{"keys written twice", replace("seed: 7", "seed: 7\nseed: 8") + "cycles: 5\n", `invalid YAML: line 4: mapping key "seed" already defined at line 3; line 10: mapping key "cycles" already defined at line 5`},
		{"unknown field", validYAML + "colour: red\n", "colour: line 9: unknown key; the keys at the top level are name, seed, cycles"},
		{"misspelt nested field", replace("forcing: 8", "forcin: 8"), "model.forcin: line 6: unknown key; the keys under model are name, dt, nx, forcing,"},
		{"wrong type", replace("cycles: 100", "cycles: many"), "cycles: line 4: want an integer, got many"},
		{"float for an integer", replace("cycles: 100", "cycles: 1.5"), "cycles: line 4: want an integer, got 1.5"},
		{"mapping for a number", replace("burn_in: 1", "burn_in: {a: 1}"), "burn_in: line 5: want a number, got a mapping"},
		{"scalar for a mapping", validYAML + "init: 3\n", "init: line 9: want a mapping with keys variance, got 3"},
		{"list element", replace("variance: 1}", "variance: 1, indices: [1, x]}"), "observations.indices[1]: line 7: want an integer, got x"},
		{"bool", replace("rotate: true", "rotate: yes please"), "filter.rotate: line 8: want true or false"},
		{"unknown fan-out key", validYAML + "orchestration: {fanout: {members: 3}}\n", "orchestration.fanout.members: line 9: unknown key; the keys under orchestration.fanout are members_per_task, heartbeat_timeout"},
		{"fan-out batch too large", validYAML + "orchestration: {fanout: {members_per_task: 21}}\n", "orchestration.fanout.members_per_task: must be 1..20 (filter.members), got 21"},
		{"fan-out batch missing", validYAML + "orchestration: {fanout: {heartbeat_timeout: 10s}}\n", "orchestration.fanout.members_per_task: required by orchestration.fanout"},
		{"fan-out batch 0", validYAML + "orchestration: {fanout: {members_per_task: 0}}\n", "orchestration.fanout.members_per_task: must be 1..20 (filter.members), got 0"},
		{"fan-out heartbeat type", validYAML + "orchestration: {fanout: {members_per_task: 2, heartbeat_timeout: 10}}\n", "orchestration.fanout.heartbeat_timeout: line 9: want a duration such as 30s or 2m, got 10"},
		{"fan-out heartbeat short", validYAML + "orchestration: {fanout: {members_per_task: 2, heartbeat_timeout: 10ms}}\n", "orchestration.fanout.heartbeat_timeout: must be a duration of at least 1s"},
		{"fan-out moved", validYAML + "forecast: {fanout: {members_per_task: 2}}\n", "forecast.fanout: line 9: moved to orchestration.fanout"},
		{"blocks moved", replace("rotate: true", "rotate: true, blocks: 2"), "filter.blocks: line 8: moved to orchestration.blocks"},
		{"unknown activity", validYAML + "orchestration: {activity: remote}\n", `orchestration.activity: want local or regular, got "remote"`},
		{"unknown store key", validYAML + "store: {truth: mean}\n", "store.truth: line 9: unknown key; the keys under store are forecast, analysis, latent"},
		{"store setting", validYAML + "store: {analysis: every 0}\n", `store.analysis: "every 0": want all, mean (mean and spread only) or every K`},
		{"store setting case", validYAML + "store: {forecast: Mean}\n", `store.forecast: "Mean": want all, mean`},
		{"store setting type", validYAML + "store: {latent: 3}\n", `store.latent: "3": want all, mean`},
		{"negative batch", validYAML + "orchestration: {batch_cycles: -1}\n", "orchestration.batch_cycles: must be >= 1"},
		{"no name", replace("name: l96-etkf", "name: ''"), "name: required"},
		{"cycles 0", replace("cycles: 100", "cycles: 0"), "cycles: must be >= 1, got 0"},
		{"no cycles", replace("cycles: 100\n", ""), "cycles: required (the number of forecast–analysis cycles, >= 1)"},
		{"cycles null", replace("cycles: 100", "cycles: null"), "cycles: required"},
		{"negative burn-in", replace("burn_in: 1", "burn_in: -1"), "burn_in: must be"},
		{"burn-in too long", replace("burn_in: 1", "burn_in: 5"), "leaves none"},
		{"no model", replace("name: lorenz96,", "name: '',"), "model.name: required"},
		{"unknown model", replace("name: lorenz96,", "name: lorenz84,"), `unknown model "lorenz84"`},
		{"l63 nx", replace("name: lorenz96, nx: 40", "name: lorenz63, nx: 40"), "lorenz63 has 3 variables"},
		{"negative noise", replace("dt: 0.05}", "dt: 0.05, noise: -1}"), "model.noise"},
		{"unknown operator", replace("every-k", "every-q"), `unknown operator "every-q"`},
		{"zero obs variance", replace("variance: 1}", "variance: -2}"), "observations.variance"},
		{"one member", replace("members: 20", "members: 1"), "filter.members: need at least 2"},
		{"members 0", replace("members: 20", "members: 0"), "filter.members: need at least 2 members, got 0"},
		{"no members", replace("members: 20, ", ""), "filter.members: required (the ensemble size, >= 2)"},
		{"external without state_size", replace("name: lorenz96, nx: 40, forcing: 8, dt: 0.05", "name: external, command: [./m], dt: 0.05"),
			"model.state_size: required by model external (its number of variables, >= 1)"},
		{"external without dt", replace("name: lorenz96, nx: 40, forcing: 8, dt: 0.05", "name: external, command: [./m], state_size: 40"),
			"model.dt: required by model external (its time step, > 0)"},
		{"huge ensemble", replace("members: 20", "members: 100000"), "at most 10000"},
		{"unknown method", replace("method: etkf", "method: 4dvar"), `filter.method: unknown method "4dvar"`},
		{"no method", replace("method: etkf, ", ""), "filter.method: required (one of [etkf"},
		{"letkf without radius", replace("method: etkf", "method: letkf"), "filter.loc_radius: required by method letkf (the localisation radius, > 0)"},
		{"letkf radius 0", replace("method: etkf", "method: letkf, loc_radius: 0"), "letkf needs a finite localisation radius > 0, got 0"},
		{"weight stride for the etkf", replace("rotate: true", "rotate: true, weight_stride: 2"), "filter.weight_stride: 2 is for the letkf, not etkf"},
		{"negative weight stride", replace("method: etkf", "method: letkf, loc_radius: 4, weight_stride: -1"), "filter.weight_stride: must be >= 1, got -1"},
		{"weight stride of every batch", replace("method: etkf", "method: letkf, loc_radius: 4, batch_size: 2, weight_stride: 20"),
			"filter.weight_stride: 20 must be below the number of batches of grid points, 20 (model.nx 40, filter.batch_size 2)"},
		{"zero inflation", replace("inflation: 1.02", "inflation: -1"), "inflation"},
		{"NaN inflation", replace("inflation: 1.02", "inflation: .nan"), "inflation"},
		{"negative init variance", validYAML + "init: {variance: -1}\n", "init.variance"},
		{"steps_between", replace("variance: 1}", "variance: 1, steps_between: -3}"), "steps_between"},
		{"tiny dt", replace("dt: 0.05}", "dt: 1e-9}"), "model.dt: 1e-09 takes 5e+10 steps to spin up the reference state (50 time units); at most 1e+07 (dt >= 5e-06)"},
		{"negative dt", replace("dt: 0.05}", "dt: -0.05}"), "model.dt: must be finite and > 0, got -0.05"},
		{"l96 nx", replace("nx: 40", "nx: 2"), "model.nx: lorenz96 needs at least 4 variables, got 2"},
		{"ks nx", replace("name: lorenz96, nx: 40, forcing: 8, dt: 0.05", "name: ks, nx: 33"), "model.nx: ks needs an even number of grid points >= 8, got 33"},
		{"NaN forcing", replace("forcing: 8", "forcing: .nan"), "model.forcing: must be finite"},
		{"another model's parameter", replace("forcing: 8", "forcing: 8, sigma: 12"), "model.sigma: not a parameter of lorenz96 (its own: forcing)"},
		{"forcing for ks", replace("name: lorenz96, nx: 40, forcing: 8, dt: 0.05", "name: ks, forcing: 3"), "model.forcing: not a parameter of ks (its own: length)"},
		{"every-k without every", replace("every: 2, ", ""), "observations.every: required by operator every-k (observe every k-th variable: k from 1 to model.nx)"},
		{"every-k every 0", replace("every: 2", "every: 0"), "observations.every: must be 1..40 (model.nx), got 0"},
		{"every-k offset", replace("every: 2,", "every: 2, offset: 40,"), "observations.offset: must be 0..39"},
		{"every-k with indices", replace("every: 2,", "every: 2, indices: [1],"), "observations.indices: not for operator every-k"},
		{"identity with every", replace("operator: every-k", "operator: identity"), "observations: every, offset and indices are not for operator identity"},
		{"subset without indices", replace("operator: every-k, every: 2,", "operator: subset,"), "observations.indices: operator subset needs"},
		{"subset index out of range", replace("operator: every-k, every: 2,", "operator: subset, indices: [0, 40],"), "observations.indices[1]: must be 0..39 (model.nx − 1), got 40"},
		{"subset index twice", replace("operator: every-k, every: 2,", "operator: subset, indices: [3, 3],"), "observations.indices[1]: variable 3 is observed twice"},
		{"radius for the etkf", replace("rotate: true", "rotate: true, loc_radius: 4"), "filter.loc_radius: and filter.batch_size are for the letkf, not etkf"},
		{"batch size overflow", replace("method: etkf", "method: letkf, loc_radius: 4, batch_size: 9223372036854775807"), "filter.batch_size: must be 0..40"},
		{"hybrid-local with the EnKF-N", replace("method: etkf, members: 20, inflation: 1.02", "method: letkf, loc_radius: 4, members: 20, inflation: adaptive") +
			"latent: {generator: g.arrow, analysis: hybrid-local, update: increment}\n", "hybrid-local takes filter.adaptive.scheme local-innovation"},
		{"octal-looking seed", replace("seed: 7", "seed: 0042"), "seed: line 3: want an integer >= 0, got 0042"},
		{"octal-looking members", replace("members: 20", "members: 010"), "filter.members: line 8: want an integer, got 010"},
		{"hex integer", replace("cycles: 100", "cycles: 0x64"), "cycles: line 4: want an integer, got 0x64"},
		{"yes for a boolean", replace("rotate: true", "rotate: yes"), "filter.rotate: line 8: want true or false, got yes"},
		{"quoted boolean", replace("rotate: true", `rotate: "true"`), `filter.rotate: line 8: want true or false, got "true" (a string)`},
		{"tagged integer", replace("cycles: 100", "cycles: !!str 100"), "cycles: line 4: want an integer, got !!str 100"},
		{"on for a boolean", replace("rotate: true", "rotate: on"), "filter.rotate: line 8: want true or false, got on"},
		{"quoted inflation", replace("inflation: 1.02", `inflation: "1.02"`), `filter.inflation: line 8: want a number > 0 or adaptive, got "1.02" (a string)`},
		{"hex-float inflation", replace("inflation: 1.02", "inflation: 0x1p0"), `filter.inflation: line 8: want a number > 0 or adaptive, got 0x1p0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error of more than one line: %q", err)
			}
		})
	}
}

// TestParseOrchestration: the orchestration section takes its defaults and
// is written back with them; a config.yaml written before the analysis
// blocks moved (it holds filter.blocks: 0) reads as the same config.
func TestParseOrchestration(t *testing.T) {
	cfg, err := Parse([]byte(validYAML + "orchestration: {fanout: {members_per_task: 4}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Orchestration{Activity: ActivityLocal, BatchCycles: DefaultBatchCycles, Fanout: &FanoutConfig{MembersPerTask: 4, HeartbeatTimeout: DefaultFanoutHeartbeat}}
	if o := cfg.Orchestrated(); o.Activity != want.Activity || o.BatchCycles != want.BatchCycles || o.Blocks != 0 || *o.Fanout != *want.Fanout {
		t.Errorf("orchestration %+v (fan-out %+v), want %+v (fan-out %+v)", o, o.Fanout, want, want.Fanout)
	}
	if o := (Config{}).Orchestrated(); o.Activity != ActivityLocal || o.BatchCycles != DefaultBatchCycles || o.Fanout != nil || o.Blocks != 0 {
		t.Errorf("no section: orchestration %+v, want the defaults", o)
	}
	plain, err := Parse([]byte(validYAML))
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := Parse([]byte(strings.Replace(validYAML, "rotate: true}", "rotate: true, blocks: 0}", 1)))
	if err != nil {
		t.Fatalf("filter.blocks: 0 of an old config.yaml: %v", err)
	}
	a, _ := plain.Marshal()
	b, _ := legacy.Marshal()
	if !bytes.Equal(a, b) {
		t.Errorf("old config.yaml reads as\n%s\nwant\n%s", b, a)
	}
}

// TestParseWrittenZero: a key written with a zero value that a default
// would replace is rejected, naming the key and its default; the same key
// left out or written null takes the default, and a zero that is the
// user's value (no default replaces it) is used.
func TestParseWrittenZero(t *testing.T) {
	replace := func(old, new string) string { return strings.Replace(validYAML, old, new, 1) }
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"observations.variance", replace("variance: 1}", "variance: 0}"), "observations.variance: line 7: 0 means unset here, which takes the default 1;"},
		{"model.dt", replace("dt: 0.05", "dt: 0"), "model.dt: line 6: 0 means unset here, which takes the default 0.05;"},
		{"model.dt as 0.0", replace("dt: 0.05", "dt: 0.0"), "model.dt: line 6: 0 means unset"},
		{"model.nx", replace("nx: 40", "nx: 0"), "model.nx: line 6: 0 means unset here, which takes the default 40;"},
		{"model.forcing", replace("forcing: 8", "forcing: 0"), "model.forcing: line 6: 0 means unset here, which takes the default 8;"},
		{"seed", replace("seed: 7", "seed: 0"), "seed: line 3: 0 means unset here, which takes the default 1;"},
		{"steps_between", replace("variance: 1}", "variance: 1, steps_between: 0}"), "observations.steps_between: line 7: 0 means unset"},
		{"operator empty string", replace("operator: every-k, every: 2", `operator: ""`), `observations.operator: line 7: "" means unset here, which takes the default "identity";`},
		{"init.variance", validYAML + "init: {variance: 0}\n", "init.variance: line 9: 0 means unset here, which takes the default 0.001;"},
		{"l63 rho", "name: a\ncycles: 10\nmodel: {name: lorenz63, rho: 0}\nfilter: {method: etkf, members: 3}\n", "model.rho: line 3: 0 means unset here, which takes the default 28;"},
		{"ood.alpha", validYAML + "ood: {alpha: 0}\n", "ood.alpha: line 9: 0 means unset here, which takes the default 0.01;"},
		{"latent.projection_iters", validYAML + "latent: {generator: identity, projection_iters: 0}\n", "latent.projection_iters: line 9: 0 means unset"},
		{"orchestration.batch_cycles", validYAML + "orchestration: {batch_cycles: 0}\n", "orchestration.batch_cycles: line 9: 0 means unset here, which takes the default 50;"},
		{"fan-out heartbeat", validYAML + "orchestration: {fanout: {members_per_task: 2, heartbeat_timeout: 0s}}\n", "orchestration.fanout.heartbeat_timeout: line 9: 0s means unset here, which takes the default 1m0s;"},
		{"filter.inflation", replace("inflation: 1.02", "inflation: 0"), "filter.inflation: line 8: want a number > 0 or adaptive, got 0"},
		{"second document", validYAML + "---\nname: other\n", "line 10: a second YAML document; a config file holds one document"},
		{"second empty-mapping document", validYAML + "---\n{}\n", "a second YAML document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name, yaml string
		ok         func(Config) bool
	}{
		{"dt left out takes the default", replace(", dt: 0.05", ""), func(c Config) bool { return c.Model.Dt == 0.05 }},
		{"dt null takes the default", replace("dt: 0.05", "dt: null"), func(c Config) bool { return c.Model.Dt == 0.05 }},
		{"noise 0 is used (no default replaces it)", replace("dt: 0.05}", "dt: 0.05, noise: 0}"), func(c Config) bool { return c.Model.Noise == 0 }},
		{"offset 0 is used", replace("every: 2", "every: 2, offset: 0"), func(c Config) bool { return c.Observations.Offset == 0 }},
		{"burn_in 0 is used", replace("burn_in: 1", "burn_in: 0"), func(c Config) bool { return c.BurnIn == 0 }},
		{"document start marker alone", "---\n" + validYAML, func(c Config) bool { return c.Name == "l96-etkf" }},
		{"members by an alias", strings.Replace(replace("cycles: 100", "cycles: &n 25"), "members: 20", "members: *n", 1), func(c Config) bool { return c.Filter.Members == 25 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.yaml))
			if err != nil || !tc.ok(cfg) {
				t.Fatalf("got %+v, %v", cfg, err)
			}
		})
	}
}

// FuzzParse: any bytes parse to a valid config or an error, without a
// panic; a parsed config's estimates are finite or +Inf, never negative.
func FuzzParse(f *testing.F) {
	f.Add([]byte(validYAML))
	f.Add([]byte(validYAML + "---\nname: b\n"))
	f.Add([]byte(strings.Replace(validYAML, "variance: 1}", "variance: 0}", 1)))
	f.Add([]byte(validYAML + "latent: {generator: identity, projection_iters: 0}\n"))
	f.Add([]byte(validYAML + "ood: {tests: [innovation], outlier_k: 4}\nanomaly: {pattern: wave, amplitude: 1, width: 2}\n"))
	f.Add([]byte(strings.Replace(validYAML, "method: etkf, members: 20, inflation: 1.02",
		"method: letkf, loc_radius: 4, members: 20, inflation: adaptive, adaptive: {scheme: local-innovation, prior_sd: 0.04}", 1)))
	f.Add([]byte(strings.Replace(validYAML, "method: etkf, members: 20, inflation: 1.02", "method: letkf, loc_radius: 4, members: 20, inflation: 1.02", 1) +
		"latent: {generator: g.arrow, analysis: hybrid-local, update: increment, alpha_estimate: {memory: 20}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid config: %v", err)
		}
		e := cfg.Estimate()
		for _, v := range []float64{e.MemoryBytes, e.DiskBytes, e.Seconds} {
			if !(v >= 0) {
				t.Fatalf("estimate %+v of %s", e, data)
			}
		}
	})
}

// TestOverrideWrittenZero: --set of a zero that a default would replace
// is refused like the same key in a file, without the line number of the
// YAML written internally.
// TestOverrideChangesDefault: a setting that changes which default applies
// to a key nobody wrote takes that default; the config the setting
// starts from holds the key as a zero (its defaults written out).
func TestOverrideChangesDefault(t *testing.T) {
	cfg := mustParse(t, validYAML+"ood: {tests: [outlier], outlier_control: bh}\n")
	got, err := cfg.Override([]string{"ood.outlier_control=none"})
	if err != nil || got.OOD.OutlierK != 3 {
		t.Errorf("ood.outlier_control=none: %v, outlier_k %v, want the default 3", err, got.OOD)
	}
}

func TestOverrideWrittenZero(t *testing.T) {
	cfg := mustParse(t, validYAML)
	_, err := cfg.Override([]string{"observations.variance=0"})
	want := "config: after observations.variance=0: observations.variance: 0 means unset here, which takes the default 1;"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}
