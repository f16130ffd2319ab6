package experiment

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/enkf"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/genfile"
	"github.com/latentda/latentda/observations"
)

func latentCfg(base config.Config, gen string) config.Config {
	base.Latent = &config.LatentConfig{Generator: gen}
	return base
}

// TestLatentIdentityIsFullSpace: with the identity generator the latent
// filter is the full-space filter, bit for bit (encode and decode are
// copies, and the filter sees the same numbers).
func TestLatentIdentityIsFullSpace(t *testing.T) {
	for _, name := range []string{"l63-etkf", "l63-enkf", "l96-etkf", "l96-enkf", "l96-denkf"} {
		base := DapperConfigs(600)[name]
		t.Run(base.Name, func(t *testing.T) {
			full, err := Run(context.Background(), base, nil)
			if err != nil {
				t.Fatal(err)
			}
			lat, err := Run(context.Background(), latentCfg(base, "identity"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if full != lat {
				t.Errorf("latent identity differs from full space:\n%+v\n%+v", lat, full)
			}
		})
	}
}

// pcaFor fits a PCA generator of dimension d to an archive of the config's
// model.
func pcaFor(t testing.TB, cfg config.Config, d int) *latent.PCA {
	t.Helper()
	X, _, err := BuildArchive(context.Background(), cfg, ArchiveOptions{Samples: 2000, Every: 5, Seed: 9}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := latent.FitPCA(X, latent.PCAOptions{Dim: d})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLatentFullRankPCAIsFullSpace: with a full-rank PCA generator
// (d = n, G affine and invertible) the ensemble transform computed from
// H(G(z)) = H(x) is the same, and decoding an affine map of the codes
// reproduces the full-space analysis. One analysis from the same forecast
// must agree to round-off: 1e-9 absolute on states of magnitude ~10, which
// allows for the conditioning of the whitening (σ ranges over ~1e2).
func TestLatentFullRankPCAIsFullSpace(t *testing.T) {
	for _, name := range []string{"l96-etkf", "l96-enkf", "l96-denkf"} {
		base := DapperConfigs(500)[name]
		t.Run(base.Name, func(t *testing.T) {
			pca := pcaFor(t, base, 40)
			full, err := Build(base)
			if err != nil {
				t.Fatal(err)
			}
			lat, err := BuildWithGenerator(latentCfg(base, "pca"), pca)
			if err != nil {
				t.Fatal(err)
			}
			truth, E := initial(t, full)
			y := make([]float64, full.Op.OutDim())
			// Spin the filter up so the ensemble is a realistic forecast.
			for k := 1; k <= 50; k++ {
				full.AdvanceTruth(truth, k)
				full.Observe(y, truth, k)
				if err := full.Forecast(E, k); err != nil {
					t.Fatal(err)
				}
				if _, err := full.Analyze(E, y, truth, k); err != nil {
					t.Fatal(err)
				}
			}
			full.AdvanceTruth(truth, 51)
			full.Observe(y, truth, 51)
			if err := full.Forecast(E, 51); err != nil {
				t.Fatal(err)
			}
			El := mat.DenseCopyOf(E)
			sf, err := full.Analyze(E, y, truth, 51)
			if err != nil {
				t.Fatal(err)
			}
			sl, err := lat.Analyze(El, y, truth, 51)
			if err != nil {
				t.Fatal(err)
			}
			var diff float64
			for i, v := range E.RawMatrix().Data {
				diff = math.Max(diff, math.Abs(v-El.RawMatrix().Data[i]))
			}
			if diff > 1e-9 {
				t.Errorf("latent PCA analysis differs from full space by %g", diff)
			}
			if math.Abs(sf.NIS-sl.NIS) > 1e-8*sf.NIS {
				t.Errorf("innovation statistic %v vs %v", sl.NIS, sf.NIS)
			}
		})
	}
}

// TestLatentPCAIncrement checks that a truncated PCA generator can carry
// the filter where the spectrum decays: on KS (128 points) with d = 48
// (99% of the archive variance), the increment variant tracks the truth
// (measured 0.14 over 1000 cycles against 0.11 for the full-space ETKF;
// the observation error is 1 and the climatological spread ~1.3, so 0.3 is
// a clear "tracks" bound). Decoding on the linear manifold does not (rmse
// ~1.5 measured): the 1% of variance it drops every cycle is an error the
// ensemble spread does not know about. docs/results-latent.md has the sweep.
func TestLatentPCAIncrement(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 KS cycles")
	}
	base := DapperConfigs(1000)["ks-etkf"]
	pca := pcaFor(t, base, 48)
	cfg := latentCfg(base, "pca")
	cfg.Latent.Update = "increment"
	s, err := BuildWithGenerator(cfg, pca)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := s.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.RMSEa > 0.3 {
		t.Errorf("rmse_a %.3f: the latent filter does not track the truth", sum.RMSEa)
	}
}

// latentArchive returns the training and held-out parts of an archive of the
// config's model (as pcaFor builds it) and the PCA of dimension d fitted
// to the training part.
func latentArchive(t testing.TB, cfg config.Config, d int) (train, valid *mat.Dense, pca *latent.PCA) {
	t.Helper()
	X, _, err := BuildArchive(context.Background(), cfg, ArchiveOptions{Samples: 2000, Every: 5, Seed: 9}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The last 400 snapshots are held out, as training.TrainConfig's
	// SplitArchive does with validation 0.2.
	_, n := X.Dims()
	train, valid = X.Slice(0, 1600, 0, n).(*mat.Dense), X.Slice(1600, 2000, 0, n).(*mat.Dense)
	pca, err = latent.FitPCA(train, latent.PCAOptions{Dim: d})
	if err != nil {
		t.Fatal(err)
	}
	return train, valid, pca
}

// spunUpForecast runs the latent filter s for k cycles and returns the
// truth, the observations and the forecast of cycle k+1.
func spunUpForecast(t *testing.T, s *Setup, k int) (truth, y []float64, E *mat.Dense) {
	t.Helper()
	truth, E = initial(t, s)
	y = make([]float64, s.Op.OutDim())
	for c := 1; c <= k+1; c++ {
		s.AdvanceTruth(truth, c)
		s.Observe(y, truth, c)
		if err := s.Forecast(E, c); err != nil {
			t.Fatal(err)
		}
		if c <= k {
			if _, err := s.Analyze(E, y, truth, c); err != nil {
				t.Fatal(err)
			}
		}
	}
	return truth, y, E
}

// TestLatentAlphaOneIsLatentETKF: latent.alpha written as 1 is the latent
// ETKF, bit for bit (the hybrid with α = 1 is the ETKF code).
func TestLatentAlphaOneIsLatentETKF(t *testing.T) {
	base := DapperConfigs(300)["l96-etkf"] // L96 ETKF N=24, rotations
	base.BurnIn = 5
	_, _, pca := latentArchive(t, base, 20)
	var sums [2]Summary
	for i := range sums {
		cfg := latentCfg(base, "pca")
		cfg.Latent.Update = "increment"
		if i == 1 {
			one := 1.0
			cfg.Latent.Alpha = &one
		}
		s, err := BuildWithGenerator(cfg, pca)
		if err != nil {
			t.Fatal(err)
		}
		// Without a hybrid covariance the diagnostics have no α.
		if sums[i], err = s.Run(context.Background(), func(st CycleStats) {
			if st.HybridWeight != 0 {
				t.Fatalf("cycle %d: α %v in the diagnostics of a latent ETKF", st.Cycle, st.HybridWeight)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	if sums[0] != sums[1] {
		t.Errorf("alpha 1 differs from the latent ETKF:\n%+v\n%+v", sums[1], sums[0])
	}
}

// TestLatentIterativeLinearIsETKF: for a linear generator (PCA, d = 20)
// and linear H the observed anomalies of the members are exactly the
// Jacobian's, so the iterative analysis (which converges at its second
// linearisation) is the latent ETKF up to round-off: 1e-9 on states of
// magnitude ~10, as the full-rank PCA test allows. The NIS agrees too.
func TestLatentIterativeLinearIsETKF(t *testing.T) {
	base := DapperConfigs(300)["l96-etkf"]
	base.BurnIn = 5
	_, _, pca := latentArchive(t, base, 20)
	cfg := latentCfg(base, "pca")
	cfg.Latent.Update = "increment"
	etkf, err := BuildWithGenerator(cfg, pca)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Latent.Analysis = "iterative"
	iter, err := BuildWithGenerator(cfg, pca)
	if err != nil {
		t.Fatal(err)
	}
	truth, y, E := spunUpForecast(t, etkf, 30)
	Ei := mat.DenseCopyOf(E)
	se, err := etkf.Analyze(E, y, truth, 31)
	if err != nil {
		t.Fatal(err)
	}
	si, err := iter.Analyze(Ei, y, truth, 31)
	if err != nil {
		t.Fatal(err)
	}
	var diff float64
	for i, v := range E.RawMatrix().Data {
		diff = math.Max(diff, math.Abs(v-Ei.RawMatrix().Data[i]))
	}
	t.Logf("iterative and ETKF analyses differ by %g; NIS %v and %v", diff, si.NIS, se.NIS)
	if diff > 1e-9 {
		t.Errorf("iterative analysis differs from the latent ETKF by %g", diff)
	}
	if math.Abs(se.NIS-si.NIS) > 1e-8*se.NIS {
		t.Errorf("NIS %v (iterative) vs %v", si.NIS, se.NIS)
	}
}

// TestLatentRepresentationError: with latent.representation_error the
// filter sees R + diag Σ_rep (identity observations), and over a run on
// L96 with a PCA of d = 20 (which leaves ~3% of the variance, an RMS of
// ~0.6 against the observation error 1) the NIS ratio comes down towards
// 1, measured 7.3 → 1.3 (the bound is 1.6). The hybrid (α = 0.5 with the
// PCA's Σ_clim = I, measured rmse_a 1.06) and the iterative hybrid with
// the representation error (0.88, NIS ratio 1.01) run, and beat the plain
// latent ETKF (2.05) at this untuned inflation; one seed, so only the
// large margins are asserted.
func TestLatentRepresentationError(t *testing.T) {
	base := DapperConfigs(400)["l96-etkf"]
	base.BurnIn = 5
	train, valid, pca := latentArchive(t, base, 20)
	stats := latent.EstimateStats(pca, train, valid)
	run := func(l config.LatentConfig) (Summary, *Setup) {
		cfg := base
		l.Generator = "pca"
		cfg.Latent = &l
		s, err := BuildWithGeneratorStats(cfg, pca, stats)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := s.Run(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return sum, s
	}
	plain, _ := run(config.LatentConfig{Update: "increment"})
	withRep, s := run(config.LatentConfig{Update: "increment", RepresentationError: true})
	t.Logf("NIS ratio %.3f without, %.3f with the representation error (rmse_a %.3f, %.3f)", plain.NISRatio, withRep.NISRatio, plain.RMSEa, withRep.RMSEa)
	if !(withRep.NISRatio < plain.NISRatio) || withRep.NISRatio > 1.6 {
		t.Errorf("NIS ratio %.3f with the representation error, %.3f without", withRep.NISRatio, plain.NISRatio)
	}
	got := s.latent.rep.variances(nil, s.R.Variances())
	for j, v := range got {
		if want := s.R.Variances()[j] + stats.RepVar[j]; v != want {
			t.Fatalf("observation %d: variance %v, want R + Σ_rep = %v", j, v, want)
		}
	}
	// The representation error learned online: φ on diag(HΣ_repHᵀ) is the
	// latent step's scale. This filter is far from consistent (rmse_a
	// 1.7), against the Desroziers diagnostic's assumption of a right
	// forecast covariance, and its NIS ratio is worse with the learned
	// factor than with the stored error (measured 2.5 against 1.3), so
	// only the wiring is asserted; TestDesroziersRepresentation checks the
	// estimator.
	est := base
	est.Latent = &config.LatentConfig{Generator: "pca", Update: "increment", RepresentationError: true}
	est.Observations.VarianceEstimate = &config.VarianceEstimateConfig{Method: "desroziers", Of: config.EstimateRepresentation, Warmup: 50}
	se, err := BuildWithGeneratorStats(est, pca, stats)
	if err != nil {
		t.Fatal(err)
	}
	learned, err := se.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("representation scale %.3f: NIS ratio %.3f, rmse_a %.3f", se.VarianceScales()[0], learned.NISRatio, learned.RMSEa)
	if &se.latent.rep.scale[0] != &se.VarianceScales()[0] || se.VarianceScales()[0] == 1 {
		t.Error("the latent step does not scale its representation error by the estimate, or the estimate never moved")
	}
	if got, want := se.latent.rep.variances(nil, s.R.Variances())[0], s.R.Variances()[0]+se.VarianceScales()[0]*stats.RepVar[0]; got != want {
		t.Errorf("variance used %v, want R + φ·Σ_rep = %v", got, want)
	}
	half := 0.5
	// The same from a generator file that stores the statistics.
	path := filepath.Join(t.TempDir(), "pca.arrow")
	if err := genfile.Save(path, pca, genfile.Info{Stats: stats}); err != nil {
		t.Fatal(err)
	}
	fromFile := base
	fromFile.Latent = &config.LatentConfig{Generator: path, Analysis: "iterative", Alpha: &half, RepresentationError: true}
	sf, err := Build(fromFile)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sf.latent.rep.v, stats.RepVar) || sf.latent.hyb.B == nil {
		t.Error("Build from the generator file does not use its statistics")
	}
	// A generator trained on another model is refused.
	other := filepath.Join(t.TempDir(), "ks.arrow")
	if err := genfile.Save(other, pca, genfile.Info{Model: "ks", Stats: stats}); err != nil {
		t.Fatal(err)
	}
	fromFile.Latent.Generator = other
	if _, err := Build(fromFile); err == nil || !strings.Contains(err.Error(), "the generator was trained on model ks, this run's model is "+fromFile.Model.Name) {
		t.Errorf("a generator of another model: %v", err)
	}
	for _, l := range []config.LatentConfig{
		{Update: "increment", Alpha: &half},
		{Update: "increment", Analysis: "iterative", Alpha: &half, RepresentationError: true},
	} {
		sum, _ := run(l)
		t.Logf("analysis %q alpha %v: rmse_a %.3f, NIS ratio %.3f", l.Analysis, *l.Alpha, sum.RMSEa, sum.NISRatio)
		if !(sum.RMSEa < 0.75*plain.RMSEa) {
			t.Errorf("analysis %q alpha %v: rmse_a %.3f, plain latent ETKF %.3f", l.Analysis, *l.Alpha, sum.RMSEa, plain.RMSEa)
		}
	}
}

func TestLatentConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{validYAML + "latent: {generator: identity, analysis: magic}\n", "latent.analysis: want etkf, iterative or hybrid-local"},
		{strings.Replace(validYAML, "method: etkf", "method: enkf", 1) + "latent: {generator: identity, analysis: iterative}\n", "latent.analysis: iterative uses the ETKF"},
		{validYAML + "latent: {generator: identity, alpha: 0}\n", "latent.alpha: the ensemble's weight"},
		{validYAML + "latent: {generator: identity, alpha: 1.5}\n", "latent.alpha: the ensemble's weight"},
		{strings.Replace(validYAML, "method: etkf", "method: denkf", 1) + "latent: {generator: identity, alpha: 0.5}\n", "latent.alpha: a hybrid covariance"},
		{validYAML + "latent: {generator: identity, analysis: iterative, iterations: 0}\n", "latent.iterations: must be >= 1"},
		{validYAML + "latent: {generator: identity, iterations: 3}\n", "latent.iterations: only for analysis iterative"},
		{validYAML + "latent: {generator: identity, alpha: 0.5}\n", "latent.alpha: latent: the identity generator has no climatological code covariance for a hybrid (alpha < 1, or estimated); train a PCA or an autoencoder"},
		{validYAML + "latent: {generator: identity, representation_error: true}\n", "latent.representation_error: the identity generator reconstructs every state exactly"},
		{validYAML + "latent: {encoding: amortised}\n", "latent.generator: required"},
		{validYAML + "latent: {generator: identity, encoding: magic}\n", "latent.encoding"},
		{validYAML + "latent: {generator: identity, update: replace}\n", "latent.update"},
		{strings.Replace(validYAML, "method: etkf", "method: letkf, loc_radius: 4", 1) + "latent: {generator: identity}\n", "latent codes have no grid"},
		{validYAML + "latent: {generator: /no/such/file.arrow}\n", "latent.generator"},
		{validYAML + "latent: {generator: identity, analysis: hybrid-local, update: increment}\n", "hybrid-local localises on the model grid; set filter.method letkf"},
		{strings.Replace(validYAML, "method: etkf", "method: letkf, loc_radius: 4", 1) + "latent: {generator: identity, analysis: hybrid-local}\n", "latent.update: hybrid-local analyses the states"},
		{strings.Replace(validYAML, "method: etkf", "method: letkf, loc_radius: 4", 1) + "latent: {generator: identity, analysis: hybrid-local, update: increment, representation_error: true}\n", "latent.representation_error: hybrid-local"},
		{strings.Replace(validYAML, "method: etkf", "method: letkf, loc_radius: 4", 1) + "latent: {generator: identity, analysis: hybrid-local, update: increment, iterations: 2}\n", "latent.iterations: only for analysis iterative"},
		{strings.Replace(validYAML, "method: etkf", "method: letkf, loc_radius: 4", 1) + "latent: {generator: identity, analysis: hybrid-local, update: increment, alpha: 0}\n", "latent.alpha: the ensemble's weight"},
		{strings.Replace(validYAML, "method: etkf", "method: letkf, loc_radius: 4", 1) + "latent: {generator: identity, analysis: hybrid-local, update: increment, alpha: 0.5}\n", "latent.alpha: latent: the identity generator has no climatological"},
		{strings.Replace(validYAML, "method: etkf", "method: letkf, loc_radius: 4", 1) + "latent: {generator: identity, analysis: hybrid-local, update: increment, alpha: 0.9, alpha_estimate: {}}\n", "latent.alpha_estimate: estimates alpha; remove latent.alpha (0.9)"},
		{strings.Replace(validYAML, "method: etkf", "method: letkf, loc_radius: 4", 1) + "latent: {generator: identity, analysis: hybrid-local, update: increment, alpha_estimate: {memory: 0.5}}\n", "latent.alpha_estimate.memory: want a finite number of analyses >= 1, got 0.5"},
		{strings.Replace(validYAML, "method: etkf", "method: letkf, loc_radius: 4", 1) + "latent: {generator: identity, analysis: hybrid-local, update: increment, alpha_estimate: {memory: 0}}\n", "latent.alpha_estimate.memory: line 9: 0 means unset here, which takes the default 20"},
		{strings.Replace(validYAML, "method: etkf", "method: letkf, loc_radius: 4", 1) + "latent: {generator: identity, analysis: hybrid-local, update: increment, alpha_estimate: {memory: .inf}}\n", "latent.alpha_estimate.memory: want a finite number"},
		{strings.Replace(validYAML, "method: etkf", "method: letkf, loc_radius: 4", 1) + "latent: {generator: identity, analysis: hybrid-local, update: increment, alpha_estimate: {memory: 20, forget: 1}}\n", "latent.alpha_estimate.forget"},
		{strings.Replace(validYAML, "method: etkf, members: 20, inflation: 1.02, rotate: true", "method: letkf, members: 20, inflation: adaptive, adaptive: {scheme: local-innovation}, loc_radius: 4", 1) + "latent: {generator: identity, analysis: hybrid-local, update: increment, alpha_estimate: {}}\n", "latent.alpha_estimate: does not combine with filter.inflation adaptive"},
		{validYAML + "latent: {generator: identity, alpha_estimate: {}}\n", "latent.alpha_estimate: only for analysis hybrid-local (analysis is etkf)"},
		{strings.Replace(validYAML, "method: etkf", "method: letkf, loc_radius: 4", 1) + "latent: {generator: identity, analysis: hybrid-local, update: increment, alpha_estimate: {}}\n", "latent.alpha: latent: the identity generator has no climatological"},
		{strings.Replace(validYAML, "method: etkf, members: 20, inflation: 1.02, rotate: true", "method: letkf, members: 20, inflation: 1.02, loc_radius: 4", 1) +
			"latent: {generator: identity, analysis: hybrid-local, update: increment}\norchestration: {blocks: 2}\n", "orchestration.blocks: the latent filters"},
	} {
		cfg, err := config.Parse([]byte(tc.yaml))
		if err == nil {
			_, err = Build(cfg)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
}

// hybridLocalAgainstLETKF runs the LETKF config base and its hybrid-local
// twin with a PCA of d = 20 and weight alpha, and returns both summaries
// with the twin's Setup.
func hybridLocalAgainstLETKF(t *testing.T, base config.Config, alpha float64) (full, lat Summary, s *Setup) {
	t.Helper()
	_, _, pca := latentArchive(t, base, 20)
	full, err := Run(context.Background(), base, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := latentCfg(base, "pca")
	cfg.Latent.Update, cfg.Latent.Analysis, cfg.Latent.Alpha = "increment", "hybrid-local", &alpha
	if s, err = BuildWithGenerator(cfg, pca); err != nil {
		t.Fatal(err)
	}
	if lat, err = s.Run(context.Background(), func(st CycleStats) {
		if st.HybridWeight != alpha {
			t.Fatalf("cycle %d: diagnostics α %v, want latent.alpha %v", st.Cycle, st.HybridWeight, alpha)
		}
	}); err != nil {
		t.Fatal(err)
	}
	return full, lat, s
}

// TestLatentHybridLocalAlphaOneIsLETKF: the hybrid-local analysis with
// α = 1 is the LETKF on the states, bit for bit: the generator only
// records the codes.
func TestLatentHybridLocalAlphaOneIsLETKF(t *testing.T) {
	base := DapperConfigs(200)["l96-letkf"]
	base.BurnIn = 5
	full, lat, s := hybridLocalAgainstLETKF(t, base, 1)
	if full != lat {
		t.Errorf("hybrid-local with alpha 1 differs from the LETKF:\n%+v\n%+v", lat, full)
	}
	zf, za := s.LatentCodes()
	if r, c := za.Dims(); r != base.Filter.Members || c != 20 || mat.Equal(zf, za) {
		t.Errorf("analysis codes %d×%d, equal to the forecast's: %v", r, c, mat.Equal(zf, za))
	}
}

// smallSparseLETKF is the L96 LETKF with N = 8 observed at every 2nd
// point, its localisation radius (8) too wide for N = 8.
func smallSparseLETKF() config.Config {
	base := DapperConfigs(400)["l96-letkf"]
	base.BurnIn = 10
	base.Filter.Members, base.Filter.LocRadius, base.Filter.Inflation = 8, 8, 1.05
	base.Observations.Operator, base.Observations.Every = "every-k", 2
	return base
}

// TestLatentHybridLocalSmallEnsemble: on L96 with N = 8 observed at every
// 2nd point and the LETKF's localisation radius too wide for N = 8 (it
// loses the truth), a small static part from a PCA prior (d = 20 of 40,
// α = 0.99) keeps the filter on it. Measured: rmse_a 3.61 (LETKF) and
// 0.49 (hybrid-local).
func TestLatentHybridLocalSmallEnsemble(t *testing.T) {
	base := smallSparseLETKF()
	full, lat, _ := hybridLocalAgainstLETKF(t, base, 0.99)
	t.Logf("rmse_a: LETKF %.3f, hybrid-local %.3f (NIS ratio %.2f)", full.RMSEa, lat.RMSEa, lat.NISRatio)
	if !(lat.RMSEa < 0.3*full.RMSEa) {
		t.Errorf("hybrid-local rmse_a %.3f, LETKF %.3f: the static part does not help", lat.RMSEa, full.RMSEa)
	}
}

// TestLatentHybridLocalInnovationInflation: the hybrid-local analysis
// takes the local innovation inflation (one Λ per batch of grid points,
// carried from cycle to cycle, enkf.Filter.AnalyzeHybridLocal), on the
// set-up of TestLatentHybridLocalSmallEnsemble with a fixed inflation of
// 1: the estimates move off 1 and differ between batches, the run stays
// on the truth (rmse_a below half the LETKF's that loses it there) and
// repeats bit for bit; also with the EnKF-N on top (enkf_n: true).
func TestLatentHybridLocalInnovationInflation(t *testing.T) {
	base := smallSparseLETKF()
	_, _, pca := latentArchive(t, base, 20)
	full, err := Run(context.Background(), base, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, enkfN := range []bool{false, true} {
		t.Run(fmt.Sprintf("enkf_n=%v", enkfN), func(t *testing.T) { hybridLocalInnovation(t, base, pca, full, enkfN) })
	}
}

func hybridLocalInnovation(t *testing.T, base config.Config, pca *latent.PCA, full Summary, enkfN bool) {
	cfg := latentCfg(base, "pca")
	alpha, sd := 0.99, 0.04
	cfg.Latent.Update, cfg.Latent.Analysis, cfg.Latent.Alpha = "increment", "hybrid-local", &alpha
	cfg.Filter.Inflation = config.AdaptiveInflation
	cfg.Filter.Adaptive = &config.AdaptiveConfig{Scheme: config.SchemeLocalInnovation, PriorSD: &sd, EnKFN: enkfN}
	var sums [2]Summary
	var lams [2][]float64
	for k := range sums {
		s, err := BuildWithGenerator(cfg, pca)
		if err != nil {
			t.Fatal(err)
		}
		if sums[k], err = s.Run(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		lams[k] = slices.Clone(s.InflationEstimate())
	}
	t.Logf("rmse_a: LETKF %.3f, hybrid-local with local innovation inflation %.3f (NIS ratio %.2f); Λ in [%.3f, %.3f]",
		full.RMSEa, sums[0].RMSEa, sums[0].NISRatio, slices.Min(lams[0]), slices.Max(lams[0]))
	if sums[0] != sums[1] || !slices.Equal(lams[0], lams[1]) {
		t.Errorf("two runs differ:\n%+v\n%+v", sums[0], sums[1])
	}
	if len(lams[0]) != 20 || slices.Min(lams[0]) == slices.Max(lams[0]) || slices.Contains(lams[0], 1) {
		t.Errorf("the carried estimates %v: want 20 batches, not all equal, none left at 1", lams[0])
	}
	if !(sums[0].RMSEa < 0.5*full.RMSEa) {
		t.Errorf("rmse_a %.3f, LETKF %.3f", sums[0].RMSEa, full.RMSEa)
	}
}

// TestLatentHybridLocalStaticRootFollowsTheFlow: with a nonlinear
// generator the hybrid-local analysis's static part J(z̄) Σ_clim J(z̄)ᵀ is
// taken at the forecast's mean code z̄, so it moves with the flow: its
// root equals B_z J(z̄)ᵀ with J by central differences (tolerance 1e-6,
// the differences' truncation error for a step of 1e-5 on a quadratic
// map is zero, leaving rounding of about 1e-10 / 1e-5), and it differs
// between two forecasts.
func TestLatentHybridLocalStaticRootFollowsTheFlow(t *testing.T) {
	base := DapperConfigs(10)["l96-letkf"]
	train, valid, _ := latentArchive(t, base, 8)
	g, err := latent.FitQuadratic(train, valid, latent.QuadraticOptions{Dim: 8})
	if err != nil {
		t.Fatal(err)
	}
	stats := latent.EstimateStats(g, train, valid)
	op, err := observations.NewEveryKth(40, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	alpha := 0.9
	cfg := config.LatentConfig{Generator: "quadratic", Update: "increment", Analysis: "hybrid-local", Alpha: &alpha}
	const N = 4
	l, err := newLatentStep(cfg, g, stats, op, N)
	if err != nil {
		t.Fatal(err)
	}
	roots := make([]*mat.Dense, 2)
	for k := range roots {
		zbar := make([]float64, 8)
		for i := range N {
			z := l.zf.RawRowView(i)
			for j := range z {
				z[j] = math.Sin(float64(1+i+3*j+7*k)) / 2
				zbar[j] += z[j] / N
			}
		}
		l.staticRoot()
		roots[k] = mat.DenseCopyOf(l.hyb.B)
		// J by central differences at z̄.
		const h = 1e-5
		J := mat.NewDense(40, 8, nil)
		xp, xm := make([]float64, 40), make([]float64, 40)
		for j := range 8 {
			zp, zm := slices.Clone(zbar), slices.Clone(zbar)
			zp[j] += h
			zm[j] -= h
			g.Decode(xp, zp)
			g.Decode(xm, zm)
			for r := range 40 {
				J.Set(r, j, (xp[r]-xm[r])/(2*h))
			}
		}
		var want mat.Dense
		want.Mul(l.bz, J.T())
		if !mat.EqualApprox(roots[k], &want, 1e-6) {
			t.Errorf("forecast %d: the static root is not B_z J(z̄)ᵀ", k)
		}
	}
	if mat.EqualApprox(roots[0], roots[1], 1e-3) {
		t.Error("the static root is the same for two forecasts with different mean codes")
	}
}

// TestLatentHybridLocalAlphaEstimate: with latent.alpha_estimate the
// hybrid-local analysis of TestLatentHybridLocalSmallEnsemble chooses its
// weight from the innovations: it stays on the truth where the LETKF loses
// it (rmse_a below 0.3 of the LETKF's; measured 0.68 against 3.61, and
// 0.49 at the fixed α = 0.99), its weight moves within (0.8, 1) from
// cycle to cycle, and two runs are bit-identical.
func TestLatentHybridLocalAlphaEstimate(t *testing.T) {
	base := smallSparseLETKF()
	_, _, pca := latentArchive(t, base, 20)
	full, err := Run(context.Background(), base, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := latentCfg(base, "pca")
	cfg.Latent.Update, cfg.Latent.Analysis, cfg.Latent.AlphaEstimate = "increment", "hybrid-local", &config.AlphaEstimate{}
	var sums [2]Summary
	var alphas [2][]float64
	for k := range sums {
		s, err := BuildWithGenerator(cfg, pca)
		if err != nil {
			t.Fatal(err)
		}
		// The state carried after an analysis gives the α it used, which
		// the cycle's diagnostics report.
		if sums[k], err = s.Run(context.Background(), func(st CycleStats) {
			a := enkf.EstimatedAlpha(s.Filter.HybridWeightState())
			if st.HybridWeight != a {
				t.Fatalf("cycle %d: diagnostics α %v, the estimate's %v", st.Cycle, st.HybridWeight, a)
			}
			alphas[k] = append(alphas[k], a)
		}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("rmse_a: LETKF %.3f, hybrid-local with the estimated weight %.3f (NIS ratio %.2f); α in [%.4f, %.4f]",
		full.RMSEa, sums[0].RMSEa, sums[0].NISRatio, slices.Min(alphas[0]), slices.Max(alphas[0]))
	if sums[0] != sums[1] || !slices.Equal(alphas[0], alphas[1]) {
		t.Errorf("two runs differ:\n%+v\n%+v", sums[0], sums[1])
	}
	if lo, hi := slices.Min(alphas[0]), slices.Max(alphas[0]); !(lo > 0.8 && hi < 1 && lo < hi) {
		t.Errorf("estimated α in [%v, %v], want a weight that moves within (0.8, 1)", lo, hi)
	}
	if !(sums[0].RMSEa < 0.3*full.RMSEa) {
		t.Errorf("rmse_a %.3f, LETKF %.3f", sums[0].RMSEa, full.RMSEa)
	}
}
