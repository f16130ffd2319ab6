package scale

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/dynamics"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/internal/cputime"
	"github.com/latentda/latentda/store"
)

// CycleOptions set up one Lorenz-96 LETKF cycle.
type CycleOptions struct {
	Nx      int     // state size (>= 4)
	Members int     // ensemble size N (>= 2)
	Every   int     // observe every Every-th variable (>= 1)
	Radius  float64 // LETKF localisation radius in grid points (> 0)
	// BatchSize groups this many neighbouring grid points into one local
	// analysis (see enkf.Config.BatchSize; 0 or 1: one per grid point).
	BatchSize int
	// WeightStride runs the local analyses of every WeightStride-th batch
	// only and interpolates the rest (see enkf.Config.WeightStride; 0 or 1:
	// every batch).
	WeightStride int
	Dir          string // directory the analysis file is written to
	Seed         uint64
}

// DefaultCycle is the set-up: N = 20, every 2nd variable observed,
// radius 10 grid points.
func DefaultCycle(nx int, dir string) CycleOptions {
	return CycleOptions{Nx: nx, Members: 20, Every: 2, Radius: 10, Dir: dir, Seed: 1}
}

// Validate reports the first bad option.
func (o CycleOptions) Validate() error {
	switch {
	case o.Nx < 4:
		return fmt.Errorf("scale: nx must be >= 4, got %d", o.Nx)
	case o.Members < 2:
		return fmt.Errorf("scale: members must be >= 2, got %d", o.Members)
	case o.Every < 1 || o.Every > o.Nx:
		return fmt.Errorf("scale: every must be in [1, nx=%d], got %d", o.Nx, o.Every)
	case !(o.Radius > 0) || math.IsInf(o.Radius, 0):
		return fmt.Errorf("scale: radius must be finite and > 0, got %v", o.Radius)
	case o.BatchSize < 0:
		return fmt.Errorf("scale: batch size must be >= 0, got %d", o.BatchSize)
	case o.WeightStride < 0:
		return fmt.Errorf("scale: weight stride must be >= 0, got %d", o.WeightStride)
	case o.Dir == "":
		return errors.New("scale: no output directory")
	}
	return nil
}

// Stage is the cost of one step of a cycle.
type Stage struct {
	Name string  `json:"name"`
	Wall float64 `json:"wall_s"`
	// CPU is the process's user + system CPU time over the stage; CPU/Wall
	// is the number of cores kept busy.
	CPU float64 `json:"cpu_s"`
}

// CycleResult is what one cycle cost.
type CycleResult struct {
	Nx      int `json:"nx"`
	Members int `json:"members"`
	// WeightStride is the LETKF's weight stride (0: a local analysis per
	// grid point).
	WeightStride int     `json:"weight_stride,omitempty"`
	Obs          int     `json:"obs"`
	GOMAXPROCS   int     `json:"gomaxprocs"`
	Stages       []Stage `json:"stages"` // forecast, obs_operator, analysis, write
	// CycleWall is the sum of the stages' wall times.
	CycleWall float64 `json:"cycle_wall_s"`
	// PeakBytes is the process's peak resident memory at the end of the
	// cycle (including the set-up: truth spin-up, initial ensemble).
	PeakBytes int64 `json:"peak_bytes"`
	// FileBytes is the size of the analysis file; WriteMBps and ReadMBps
	// are its ensemble bytes (N·nx·8) over the write and read-back times.
	FileBytes int64   `json:"file_bytes"`
	WriteMBps float64 `json:"write_mb_s"`
	ReadMBps  float64 `json:"read_mb_s"`
	// RMSE of the ensemble mean against the truth before and after the
	// analysis: a check that the cycle did assimilate.
	RMSEf float64 `json:"rmse_f"`
	RMSEa float64 `json:"rmse_a"`
}

// Stage returns the stage called name (zero if there is none).
func (r CycleResult) Stage(name string) Stage {
	for _, s := range r.Stages {
		if s.Name == name {
			return s
		}
	}
	return Stage{}
}

// ringSize is the Lorenz-96 ring that is spun up onto the attractor and
// tiled to make the initial truth (spinning up 10⁶ sites would cost more
// than the cycle).
const ringSize = 1000

// Inflation is the LETKF's multiplicative inflation in every scale cycle.
const Inflation = 1.02

// Config is the experiment of o: Lorenz-96 with nx = o.Nx (F = 8,
// dt = 0.05, one step per cycle), every o.Every-th variable observed with
// error variance 1, and the LETKF with o.Members members, Inflation,
// o.Radius, o.BatchSize and o.WeightStride.
func (o CycleOptions) Config() config.Config {
	return config.Config{
		Name: "bench-scale", Seed: o.Seed, Cycles: 1,
		Model:        config.ModelConfig{Name: "lorenz96", Nx: o.Nx, Forcing: dynamics.Lorenz96Forcing, Dt: dynamics.Lorenz96Dt},
		Observations: config.ObsConfig{Operator: "every-k", Every: o.Every, Variance: 1, StepsBetween: 1},
		Filter:       config.FilterConfig{Method: "letkf", Members: o.Members, Inflation: Inflation, LocRadius: o.Radius, BatchSize: o.BatchSize, WeightStride: o.WeightStride},
	}
}

// RunCycle builds the experiment of o (o.Config, with experiment.Build),
// then times one cycle: the ensemble forecast (one RK4 step), H applied to
// every member, the LETKF analysis and writing the analysis with
// store.WriteEnsemble; then reads the file back with store.ReadEnsemble
// (timed, not part of the cycle). The initial truth and members, and the
// observation noise, are drawn from o.Seed here (the experiment's own
// initial state would spin up the whole state).
func RunCycle(o CycleOptions) (CycleResult, error) {
	if err := o.Validate(); err != nil {
		return CycleResult{}, err
	}
	s, err := experiment.Build(o.Config())
	if err != nil {
		return CycleResult{}, fmt.Errorf("scale: %w", err)
	}
	n, N, p := o.Nx, o.Members, s.Op.OutDim()

	// The truth and the members are draws from N(x₀, I), so the forecast
	// spread matches the error of the ensemble mean.
	rng := rand.New(rand.NewPCG(o.Seed, 1))
	x0 := initialState(n, rng)
	truth := make([]float64, n)
	E := mat.NewDense(N, n, nil)
	for _, row := range append([][]float64{truth}, E.RawMatrix().Data) {
		for j := range row {
			row[j] = x0[j%n] + rng.NormFloat64()
		}
	}
	x0 = nil
	if err := s.AdvanceTruth(truth, 1); err != nil {
		return CycleResult{}, fmt.Errorf("scale: %w", err)
	}
	y := make([]float64, p)
	s.Op.Apply(y, truth)
	for k := range y {
		y[k] += s.R.Std(k) * rng.NormFloat64()
	}
	var HE *mat.Dense
	scorer := experiment.NewScorer(n)
	path := filepath.Join(o.Dir, fmt.Sprintf("analysis-%d.arrow", n))
	cfg := s.Config.Model
	meta := store.Meta{Kind: store.KindEnsemble, RunID: "bench-scale", Model: s.Model.Name(), Cycle: 1, Time: cfg.Dt,
		Params: map[string]string{"nx": strconv.Itoa(n), "F": fmt.Sprint(cfg.Forcing), "dt": fmt.Sprint(cfg.Dt)}}

	res := CycleResult{Nx: n, Members: N, WeightStride: o.WeightStride, Obs: p, GOMAXPROCS: runtime.GOMAXPROCS(0)}
	runtime.GC()
	stages := []struct {
		name string
		run  func() error
	}{
		{"forecast", func() error { return s.Forecast(E, 1) }},
		{"obs_operator", func() error {
			HE = s.ObserveEnsemble(E)
			res.RMSEf, _ = scorer.Score(E, truth)
			return nil
		}},
		{"analysis", func() error {
			_, err := s.Filter.Analyze(E, HE, y, s.R.Variances(), rng)
			return err
		}},
		{"write", func() error { return store.WriteEnsemble(path, E, meta) }},
	}
	for _, st := range stages {
		w0, c0 := time.Now(), cputime.Process()
		if err := st.run(); err != nil {
			return res, fmt.Errorf("scale: nx=%d: %s: %w", n, st.name, err)
		}
		stage := Stage{Name: st.name, Wall: time.Since(w0).Seconds(), CPU: (cputime.Process() - c0).Seconds()}
		res.Stages = append(res.Stages, stage)
		res.CycleWall += stage.Wall
	}
	res.PeakBytes = peakRSS()
	res.RMSEa, _ = scorer.Score(E, truth)
	ensembleBytes := float64(N) * float64(n) * 8
	res.WriteMBps = ensembleBytes / 1e6 / res.Stage("write").Wall
	fi, err := os.Stat(path)
	if err != nil {
		return res, fmt.Errorf("scale: %w", err)
	}
	res.FileBytes = fi.Size()

	E = nil // the read-back gets its own ensemble
	runtime.GC()
	t0 := time.Now()
	back, _, err := store.ReadEnsemble(path)
	if err != nil {
		return res, fmt.Errorf("scale: read back: %w", err)
	}
	res.ReadMBps = ensembleBytes / 1e6 / time.Since(t0).Seconds()
	if rows, cols := back.Dims(); rows != N || cols != n {
		return res, fmt.Errorf("scale: read back %d×%d, wrote %d×%d", rows, cols, N, n)
	}
	if err := os.Remove(path); err != nil {
		return res, fmt.Errorf("scale: %w", err)
	}
	return res, nil
}

// initialState spins a ringSize-site Lorenz-96 up from a perturbed rest
// state for 20 time units, tiles it to n sites and perturbs the copies
// (σ = 0.01) so that they evolve apart.
func initialState(n int, rng *rand.Rand) []float64 {
	m := min(n, ringSize)
	ring, err := dynamics.NewLorenz96(m, dynamics.Lorenz96Forcing, dynamics.Lorenz96Dt)
	if err != nil {
		panic(err) // m >= 4 by Validate
	}
	x := make([]float64, m)
	for j := range x {
		x[j] = dynamics.Lorenz96Forcing + rng.NormFloat64()
	}
	st := ring.NewStepper()
	for range int(20 / dynamics.Lorenz96Dt) {
		st.Step(x)
	}
	x0 := make([]float64, n)
	for j := range x0 {
		x0[j] = x[j%m] + 0.01*rng.NormFloat64()
	}
	return x0
}
