// Package ood holds `latentda bench ood`: false-alarm rates, detection
// rates, AUCs and latencies of the out-of-distribution tests of
// experiment (innovation outliers and the manifold test) on Lorenz-96 and
// Kuramoto–Sivashinsky twins with injected anomalies, and their Markdown
// report (docs/results-ood.md).
package ood

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"gonum.org/v1/gonum/floats"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/dynamics"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/genfile"
	"github.com/latentda/latentda/observations"
)

// Options set up `latentda bench ood`.
type Options struct {
	Cycles    int // cycles per run after the onset (default 2000)
	Seeds     int // twin seeds per case (default 5)
	FirstSeed int // the seeds are FirstSeed, FirstSeed+1, … (default 1)
	// AnomalyCycles, by model, shortens the anomalous cases' runs to this
	// many cycles after the onset (default Cycles): their detection rates,
	// AUCs and latencies need fewer cycles than the false-alarm rates of
	// the in-distribution cases, which always run Cycles.
	AnomalyCycles map[string]int
	Models        []string // lorenz96 and/or ks (default both)
	Variance      float64  // Lorenz-96 PCA: explained variance fraction (default 0.90)
	KSDim         int      // KS PCA: latent dimension (default 32)
	Samples       int      // archive snapshots for each generator (default 5000)
	// Policies also runs every case under the reject and inflate
	// policies with every seed, for the analysis-RMSE table.
	Policies bool
	Log      func(string)
}

func (o *Options) withDefaults() {
	if o.Cycles == 0 {
		o.Cycles = 2000
	}
	if o.Seeds == 0 {
		o.Seeds = 5
	}
	if o.FirstSeed == 0 {
		o.FirstSeed = 1
	}
	if len(o.Models) == 0 {
		o.Models = []string{"lorenz96", "ks"}
	}
	if o.Variance == 0 {
		o.Variance = 0.90
	}
	if o.KSDim == 0 {
		o.KSDim = 32
	}
	if o.Samples == 0 {
		o.Samples = 5000
	}
}

// Row is one detector on one case of one model. FAR is measured on the
// in-distribution case with the same observing system; Detection, AUC and
// Latency are nil on the in-distribution cases themselves (and Latency when
// the detector flagged no cycle after the onset in most seeds).
type Row struct {
	Model    string     `json:"model"`
	Case     string     `json:"case"`
	Detector string     `json:"detector"`
	FAR      float64    `json:"far"`
	FARCI    [2]float64 `json:"far_ci95"`
	// Detection is the fraction of anomalous cycles flagged, over all seeds.
	Detection *float64 `json:"detection"`
	// DetectionCI is its 95% block-bootstrap interval over the anomalous
	// runs' cycles, as FARCI's over the in-distribution ones.
	DetectionCI *[2]float64 `json:"detection_ci95,omitempty"`
	// AUC is the ROC area of the detector's statistic on the anomalous
	// cycles against the in-distribution ones of the same span after the
	// onset, over all seeds.
	AUC *float64 `json:"auc"`
	// AUCCI is its 95% block-bootstrap interval, the anomalous and the
	// in-distribution cycles resampled by blocks, each on its own.
	AUCCI *[2]float64 `json:"auc_ci95,omitempty"`
	// Latency is the median over seeds of the number of cycles from the
	// onset to the first flag (1: flagged at the onset).
	Latency *float64 `json:"latency_cycles"`
	// LatencyCI is the 95% bootstrap interval of that median, seeds
	// resampled; nil where its upper end is a seed that never flagged.
	LatencyCI *[2]float64 `json:"latency_ci95,omitempty"`
	Seeds     int         `json:"seeds"`
}

// Channel is the per-observation false-alarm rate of one channel on an
// in-distribution run: with the Bonferroni control the bench runs, and with
// |z| > 3 alone.
type Channel struct {
	Model      string     `json:"model"`
	Case       string     `json:"case"`
	Channel    int        `json:"channel"`
	FAR        float64    `json:"far_bonferroni"`
	FARCI      [2]float64 `json:"far_bonferroni_ci95"`
	FARK3      float64    `json:"far_k3"`
	FARK3CI    [2]float64 `json:"far_k3_ci95"`
	CycleCount int        `json:"cycles"`
}

// Tracking is the time-mean analysis RMSE after the onset of each seed of
// an in-distribution case: a run that lost the truth makes the
// forecast-based tests flag, and its flags count as false alarms.
type Tracking struct {
	Model string    `json:"model"`
	Case  string    `json:"case"`
	RMSE  []float64 `json:"rmse_by_seed"`
}

// RMSE is the analysis RMSE of one case under one policy, seed by seed.
type RMSE struct {
	Model  string      `json:"model"`
	Case   string      `json:"case"`
	Policy string      `json:"policy"`
	Runs   []PolicyRun `json:"runs"`
}

// PolicyRun is one seed's time-mean analysis RMSE after the onset. A run
// that stopped early (Error) is left out of the table's statistics and
// counted as lost.
type PolicyRun struct {
	Seed     int     `json:"seed"`
	RMSEa    float64 `json:"rmse_a"`
	SpreadA  float64 `json:"spread_a"`
	NISRatio float64 `json:"nis_ratio"` // mean NIS / its mean expectation
	Error    string  `json:"error,omitempty"`
}

// Generator describes a model's generator.
type Generator struct {
	Model    string  `json:"model"`
	Dim      int     `json:"d"`
	StateDim int     `json:"n"`
	Variance float64 `json:"explained_variance"`
	// ResidualDoF and CodeDoF are the calibrated χ² degrees of freedom of
	// the manifold score's two parts on the all-observed system (first
	// seed).
	ResidualDoF float64 `json:"residual_dof"`
	CodeDoF     float64 `json:"code_dof"`
	// AnomalyCycles is the anomalous cases' cycles after the onset.
	AnomalyCycles int `json:"anomaly_cycles"`
}

// Result is the whole evaluation.
type Result struct {
	// Command is the command line that ran it (after the program name),
	// Seconds its wall time; Merge joins them.
	Command    string      `json:"command"`
	Seconds    float64     `json:"seconds"`
	Cycles     int         `json:"cycles"`
	Seeds      int         `json:"seeds_per_case"`
	FirstSeed  int         `json:"first_seed,omitempty"` // 0: 1
	Generators []Generator `json:"generators"`
	Rows       []Row       `json:"rows"`
	Channels   []Channel   `json:"channels"`
	// Tracking holds how well the filter tracked the truth on the
	// in-distribution cases, whose flags are the false alarms.
	Tracking []Tracking `json:"tracking,omitempty"`
	RMSE     []RMSE     `json:"rmse,omitempty"`
	// Bounds are the snapshot bounds of the anomalous cases.
	Bounds []Bound `json:"bounds,omitempty"`
	// Lost are the runs that stopped early: the filter or the truth
	// diverged. The cycles they recorded before are scored.
	Lost []LostRun `json:"lost,omitempty"`
}

// LostRun is a run that stopped at a cycle after the onset.
type LostRun struct {
	Model string `json:"model"`
	Case  string `json:"case"`
	Seed  int    `json:"seed"`
	Cycle int    `json:"cycle"`
	Error string `json:"error"`
}

// oodCase is one scenario of the evaluation.
type oodCase struct {
	name, desc string
	every      int // observe every k-th variable
	anomaly    *config.AnomalyConfig
	spikes     int  // spike period (0: every cycle after the onset is anomalous)
	channel    bool // a sensor fault on oodChannel: score that channel too
}

// reference is the in-distribution case of the case's observing system,
// against whose runs its false alarms are counted.
func (c oodCase) reference() string {
	if c.every == 2 {
		return caseInEvery
	}
	return caseIn
}

// oodModel is one model of the evaluation.
type oodModel struct {
	name, title string
	base        func(cycles int) config.Config
	cases       func(onset int) []oodCase
}

const (
	// oodBurn is the number of cycles before the onset of each case's
	// anomaly, oodMembers the Lorenz-96 ensemble size.
	oodBurn    = 200
	oodMembers = 20
	// oodChannel is the observation of the sensor-fault cases.
	oodChannel = 10
	// oodBlock is the block length, in cycles, of the bootstrap of the
	// false-alarm rates' confidence intervals: two chart memories, the
	// longest dependence among the detectors (the chart's alarms come in
	// runs of about a memory), so that blocks are nearly independent.
	oodBlock = 2 * oodMemory
	// oodBoot is the number of bootstrap resamples.
	oodBoot = 2000
	// oodAlpha is the 1% setting of every test.
	oodAlpha = 0.01
	// oodMemory is the manifold chart's memory in cycles
	// (ood.manifold_memory), chosen on exploratory seeds (report.go).
	oodMemory = 100
	// oodInnovationMemory is the innovation chart's memory in cycles
	// (ood.innovation_memory), chosen on exploratory seeds (report.go).
	oodInnovationMemory = 5
)

// Reference cases: the in-distribution runs of each observing system.
const (
	caseIn      = "a: in distribution"
	caseInEvery = "a': in distribution, every 2nd observed"
)

// oodModels are the models of the evaluation.
func oodModels() []oodModel {
	return []oodModel{
		{name: "lorenz96", title: "Lorenz-96", base: l96Base, cases: l96Cases},
		{name: "ks", title: "Kuramoto–Sivashinsky", base: ksBase, cases: ksCases},
	}
}

// l96Base is Lorenz-96 with the defaults (40 variables, F = 8, dt 0.05),
// oodBurn cycles of burn-in and cycles after it, and the LETKF of the
// DAPPER Lorenz-96 set-up (its inflation and localisation radius) with
// oodMembers members.
func l96Base(cycles int) config.Config {
	ref := experiment.DapperConfigs(0)["l96-letkf"].Filter
	return config.Config{
		Name: "ood-bench", Cycles: oodBurn + cycles, BurnIn: float64(oodBurn) * dynamics.Lorenz96Dt,
		Model:  config.ModelConfig{Name: "lorenz96"},
		Filter: config.FilterConfig{Method: "letkf", Members: oodMembers, Inflation: ref.Inflation, LocRadius: ref.LocRadius},
	}
}

// ksBase is the DAPPER Kuramoto–Sivashinsky LETKF set-up (128 points on
// [0, 32π), dt 0.5, observed every 2 steps, N = 16, radius 28), with
// oodBurn cycles of burn-in and the adaptive inflation in place of DAPPER's
// hand-set 1.02: the local innovation estimate with the EnKF-N on top, as
// `latentda bench dapper --inflation adaptive --local-letkf --enkf-n` runs
// it. At 1.02 the filter lost the truth on 3 of 10 in-distribution seeds
// (11–20) over 2200 cycles, and the forecast-based tests counted those
// stretches as false alarms.
func ksBase(cycles int) config.Config {
	cfg := experiment.DapperConfigs(0)["ks-letkf"]
	cfg.Name, cfg.Cycles = "ood-bench-ks", oodBurn+cycles
	cfg.BurnIn = float64(oodBurn*cfg.Observations.StepsBetween) * cfg.Model.Dt
	cfg.Filter.Inflation = config.AdaptiveInflation
	cfg.Filter.Adaptive = &config.AdaptiveConfig{Scheme: config.SchemeLocalInnovation, EnKFN: true}
	return cfg
}

func l96Cases(onset int) []oodCase {
	an := func(a config.AnomalyConfig) *config.AnomalyConfig { a.FromCycle = onset; return &a }
	return []oodCase{
		{name: caseIn, desc: "F = 8 truth, all 40 variables observed", every: 1},
		{name: "b: regime shift F = 12", desc: "nature run switches to F = 12 at the onset", every: 1, anomaly: an(config.AnomalyConfig{Forcing: 12})},
		{name: "b: regime shift F = 5", desc: "nature run switches to F = 5 at the onset", every: 1, anomaly: an(config.AnomalyConfig{Forcing: 5})},
		{name: "c: sensor bias", desc: "+4σ bias on observation 10", every: 1, channel: true, anomaly: an(config.AnomalyConfig{Bias: 4, BiasIndex: oodChannel})},
		{name: "c: sensor spikes", desc: "+8σ spike on observation 10 every 10th cycle", every: 1, channel: true, spikes: 10, anomaly: an(config.AnomalyConfig{Bias: 8, BiasIndex: oodChannel, SpikeEvery: 10})},
		{name: "d: localised bump", desc: "bump of amplitude 3, width 1 grid point, at variable 20", every: 1, anomaly: an(config.AnomalyConfig{Pattern: "bump", Amplitude: 3, Width: 1, Center: 20})},
		{name: "d: high-wavenumber wave", desc: "wave of amplitude 1.5, wavenumber 17", every: 1, anomaly: an(config.AnomalyConfig{Pattern: "wave", Amplitude: 1.5, Wavenumber: 17})},
		{name: caseInEvery, desc: "as a, observing the even variables", every: 2},
		{name: "e(i): null space, static", desc: "wave of amplitude 3, wavenumber 5, added to the odd (unobserved) variables the observations see", every: 2, anomaly: an(config.AnomalyConfig{Pattern: "wave", Amplitude: 3, Wavenumber: 5, UnobservedOnly: true})},
		{name: "e(ii): null space, dynamical", desc: "forcing of amplitude 3, wavenumber 5, on the odd (unobserved) variables of the nature run: Fⱼ = 8 + 3 cos(2π 5j/40)", every: 2, anomaly: an(config.AnomalyConfig{Pattern: "wave", Amplitude: 3, Wavenumber: 5, UnobservedOnly: true, Dynamical: true})},
	}
}

func ksCases(onset int) []oodCase {
	an := func(a config.AnomalyConfig) *config.AnomalyConfig { a.FromCycle = onset; return &a }
	return []oodCase{
		{name: caseIn, desc: "L = 32π truth, all 128 points observed", every: 1},
		{name: "b: regime shift L = 40π", desc: "nature run on a domain 1.25× longer (same 128 points) from the onset", every: 1, anomaly: an(config.AnomalyConfig{Length: 40 * math.Pi})},
		{name: "b: regime shift L = 24π", desc: "nature run on a domain 0.75× as long from the onset", every: 1, anomaly: an(config.AnomalyConfig{Length: 24 * math.Pi})},
		{name: "b: regime shift L = 64π", desc: "nature run on a domain twice as long: its cells are half as wide on the grid", every: 1, anomaly: an(config.AnomalyConfig{Length: 64 * math.Pi})},
		{name: "b: regime shift L = 16π", desc: "nature run on a domain half as long: its cells are twice as wide on the grid", every: 1, anomaly: an(config.AnomalyConfig{Length: 16 * math.Pi})},
		{name: "c: sensor bias", desc: "+4σ bias on observation 10", every: 1, channel: true, anomaly: an(config.AnomalyConfig{Bias: 4, BiasIndex: oodChannel})},
		{name: "c: sensor spikes", desc: "+8σ spike on observation 10 every 10th cycle", every: 1, channel: true, spikes: 10, anomaly: an(config.AnomalyConfig{Bias: 8, BiasIndex: oodChannel, SpikeEvery: 10})},
		{name: "d: localised bump", desc: "bump of amplitude 3, width 1 grid point, at point 64", every: 1, anomaly: an(config.AnomalyConfig{Pattern: "bump", Amplitude: 3, Width: 1, Center: 64})},
		{name: "d: high-wavenumber wave", desc: "wave of amplitude 1.5, wavenumber 40 (the attractor has almost no energy above 16)", every: 1, anomaly: an(config.AnomalyConfig{Pattern: "wave", Amplitude: 1.5, Wavenumber: 40})},
		{name: caseInEvery, desc: "as a, observing the even points", every: 2},
		{name: "e(i): null space, static", desc: "wave of amplitude 3, wavenumber 5, added to the odd (unobserved) points the observations see", every: 2, anomaly: an(config.AnomalyConfig{Pattern: "wave", Amplitude: 3, Wavenumber: 5, UnobservedOnly: true})},
		{name: "e(ii): null space, dynamical", desc: "forcing of amplitude 3, wavenumber 5, on the odd (unobserved) points of the nature run", every: 2, anomaly: an(config.AnomalyConfig{Pattern: "wave", Amplitude: 3, Wavenumber: 5, UnobservedOnly: true, Dynamical: true})},
	}
}

// Cases describes a model's scenarios, for the report.
func Cases(model string) [][2]string {
	var out [][2]string
	for _, m := range oodModels() {
		if m.name != model {
			continue
		}
		for _, c := range m.cases(0) {
			out = append(out, [2]string{c.name, c.desc})
		}
	}
	return out
}

// cycleRecord is what one cycle tells the detectors.
type cycleRecord struct {
	nis, inChart, proj, man, manCycle, maxZ, chanZ              float64
	nisFlag, inChartFlag, projFlag, manFlag, manCycleFlag, anyZ bool
	chanFlag, positive                                          bool
}

// newRecord reads one cycle's quality control. Every record scores the
// sensor-fault channel oodChannel, whatever the case, so that a sensor
// detector's false alarms are counted on the in-distribution runs as on
// the faulty ones. flags is scratch of one entry per observation, left
// holding the Bonferroni flags at level alpha.
func newRecord(qc *experiment.QCResult, alpha float64, positive bool, flags []bool) cycleRecord {
	r := cycleRecord{nis: qc.NIS, inChart: qc.InnovationChart, proj: qc.Projection, man: qc.Manifold, manCycle: qc.ManifoldCycle, positive: positive,
		nisFlag: qc.NIS > qc.NISThreshold, inChartFlag: qc.InnovationChart > 1, projFlag: qc.Projection > qc.ProjectionThreshold, manFlag: qc.Manifold > qc.ManifoldThreshold,
		manCycleFlag: qc.ManifoldCycle > qc.ManifoldCycleThreshold}
	batchP, _, err := observations.FamilywiseOutliers(flags, qc.InnovationZ, alpha, observations.ControlBonferroni)
	if err != nil {
		panic(err) // alpha is the bench's constant
	}
	for _, z := range qc.InnovationZ {
		r.maxZ = math.Max(r.maxZ, math.Abs(z))
	}
	r.anyZ = batchP <= alpha
	r.chanZ = math.Abs(qc.InnovationZ[oodChannel])
	r.chanFlag = flags[oodChannel]
	return r
}

// oodRun is one seed of one case.
type oodRun struct {
	recs []cycleRecord
	// chanFlags and chanK3 count, per observation, the cycles flagged by
	// the Bonferroni control and by |z| > 3; nil unless counted.
	chanFlags, chanK3 []int
	rmse              float64
	// spread is the time-mean analysis spread and nisRatio the mean NIS
	// over its mean expectation, over the same cycles as rmse.
	spread, nisRatio float64
	// ys are the observations of the recorded cycles, for the oracle
	// chart (oracleChart).
	ys [][]float64
	// lostCycle is the cycle at which the run stopped (0: it ran to the
	// end), lostErr why.
	lostCycle int
	lostErr   string
}

// Run fits a generator per model and runs each case with each
// seed (and, with Policies, under each policy).
func Run(ctx context.Context, o Options) (Result, error) {
	o.withDefaults()
	logf := func(format string, args ...any) {
		if o.Log != nil {
			o.Log(fmt.Sprintf(format, args...))
		}
	}
	dir, err := os.MkdirTemp("", "latentda-bench-ood")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	res := Result{Cycles: o.Cycles, Seeds: o.Seeds, FirstSeed: o.FirstSeed}
	for _, m := range oodModels() {
		if !slices.Contains(o.Models, m.name) {
			continue
		}
		if err := runOODModel(ctx, o, m, dir, &res, logf); err != nil {
			return res, err
		}
	}
	return res, nil
}

// Merge joins the results of runs on different models with the
// same seeds and cycles, as if one run had made them.
func Merge(parts []Result) (Result, error) {
	if len(parts) == 0 {
		return Result{}, fmt.Errorf("bench ood: nothing to merge")
	}
	out := Result{Cycles: parts[0].Cycles, Seeds: parts[0].Seeds, FirstSeed: parts[0].FirstSeed}
	var cmds []string
	for i, p := range parts {
		if p.Cycles != out.Cycles || p.Seeds != out.Seeds || p.FirstSeed != out.FirstSeed {
			return out, fmt.Errorf("bench ood: merge: result %d has %d seeds from %d × %d cycles, the first %d from %d × %d",
				i+1, p.Seeds, p.FirstSeed, p.Cycles, out.Seeds, out.FirstSeed, out.Cycles)
		}
		if slices.ContainsFunc(p.RMSE, func(r RMSE) bool { return len(r.Runs) == 0 }) {
			return out, fmt.Errorf("bench ood: merge: result %d has policy rows without runs, written by a bench that ran the policies on one seed; run it again", i+1)
		}
		for _, g := range p.Generators {
			if slices.ContainsFunc(out.Generators, func(o Generator) bool { return o.Model == g.Model }) {
				return out, fmt.Errorf("bench ood: merge: model %s is in more than one result", g.Model)
			}
		}
		cmds = append(cmds, p.Command)
		out.Seconds += p.Seconds
		out.Generators = append(out.Generators, p.Generators...)
		out.Rows = append(out.Rows, p.Rows...)
		out.Channels = append(out.Channels, p.Channels...)
		out.Tracking = append(out.Tracking, p.Tracking...)
		out.RMSE = append(out.RMSE, p.RMSE...)
		out.Bounds = append(out.Bounds, p.Bounds...)
		out.Lost = append(out.Lost, p.Lost...)
	}
	out.Command = strings.Join(cmds, "` and `latentda ")
	return out, nil
}

// runOODModel evaluates one model.
func runOODModel(ctx context.Context, o Options, m oodModel, dir string, res *Result, logf func(string, ...any)) error {
	base := m.base(o.Cycles)
	X, _, err := experiment.BuildArchive(ctx, base, experiment.ArchiveOptions{Samples: o.Samples, Seed: 11}, nil)
	if err != nil {
		return err
	}
	popts := latent.PCAOptions{Variance: o.Variance}
	if m.name == "ks" {
		popts = latent.PCAOptions{Dim: o.KSDim}
	}
	gen, err := latent.FitPCA(X, popts)
	if err != nil {
		return err
	}
	genPath := filepath.Join(dir, m.name+"-pca.arrow")
	if err := genfile.Save(genPath, gen, genfile.Info{Model: m.name}); err != nil {
		return err
	}
	g := Generator{Model: m.name, Dim: gen.LatentDim(), StateDim: gen.StateDim(), Variance: floats.Sum(gen.ExplainedVarianceRatio())}
	logf("%s: PCA generator d = %d of %d (%.1f%% of the variance)", m.name, g.Dim, g.StateDim, 100*g.Variance)

	anomCycles := o.Cycles
	if n, ok := o.AnomalyCycles[m.name]; ok && n > 0 {
		anomCycles = n
	}
	g.AnomalyCycles = anomCycles
	caseConfig := func(c oodCase, seed uint64, policy string) config.Config {
		cfg := oodConfig(base, c, genPath, seed, policy)
		if c.anomaly != nil {
			cfg.Cycles = oodBurn + anomCycles
		}
		return cfg
	}
	cases := m.cases(oodBurn + 1)
	runs := make(map[string][]oodRun, len(cases))
	// policyRuns[case][policy] are the other policies' runs, of which
	// only the RMSE is kept.
	policyRuns := make(map[string]map[string][]PolicyRun, len(cases))
	others := policies[1:]
	type job struct {
		c      oodCase
		seed   int
		policy string
	}
	var jobs []job
	for _, c := range cases {
		runs[c.name] = make([]oodRun, o.Seeds)
		policyRuns[c.name] = map[string][]PolicyRun{}
		for s := range o.Seeds {
			jobs = append(jobs, job{c, s, config.PolicyWarn})
		}
		if o.Policies {
			for _, pol := range others {
				policyRuns[c.name][pol] = make([]PolicyRun, o.Seeds)
				for s := range o.Seeds {
					jobs = append(jobs, job{c, s, pol})
				}
			}
		}
	}
	// Two workers: the machine's cores.
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan job)
	)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				seed := o.FirstSeed + j.seed
				r, err := runOODCase(ctx, caseConfig(j.c, uint64(seed), j.policy), j.c)
				mu.Lock()
				// Another policy's run that fails is lost, not the bench's
				// error (unless the bench was stopped).
				if j.policy != config.PolicyWarn {
					pr := r.policyRun(seed)
					switch {
					case ctx.Err() != nil && firstErr == nil:
						firstErr = fmt.Errorf("bench ood: %s, %s, seed %d, policy %s: %w", m.name, j.c.name, seed, j.policy, ctx.Err())
					case err != nil:
						pr.Error = err.Error()
					}
					policyRuns[j.c.name][j.policy][j.seed] = pr
					mu.Unlock()
					if pr.Error != "" {
						logf("%s, %s, seed %d, policy %s: lost (%s)", m.name, j.c.name, seed, j.policy, pr.Error)
					} else {
						logf("%s, %s, seed %d, policy %s: rmse_a %.3f", m.name, j.c.name, seed, j.policy, r.rmse)
					}
					continue
				}
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("bench ood: %s, %s, seed %d: %w", m.name, j.c.name, seed, err)
				}
				if r.lostCycle > 0 {
					res.Lost = append(res.Lost, LostRun{Model: m.name, Case: j.c.name, Seed: seed, Cycle: r.lostCycle, Error: r.lostErr})
					logf("%s, %s, seed %d: stopped at cycle %d (%s); its %d cycles after the onset are scored", m.name, j.c.name, seed, r.lostCycle, r.lostErr, len(r.recs))
				}
				runs[j.c.name][j.seed] = r
				mu.Unlock()
				logf("%s, %s, seed %d: rmse_a %.3f", m.name, j.c.name, seed, r.rmse)
			}
		}()
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	slices.SortFunc(res.Lost, func(a, b LostRun) int {
		return cmp.Or(cmp.Compare(a.Model, b.Model), cmp.Compare(a.Case, b.Case), cmp.Compare(a.Seed, b.Seed))
	})
	// The calibrated dof of the manifold score on the first seed.
	if s, err := experiment.Build(caseConfig(cases[0], uint64(o.FirstSeed), config.PolicyWarn)); err == nil {
		g.ResidualDoF, g.CodeDoF = s.ManifoldDegreesOfFreedom()
	}
	res.Generators = append(res.Generators, g)

	rng := rand.New(rand.NewPCG(17, uint64(len(res.Rows))))
	for _, c := range cases {
		res.Rows = append(res.Rows, oodRows(m.name, c, runs[c.reference()], runs[c.name], rng)...)
	}
	for _, name := range []string{caseIn, caseInEvery} {
		res.Channels = append(res.Channels, channelRates(m.name, name, runs[name])...)
		tr := Tracking{Model: m.name, Case: name}
		for _, r := range runs[name] {
			tr.RMSE = append(tr.RMSE, r.rmse)
		}
		res.Tracking = append(res.Tracking, tr)
	}
	bounds, err := snapshotBounds(ctx, m.name, base, X, cases, runs, base.WithDefaults().Observations.Variance, rand.New(rand.NewPCG(19, uint64(len(res.Bounds)))))
	if err != nil {
		return err
	}
	res.Bounds = append(res.Bounds, bounds...)
	if o.Policies {
		for _, c := range cases {
			warn := RMSE{Model: m.name, Case: c.name, Policy: config.PolicyWarn}
			for s, r := range runs[c.name] {
				warn.Runs = append(warn.Runs, r.policyRun(o.FirstSeed+s))
			}
			res.RMSE = append(res.RMSE, warn)
			for _, pol := range others {
				res.RMSE = append(res.RMSE, RMSE{Model: m.name, Case: c.name, Policy: pol, Runs: policyRuns[c.name][pol]})
			}
		}
	}
	return nil
}

// policyRun is the run's row of the policy table: a run that stopped
// early is lost.
func (r oodRun) policyRun(seed int) PolicyRun {
	pr := PolicyRun{Seed: seed, RMSEa: r.rmse, SpreadA: r.spread, NISRatio: r.nisRatio}
	if r.lostCycle > 0 {
		pr.Error = fmt.Sprintf("stopped at cycle %d: %s", r.lostCycle, r.lostErr)
	}
	return pr
}

// oodConfig is the config of one case with one seed and policy: every test
// at the 1% setting, the per-observation one with Bonferroni control, the
// innovation test and chart calibrated on an in-distribution twin.
func oodConfig(base config.Config, c oodCase, genPath string, seed uint64, policy string) config.Config {
	cfg := base
	cfg.Name, cfg.Seed = c.name, seed
	cfg.Observations.Operator, cfg.Observations.Every = "every-k", c.every
	cfg.OOD = &config.OODConfig{Generator: genPath, Policy: policy, OutlierControl: observations.ControlBonferroni, Alpha: oodAlpha,
		Tests: []string{config.TestOutlier, config.TestInnovation, config.TestProjection, config.TestManifold}, ManifoldMemory: oodMemory,
		InnovationCalibration: config.CalibrationEmpirical, InnovationMemory: oodInnovationMemory}
	cfg.Anomaly = c.anomaly
	return cfg
}

// runOODCase runs one case and returns the records of the cycles from the
// onset, the per-channel flag counts and the mean analysis RMSE over them.
func runOODCase(ctx context.Context, cfg config.Config, c oodCase) (oodRun, error) {
	if err := ctx.Err(); err != nil { // before the calibrations Build runs
		return oodRun{}, err
	}
	s, err := experiment.Build(cfg)
	if err != nil {
		return oodRun{}, err
	}
	truth, E, err := s.Initial()
	if err != nil {
		return oodRun{}, err
	}
	p := s.Op.OutDim()
	y := make([]float64, p)
	flags := make([]bool, p)
	run := oodRun{chanFlags: make([]int, p), chanK3: make([]int, p)}
	var nis, nisExp float64
	for k := 1; k <= s.Config.Cycles; k++ {
		if err := ctx.Err(); err != nil {
			return oodRun{}, err
		}
		st, err := s.TwinCycle(truth, E, y, k)
		if err != nil {
			// A run that diverges is scored on the cycles it recorded
			// after the onset, and reported as stopped.
			run.lostCycle, run.lostErr = k, err.Error()
			break
		}
		if k <= oodBurn {
			continue
		}
		qc := s.QC()
		r := newRecord(qc, oodAlpha, c.spikes == 0 || (k-oodBurn-1)%c.spikes == 0, flags)
		for i, f := range flags {
			if f {
				run.chanFlags[i]++
			}
			if math.Abs(qc.InnovationZ[i]) > 3 {
				run.chanK3[i]++
			}
		}
		run.recs = append(run.recs, r)
		run.ys = append(run.ys, slices.Clone(y))
		run.rmse += st.RMSEa
		run.spread += st.SpreadA
		nis += st.NIS
		nisExp += st.NISExpected
	}
	if run.lostCycle > 0 && len(run.recs) == 0 {
		return oodRun{}, fmt.Errorf("cycle %d, before any scored cycle: %s", run.lostCycle, run.lostErr)
	}
	run.rmse /= float64(len(run.recs))
	run.spread /= float64(len(run.recs))
	if nisExp > 0 {
		run.nisRatio = nis / nisExp
	}
	return run, nil
}

// oodDetector is one detector's statistic and decision.
type oodDetector struct {
	name string
	stat func(cycleRecord) float64
	flag func(cycleRecord) bool
}

// oneCycle is the name of the manifold test of each batch on its own (its
// two-sided score T), beside the chart over cycles that the manifold
// detector is.
const oneCycle = "manifold, one cycle"

// innovationChart is the name of the innovation chart
// (ood.innovation_memory), beside the innovation test of each batch.
const innovationChart = "innovation chart"

// uncontrolled is the name of the per-observation test without family-wise
// control, |zᵢ| > 3 on its own, reported on the in-distribution cases only,
// for its false-alarm rate.
const uncontrolled = "outlier, |z| > 3 uncontrolled"

// oodDetectors are the batch detectors, with the sensor channel's own when
// channel is set, and the uncontrolled per-observation test on an
// in-distribution case (inDist).
func oodDetectors(channel, inDist bool) []oodDetector {
	ds := []oodDetector{
		{"innovation", func(r cycleRecord) float64 { return r.nis }, func(r cycleRecord) bool { return r.nisFlag }},
		{innovationChart, func(r cycleRecord) float64 { return r.inChart }, func(r cycleRecord) bool { return r.inChartFlag }},
		{"projection", func(r cycleRecord) float64 { return r.proj }, func(r cycleRecord) bool { return r.projFlag }},
		{"manifold", func(r cycleRecord) float64 { return r.man }, func(r cycleRecord) bool { return r.manFlag }},
		{oneCycle, func(r cycleRecord) float64 { return r.manCycle }, func(r cycleRecord) bool { return r.manCycleFlag }},
		{"outlier", func(r cycleRecord) float64 { return r.maxZ }, func(r cycleRecord) bool { return r.anyZ }},
	}
	if channel {
		ds = append(ds, oodDetector{fmt.Sprintf("outlier channel %d", oodChannel), func(r cycleRecord) float64 { return r.chanZ }, func(r cycleRecord) bool { return r.chanFlag }})
	}
	if inDist {
		ds = append(ds, oodDetector{uncontrolled, func(r cycleRecord) float64 { return r.maxZ }, func(r cycleRecord) bool { return r.maxZ > 3 }})
	}
	return ds
}

// oodRows scores each detector on a case against its reference runs (the
// in-distribution runs of the same observing system): on an
// in-distribution case only the false-alarm rate. The false-alarm rate
// counts every cycle of the reference runs; the AUC compares the anomalous
// runs with the reference runs' cycles of the same span after the onset
// (--anomaly-cycles may make them shorter), so that a case identical to
// its reference scores 0.5 exactly.
func oodRows(model string, c oodCase, ref, got []oodRun, rng *rand.Rand) []Row {
	span := 0
	for _, run := range got {
		span = max(span, len(run.recs))
	}
	var out []Row
	for _, d := range oodDetectors(c.channel, c.anomaly == nil) {
		var refFlags [][]bool
		var neg [][]float64
		for _, run := range ref {
			fl := make([]bool, len(run.recs))
			var st []float64
			for i, r := range run.recs {
				fl[i] = d.flag(r)
				if i < span {
					st = append(st, d.stat(r))
				}
			}
			refFlags, neg = append(refFlags, fl), append(neg, st)
		}
		far, lo, hi := blockBootstrapRate(refFlags, oodBlock, oodBoot, rng)
		row := Row{Model: model, Case: c.name, Detector: d.name, FAR: far, FARCI: [2]float64{lo, hi}, Seeds: len(ref)}
		if c.anomaly != nil {
			var pos [][]float64
			var posFlags [][]bool
			var lat []float64
			npos := 0
			for _, run := range got {
				first := math.Inf(1)
				var fl []bool
				var st []float64
				for i, r := range run.recs {
					if !r.positive {
						continue
					}
					flagged := d.flag(r)
					st, fl = append(st, d.stat(r)), append(fl, flagged)
					if flagged {
						first = math.Min(first, float64(i+1))
					}
				}
				pos, posFlags, lat = append(pos, st), append(posFlags, fl), append(lat, first)
				npos += len(st)
			}
			// Their own resampling streams, so that the false-alarm
			// intervals do not depend on which rows have detections.
			detection, lo, hi := blockBootstrapRate(posFlags, oodBlock, oodBoot, rand.New(rand.NewPCG(uint64(npos), oodBoot)))
			sample := newAUCSample(neg, pos, oodBlock)
			auc := sample.auc(nil)
			alo, ahi := sample.bootstrap(oodBoot, rand.New(rand.NewPCG(uint64(npos), oodBoot+1)))
			row.Detection, row.DetectionCI, row.AUC, row.AUCCI = &detection, &[2]float64{lo, hi}, &auc, &[2]float64{alo, ahi}
			if l := medianOf(lat); !math.IsInf(l, 1) {
				row.Latency = &l
				if llo, lhi := bootstrapMedian(lat, oodBoot, rand.New(rand.NewPCG(uint64(npos), oodBoot+2))); !math.IsInf(lhi, 1) {
					row.LatencyCI = &[2]float64{llo, lhi}
				}
			}
		}
		out = append(out, row)
	}
	return out
}

// channelRates returns the per-observation false-alarm rates of the runs
// of an in-distribution case, pooled over seeds. The runs keep counts, not
// per-cycle flags, per channel, so the intervals are Wilson intervals,
// which treat the cycles as independent: a single channel's false alarms
// are rare and isolated, unlike the batch statistics' runs of alarms.
func channelRates(model, name string, runs []oodRun) []Channel {
	if len(runs) == 0 {
		return nil
	}
	var out []Channel
	n := 0
	for _, r := range runs {
		n += len(r.recs)
	}
	for ch := range runs[0].chanFlags {
		var bf, k3 int
		for _, r := range runs {
			bf += r.chanFlags[ch]
			k3 += r.chanK3[ch]
		}
		c := Channel{Model: model, Case: name, Channel: ch, CycleCount: n,
			FAR: float64(bf) / float64(n), FARK3: float64(k3) / float64(n)}
		c.FARCI[0], c.FARCI[1] = wilson(bf, n)
		c.FARK3CI[0], c.FARK3CI[1] = wilson(k3, n)
		out = append(out, c)
	}
	return out
}

// wilson is the 95% Wilson score interval of k successes in n trials.
func wilson(k, n int) (lo, hi float64) {
	const z = 1.959963984540054
	p, nf := float64(k)/float64(n), float64(n)
	den := 1 + z*z/nf
	mid := (p + z*z/(2*nf)) / den
	half := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / den
	return math.Max(0, mid-half), math.Min(1, mid+half)
}

// blockBootstrapRate returns the rate of true flags over all runs and its
// 95% interval: the percentile interval of a block bootstrap, in which each
// run's cycles are cut into consecutive blocks of block cycles (the last
// one shorter) and boot resamples draw as many blocks, with replacement,
// from all runs' blocks. Blocks much longer than the cycles' correlation
// time keep the autocorrelation of the flags inside them, which the
// binomial interval would ignore. Where the Wilson interval is wider (few
// flags, for which the bootstrap degenerates), its end is taken.
func blockBootstrapRate(flags [][]bool, block, boot int, rng *rand.Rand) (rate, lo, hi float64) {
	type blk struct{ hits, n int }
	var blocks []blk
	hits, n := 0, 0
	for _, fl := range flags {
		for s := 0; s < len(fl); s += block {
			b := blk{}
			for _, f := range fl[s:min(s+block, len(fl))] {
				b.n++
				if f {
					b.hits++
				}
			}
			blocks = append(blocks, b)
			hits, n = hits+b.hits, n+b.n
		}
	}
	if n == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	rates := make([]float64, boot)
	for i := range rates {
		h, m := 0, 0
		for range blocks {
			b := blocks[rng.IntN(len(blocks))]
			h, m = h+b.hits, m+b.n
		}
		rates[i] = float64(h) / float64(m)
	}
	slices.Sort(rates)
	// With few or no flags the bootstrap degenerates ([0, 0] for none):
	// the interval is widened to the Wilson interval of independent cycles
	// wherever that is wider.
	wlo, whi := wilson(hits, n)
	return float64(hits) / float64(n), math.Min(wlo, quantileSorted(rates, 0.025)), math.Max(whi, quantileSorted(rates, 0.975))
}

// quantileSorted is the type 7 quantile of sorted values (+Inf where it
// falls between two +Inf values).
func quantileSorted(s []float64, q float64) float64 {
	h := q * float64(len(s)-1)
	lo := int(math.Floor(h))
	if lo+1 >= len(s) || s[lo+1] == s[lo] {
		return s[lo]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}

// medianOf is the median of xs (+Inf entries count as larger than all).
func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// rocAUC is the area under the ROC curve of a detector whose statistic is
// neg on negatives and pos on positives: P(pos > neg) + ½P(pos = neg), the
// Mann–Whitney U statistic over |neg|·|pos|.
func rocAUC(neg, pos []float64) float64 {
	return newAUCSample([][]float64{neg}, [][]float64{pos}, max(len(neg), len(pos), 1)).auc(nil)
}

// aucSample holds the values of a ROC area's negatives and positives,
// sorted once, each with its block: every run's values, in cycle order,
// cut into blocks of a given length, as blockBootstrapRate cuts flags.
type aucSample struct {
	x                    []float64 // sorted
	pos                  []bool
	block                []int // negatives' blocks 0…negBlocks−1, then the positives'
	negBlocks, posBlocks int
}

func newAUCSample(neg, pos [][]float64, block int) aucSample {
	var s aucSample
	type item struct {
		x     float64
		pos   bool
		block int
	}
	var all []item
	add := func(runs [][]float64, isPos bool, first int) int {
		b := first
		for _, run := range runs {
			for i := 0; i < len(run); i += block {
				for _, x := range run[i:min(i+block, len(run))] {
					all = append(all, item{x, isPos, b})
				}
				b++
			}
		}
		return b - first
	}
	s.negBlocks = add(neg, false, 0)
	s.posBlocks = add(pos, true, s.negBlocks)
	slices.SortStableFunc(all, func(a, b item) int { return cmp.Compare(a.x, b.x) })
	for _, it := range all {
		s.x, s.pos, s.block = append(s.x, it.x), append(s.pos, it.pos), append(s.block, it.block)
	}
	return s
}

// auc is the ROC area with each value weighted by its block's weight w
// (nil: all 1), ties counted half:
// Σ_pos w (W_neg below + ½ W_neg equal) / (W_pos W_neg).
func (s aucSample) auc(w []float64) float64 {
	weight := func(k int) float64 {
		if w == nil {
			return 1
		}
		return w[s.block[k]]
	}
	var below, num, wPos float64
	for i := 0; i < len(s.x); {
		j := i
		var wn, wp float64
		for ; j < len(s.x) && s.x[j] == s.x[i]; j++ {
			if s.pos[j] {
				wp += weight(j)
			} else {
				wn += weight(j)
			}
		}
		num += wp * (below + wn/2)
		below, wPos = below+wn, wPos+wp
		i = j
	}
	return num / (wPos * below)
}

// bootstrap is the 95% percentile interval of the ROC area over boot
// resamples, each drawing as many blocks as there are, with replacement,
// from the negatives' and from the positives' blocks, each on its own.
func (s aucSample) bootstrap(boot int, rng *rand.Rand) (lo, hi float64) {
	w := make([]float64, s.negBlocks+s.posBlocks)
	aucs := make([]float64, boot)
	for r := range aucs {
		clear(w)
		for range s.negBlocks {
			w[rng.IntN(s.negBlocks)]++
		}
		for range s.posBlocks {
			w[s.negBlocks+rng.IntN(s.posBlocks)]++
		}
		aucs[r] = s.auc(w)
	}
	slices.Sort(aucs)
	return quantileSorted(aucs, 0.025), quantileSorted(aucs, 0.975)
}

// bootstrapMedian is the 95% percentile interval of medianOf(xs) over boot
// resamples of xs with replacement.
func bootstrapMedian(xs []float64, boot int, rng *rand.Rand) (lo, hi float64) {
	meds, r := make([]float64, boot), make([]float64, len(xs))
	for b := range meds {
		for i := range r {
			r[i] = xs[rng.IntN(len(xs))]
		}
		meds[b] = medianOf(r)
	}
	slices.Sort(meds)
	return quantileSorted(meds, 0.025), quantileSorted(meds, 0.975)
}
