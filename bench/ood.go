package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/latentda/latentda/dynamics"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/genfile"
)

// OODBenchOptions set up `latentda bench ood`.
type OODBenchOptions struct {
	Cycles   int     // cycles per run after the onset (default 1000)
	Variance float64 // PCA generator: explained variance fraction (default 0.99)
	Samples  int     // archive snapshots for the generator (default 5000)
	Log      func(string)
}

// OODDetection is one detector on one case.
type OODDetection struct {
	Case       string  `json:"case"`
	Detector   string  `json:"detector"`
	FalseAlarm float64 `json:"false_alarm"` // on the in-distribution case with the same observing system
	Detection  float64 `json:"detection"`   // fraction of anomalous cycles flagged
	AUC        float64 `json:"auc"`         // ROC area against the in-distribution case
}

// OODRMSE is the analysis RMSE of one case under one policy.
type OODRMSE struct {
	Case   string  `json:"case"`
	Policy string  `json:"policy"`
	RMSEa  float64 `json:"rmse_a"`
	Error  string  `json:"error,omitempty"`
}

// OODBenchResult is the whole evaluation.
type OODBenchResult struct {
	GeneratorDim int            `json:"generator_dim"`
	Detections   []OODDetection `json:"detections"`
	RMSE         []OODRMSE      `json:"rmse"`
}

// oodCase is one scenario of the evaluation.
type oodCase struct {
	name, desc string
	every      int // observe every k-th variable
	anomaly    *experiment.AnomalyConfig
	channel    int // sensor-fault channel (-1: none)
	spikes     int // spike period (0: every cycle anomalous)
}

// OODCases describes the scenarios, for the report.
func OODCases() [][2]string {
	var out [][2]string
	for _, c := range oodCases(0) {
		out = append(out, [2]string{c.name, c.desc})
	}
	return out
}

func oodCases(onset int) []oodCase {
	return []oodCase{
		{name: "a: in distribution", desc: "L96 F = 8 truth, all 40 variables observed", every: 1, channel: -1},
		{name: "b: regime shift F = 12", desc: "nature run switches to F = 12 at the onset", every: 1, channel: -1, anomaly: &experiment.AnomalyConfig{FromCycle: onset, Forcing: 12}},
		{name: "b: regime shift F = 5", desc: "nature run switches to F = 5 at the onset", every: 1, channel: -1, anomaly: &experiment.AnomalyConfig{FromCycle: onset, Forcing: 5}},
		{name: "c: sensor bias", desc: "+4σ bias on observation 10", every: 1, channel: 10, anomaly: &experiment.AnomalyConfig{FromCycle: onset, Bias: 4, BiasIndex: 10}},
		{name: "c: sensor spikes", desc: "+8σ spike on observation 10 every 10th cycle", every: 1, channel: 10, spikes: 10, anomaly: &experiment.AnomalyConfig{FromCycle: onset, Bias: 8, BiasIndex: 10, SpikeEvery: 10}},
		{name: "d: localised bump", desc: "bump of amplitude 3, width 1 grid point, at variable 20", every: 1, channel: -1, anomaly: &experiment.AnomalyConfig{FromCycle: onset, Pattern: "bump", Amplitude: 3, Width: 1, Center: 20}},
		{name: "d: high-wavenumber wave", desc: "wave of amplitude 1.5, wavenumber 17", every: 1, channel: -1, anomaly: &experiment.AnomalyConfig{FromCycle: onset, Pattern: "wave", Amplitude: 1.5, Wavenumber: 17}},
		{name: "a': in distribution, every 2nd observed", desc: "as a, observing the even variables", every: 2, channel: -1},
		{name: "e: unobserved anomaly", desc: "wave of amplitude 3, wavenumber 5, on the odd (unobserved) variables only", every: 2, channel: -1, anomaly: &experiment.AnomalyConfig{FromCycle: onset, Pattern: "wave", Amplitude: 3, Wavenumber: 5, UnobservedOnly: true}},
	}
}

// cycleRecord is what one cycle tells the detectors.
type cycleRecord struct {
	nis, proj, maxZ, chanZ  float64
	nisFlag, projFlag, anyZ bool
	chanFlag, positive      bool
}

// oodBurn is the number of cycles (10 time units) before the onset of each
// case's anomaly, and oodMembers the ensemble size.
const (
	oodBurn    = 200
	oodMembers = 20
)

// oodBase is the configuration every case starts from: Lorenz-96 with the
// defaults (40 variables, F = 8, dt 0.05), oodBurn cycles of burn-in and
// cycles after it, and the LETKF of the DAPPER Lorenz-96 set-up (its
// inflation and localisation radius) with oodMembers members, one grid
// point per local analysis and no rotation.
func oodBase(cycles int) experiment.Config {
	ref := experiment.DapperConfigs(0)["l96-letkf"].Filter
	return experiment.Config{
		Name: "ood-bench", Cycles: oodBurn + cycles, BurnIn: float64(oodBurn) * dynamics.Lorenz96Dt,
		Model:  experiment.ModelConfig{Name: "lorenz96"},
		Filter: experiment.FilterConfig{Method: "letkf", Members: oodMembers, Inflation: ref.Inflation, LocRadius: ref.LocRadius},
	}
}

// RunOODBench trains a PCA generator on the L96 F = 8 climatology and runs
// each case with each policy.
func RunOODBench(ctx context.Context, o OODBenchOptions) (OODBenchResult, error) {
	if o.Cycles == 0 {
		o.Cycles = 1000
	}
	if o.Variance == 0 {
		o.Variance = 0.99
	}
	if o.Samples == 0 {
		o.Samples = 5000
	}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			o.Log(fmt.Sprintf(format, args...))
		}
	}
	base := oodBase(o.Cycles)
	X, _, err := experiment.BuildArchive(ctx, base, experiment.ArchiveOptions{Samples: o.Samples, Seed: 11}, nil)
	if err != nil {
		return OODBenchResult{}, err
	}
	gen, err := latent.FitPCA(X, latent.PCAOptions{Variance: o.Variance})
	if err != nil {
		return OODBenchResult{}, err
	}
	dir, err := os.MkdirTemp("", "latentda-bench-ood")
	if err != nil {
		return OODBenchResult{}, err
	}
	defer os.RemoveAll(dir)
	genPath := filepath.Join(dir, "pca.arrow")
	if err := genfile.Save(genPath, gen, genfile.Info{Model: "lorenz96"}); err != nil {
		return OODBenchResult{}, err
	}
	logf("PCA generator: d = %d (%.0f%% of the variance)", gen.LatentDim(), 100*o.Variance)
	res := OODBenchResult{GeneratorDim: gen.LatentDim()}

	records := map[string][]cycleRecord{}
	for _, c := range oodCases(oodBurn + 1) {
		for _, policy := range []string{experiment.PolicyWarn, experiment.PolicyReject, experiment.PolicyInflate} {
			cfg := base
			cfg.Name = c.name
			cfg.Observations = experiment.ObsConfig{Operator: "every-k", Every: c.every}
			cfg.OOD = &experiment.OODConfig{Generator: genPath, Policy: policy}
			cfg.Anomaly = c.anomaly
			recs, rmse, err := runOODCase(ctx, cfg, c, oodBurn)
			row := OODRMSE{Case: c.name, Policy: policy, RMSEa: rmse}
			if err != nil {
				row.Error = err.Error()
				logf("%s, %s: %v", c.name, policy, err)
			}
			res.RMSE = append(res.RMSE, row)
			if policy == experiment.PolicyWarn {
				if err != nil {
					return res, fmt.Errorf("bench ood: %s: %w", c.name, err)
				}
				records[c.name] = recs
			}
			logf("%s, policy %s: rmse_a %.3f", c.name, policy, rmse)
		}
	}
	for _, c := range oodCases(oodBurn + 1) {
		ref := "a: in distribution"
		if c.every == 2 {
			ref = "a': in distribution, every 2nd observed"
		}
		if c.anomaly == nil {
			continue
		}
		res.Detections = append(res.Detections, detections(c, records[ref], records[c.name])...)
	}
	return res, nil
}

// runOODCase runs one case and returns the records of the cycles from the
// onset and the mean analysis RMSE over them.
func runOODCase(ctx context.Context, cfg experiment.Config, c oodCase, burn int) ([]cycleRecord, float64, error) {
	s, err := experiment.Build(cfg)
	if err != nil {
		return nil, 0, err
	}
	truth, E := s.Initial()
	y := make([]float64, s.Op.OutDim())
	var recs []cycleRecord
	var rmse float64
	for k := 1; k <= s.Config.Cycles; k++ {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		if err := s.AdvanceTruth(truth, k); err != nil {
			return nil, 0, err
		}
		s.Observe(y, truth, k)
		if err := s.Forecast(E, k); err != nil {
			return nil, 0, err
		}
		st, err := s.Analyze(E, y, truth, k)
		if err != nil {
			return nil, 0, err
		}
		if k <= burn {
			continue
		}
		qc := s.QC()
		r := cycleRecord{nis: qc.NIS, proj: qc.Projection,
			nisFlag: qc.NIS > qc.NISThreshold, projFlag: qc.Projection > qc.ProjectionThreshold,
			positive: c.spikes == 0 || (k-burn-1)%c.spikes == 0}
		for _, z := range qc.InnovationZ {
			r.maxZ = math.Max(r.maxZ, math.Abs(z))
		}
		r.anyZ = r.maxZ > s.Config.OOD.OutlierK
		if c.channel >= 0 {
			r.chanZ = math.Abs(qc.InnovationZ[c.channel])
			r.chanFlag = r.chanZ > s.Config.OOD.OutlierK
		}
		recs = append(recs, r)
		rmse += st.RMSEa
	}
	return recs, rmse / float64(len(recs)), nil
}

// detections scores each detector on a case against its reference.
func detections(c oodCase, ref, got []cycleRecord) []OODDetection {
	type detector struct {
		name string
		stat func(cycleRecord) float64
		flag func(cycleRecord) bool
	}
	ds := []detector{
		{"innovation (NIS)", func(r cycleRecord) float64 { return r.nis }, func(r cycleRecord) bool { return r.nisFlag }},
		{"projection (J*)", func(r cycleRecord) float64 { return r.proj }, func(r cycleRecord) bool { return r.projFlag }},
		{"outlier (any |z| > 3)", func(r cycleRecord) float64 { return r.maxZ }, func(r cycleRecord) bool { return r.anyZ }},
	}
	if c.channel >= 0 {
		ds = append(ds, detector{fmt.Sprintf("outlier on channel %d", c.channel), func(r cycleRecord) float64 { return r.chanZ }, func(r cycleRecord) bool { return r.chanFlag }})
	}
	var out []OODDetection
	for _, d := range ds {
		var neg, pos []float64
		fa, det, npos := 0, 0, 0
		for _, r := range ref {
			neg = append(neg, d.stat(r))
			if d.flag(r) {
				fa++
			}
		}
		for _, r := range got {
			if !r.positive {
				continue
			}
			npos++
			pos = append(pos, d.stat(r))
			if d.flag(r) {
				det++
			}
		}
		out = append(out, OODDetection{Case: c.name, Detector: d.name,
			FalseAlarm: float64(fa) / float64(len(ref)), Detection: float64(det) / float64(npos), AUC: rocAUC(neg, pos)})
	}
	return out
}

// rocAUC is the area under the ROC curve of a detector whose statistic is
// neg on negatives and pos on positives: P(pos > neg) + ½P(pos = neg), the
// Mann–Whitney U statistic over |neg|·|pos|.
func rocAUC(neg, pos []float64) float64 {
	type v struct {
		x   float64
		pos bool
	}
	all := make([]v, 0, len(neg)+len(pos))
	for _, x := range neg {
		all = append(all, v{x, false})
	}
	for _, x := range pos {
		all = append(all, v{x, true})
	}
	slices.SortFunc(all, func(a, b v) int {
		switch {
		case a.x < b.x:
			return -1
		case a.x > b.x:
			return 1
		}
		return 0
	})
	// Sum of the (tie-averaged) ranks of the positives.
	var rankSum float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].x == all[i].x {
			j++
		}
		mid := float64(i+j+1) / 2 // ranks i+1..j
		for k := i; k < j; k++ {
			if all[k].pos {
				rankSum += mid
			}
		}
		i = j
	}
	np, nn := float64(len(pos)), float64(len(neg))
	return (rankSum - np*(np+1)/2) / (np * nn)
}
