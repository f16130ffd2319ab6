package scale

import (
	"bytes"
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// AnalysisPlot draws the analysis wall and CPU time per cycle against nx
// on log-log axes, with the reference line of slope 1 through the CPU time
// of the smallest size, as a PNG.
func (r Report) AnalysisPlot() ([]byte, error) {
	if len(r.Cycles) < 2 {
		return nil, fmt.Errorf("scale: plot: need two or more sizes, got %d", len(r.Cycles))
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("LETKF analysis cost (slope: wall %.3f, CPU %.3f)", r.AnalysisSlope, r.AnalysisCPUSlope)
	p.X.Label.Text = "nx (state variables)"
	p.Y.Label.Text = "seconds per analysis"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	wall, cpu, ref := make(plotter.XYs, len(r.Cycles)), make(plotter.XYs, len(r.Cycles)), make(plotter.XYs, len(r.Cycles))
	c0 := r.Cycles[0]
	for i, c := range r.Cycles {
		a := c.Stage("analysis")
		if !(a.Wall > 0) || !(a.CPU > 0) {
			return nil, fmt.Errorf("scale: plot: nx=%d has no positive analysis time", c.Nx)
		}
		x := float64(c.Nx)
		wall[i], cpu[i] = plotter.XY{X: x, Y: a.Wall}, plotter.XY{X: x, Y: a.CPU}
		ref[i] = plotter.XY{X: x, Y: c0.Stage("analysis").CPU * x / float64(c0.Nx)}
	}
	for _, s := range []struct {
		name string
		xys  plotter.XYs
		dash bool
	}{{"wall time", wall, false}, {"CPU time", cpu, false}, {"slope 1", ref, true}} {
		l, pts, err := plotter.NewLinePoints(s.xys)
		if err != nil {
			return nil, fmt.Errorf("scale: plot: %w", err)
		}
		if s.dash {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			pts.Shape = nil
		}
		p.Add(l, pts)
		p.Legend.Add(s.name, l)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Min = math.Min(p.Y.Min, ref[0].Y)
	var buf bytes.Buffer
	w, err := p.WriterTo(6*vg.Inch, 4*vg.Inch, "png")
	if err != nil {
		return nil, fmt.Errorf("scale: plot: %w", err)
	}
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("scale: plot: %w", err)
	}
	return buf.Bytes(), nil
}
