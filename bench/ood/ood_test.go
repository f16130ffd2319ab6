package ood

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/internal/strictjson"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/genfile"
)

func TestROCAUC(t *testing.T) {
	for _, tc := range []struct {
		neg, pos []float64
		want     float64
	}{
		{[]float64{1, 2, 3}, []float64{4, 5}, 1},
		{[]float64{4, 5}, []float64{1, 2, 3}, 0},
		{[]float64{1, 2}, []float64{1, 2}, 0.5},
		{[]float64{1, 3}, []float64{2}, 0.5},
		{[]float64{0, 0, 0, 0}, []float64{0, 1}, 0.75},
	} {
		if got := rocAUC(tc.neg, tc.pos); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("AUC(%v, %v) = %v, want %v", tc.neg, tc.pos, got, tc.want)
		}
	}
}

// TestChannelFalseAlarmsCounted: the sensor channel's detector counts its
// false alarms on the in-distribution runs. The reference records must
// score channel 10 like the faulty runs do: records that left it at 0
// because the in-distribution case has no faulty channel reported 0% false
// alarms and an AUC of 1 beside a detection of 55%.
func TestChannelFalseAlarmsCounted(t *testing.T) {
	const p = 40
	qc := func(z10 float64) *experiment.QCResult {
		z := make([]float64, p)
		z[oodChannel] = z10
		return &experiment.QCResult{NIS: 30, NISThreshold: 63.7, Projection: 1, ProjectionThreshold: 2, Manifold: 1, ManifoldThreshold: 2, InnovationZ: z}
	}
	flags := make([]bool, p)
	// In distribution: channel 10 is 5σ off in one cycle of four (beyond
	// the Bonferroni cut 3.66 at α = 1%, p = 40).
	ref := oodRun{}
	for i := range 4 {
		z := 0.5
		if i == 0 {
			z = 5
		}
		ref.recs = append(ref.recs, newRecord(qc(z), oodAlpha, true, flags))
	}
	got := oodRun{recs: []cycleRecord{newRecord(qc(6), oodAlpha, true, flags), newRecord(qc(0.2), oodAlpha, true, flags)}}
	c := oodCase{name: "c: sensor bias", channel: true, anomaly: &config.AnomalyConfig{Bias: 4, BiasIndex: oodChannel}}
	rng := rand.New(rand.NewPCG(1, 2))
	rows := oodRows("lorenz96", c, []oodRun{ref}, []oodRun{got}, rng)
	found := false
	for _, r := range rows {
		switch r.Detector {
		case "outlier channel 10", "outlier":
			found = found || r.Detector == "outlier channel 10"
			if r.FAR != 0.25 || *r.Detection != 0.5 {
				t.Errorf("%s: false alarms %v, detection %v; want 0.25 and 0.5", r.Detector, r.FAR, *r.Detection)
			}
			// AUC: the faulty 6 beats all four; 0.2 beats none: (4 + 0)/8.
			if *r.AUC != 0.5 {
				t.Errorf("%s: AUC %v, want 0.5", r.Detector, *r.AUC)
			}
			if r.Latency == nil || *r.Latency != 1 {
				t.Errorf("%s: latency %v, want 1", r.Detector, r.Latency)
			}
		}
	}
	if !found {
		t.Error("no channel detector on a sensor case")
	}
	if rows := oodRows("lorenz96", oodCase{name: caseIn}, []oodRun{ref}, []oodRun{ref}, rng); rows[0].Detection != nil || rows[0].AUC != nil {
		t.Errorf("in-distribution row has detection %v, AUC %v", rows[0].Detection, rows[0].AUC)
	}
}

// TestAUCOverAnomalySpan: with in-distribution runs longer than the
// anomalous ones (--anomaly-cycles), the false-alarm rate counts every
// reference cycle, and the AUC only those of the anomalous runs' span, so
// that an anomalous run identical to the start of its reference scores 0.5
// (against all four reference cycles it would score 0.25).
func TestAUCOverAnomalySpan(t *testing.T) {
	const p = 40
	rec := func(z float64) cycleRecord {
		z10 := make([]float64, p)
		z10[0] = z
		return newRecord(&experiment.QCResult{NIS: 30, NISThreshold: 63.7, Projection: 1, ProjectionThreshold: 2, Manifold: 1,
			ManifoldThreshold: 2, InnovationZ: z10}, oodAlpha, true, make([]bool, p))
	}
	ref := oodRun{recs: []cycleRecord{rec(1), rec(2), rec(9), rec(9)}}
	got := oodRun{recs: []cycleRecord{rec(1), rec(2)}}
	c := oodCase{name: "d: localised bump", anomaly: &config.AnomalyConfig{Pattern: "bump", Amplitude: 3}}
	rows := oodRows("lorenz96", c, []oodRun{ref}, []oodRun{got}, rand.New(rand.NewPCG(1, 2)))
	i := slices.IndexFunc(rows, func(r Row) bool { return r.Detector == "outlier" })
	if i < 0 {
		t.Fatal("no outlier row")
	}
	if r := rows[i]; r.FAR != 0.5 || *r.AUC != 0.5 || *r.Detection != 0 {
		t.Errorf("false alarms %v, AUC %v, detection %v; want 0.5, 0.5 and 0", r.FAR, *r.AUC, *r.Detection)
	}
}

// TestBlockBootstrapRate: the rate is the pooled fraction; flags constant
// within blocks give an interval as wide as the blocks' spread, and
// all-false flags the Wilson interval.
func TestBlockBootstrapRate(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	// 40 blocks of 50: every 10th block all flagged, the rest clean.
	fl := make([]bool, 2000)
	for b := 0; b < 40; b += 10 {
		for i := b * 50; i < (b+1)*50; i++ {
			fl[i] = true
		}
	}
	rate, lo, hi := blockBootstrapRate([][]bool{fl}, 50, 2000, rng)
	// 4 of 40 blocks: the bootstrap count is Binomial(40, 0.1), whose 95%
	// range is about 1..8 blocks: [2.5%, 20%].
	if rate != 0.1 || lo > 0.05 || lo < 0.0125 || hi < 0.15 || hi > 0.225 {
		t.Errorf("rate %v [%v, %v], want 0.1 in about [0.025, 0.2]", rate, lo, hi)
	}
	// No flags: the bootstrap gives [0, 0]; the Wilson interval of 0 of
	// 100, [0, 3.70%], is wider.
	if rate, lo, hi := blockBootstrapRate([][]bool{make([]bool, 100)}, 50, 100, rng); rate != 0 || lo != 0 || math.Abs(hi-0.0370) > 1e-4 {
		t.Errorf("no flags: %v [%v, %v]", rate, lo, hi)
	}
}

// TestWilson checks the interval against a hand computation: 10 of 1000
// gives [0.5441%, 1.8309%] (mid (p + z²/2n)/(1 + z²/n) = 1.1875%, half-width
// z√(p(1−p)/n + z²/4n²)/(1 + z²/n) = 0.6434%).
func TestWilson(t *testing.T) {
	lo, hi := wilson(10, 1000)
	if math.Abs(lo-0.0054408) > 1e-6 || math.Abs(hi-0.0183095) > 1e-6 {
		t.Errorf("Wilson(10, 1000) = [%v, %v]", lo, hi)
	}
}

// TestStaticNullSpaceAUC pins the static null-space case at AUC 0.5 on
// both models: the pattern is added only where H does not look and never
// enters the dynamics, so every detector's statistics are bit-identical to
// the in-distribution run's, its AUC is exactly 0.5 and its detection rate
// is the in-distribution false-alarm rate. (A short run with a small
// generator: what is pinned holds for any.)
func TestStaticNullSpaceAUC(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, m := range oodModels() {
		base := m.base(40)
		genPath := testGenerator(t, m.name, base)
		byName := map[string]oodCase{}
		for _, c := range m.cases(oodBurn + 1) {
			byName[c.name] = c
		}
		runs := map[string][]oodRun{}
		for _, name := range []string{caseInEvery, "e(i): null space, static"} {
			cfg := oodConfig(base, byName[name], genPath, 1, config.PolicyWarn)
			cfg.OOD.CalibrationSamples = 200
			r, err := runOODCase(context.Background(), cfg, byName[name])
			if err != nil {
				t.Fatal(err)
			}
			runs[name] = []oodRun{r}
		}
		rows := oodRows(m.name, byName["e(i): null space, static"], runs[caseInEvery], runs["e(i): null space, static"], rng)
		for _, r := range rows {
			if *r.AUC != 0.5 || *r.Detection != r.FAR {
				t.Errorf("%s, %s: AUC %v, detection %v, false alarms %v", m.name, r.Detector, *r.AUC, *r.Detection, r.FAR)
			}
		}
		if len(rows) != 6 {
			t.Errorf("%s: %d rows", m.name, len(rows))
		}
	}
}

// TestOODBenchShort runs the evaluation on Lorenz-96 with one seed and few
// cycles, under every policy: rates are probabilities, the 8σ sensor spike
// is caught on its channel every time, and each policy has its row, whose
// reject and inflate runs differ from warn's on the spikes.
func TestOODBenchShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 30 short twin experiments")
	}
	res, err := Run(context.Background(), Options{Cycles: 100, Seeds: 1, Samples: 2000, Models: []string{"lorenz96"}, Policies: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.RMSE) != 3*len(Cases("lorenz96")) {
		t.Errorf("%d policy rows, want 3 per case", len(res.RMSE))
	}
	spikes := map[string]float64{}
	for _, r := range res.RMSE {
		if len(r.Runs) != 1 || r.Runs[0].Seed != 1 || !(r.Runs[0].RMSEa > 0) || !(r.Runs[0].SpreadA > 0) || !(r.Runs[0].NISRatio > 0) {
			t.Errorf("policy row %+v", r)
		}
		if r.Case == "c: sensor spikes" {
			spikes[r.Policy] = r.Runs[0].RMSEa
		}
	}
	if spikes["reject"] == spikes["warn"] || spikes["inflate"] == spikes["warn"] {
		t.Errorf("spikes: the policies' runs are warn's: %v", spikes)
	}
	for _, r := range res.Rows {
		if r.FAR < 0 || r.FAR > 1 || r.FARCI[0] > r.FAR || r.FARCI[1] < r.FAR {
			t.Errorf("%+v", r)
		}
		if (r.Detection == nil) != (r.DetectionCI == nil) || r.Detection != nil && (r.DetectionCI[0] > *r.Detection || r.DetectionCI[1] < *r.Detection) {
			t.Errorf("detection %v outside its interval %v", r.Detection, r.DetectionCI)
		}
		if r.Case == "c: sensor spikes" && r.Detector == "outlier channel 10" && *r.Detection != 1 {
			t.Errorf("spikes caught in %.0f%% of spiked cycles", 100**r.Detection)
		}
	}
	if len(res.Channels) != 40+20 {
		t.Errorf("%d channel rows", len(res.Channels))
	}
}

// TestOODReportSetUp: the report states the set-up the bench runs.
func TestOODReportSetUp(t *testing.T) {
	var b strings.Builder
	WriteReport(&b, Result{Command: "bench ood", Seconds: 1, Cycles: 2000, Seeds: 5, FirstSeed: 11, Generators: []Generator{
		{Model: "lorenz96", Dim: 7, StateDim: 40, Variance: 0.9, AnomalyCycles: 2000}, {Model: "ks", Dim: 32, StateDim: 128, Variance: 0.9, AnomalyCycles: 500}},
		Tracking: []Tracking{{Model: "ks", Case: caseIn, RMSE: []float64{0.12, 0.75, 0.11}}},
		Lost:     []LostRun{{Model: "ks", Case: "e(ii): null space, dynamical", Seed: 53, Cycle: 1461, Error: "diverged"}}})
	for _, want := range []string{
		"Generated by `latentda bench ood` (1s on",
		"LETKF with N = 20, inflation 1.04, radius 4.",
		"LETKF with N = 16, radius 28 (the DAPPER set-up) and the adaptive inflation (`local-innovation` with `enkf_n`)",
		"**d = 7 of 40** (90.0% of the variance)",
		"Each run has 200 burn-in cycles",
		"**5 seeds (11–15) × 2000 cycles**",
		"The anomalous cases of ks run 5 seeds × **500 cycles** after the onset",
		"- ks, a: in distribution: the filter's time-mean analysis RMSE after the onset is 0.110–0.750 over the 3 seeds (median 0.120)",
		"- ks, e(ii): null space, dynamical, seed 53 stopped at cycle 1461 (diverged); its cycles after the onset up to then are scored.",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

// TestPolicyTable: each policy's mean and interval over the seeds it
// kept, the paired change against warn over the seeds both kept, and the
// best policy with those its paired interval does not separate it from.
func TestPolicyTable(t *testing.T) {
	runs := func(vs ...float64) []PolicyRun {
		out := make([]PolicyRun, len(vs))
		for i, v := range vs {
			out[i] = PolicyRun{Seed: 11 + i, RMSEa: v, SpreadA: v / 2, NISRatio: 1 + v/10}
			if v < 0 {
				out[i] = PolicyRun{Seed: 11 + i, Error: "stopped at cycle 9: diverged"}
			}
		}
		return out
	}
	var b strings.Builder
	writeRMSE(func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }, []RMSE{
		{Model: "ks", Case: "x", Policy: "warn", Runs: runs(1, 2, 3)},
		{Model: "ks", Case: "x", Policy: "reject", Runs: runs(0.5, 1.5, -1)},
		{Model: "ks", Case: "x", Policy: "inflate", Runs: runs(0.9, 1.9, 2.9)},
		{Model: "ks", Case: "y", Policy: "warn", Runs: runs(1, 2, 3)},
		{Model: "ks", Case: "y", Policy: "reject", Runs: runs(1.1, 1.9, 3.3)},
		{Model: "ks", Case: "y", Policy: "inflate", Runs: runs(-1, -1, -1)},
		// A run that rejected every batch has no NIS (ratio 0).
		{Model: "ks", Case: "z", Policy: "warn", Runs: runs(1, 2)},
		{Model: "ks", Case: "z", Policy: "reject", Runs: []PolicyRun{{Seed: 11, RMSEa: 3}, {Seed: 12, RMSEa: 3}}},
		{Model: "ks", Case: "z", Policy: "inflate", Runs: runs(1, 2)},
	})
	for _, want := range []string{
		// warn: 2 ± t₀.₉₇₅(2)/√3 = 2.484; reject kept 2 seeds, its change
		// −0.5 on both (zero width); inflate −0.1 on every seed, best of
		// those that lost none.
		// Spread and NIS are the means over the kept runs: spread v/2,
		// NIS 1 + v/10.
		"| ks | x | 2.000 ± 2.484 | 1.000 ± 6.353, lost 1/3 | 1.900 ± 2.484 | -0.5000 ± 0.0000 | -0.1000 ± 0.0000 | 1.000 / 0.500 / 0.950 | 1.200 / 1.100 / 1.190 | inflate |",
		// reject − warn: 0.1, −0.1, 0.3, mean 0.1 ± 0.497, not separated;
		// inflate lost every run.
		"| ks | y | 2.000 ± 2.484 | 2.100 ± 2.766 | lost 3/3 | +0.1000 ± 0.4968 | — | 1.000 / 1.050 / — | 1.200 / 1.210 / — | warn ≈ reject |",
		"| 0.750 / 0.000 / 0.750 | 1.150 / — / 1.150 |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks\n%s\n%s", want, b.String())
		}
	}
}

// TestMergeOODResults: results of different models join; the same model
// twice, other seeds or cycles, or a one-seed policy table are refused.
func TestMergeOODResults(t *testing.T) {
	a := Result{Command: "bench ood --models lorenz96", Seconds: 2, Cycles: 100, Seeds: 5, Generators: []Generator{{Model: "lorenz96"}}, Rows: []Row{{Model: "lorenz96"}}}
	b := Result{Command: "bench ood --models ks", Seconds: 3, Cycles: 100, Seeds: 5, Generators: []Generator{{Model: "ks"}}, Rows: []Row{{Model: "ks"}, {Model: "ks"}}}
	m, err := Merge([]Result{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if m.Seconds != 5 || len(m.Rows) != 3 || len(m.Generators) != 2 || m.Command != "bench ood --models lorenz96` and `latentda bench ood --models ks" {
		t.Errorf("merged %+v", m)
	}
	if _, err := Merge([]Result{a, a}); err == nil {
		t.Error("the same model merged twice")
	}
	b.Seeds = 3
	if _, err := Merge([]Result{a, b}); err == nil {
		t.Error("other seeds merged")
	}
	// A result of the one-seed policy table (rows without runs).
	b.Seeds, b.FirstSeed, b.RMSE = a.Seeds, a.FirstSeed, []RMSE{{Model: "ks", Case: "x", Policy: "warn"}}
	if _, err := Merge([]Result{a, b}); err == nil || !strings.Contains(err.Error(), "policy rows without runs") {
		t.Errorf("old policy rows merged: %v", err)
	}
}

// TestGaussianLRT: for a mean shift a between two Gaussians with the same
// covariance C, the likelihood-ratio test's detection at false-alarm rate
// α is Φ(d' − z₁₋α) and its AUC Φ(d'/√2), d'² = aᵀC⁻¹a (Neyman–Pearson).
// Here x ~ N(0, diag(4, 1, 0.25)), R = I, a = (2, 1, 0.5): d'² = 4/5 +
// 1/2 + 0.25/1.25 = 1.5. Tolerance: 4 binomial standard errors of 20000
// scored batches on the detection (0.012 at 0.2) and the fitted laws'
// error; without a shift the test is at its nominal rate.
func TestGaussianLRT(t *testing.T) {
	const rows = 40000
	rng := rand.New(rand.NewPCG(3, 5))
	sd := []float64{2, 1, 0.5}
	in := mat.NewDense(rows, 3, nil)
	for i := range rows {
		for k, s := range sd {
			in.Set(i, k, s*rng.NormFloat64())
		}
	}
	// Independent draws of the law shifted by a.
	shifted := func(a []float64) *mat.Dense {
		out := mat.NewDense(rows, 3, nil)
		for i := range rows {
			for k, s := range sd {
				out.Set(i, k, s*rng.NormFloat64()+a[k])
			}
		}
		return out
	}
	_, _, det, auc, err := gaussianLRT(in, shifted([]float64{2, 1, 0.5}), 1, rng)
	if err != nil {
		t.Fatal(err)
	}
	dp := math.Sqrt(1.5)
	wantDet := 1 - distuv.UnitNormal.CDF(distuv.UnitNormal.Quantile(0.99)-dp)
	wantAUC := distuv.UnitNormal.CDF(dp / math.Sqrt2)
	if math.Abs(det-wantDet) > 0.015 || math.Abs(auc-wantAUC) > 0.01 {
		t.Errorf("detection %.4f, AUC %.4f; the Neyman–Pearson values are %.4f, %.4f", det, auc, wantDet, wantAUC)
	}
	_, _, det, auc, err = gaussianLRT(in, shifted([]float64{0, 0, 0}), 1, rng)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(det-0.01) > 0.005 || math.Abs(auc-0.5) > 0.02 {
		t.Errorf("no shift: detection %.4f, AUC %.4f; want 0.01 and 0.5", det, auc)
	}
}

// TestOracleChart: on independent batches with a shift a of d'² = aᵀC⁻¹a
// (the laws of TestGaussianLRT), the log-likelihood ratio is normal with
// variance d'² and means ∓d'²/2, so its EWMA of weight λ has the
// stationary standard deviation σ = d'·√(λ/(2 − λ)) and moves by d'² after
// the onset: away from the first memories, the chart flags a fraction
// 1 − Φ(z₀.₉₉ − d'²/σ) of the anomalous cycles. Here d'² = 0.09 and the
// memory 30, so 49.1%. Tolerance 0.04: the chart's values are correlated
// over about 2/λ cycles, so 16 runs of 20000 cycles hold about 5000
// independent ones, and the threshold, a 0.99 quantile of as many, moves
// the fraction as much again (sd about 0.01 in all, measured over seeds);
// the first memories after the onset, still rising, take about 0.2% off.
// Without a shift the chart is at its nominal 1%.
func TestOracleChart(t *testing.T) {
	const fit, cycles, runs, memory = 40000, 20000, 16, 30
	rng := rand.New(rand.NewPCG(7, 9))
	sd := []float64{2, 1, 0.5}
	c := math.Sqrt(0.09 / 1.5) // a = c·(2, 1, 0.5): d'² = 1.5c²
	a := []float64{2 * c, c, c / 2}
	X := mat.NewDense(fit, 3, nil)
	for i := range fit {
		for k, s := range sd {
			X.Set(i, k, s*rng.NormFloat64())
		}
	}
	g0, err := fitGaussian(X, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range fit {
		floats.Add(X.RawRowView(i), a)
	}
	g1, err := fitGaussian(X, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Observations y = x + shift + ε, ε ~ N(0, I), independent cycles.
	observed := func(shift []float64) []oodRun {
		out := make([]oodRun, runs)
		for r := range out {
			for range cycles {
				y := make([]float64, 3)
				for k, s := range sd {
					y[k] = s*rng.NormFloat64() + rng.NormFloat64() + shift[k]
				}
				out[r].ys = append(out[r].ys, y)
			}
		}
		return out
	}
	ref := observed([]float64{0, 0, 0})
	lambda := 1.0 / memory
	sigma := 0.3 * math.Sqrt(lambda/(2-lambda))
	want := 1 - distuv.UnitNormal.CDF(distuv.UnitNormal.Quantile(0.99)-0.09/sigma)
	det, auc := oracleChart(g0, g1, ref, observed(a), memory)
	if math.Abs(det-want) > 0.04 || auc < 0.8 {
		t.Errorf("detection %.4f, AUC %.4f; want %.4f ± 0.04 and an AUC well above 0.5", det, auc, want)
	}
	det, auc = oracleChart(g0, g1, ref, observed([]float64{0, 0, 0}), memory)
	if math.Abs(det-0.01) > 0.01 || math.Abs(auc-0.5) > 0.05 {
		t.Errorf("no shift: detection %.4f, AUC %.4f; want 0.01 and 0.5", det, auc)
	}
}

// TestRunStoppedAfterOnset: a run whose analysis diverges after the onset
// (a 10¹²σ sensor bias from the third cycle after it) is scored on the
// cycles it recorded and reported with the cycle it stopped at; one that
// diverges before the onset cannot be scored and is an error.
func TestRunStoppedAfterOnset(t *testing.T) {
	m := oodModels()[0]
	base := m.base(40)
	genPath := testGenerator(t, m.name, base)
	run := func(from int) (oodRun, error) {
		c := oodCase{name: "blow-up", every: 1, anomaly: &config.AnomalyConfig{Bias: 1e12, BiasIndex: oodChannel, FromCycle: from}}
		cfg := oodConfig(base, c, genPath, 1, config.PolicyWarn)
		cfg.OOD.CalibrationSamples = 200
		return runOODCase(context.Background(), cfg, c)
	}
	r, err := run(oodBurn + 3)
	if err != nil || r.lostCycle != oodBurn+3 || len(r.recs) != 2 || !strings.Contains(r.lostErr, "diverged") || math.IsNaN(r.rmse) {
		t.Errorf("diverging after the onset: err %v, stopped at cycle %d (%q) with %d cycles, rmse %v", err, r.lostCycle, r.lostErr, len(r.recs), r.rmse)
	}
	if _, err := run(oodBurn - 5); err == nil || !strings.Contains(err.Error(), "before any scored cycle") {
		t.Errorf("diverging before the onset: %v", err)
	}
}

// testGenerator saves a PCA of d = 10 fitted on a short archive of base's
// model and returns its path.
func testGenerator(t *testing.T, model string, base config.Config) string {
	t.Helper()
	X, _, err := experiment.BuildArchive(context.Background(), base, experiment.ArchiveOptions{Samples: 300, Seed: 11}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := latent.FitPCA(X, latent.PCAOptions{Dim: 10})
	if err != nil {
		t.Fatal(err)
	}
	genPath := filepath.Join(t.TempDir(), "pca.arrow")
	if err := genfile.Save(genPath, g, genfile.Info{Model: model}); err != nil {
		t.Fatal(err)
	}
	return genPath
}

// TestAUCSample: a block's weight counts its values that many times (a
// weight of 2 is the block duplicated, 0 the block left out); the
// bootstrap interval of separated samples is [1, 1], and that of
// overlapping ones holds the area and has width.
func TestAUCSample(t *testing.T) {
	neg := [][]float64{{0.1, 0.5, 0.9, 0.3}, {0.2, 0.7}}
	pos := [][]float64{{0.6, 0.8, 0.4, 1.2}}
	s := newAUCSample(neg, pos, 2) // blocks: neg 0 {0.1 0.5}, 1 {0.9 0.3}, 2 {0.2 0.7}; pos 3 {0.6 0.8}, 4 {0.4 1.2}
	if s.negBlocks != 3 || s.posBlocks != 2 {
		t.Fatalf("%d and %d blocks, want 3 and 2", s.negBlocks, s.posBlocks)
	}
	for _, tc := range []struct {
		w        []float64
		neg, pos []float64
	}{
		{nil, []float64{0.1, 0.5, 0.9, 0.3, 0.2, 0.7}, []float64{0.6, 0.8, 0.4, 1.2}},
		{[]float64{1, 2, 0, 1, 1}, []float64{0.1, 0.5, 0.9, 0.3, 0.9, 0.3}, []float64{0.6, 0.8, 0.4, 1.2}},
		{[]float64{1, 1, 1, 0, 3}, []float64{0.1, 0.5, 0.9, 0.3, 0.2, 0.7}, []float64{0.4, 1.2, 0.4, 1.2, 0.4, 1.2}},
	} {
		if got, want := s.auc(tc.w), rocAUC(tc.neg, tc.pos); math.Abs(got-want) > 1e-12 {
			t.Errorf("weights %v: AUC %v, want %v", tc.w, got, want)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	if lo, hi := newAUCSample([][]float64{{1, 2, 3, 4}}, [][]float64{{5, 6, 7, 8}}, 2).bootstrap(200, rng); lo != 1 || hi != 1 {
		t.Errorf("separated: [%v, %v], want [1, 1]", lo, hi)
	}
	var n, p []float64
	for range 400 {
		n, p = append(n, rng.NormFloat64()), append(p, 1+rng.NormFloat64())
	}
	o := newAUCSample([][]float64{n}, [][]float64{p}, 20)
	auc := o.auc(nil)
	// The standard error of an area near 0.7 with 400 of each is about
	// 0.018 (Hanley & McNeil 1982): an interval about 0.07 wide.
	if lo, hi := o.bootstrap(2000, rng); !(lo < auc && auc < hi) || hi-lo < 0.04 || hi-lo > 0.11 {
		t.Errorf("overlapping: AUC %v in [%v, %v]", auc, lo, hi)
	}
}

// TestBootstrapMedian: equal latencies give a point interval; otherwise it
// lies within the values and holds their median.
func TestBootstrapMedian(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	if lo, hi := bootstrapMedian([]float64{12, 12, 12}, 500, rng); lo != 12 || hi != 12 {
		t.Errorf("equal: [%v, %v]", lo, hi)
	}
	xs := []float64{3, 9, 4, 20, 7, 5, 11, 6, 8, 30}
	if lo, hi := bootstrapMedian(xs, 2000, rng); !(lo >= 3 && lo < 7.5 && hi > 7.5 && hi <= 30) {
		t.Errorf("[%v, %v] for median 7.5 of %v", lo, hi, xs)
	}
	// Seeds that never flagged (+Inf) make the upper end +Inf, not NaN.
	inf := math.Inf(1)
	if lo, hi := bootstrapMedian([]float64{5, 6, inf, inf, inf}, 2000, rng); !(lo >= 5) || !math.IsInf(hi, 1) {
		t.Errorf("[%v, %v] with three seeds that never flagged", lo, hi)
	}
}

// TestReadResult: a result reads back as written (strictjson, as --merge
// reads it); malformed JSON, keys no result has and data after the result
// are refused.
func TestReadResult(t *testing.T) {
	res := Result{Command: "bench ood --models ks", Seconds: 3, Cycles: 100, Seeds: 5, FirstSeed: 101,
		Generators: []Generator{{Model: "ks", Dim: 32}}, Rows: []Row{{Model: "ks", Case: "a", Detector: "innovation"}}}
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	err = strictjson.Decode(bytes.NewReader(data), &back)
	if err != nil || !reflect.DeepEqual(back, res) {
		t.Errorf("read back %+v, %v", back, err)
	}
	for _, tc := range []struct{ name, json, want string }{
		{"empty", "", "EOF"},
		{"truncated", string(data[:len(data)/2]), "unexpected EOF"},
		{"unknown key", `{"cycles": 100, "rmse_a": 1}`, `unknown field "rmse_a"`},
		{"unknown row key", `{"rows": [{"model": "ks", "rate": 0.01}]}`, `unknown field "rate"`},
		{"wrong type", `{"seeds_per_case": "ten"}`, "cannot unmarshal string"},
		{"two results", string(data) + string(data), "data after the JSON value"},
	} {
		if err := strictjson.Decode(strings.NewReader(tc.json), &Result{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// FuzzReadResult: any input is read as a result or refused, and a result
// it reads merges (--merge) and renders without failing.
func FuzzReadResult(f *testing.F) {
	f.Add([]byte(`{"cycles": 100, "seeds_per_case": 2, "first_seed": 1, "generators": [{"model": "ks", "d": 32}], "rows": [{"model": "ks", "case": "a", "detector": "innovation", "far": 0.01, "far_ci95": [0, 0.02]}]}`))
	f.Add([]byte(`{"rmse": [{"model": "ks", "case": "a", "policy": "warn", "runs": [{"seed": 1, "rmse_a": 0.1}]}], "lost": [{"model": "ks", "case": "a", "seed": 1, "cycle": 3, "error": "x"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var res Result
		if err := strictjson.Decode(bytes.NewReader(data), &res); err != nil {
			return
		}
		m, err := Merge([]Result{res})
		if err != nil {
			return
		}
		var b strings.Builder
		WriteReport(&b, m)
	})
}
