package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/latent/genfile"
	"github.com/latentda/latentda/latent/neural"
	"github.com/latentda/latentda/store"
)

// Run is what a report shows of one run directory.
type Run struct {
	ID      string          // run ID, from the diagnostics' metadata
	Dir     string          // the run directory
	Config  config.Config   // the run's config.yaml
	Diag    []store.DiagRow // one row per completed cycle
	Summary experiment.Summary
	// Field holds the 1-D fields of the Hovmöller diagram; nil for models
	// that are not 1-D (Lorenz-63).
	Field *Field
	// Curve is the generator's training curve; nil unless the run is a
	// latent run whose generator recorded one.
	Curve *Curve
	// Flags are the run's flagged observations, in cycle order.
	Flags []Flag
	// Notes say what the report leaves out and why.
	Notes []string
}

// Field holds space × time fields: row i is cycle Cycles[i], column j
// grid point j.
type Field struct {
	Cycles []int
	Mean   *mat.Dense // analysis ensemble mean
	Truth  *mat.Dense // true state; nil when the run has no truth files
	Error  *mat.Dense // Mean − Truth; nil without truth
	// Inflation is the inflation Λ_b of the forecast covariance that each
	// local analysis applied, on the grid points of its batch
	// (filter.adaptive.scheme local-innovation); nil for other runs.
	Inflation *mat.Dense
}

// Flag is one flagged observation.
type Flag struct {
	Cycle    int
	Position float64 // on the model grid
	Reason   string  // the observation file's flag_reason
}

// Curve is a generator's loss per training epoch.
type Curve struct {
	Source string    // the file it was read from
	Train  []float64 // training loss, epoch 1, 2, …
	Valid  []float64 // validation loss; may be shorter or empty
}

// Options control what Load reads.
type Options struct {
	// StateRoot is the state directory that relative generator paths of
	// latent runs are resolved against (the run directory's grandparent,
	// <state>/runs/<id>, when empty).
	StateRoot string
	// FieldCycles is the number of cycles, from the first, in the
	// Hovmöller diagram (default 200; < 0 means all).
	FieldCycles int
}

// oneD are the models whose state is a field on a 1-D periodic grid.
var oneD = map[string]bool{"lorenz96": true, "ks": true}

// Load reads what the report shows from the run directory dir.
func Load(dir string, opts Options) (*Run, error) {
	rd := store.RunDir{Root: dir}
	d, err := LoadDiagnostics(dir)
	if err != nil {
		return nil, err
	}
	cfg, rows, meta := d.Config, d.Rows, d.Meta
	if len(rows) == 0 {
		return nil, fmt.Errorf("report: %s has no cycles yet", rd.Diagnostics())
	}
	r := &Run{ID: meta.RunID, Dir: dir, Config: cfg, Diag: rows, Summary: summarise(cfg, rows)}
	if r.Flags, err = loadFlags(rd, rows); err != nil {
		return nil, err
	}
	if oneD[cfg.Model.Name] {
		n := opts.FieldCycles
		if n == 0 {
			n = 200
		}
		if n < 0 || n > len(rows) {
			n = len(rows)
		}
		batch := 0
		if cfg.Filter.AdaptiveScheme() == config.SchemeLocalInnovation {
			batch = max(cfg.Filter.BatchSize, 1)
		}
		if r.Field, err = loadField(rd, rows[:n], batch); err != nil {
			return nil, err
		}
		if r.Field.Truth == nil {
			r.Notes = append(r.Notes, "The run has no truth files: the Hovmöller diagram shows the analysis mean only.")
		}
	}
	if l := cfg.Latent; l != nil && l.Generator != "" && l.Generator != "identity" {
		root := opts.StateRoot
		if root == "" {
			root = filepath.Dir(filepath.Dir(filepath.Clean(dir)))
		}
		gen, err := config.ConfinePath("latent.generator", l.Generator, root, nil)
		if err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		c, err := loadCurve(gen)
		switch {
		case err != nil:
			return nil, err
		case c == nil:
			r.Notes = append(r.Notes, fmt.Sprintf("No training curve: neither %s nor its checkpoint holds one (PCA generators have none).", gen))
		default:
			r.Curve = c
		}
	}
	return r, nil
}

// Diagnostics are a run's config and diagnostics table.
type Diagnostics struct {
	Config config.Config
	Rows   []store.DiagRow // one row per completed cycle
	Meta   store.Meta
}

// LoadDiagnostics reads the config and the diagnostics table of the run
// directory dir.
func LoadDiagnostics(dir string) (Diagnostics, error) {
	rd := store.RunDir{Root: dir}
	cfg, err := config.LoadStored(rd.Config())
	if err != nil {
		return Diagnostics{}, fmt.Errorf("report: %w", err)
	}
	rows, meta, err := store.ReadDiagnostics(rd.Diagnostics())
	if err != nil {
		return Diagnostics{}, fmt.Errorf("report: %w", err)
	}
	return Diagnostics{Config: cfg, Rows: rows, Meta: meta}, nil
}

// summarise returns the time means after the burn-in, as `latentda run`
// reports them.
func summarise(cfg config.Config, rows []store.DiagRow) experiment.Summary {
	var s experiment.Sums
	for _, d := range rows {
		s.Add(experiment.StatsOfRow(d), cfg.Scored(d.Cycle))
	}
	return s.Summary()
}

// loadField reads the analysis ensembles (and truths, if the run has them)
// of the given cycles and returns their means.
// loadField reads the Hovmöller fields of the cycles of rows; with batch
// > 0 also the local inflation of each batch of that many grid points.
func loadField(rd store.RunDir, rows []store.DiagRow, batch int) (*Field, error) {
	f := &Field{Cycles: make([]int, len(rows))}
	rs := store.OpenRunState(rd)
	defer rs.Close()
	for i, d := range rows {
		f.Cycles[i] = d.Cycle
		mean, err := rs.Mean(store.FieldAnalysis, d.Cycle)
		if err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		n := len(mean)
		if f.Mean == nil {
			f.Mean = mat.NewDense(len(rows), n, nil)
		} else if _, c := f.Mean.Dims(); c != n {
			return nil, fmt.Errorf("report: %s: cycle %d: state size %d, but earlier cycles have %d", rd.Root, d.Cycle, n, c)
		}
		f.Mean.SetRow(i, mean)
		if batch > 0 {
			lam, _, err := rs.Vector(store.FieldInflation, d.Cycle)
			if err != nil {
				return nil, fmt.Errorf("report: %w", err)
			}
			if want := (n + batch - 1) / batch; len(lam) != want {
				return nil, fmt.Errorf("report: %s: cycle %d: %d local inflations, want one per batch of %d grid points, %d", rd.Root, d.Cycle, len(lam), batch, want)
			}
			if f.Inflation == nil {
				f.Inflation = mat.NewDense(len(rows), n, nil)
			}
			for j := range n {
				f.Inflation.Set(i, j, lam[j/batch])
			}
		}
		x, _, err := rs.Vector(store.FieldTruth, d.Cycle)
		switch {
		case errors.Is(err, fs.ErrNotExist) && f.Truth == nil:
			continue // no truth in this run
		case err != nil:
			return nil, fmt.Errorf("report: %w", err)
		case len(x) != n:
			return nil, fmt.Errorf("report: %s: cycle %d: truth of state size %d, want %d as in the analysis", rd.Root, d.Cycle, len(x), n)
		}
		if f.Truth == nil {
			if i > 0 {
				return nil, fmt.Errorf("report: %s: cycle %d has a truth, but cycle %d has no truth file", rd.Root, d.Cycle, rows[0].Cycle)
			}
			f.Truth = mat.NewDense(len(rows), n, nil)
		}
		f.Truth.SetRow(i, x)
	}
	if f.Truth != nil {
		f.Error = mat.NewDense(len(rows), f.Mean.RawMatrix().Cols, nil)
		f.Error.Sub(f.Mean, f.Truth)
	}
	return f, nil
}

// loadFlags reads the flagged observations of the cycles whose
// diagnostics count some; the observation files must agree with the count.
func loadFlags(rd store.RunDir, rows []store.DiagRow) ([]Flag, error) {
	var flags []Flag
	rs := store.OpenRunState(rd)
	defer rs.Close()
	for _, d := range rows {
		if d.NFlagged == 0 {
			continue
		}
		obs, _, err := rs.Observations(d.Cycle)
		if err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		n := 0
		for i, f := range obs.Flagged {
			if f {
				flags = append(flags, Flag{Cycle: d.Cycle, Position: obs.Positions[i], Reason: obs.Reasons[i]})
				n++
			}
		}
		if n != d.NFlagged {
			return nil, fmt.Errorf("report: %s: the observations of cycle %d: the file flags %d observations, but the diagnostics of cycle %d count %d", rd.Root, d.Cycle, n, d.Cycle, d.NFlagged)
		}
	}
	return flags, nil
}

// loadCurve reads a generator's training curve from its file
// ([genfile.ReadCurve]) or, while it is still training, from its checkpoint
// (<name>.checkpoint.json beside <name>.arrow). It returns nil when
// neither exists or they hold no epochs.
func loadCurve(genPath string) (*Curve, error) {
	train, valid, err := genfile.ReadCurve(genPath)
	if err == nil {
		if len(train) == 0 && len(valid) == 0 {
			return nil, nil
		}
		return &Curve{Source: genPath, Train: train, Valid: valid}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("report: %w", err)
	}
	ckPath := strings.TrimSuffix(genPath, ".arrow") + ".checkpoint.json"
	data, err := os.ReadFile(ckPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var ck neural.Checkpoint
	if err := json.Unmarshal(data, &ck); err != nil {
		return nil, fmt.Errorf("report: checkpoint %s: %w", ckPath, err)
	}
	if len(ck.TrainLoss) == 0 && len(ck.ValidLoss) == 0 {
		return nil, nil
	}
	return &Curve{Source: ckPath, Train: ck.TrainLoss, Valid: ck.ValidLoss}, nil
}
