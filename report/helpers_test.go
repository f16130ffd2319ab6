package report

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/store"
	"github.com/latentda/latentda/store/trainfile"
)

// testConfig is a small latent Lorenz-96 run whose generator is
// generators/g.arrow under the state directory.
const testConfig = `name: synthetic
seed: 7
cycles: 6
burn_in: 0.1
model:
  name: lorenz96
  nx: 5
  forcing: 8
  dt: 0.05
observations:
  operator: identity
  variance: 1
  steps_between: 1
  variance_estimate: {method: desroziers}
filter:
  method: etkf
  members: 3
  inflation: adaptive
latent:
  generator: generators/g.arrow
`

// synthRun is the content of a synthetic run directory.
type synthRun struct {
	rows   []store.DiagRow
	truth  [][]float64   // per cycle; nil: no truth files
	ens    [][][]float64 // per cycle, per member
	config string
}

func newSynthRun() synthRun {
	const cycles, n, members = 6, 5, 3
	s := synthRun{config: testConfig}
	for k := range cycles {
		t := 0.05 * float64(k+1)
		s.rows = append(s.rows, store.DiagRow{
			Cycle: k + 1, Time: t, RMSEF: 1 / float64(k+1), RMSEA: 0.5 / float64(k+1),
			SpreadF: 0.9 / float64(k+1), SpreadA: 0.4 / float64(k+1),
			Innovation: 5, InnovationExpected: 5, NObs: 5, NFlagged: k % 2,
			QCNIS: 4 + float64(k%3), QCNISThreshold: 15.1, Projection: math.NaN(), ProjectionThreshold: math.NaN(),
			Inflation: 1 + 0.01*float64(k%3), ObsVariance: 1 + 0.1*float64(k), VarianceScale: 1 + 0.1*float64(k), HybridWeight: math.NaN(),
			Manifold: 0.5 + 0.2*float64(k), ManifoldThreshold: 1, InnovationChart: 0.3 * float64(k),
		})
		x := make([]float64, n)
		var E [][]float64
		for j := range n {
			x[j] = math.Sin(float64(j) + t)
		}
		for m := range members {
			row := make([]float64, n)
			for j := range n {
				row[j] = x[j] + float64(m-1)*0.1 + 0.01*float64(j)
			}
			E = append(E, row)
		}
		s.truth = append(s.truth, x)
		s.ens = append(s.ens, E)
	}
	return s
}

// flagReasons are the reasons of the flagged observation of cycles 2, 4, 6.
var flagReasons = map[int]string{2: "ood: residual 4.2 > 3", 4: "gross error", 6: "ood: residual 3.5 > 3"}

// synthObs observes every grid point of cycle r; r.NFlagged of them
// (at most one, at grid point cycle mod 5) are flagged.
func synthObs(r store.DiagRow) store.Observations {
	obs := store.Observations{Flagged: make([]bool, r.NObs), Reasons: make([]string, r.NObs)}
	for i := range r.NObs {
		obs.Values = append(obs.Values, float64(i))
		obs.Variances = append(obs.Variances, 1)
		obs.Positions = append(obs.Positions, float64(i))
	}
	if r.NFlagged > 0 {
		i := r.Cycle % r.NObs
		obs.Flagged[i], obs.Reasons[i] = true, flagReasons[r.Cycle]
	}
	return obs
}

// write lays the run out as <state>/runs/r1 and returns the run directory.
func (s synthRun) write(t *testing.T, state string) string {
	t.Helper()
	rd := store.RunDir{Root: filepath.Join(state, "runs", "r1")}
	meta := store.Meta{RunID: "r1", Model: "lorenz96"}
	for i, r := range s.rows {
		if err := rd.MkdirCycle(r.Cycle); err != nil {
			t.Fatal(err)
		}
		m := meta
		m.Cycle, m.Time = r.Cycle, r.Time
		E := mat.NewDense(len(s.ens[i]), len(s.ens[i][0]), nil)
		for j, row := range s.ens[i] {
			E.SetRow(j, row)
		}
		if err := store.WriteEnsemble(rd.Analysis(r.Cycle), E, m); err != nil {
			t.Fatal(err)
		}
		if err := store.WriteObservations(rd.Observations(r.Cycle), synthObs(r), m); err != nil {
			t.Fatal(err)
		}
		if s.truth != nil {
			if err := store.WriteVector(rd.Truth(r.Cycle), s.truth[i], m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(rd.Config(), []byte(s.config), 0o666); err != nil {
		t.Fatal(err)
	}
	if len(s.rows) > 0 {
		meta.Cycle, meta.Time = s.rows[len(s.rows)-1].Cycle, s.rows[len(s.rows)-1].Time
	}
	if err := store.WriteDiagnostics(rd.Diagnostics(), s.rows, meta); err != nil {
		t.Fatal(err)
	}
	return rd.Root
}

// writeGenerator writes <state>/generators/g.arrow with a training curve.
func writeGenerator(t *testing.T, state string, train, valid []float64) string {
	t.Helper()
	path := filepath.Join(state, "generators", "g.arrow")
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		t.Fatal(err)
	}
	ts := []trainfile.Tensor{
		{Name: "mean", Shape: []int{5}, Data: make([]float64, 5)},
		{Name: "curve.train_loss", Shape: []int{len(train)}, Data: train},
		{Name: "curve.valid_loss", Shape: []int{len(valid)}, Data: valid},
	}
	if err := trainfile.WriteTensors(path, ts, store.Meta{Kind: trainfile.KindGenerator, Model: "lorenz96"}); err != nil {
		t.Fatal(err)
	}
	return path
}
