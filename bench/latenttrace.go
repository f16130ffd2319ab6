package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/internal/vec"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// runTraced runs cfg with its per-cycle trace written to the file of
// spec and seed under TraceDir (traceFile). A trace that cannot be
// written fails the run, not the filter.
func (b *latentBench) runTraced(ctx context.Context, spec rowSpec, seed uint64, cfg config.Config, gen, probe *benchGenerator) runResult {
	path := filepath.Join(b.opts.TraceDir, traceFile(spec, seed))
	f, err := os.Create(path)
	if err != nil {
		return failed(fmt.Errorf("trace: %w", err))
	}
	w := bufio.NewWriter(f)
	r := b.run(ctx, cfg, gen, probe, w)
	if err := errors.Join(w.Flush(), f.Close()); err != nil && r.fail == nil {
		r.fail = fmt.Errorf("trace %s: %w", path, err)
	}
	return r
}

// traceFile names the trace of spec on seed: model-regime-N-filter-seed.csv.
func traceFile(spec rowSpec, seed uint64) string {
	return fmt.Sprintf("%s-%s-N%d-%s-seed%d.csv", spec.model.name, spec.regime.name, spec.N, spec.method.name, seed)
}

// traceHeader is the first line of a trace, one line per cycle after it
// (writeTraceLine).
const traceHeader = "cycle,scored,rmse_f,rmse_a,spread_f,spread_a,nis_ratio,inflation,carried_inflation,opposite_sign\n"

// writeTraceLine writes cycle c of run s to a trace: its diagnostics
// (experiment.CycleStats; nis_ratio the NIS over its expectation), the
// mean of the inflation estimate it carries to the next analysis (empty
// without one), and opposite_sign, the fraction of the state's points
// beyond one observation-error standard deviation from 0 (|xᵗ| > σ_o)
// at which the analysis mean has the other sign: the failure an
// observation of x² cannot see.
func writeTraceLine(w io.Writer, s *experiment.Setup, c *experiment.Cycle, E *mat.Dense) error {
	st := c.Stats
	carried := ""
	if est := s.InflationEstimate(); len(est) > 0 {
		carried = strconv.FormatFloat(stat.Mean(est, nil), 'g', 6, 64)
	}
	_, err := fmt.Fprintf(w, "%d,%t,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%s,%.6g\n", c.K, s.Config.Scored(c.K),
		st.RMSEf, st.RMSEa, st.SpreadF, st.SpreadA, st.NIS/st.NISExpected, st.Inflation, carried,
		oppositeSign(E, c.Truth, math.Sqrt(s.Config.Observations.Variance)))
	return err
}

// oppositeSign is the fraction of the points with |xᵗ| > threshold at
// which the mean of ensemble E (members in rows) has the other sign than
// truth xᵗ (0 if there are none).
func oppositeSign(E *mat.Dense, truth []float64, threshold float64) float64 {
	m := E.RawMatrix()
	mean := make([]float64, m.Cols)
	vec.MeanRows(mean, m.Data, m.Rows, m.Stride)
	var beyond, other int
	for j, x := range truth {
		if math.Abs(x) <= threshold {
			continue
		}
		beyond++
		if mean[j]*x < 0 {
			other++
		}
	}
	if beyond == 0 {
		return 0
	}
	return float64(other) / float64(beyond)
}
