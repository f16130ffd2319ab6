package experiment

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/latentda/latentda/config"
)

func TestParseAdaptive(t *testing.T) {
	replace := func(old, new string) string { return strings.Replace(validYAML, old, new, 1) }
	letkf := func(infl string) string {
		return replace("method: etkf, members: 20, inflation: 1.02, rotate: true", "method: letkf, loc_radius: 4, members: 20, "+infl)
	}
	stochastic := func(old, new string) string {
		return strings.Replace(replace(old, new), "method: etkf", "method: enkf", 1)
	}
	for _, tc := range []struct {
		name, yaml string
		want       config.Inflation
		scheme     string  // the scheme the filter gets ("": none)
		xn, sd     float64 // 0: unset
		err        string
	}{
		{"number", validYAML, 1.02, "", 0, 0, ""},
		{"unset", replace("inflation: 1.02, ", ""), 1, "", 0, 0, ""},
		{"null", replace("inflation: 1.02", "inflation: null"), 1, "", 0, 0, ""},
		{"adaptive", replace("inflation: 1.02", "inflation: adaptive"), config.AdaptiveInflation, config.SchemeEnKFN, 0, 0, ""},
		{"adaptive with xn", replace("inflation: 1.02", "inflation: adaptive, adaptive: {xn: 2}"), config.AdaptiveInflation, config.SchemeEnKFN, 2, 0, ""},
		{"etkf innovation", replace("inflation: 1.02", "inflation: adaptive, adaptive: {scheme: innovation}"), config.AdaptiveInflation, config.SchemeInnovation, 0, 0, ""},
		{"enkf default", stochastic("inflation: 1.02", "inflation: adaptive"), config.AdaptiveInflation, config.SchemeInnovation, 0, 0, ""},
		{"enkf prior_sd", stochastic("inflation: 1.02", "inflation: adaptive, adaptive: {prior_sd: 0.1}"), config.AdaptiveInflation, config.SchemeInnovation, 0, 0.1, ""},
		{"letkf local-innovation", letkf("inflation: adaptive, adaptive: {scheme: local-innovation, prior_sd: 0.04}"), config.AdaptiveInflation, config.SchemeLocalInnovation, 0, 0.04, ""},
		{"local-innovation for the etkf", replace("inflation: 1.02", "inflation: adaptive, adaptive: {scheme: local-innovation}"), 0, "", 0, 0, "filter.adaptive.scheme: local-innovation is for the letkf (one estimate per local analysis), not etkf"},
		{"letkf local-innovation with the EnKF-N", letkf("inflation: adaptive, adaptive: {scheme: local-innovation, enkf_n: true, xn: 2, prior_sd: 0.04}"), config.AdaptiveInflation, config.SchemeLocalInnovation, 2, 0.04, ""},
		{"etkf innovation with the EnKF-N", replace("inflation: 1.02", "inflation: adaptive, adaptive: {scheme: innovation, enkf_n: true}"), config.AdaptiveInflation, config.SchemeInnovation, 0, 0, ""},
		{"enkf_n with enkf-n", replace("inflation: 1.02", "inflation: adaptive, adaptive: {enkf_n: true}"), 0, "", 0, 0, "filter.adaptive.enkf_n: adds the EnKF-N to the innovation and local-innovation schemes, not enkf-n"},
		{"latent hybrid-local with the EnKF-N", letkf("inflation: adaptive, adaptive: {scheme: local-innovation, enkf_n: true}") + "latent: {generator: identity, analysis: hybrid-local, update: increment, alpha: 0.9}\n", config.AdaptiveInflation, config.SchemeLocalInnovation, 0, 0, ""},
		{"latent hybrid-local, innovation with the EnKF-N", letkf("inflation: adaptive, adaptive: {scheme: innovation, enkf_n: true}") + "latent: {generator: identity, analysis: hybrid-local, update: increment, alpha: 0.9}\n", 0, "", 0, 0, "hybrid-local takes filter.adaptive.scheme local-innovation"},
		{"xn with local-innovation", letkf("inflation: adaptive, adaptive: {scheme: local-innovation, xn: 2}"), 0, "", 0, 0, "filter.adaptive.xn: tunes the enkf-n scheme (or enkf_n: true), not local-innovation"},
		{"enkf enkf-n written", stochastic("inflation: 1.02", "inflation: adaptive, adaptive: {scheme: enkf-n, xn: 3}"), config.AdaptiveInflation, config.SchemeEnKFN, 3, 0, ""},
		{"zero", replace("inflation: 1.02", "inflation: 0"), 0, "", 0, 0, "filter.inflation: line 8: want a number > 0 or adaptive, got 0"},
		{"negative", replace("inflation: 1.02", "inflation: -1"), 0, "", 0, 0, "filter.inflation: line 8: want a number > 0 or adaptive, got -1"},
		{"misspelt", replace("inflation: 1.02", "inflation: adaptiv"), 0, "", 0, 0, "want a number > 0 or adaptive, got adaptiv"},
		{"infinite", replace("inflation: 1.02", "inflation: .inf"), 0, "", 0, 0, "want a number > 0 or adaptive, got .inf"},
		{"xn without adaptive", replace("inflation: 1.02", "inflation: 1.02, adaptive: {xn: 2}"), 0, "", 0, 0, "filter.adaptive: tunes the adaptive inflation; set filter.inflation: adaptive (it is 1.02)"},
		{"scheme without adaptive", replace("inflation: 1.02", "inflation: 1.02, adaptive: {scheme: innovation}"), 0, "", 0, 0, "filter.adaptive: tunes the adaptive inflation; set filter.inflation: adaptive"},
		{"xn zero", replace("inflation: 1.02", "inflation: adaptive, adaptive: {xn: 0}"), 0, "", 0, 0, "filter.adaptive.xn: must be a finite number > 0, got 0"},
		{"unknown scheme", replace("inflation: 1.02", "inflation: adaptive, adaptive: {scheme: anderson}"), 0, "", 0, 0, `filter.adaptive.scheme: want enkf-n, innovation or local-innovation, got "anderson"`},
		{"xn with the enkf default", stochastic("inflation: 1.02", "inflation: adaptive, adaptive: {xn: 2}"), 0, "", 0, 0, "filter.adaptive.xn: tunes the enkf-n scheme (or enkf_n: true), not innovation"},
		{"xn with innovation", replace("inflation: 1.02", "inflation: adaptive, adaptive: {scheme: innovation, xn: 2}"), 0, "", 0, 0, "filter.adaptive.xn: tunes the enkf-n scheme (or enkf_n: true), not innovation"},
		{"prior_sd with enkf-n", replace("inflation: 1.02", "inflation: adaptive, adaptive: {prior_sd: 0.1}"), 0, "", 0, 0, "filter.adaptive.prior_sd: tunes the innovation and local-innovation schemes, not enkf-n"},
		{"prior_sd zero", stochastic("inflation: 1.02", "inflation: adaptive, adaptive: {prior_sd: 0}"), 0, "", 0, 0, "filter.adaptive.prior_sd: must be a finite number > 0, got 0"},
		{"prior_sd infinite", stochastic("inflation: 1.02", "inflation: adaptive, adaptive: {prior_sd: .inf}"), 0, "", 0, 0, "filter.adaptive.prior_sd: must be a finite number > 0, got +Inf"},
		{"latent hybrid-local local-innovation", letkf("inflation: adaptive, adaptive: {scheme: local-innovation}") + "latent: {generator: identity, analysis: hybrid-local, update: increment, alpha: 0.9}\n", config.AdaptiveInflation, config.SchemeLocalInnovation, 0, 0, ""},
		{"latent hybrid-local enkf-n", letkf("inflation: adaptive") + "latent: {generator: identity, analysis: hybrid-local, update: increment, alpha: 0.9}\n", 0, "", 0, 0, "hybrid-local takes filter.adaptive.scheme local-innovation"},
		{"latent iterative", replace("inflation: 1.02", "inflation: adaptive") + "latent: {generator: identity, analysis: iterative}\n", 0, "", 0, 0, "filter.inflation: adaptive is for the ensemble analyses, not a latent iterative or hybrid"},
		{"blocks", replace("method: etkf, members: 20, inflation: 1.02, rotate: true", "method: letkf, loc_radius: 4, members: 20, inflation: adaptive") + "orchestration: {blocks: 2}\n", 0, "", 0, 0, "filter.inflation: adaptive is not available with orchestration.blocks"},
		{"unknown adaptive key", replace("inflation: 1.02", "inflation: adaptive, adaptive: {prior: 2}"), 0, "", 0, 0, "filter.adaptive.prior: line 8: unknown key; the keys under filter.adaptive are scheme, enkf_n, xn, enkf_n_memory, prior_sd, min_inflation"},
		{"letkf enkf-n with a memory", letkf("inflation: adaptive, adaptive: {enkf_n_memory: 20}"), config.AdaptiveInflation, config.SchemeEnKFN, 0, 0, ""},
		{"letkf local-innovation with the EnKF-N and a memory", letkf("inflation: adaptive, adaptive: {scheme: local-innovation, enkf_n: true, enkf_n_memory: 20}"), config.AdaptiveInflation, config.SchemeLocalInnovation, 0, 0, ""},
		{"memory for the etkf", replace("inflation: 1.02", "inflation: adaptive, adaptive: {enkf_n_memory: 20}"), 0, "", 0, 0, "filter.adaptive.enkf_n_memory: averages the letkf's local EnKF-N (scheme enkf-n, or enkf_n: true), not enkf-n with etkf"},
		{"memory without the EnKF-N", letkf("inflation: adaptive, adaptive: {scheme: local-innovation, enkf_n_memory: 20}"), 0, "", 0, 0, "filter.adaptive.enkf_n_memory: averages the letkf's local EnKF-N (scheme enkf-n, or enkf_n: true), not local-innovation with letkf"},
		{"letkf local-innovation inflating only", letkf("inflation: adaptive, adaptive: {scheme: local-innovation, enkf_n: true, min_inflation: 1}"), config.AdaptiveInflation, config.SchemeLocalInnovation, 0, 0, ""},
		{"min_inflation with enkf-n", replace("inflation: 1.02", "inflation: adaptive, adaptive: {min_inflation: 1}"), 0, "", 0, 0, "filter.adaptive.min_inflation: bounds the innovation and local-innovation schemes' estimate, not enkf-n"},
		{"min_inflation above 1", stochastic("inflation: 1.02", "inflation: adaptive, adaptive: {min_inflation: 1.05}"), 0, "", 0, 0, "filter.adaptive.min_inflation: must lie in [0.01, 1] (above 1 it would be a hand-set inflation), got 1.05"},
		{"min_inflation zero", stochastic("inflation: 1.02", "inflation: adaptive, adaptive: {min_inflation: 0}"), 0, "", 0, 0, "filter.adaptive.min_inflation: must lie in [0.01, 1]"},
		{"min_inflation NaN", stochastic("inflation: 1.02", "inflation: adaptive, adaptive: {min_inflation: .nan}"), 0, "", 0, 0, "filter.adaptive.min_inflation: must lie in [0.01, 1]"},
		{"memory zero", letkf("inflation: adaptive, adaptive: {enkf_n_memory: 0}"), 0, "", 0, 0, "filter.adaptive.enkf_n_memory: must be a whole number of analyses >= 1, got 0"},
		{"memory not whole", letkf("inflation: adaptive, adaptive: {enkf_n_memory: 2.5}"), 0, "", 0, 0, "filter.adaptive.enkf_n_memory: line 8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(tc.yaml))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Filter.Inflation != tc.want || cfg.Filter.AdaptiveScheme() != tc.scheme {
				t.Errorf("inflation %v, scheme %q, want %v, %q", cfg.Filter.Inflation, cfg.Filter.AdaptiveScheme(), tc.want, tc.scheme)
			}
			ec := cfg.Filter.EnKF()
			enkfN := tc.scheme == config.SchemeEnKFN || strings.Contains(tc.yaml, "enkf_n: true")
			if enkfN != (ec.Adaptive != nil) || (ec.Adaptive != nil && ec.Adaptive.XN != tc.xn) ||
				(tc.scheme == config.SchemeInnovation || tc.scheme == config.SchemeLocalInnovation) != (ec.Innovation != nil) ||
				(ec.Innovation != nil && (ec.Innovation.PriorSD != tc.sd || ec.Innovation.Local != (tc.scheme == config.SchemeLocalInnovation))) ||
				(tc.scheme != "" && ec.Inflation != 1) {
				t.Errorf("filter config %+v (EnKF-N %+v, innovation %+v)", ec, ec.Adaptive, ec.Innovation)
			}
			if bounded := strings.Contains(tc.yaml, "min_inflation: 1}"); ec.Innovation != nil && (ec.Innovation.Min == 1) != bounded {
				t.Errorf("lower bound %v, want 1: %v", ec.Innovation.Min, bounded)
			}
			if strings.Contains(tc.yaml, "enkf_n_memory: 20") && ec.Adaptive.Memory != 20 {
				t.Errorf("EnKF-N memory %d, want 20", ec.Adaptive.Memory)
			}
			// Both encodings round-trip.
			data, err := cfg.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			again, err := config.ParseStored(data) // the form of a run directory's config.yaml
			if err != nil {
				t.Fatalf("re-parse: %v\n%s", err, data)
			}
			js, err := json.Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var fromJSON config.Config
			if err := json.Unmarshal(js, &fromJSON); err != nil {
				t.Fatalf("%v\n%s", err, js)
			}
			for _, c := range []config.Config{again, fromJSON} {
				if c.Filter.Inflation != cfg.Filter.Inflation || !reflect.DeepEqual(c.Filter.Adaptive, cfg.Filter.Adaptive) {
					t.Errorf("round trip gave %+v, want %+v", c.Filter, cfg.Filter)
				}
			}
		})
	}
}

func TestParseVarianceEstimate(t *testing.T) {
	with := func(s string) string {
		return strings.Replace(validYAML, "variance: 1}", "variance: 1, variance_estimate: "+s+"}", 1)
	}
	cfg, err := config.Parse([]byte(with("{method: desroziers, per_channel: true, warmup: 5}")))
	if err != nil {
		t.Fatal(err)
	}
	if v := cfg.Observations.VarianceEstimate; v == nil || !v.PerChannel || v.Memory != config.DefaultVarianceMemory || v.Warmup != 5 {
		t.Errorf("variance estimate %+v", v)
	}
	for _, tc := range []struct{ yaml, err string }{
		{with("{per_channel: true}"), `observations.variance_estimate.method: want desroziers, got ""`},
		{with("{method: em}"), `want desroziers, got "em"`},
		{with("{method: desroziers, memory: -1}"), "observations.variance_estimate.memory: must be >= 1 cycle, got -1"},
		{with("{method: desroziers, warmup: 100}"), "observations.variance_estimate.warmup: must be in [0, 100) (cycles), got 100"},
		{with("{method: desroziers, of: model}"), `observations.variance_estimate.of: want observation or representation, got "model"`},
		{with("{method: desroziers, of: representation}"), "set latent.representation_error: true"},
		{strings.Replace(with("{method: desroziers}"), "method: etkf", "method: letkf, loc_radius: 4", 1) + "orchestration: {blocks: 2}\n", "not available with orchestration.blocks"},
	} {
		if _, err := config.Parse([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("got %v, want an error containing %q", err, tc.err)
		}
	}
}

// TestOverrideAdaptive: the key=value overrides of the CLI take the word.
func TestOverrideAdaptive(t *testing.T) {
	cfg, err := config.Parse([]byte(validYAML))
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.Override([]string{"filter.inflation=adaptive", "filter.adaptive.xn=2"})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Filter.Inflation.Adaptive() || *got.Filter.Adaptive.XN != 2 {
		t.Errorf("override gave %+v", got.Filter)
	}
	if _, err := cfg.Override([]string{"filter.inflation=0"}); err == nil || !strings.Contains(err.Error(), "setting filter.inflation: want a number > 0 or adaptive, got 0") {
		t.Errorf("inflation=0: %v", err)
	}
}

// TestDesroziersFixedPoint feeds the estimator the innovations of an exact
// scalar analysis per observation: forecast error variance b, true error
// variance r, nominal variance ν = 1, and the gain k = b/(b + φν) with the
// current estimate. Then dᶠ ~ N(0, b + r), dᵃ = (1 − k)dᶠ and
// E[dᵃdᶠ] = φ(b + r)/(b + φ), whose fixed point is φ = r. At the fixed
// point a product has variance 2r², so the global estimate's moving
// average over p observations has standard deviation
// σ = √(α/(2−α)·2r²/p), α = 1/memory; one channel's, √(α/(2−α)·2r²). The
// final estimates must be within 4σ of r (the mean over p channels
// within 4σ/√p).
func TestDesroziersFixedPoint(t *testing.T) {
	const b, r, p, memory, cycles = 0.5, 2.0, 50, 100, 3000
	alpha := 1.0 / memory
	for _, perChannel := range []bool{false, true} {
		e := newVarianceEstimator(config.VarianceEstimateConfig{Method: "desroziers", PerChannel: perChannel, Memory: memory}, p)
		rng := rand.New(rand.NewPCG(5, 8))
		nominal := make([]float64, p)
		y := make([]float64, p)
		for i := range nominal {
			nominal[i] = 1
		}
		for k := 1; k <= cycles; k++ {
			used := e.variances(nominal)
			for j := range y {
				df := math.Sqrt(b+r) * rng.NormFloat64()
				gain := b / (b + used[j])
				y[j] = 3 // any value: only the differences count
				e.fm[j] = y[j] - df
				e.am[j] = y[j] - (1-gain)*df
			}
			e.update(k, y, nominal, used)
		}
		sigma := math.Sqrt(alpha / (2 - alpha) * 2 * r * r)
		if !perChannel {
			if s := sigma / math.Sqrt(p); math.Abs(e.scale[0]-r) > 4*s {
				t.Errorf("global estimate %.4f, want %v ± %.4f", e.scale[0], r, 4*s)
			}
			continue
		}
		var mean float64
		for j, v := range e.scale {
			mean += v / p
			if math.Abs(v-r) > 5*sigma {
				t.Errorf("channel %d estimate %.4f, want %v ± %.4f", j, v, r, 5*sigma)
			}
		}
		if s := sigma / math.Sqrt(p); math.Abs(mean-r) > 4*s {
			t.Errorf("mean over channels %.4f, want %v ± %.4f", mean, r, 4*s)
		}
	}
}

// TestDesroziersRepresentation: the estimate of the representation error
// (variance_estimate.of: representation) on the toy of
// TestDesroziersFixedPoint, whose observation errors have variance
// R + ψ·v with R = 1 given, v = 0.5 the generator's stored representation
// error and ψ = 3: the variances used are R + φv, so the diagnostic
// ((y − ȳᵃ)(y − ȳᶠ) − R)/v has the fixed point φ = ψ. Its moving average
// has the standard deviation of the fixed-point test's over v (the
// product's sd is √2 (R + ψv)); the estimate must be within 4σ of ψ.
func TestDesroziersRepresentation(t *testing.T) {
	const b, r, v, psi, p, memory, cycles = 0.5, 1.0, 0.5, 3.0, 50, 100, 3000
	e := newVarianceEstimator(config.VarianceEstimateConfig{Method: "desroziers", Memory: memory, Of: config.EstimateRepresentation}, p)
	rep := &representation{obs: make([]float64, p), rVar: make([]float64, p), linear: true, scale: e.scale}
	e.rep = rep
	nominal, y := make([]float64, p), make([]float64, p)
	for j := range nominal {
		nominal[j], rep.obs[j] = r, v
	}
	rng := rand.New(rand.NewPCG(9, 2))
	for k := 1; k <= cycles; k++ {
		used := rep.variances(nil, nominal)
		for j := range y {
			df := math.Sqrt(b+r+psi*v) * rng.NormFloat64()
			gain := b / (b + used[j])
			y[j] = 3
			e.fm[j] = y[j] - df
			e.am[j] = y[j] - (1-gain)*df
		}
		e.update(k, y, nominal, used)
	}
	alpha := 1.0 / memory
	sigma := math.Sqrt(alpha/(2-alpha)*2*(r+psi*v)*(r+psi*v)/p) / v
	if math.Abs(e.scale[0]-psi) > 4*sigma {
		t.Errorf("representation scale %.4f, want %v ± %.4f", e.scale[0], psi, 4*sigma)
	}
	if got, want := e.mean(nominal, nominal), r+e.scale[0]*v; math.Abs(got-want) > 1e-12 {
		t.Errorf("mean variance %v, want R + φv = %v", got, want)
	}
}

// TestVarianceEstimateLorenz96: the L96 ETKF (N = 24, adaptive inflation
// with xn = 2) whose observations have noise variance 2 while the config
// says 1. The global Desroziers estimate, averaged over the scored cycles,
// is within 5% of 2, and rmse_a within 6% of the run told the right
// variance (measured over 3000 cycles: 2.006 and −1.9%; over 10,000
// cycles 2.017 and +4.5%).
func TestVarianceEstimateLorenz96(t *testing.T) {
	if testing.Short() {
		t.Skip("two runs of 3000 cycles")
	}
	xn := 2.0
	base := DapperConfigs(3000)["l96-etkf"]
	base.Filter.Inflation = config.AdaptiveInflation
	base.Filter.Adaptive = &config.AdaptiveConfig{XN: &xn}
	right := base
	right.Observations.Variance = 2
	want, err := Run(context.Background(), right, nil)
	if err != nil {
		t.Fatal(err)
	}
	wrong := base
	wrong.Anomaly = &config.AnomalyConfig{NoiseVariance: 2}
	wrong.Observations.VarianceEstimate = &config.VarianceEstimateConfig{Method: "desroziers"}
	got, err := Run(context.Background(), wrong, nil)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got.ObsVariance-2) > 0.1 {
		t.Errorf("mean estimated variance %.4f, want 2 within 5%%", got.ObsVariance)
	}
	if rel := got.RMSEa/want.RMSEa - 1; math.Abs(rel) > 0.06 {
		t.Errorf("rmse_a %.4f, %+.1f%% from the run given R = 2 (%.4f)", got.RMSEa, 100*rel, want.RMSEa)
	}
	t.Logf("estimate %.4f, rmse_a %.4f vs %.4f", got.ObsVariance, got.RMSEa, want.RMSEa)
}

// TestDiagnosticsOfHyperparameters: every cycle's statistics hold the
// inflation the analysis used (the fixed factor, or the EnKF-N's) and the
// variance estimate after the cycle; the diagnostics row holds them with
// NaN for "none", and StatsOfRow gives the statistics back.
func TestDiagnosticsOfHyperparameters(t *testing.T) {
	fixed := DapperConfigs(8)["l96-etkf"]
	fixed.BurnIn = 0
	adaptive := fixed
	adaptive.Filter.Inflation = config.AdaptiveInflation
	adaptive.Observations.VarianceEstimate = &config.VarianceEstimateConfig{Method: "desroziers", Memory: 4}
	for _, tc := range []struct {
		name string
		cfg  config.Config
	}{{"fixed", fixed}, {"adaptive", adaptive}} {
		s, err := Build(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		truth, E := initial(t, s)
		for k := 1; k <= tc.cfg.Cycles; k++ {
			c, err := s.ObserveCycle(truth, k)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Forecast(E, k); err != nil {
				t.Fatal(err)
			}
			if k == tc.cfg.Cycles { // forecast-only: no inflation, the estimate carried over
				c.Obs.Values = nil
				s.ForecastOnlyCycle(c, E)
			} else if err := s.Assimilate(c, E); err != nil {
				t.Fatal(err)
			}
			st, row := c.Stats, c.Row()
			got := StatsOfRow(row)
			if c.Obs.Values == nil {
				got.NIS = 0 // NaN in the row of a cycle without observations
			}
			if got != st {
				t.Errorf("%s, cycle %d: StatsOfRow(Row) = %+v, want %+v", tc.name, k, got, st)
			}
			wantScale := math.NaN()
			if phi := s.VarianceScales(); phi != nil {
				wantScale = phi[0]
			}
			if !same(row.VarianceScale, wantScale) {
				t.Errorf("%s, cycle %d: variance_scale %v, want %v", tc.name, k, row.VarianceScale, wantScale)
			}
			switch {
			case k == tc.cfg.Cycles:
				if !math.IsNaN(row.Inflation) || !math.IsNaN(row.ObsVariance) {
					t.Errorf("%s: forecast-only row has inflation %v, obs variance %v, want NaN", tc.name, row.Inflation, row.ObsVariance)
				}
			case tc.name == "fixed":
				if row.Inflation != float64(fixed.Filter.Inflation) || !math.IsNaN(row.ObsVariance) {
					t.Errorf("fixed, cycle %d: inflation %v, obs variance %v, want %v and NaN", k, row.Inflation, row.ObsVariance, float64(fixed.Filter.Inflation))
				}
			default:
				// One factor for all observations of variance 1: their
				// mean is the factor but for rounding.
				if !(row.Inflation > 0) || math.Abs(row.ObsVariance-wantScale) > 1e-14*wantScale {
					t.Errorf("adaptive, cycle %d: inflation %v, obs variance %v, want > 0 and %v", k, row.Inflation, row.ObsVariance, wantScale)
				}
			}
		}
	}
}

// same reports whether a and b are equal or both NaN.
func same(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
