package report

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"math"
	"slices"
	"strings"

	"git.sr.ht/~sbinet/gg"
	xdraw "golang.org/x/image/draw"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/latentda/latentda/store"
)

// DPI is the resolution of the PNG files. Text is set in the Liberation
// fonts that gonum/plot embeds, so the same data always give the same
// bytes, whatever fonts the machine has.
const DPI = 96

// series is one line of a figure: a named per-cycle value.
type series struct {
	name  string
	value func(store.DiagRow) float64
	dash  bool
	color color.Color
}

var (
	blue   = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	orange = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	red    = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	grey   = color.Gray{Y: 0x80}
)

// rmseSeries are the lines of the RMSE figure.
var rmseSeries = []series{
	{name: "RMSE forecast", value: func(r store.DiagRow) float64 { return r.RMSEF }, color: orange},
	{name: "RMSE analysis", value: func(r store.DiagRow) float64 { return r.RMSEA }, color: blue},
	{name: "spread forecast", value: func(r store.DiagRow) float64 { return r.SpreadF }, color: orange, dash: true},
	{name: "spread analysis", value: func(r store.DiagRow) float64 { return r.SpreadA }, color: blue, dash: true},
}

// countSeries are the per-cycle observation counts of the flagged-
// observations figure. A new count column of the diagnostics (such as
// observations flagged as out of distribution) is one more line here.
var countSeries = []series{
	{name: "observations", value: func(r store.DiagRow) float64 { return float64(r.NObs) }, color: grey},
	{name: "flagged by quality control", value: func(r store.DiagRow) float64 { return float64(r.NFlagged) }, color: red},
}

// lines builds the plotters of the series over the rows, cycle on the x
// axis. Non-finite values (NaN where a statistic is not available) are left
// out; a series with no finite value gives no line.
func lines(rows []store.DiagRow, ss []series) ([]*plotter.Line, []string, error) {
	var out []*plotter.Line
	var names []string
	for _, s := range ss {
		xys := make(plotter.XYs, 0, len(rows))
		for _, r := range rows {
			if v := s.value(r); finite(v) {
				xys = append(xys, plotter.XY{X: float64(r.Cycle), Y: v})
			}
		}
		if len(xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, nil, fmt.Errorf("report: %s: %w", s.name, err)
		}
		l.Color = s.color
		l.Width = vg.Points(1)
		if s.dash {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		out = append(out, l)
		names = append(names, s.name)
	}
	return out, names, nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// linePlot is a plot of the series over cycles, with a legend.
func linePlot(title, ylabel string, rows []store.DiagRow, ss []series) (*plot.Plot, int, error) {
	ls, names, err := lines(rows, ss)
	if err != nil {
		return nil, 0, err
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "cycle"
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	for i, l := range ls {
		p.Add(l)
		p.Legend.Add(names[i], l)
	}
	return p, len(ls), nil
}

// RMSEPlot is the RMSE of the forecast and analysis means against the
// truth and the ensemble spreads, over cycles.
func RMSEPlot(rows []store.DiagRow) (*plot.Plot, error) {
	p, _, err := linePlot("RMSE and spread", "RMSE, spread", rows, rmseSeries)
	return p, err
}

// qcSeries are the quality-control batch statistics and their thresholds.
var qcSeries = []series{
	{name: "NIS", value: func(r store.DiagRow) float64 { return r.QCNIS }, color: blue},
	{name: "NIS threshold", value: func(r store.DiagRow) float64 { return r.QCNISThreshold }, color: blue, dash: true},
	{name: "manifold J*", value: func(r store.DiagRow) float64 { return r.Projection }, color: red},
	{name: "J* threshold", value: func(r store.DiagRow) float64 { return r.ProjectionThreshold }, color: red, dash: true},
}

// hasQC reports whether any cycle has a quality-control statistic.
func hasQC(rows []store.DiagRow) bool {
	return slices.ContainsFunc(rows, func(r store.DiagRow) bool { return finite(r.QCNIS) || finite(r.Projection) })
}

// QCPlot is the batch tests' statistics against their thresholds, over
// cycles (a cycle above its dashed line had its batch flagged).
func QCPlot(rows []store.DiagRow) (*plot.Plot, error) {
	p, _, err := linePlot("Quality control: batch statistics", "statistic", rows, qcSeries)
	return p, err
}

// testSeries are the manifold test's and the innovation chart's
// statistics over their thresholds, so that both share the line at 1
// above which a batch is flagged.
var testSeries = []series{
	{name: "manifold test / threshold", value: func(r store.DiagRow) float64 { return r.Manifold / r.ManifoldThreshold }, color: red},
	{name: "innovation chart", value: func(r store.DiagRow) float64 { return r.InnovationChart }, color: blue},
	{name: "threshold", value: func(r store.DiagRow) float64 {
		if finite(r.Manifold) || finite(r.InnovationChart) {
			return 1
		}
		return math.NaN()
	}, color: grey, dash: true},
}

// hasTests reports whether any cycle has a manifold test or innovation
// chart statistic.
func hasTests(rows []store.DiagRow) bool {
	return slices.ContainsFunc(rows, func(r store.DiagRow) bool { return finite(r.Manifold) || finite(r.InnovationChart) })
}

// TestsPlot is the manifold test's and the innovation chart's statistics
// over their thresholds, over cycles (a cycle above 1 had its batch
// flagged).
func TestsPlot(rows []store.DiagRow) (*plot.Plot, error) {
	p, _, err := linePlot(testsTitle(rows), "statistic / threshold", rows, testSeries)
	return p, err
}

// testsTitle names the tests the rows have statistics of.
func testsTitle(rows []store.DiagRow) string {
	var tests []string
	if slices.ContainsFunc(rows, func(r store.DiagRow) bool { return finite(r.Manifold) }) {
		tests = append(tests, "manifold test")
	}
	if slices.ContainsFunc(rows, func(r store.DiagRow) bool { return finite(r.InnovationChart) }) {
		tests = append(tests, "innovation chart")
	}
	return "Quality control: " + strings.Join(tests, " and ")
}

// hyperSeries are the filter's hyperparameters per cycle: both factors,
// on one axis.
var hyperSeries = []series{
	{name: "inflation", value: func(r store.DiagRow) float64 { return r.Inflation }, color: blue},
	{name: "observation-error variance scale", value: func(r store.DiagRow) float64 { return r.VarianceScale }, color: red},
}

// hasHyper reports whether the rows have hyperparameters that were
// learned: an estimated variance scale, or an inflation that changes from
// cycle to cycle (a fixed one is in the page's header).
func hasHyper(rows []store.DiagRow) bool {
	return slices.ContainsFunc(rows, func(r store.DiagRow) bool { return finite(r.VarianceScale) }) ||
		varies(rows, func(r store.DiagRow) float64 { return r.Inflation })
}

// varies reports whether the finite values of a diagnostics column are
// not all the same.
func varies(rows []store.DiagRow, value func(store.DiagRow) float64) bool {
	first := math.NaN()
	for _, r := range rows {
		switch v := value(r); {
		case !finite(v):
		case math.IsNaN(first):
			first = v
		case v != first:
			return true
		}
	}
	return false
}

// HyperPlot is the inflation each analysis used and the estimated factor
// on the observation-error variances after each cycle.
func HyperPlot(rows []store.DiagRow) (*plot.Plot, error) {
	p, _, err := linePlot("Inflation and observation-error variance scale", "factor", rows, hyperSeries)
	if err != nil {
		return nil, err
	}
	// Room above the lines for the legend.
	p.Y.Max += 0.25 * (p.Y.Max - p.Y.Min)
	return p, nil
}

// hasLearnedWeight reports whether the rows have a hybrid weight α that
// changes from cycle to cycle (latent.alpha_estimate; a fixed one is in
// the page's header).
func hasLearnedWeight(rows []store.DiagRow) bool {
	return varies(rows, func(r store.DiagRow) float64 { return r.HybridWeight })
}

// HybridWeightPlot is the weight α of the ensemble's covariance that each
// hybrid analysis used (the diagnostics' hybrid_weight; cycles without
// one are left out).
func HybridWeightPlot(rows []store.DiagRow) (*plot.Plot, error) {
	var xy plotter.XYs
	for _, r := range rows {
		if finite(r.HybridWeight) {
			xy = append(xy, plotter.XY{X: float64(r.Cycle), Y: r.HybridWeight})
		}
	}
	l, err := plotter.NewLine(xy)
	if err != nil {
		return nil, fmt.Errorf("report: hybrid weight: %w", err)
	}
	l.Color = blue
	p := plot.New()
	p.Title.Text = "Hybrid weight"
	p.X.Label.Text = "cycle"
	p.Y.Label.Text = "α (the ensemble's weight)"
	p.Add(plotter.NewGrid(), l)
	return p, nil
}

// FlaggedPlot is the number of observations and of flagged ones per cycle.
func FlaggedPlot(rows []store.DiagRow) (*plot.Plot, error) {
	p, _, err := linePlot("Observations per cycle", "count", rows, countSeries)
	if err != nil {
		return nil, err
	}
	// Room above the largest count for the legend.
	top := 0.0
	for _, s := range countSeries {
		for _, r := range rows {
			top = math.Max(top, s.value(r))
		}
	}
	p.Y.Min, p.Y.Max = 0, math.Max(1, 1.25*top)
	return p, nil
}

// maxFlagGroups bounds the legend of the flag map; further reasons are
// drawn as "other".
const maxFlagGroups = 6

// flagGroups groups flags by the kind of their reason, the text before the
// first colon ("ood: residual 9.3 > 3" is "ood"), in order of first
// appearance.
func flagGroups(flags []Flag) (names []string, groups []plotter.XYs) {
	index := map[string]int{}
	for _, f := range flags {
		kind, _, _ := strings.Cut(f.Reason, ":")
		kind = strings.TrimSpace(kind)
		if kind == "" {
			kind = "no reason given"
		}
		i, ok := index[kind]
		if !ok {
			i = min(len(names), maxFlagGroups)
			if i == len(names) {
				if i == maxFlagGroups {
					kind = "other"
				}
				names = append(names, kind)
				groups = append(groups, nil)
			}
			index[kind] = i
		}
		groups[i] = append(groups[i], plotter.XY{X: float64(f.Cycle), Y: f.Position})
	}
	return names, groups
}

// FlagMapPlot shows where (grid position) and when (cycle) observations
// were flagged, one colour and glyph per kind of reason; the x axis spans
// the cycles of rows.
func FlagMapPlot(flags []Flag, rows []store.DiagRow) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Flagged observations"
	p.X.Label.Text = "cycle"
	p.Y.Label.Text = "position (grid point)"
	p.Add(plotter.NewGrid())
	names, groups := flagGroups(flags)
	for i, xys := range groups {
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, fmt.Errorf("report: flagged observations: %w", err)
		}
		sc.Color = plotutil.Color(i)
		sc.Shape = plotutil.Shape(i)
		sc.Radius = vg.Points(2)
		p.Add(sc)
		p.Legend.Add(names[i], sc)
	}
	if len(rows) > 0 {
		p.X.Min, p.X.Max = float64(rows[0].Cycle), float64(rows[len(rows)-1].Cycle)
	}
	return p, nil
}

// TrainingPlot is a generator's training and validation loss per epoch,
// on a log scale when the losses span more than a decade (non-positive
// losses are then left out).
func TrainingPlot(c *Curve) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Generator training"
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "loss (MSE)"
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range slices.Concat(c.Train, c.Valid) {
		if finite(v) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	logScale := lo > 0 && hi > 10*lo
	if logScale {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	for _, s := range []struct {
		name  string
		loss  []float64
		color color.Color
	}{{"training", c.Train, blue}, {"validation", c.Valid, orange}} {
		xys := make(plotter.XYs, 0, len(s.loss))
		for i, v := range s.loss {
			if finite(v) && (v > 0 || !logScale) {
				xys = append(xys, plotter.XY{X: float64(i + 1), Y: v})
			}
		}
		if len(xys) == 0 {
			continue
		}
		l, sc, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("report: %s loss: %w", s.name, err)
		}
		l.Color, sc.Color = s.color, s.color
		sc.Radius = vg.Points(1.5)
		p.Add(l, sc)
		p.Legend.Add(s.name, l, sc)
	}
	return p, nil
}

// pngOf draws fn on a white w × h canvas and encodes it as PNG. Images
// (the heat maps) are scaled with nearest-neighbour interpolation, so that
// every cell keeps its colour.
func pngOf(w, h vg.Length, fn func(dc draw.Canvas)) ([]byte, error) {
	px := func(l vg.Length) int { return int(l.Dots(DPI) + 0.5) }
	img := image.NewRGBA(image.Rect(0, 0, px(w), px(h)))
	ctx := gg.NewContextForRGBA(img)
	// As vgimg sets up its own contexts: butt line caps, y upwards.
	ctx.SetLineCapButt()
	ctx.InvertY()
	ctx.SetInterpolator(xdraw.NearestNeighbor)
	c := vgimg.NewWith(vgimg.UseImageWithContext(img, ctx), vgimg.UseDPI(DPI)) // white background
	fn(draw.New(c))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("report: encoding PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// plotPNG renders one plot on a w × h canvas. Its legend, if it has one,
// goes in a column at the right, beside the axes rather than over the data.
func plotPNG(p *plot.Plot, w, h vg.Length) ([]byte, error) {
	legend := p.Legend
	legendWidth := legend.Rectangle(draw.Canvas{}).Size().X
	if legendWidth == 0 {
		return pngOf(w, h, p.Draw)
	}
	const gap = 8 // points between the plot and its legend
	strip := legendWidth + vg.Points(2*gap)
	return pngOf(w, h, func(dc draw.Canvas) {
		p.Legend = plot.NewLegend()
		defer func() { p.Legend = legend }()
		p.Draw(draw.Crop(dc, 0, -strip, 0, 0))
		legend.Left, legend.Top = true, true
		// Level with the top of the axes: below the title.
		below := p.Title.TextStyle.Height(p.Title.Text) + p.Title.Padding
		legend.Draw(draw.Crop(dc, dc.Size().X-strip+vg.Points(gap), 0, 0, -below))
	})
}

// grid is a field as a heat map: column c is grid point c (x), row r is
// cycle Cycles[r] (y, increasing upwards).
type grid struct {
	m      *mat.Dense
	cycles []int
}

func (g grid) Dims() (c, r int)   { r, c = g.m.Dims(); return c, r }
func (g grid) Z(c, r int) float64 { return g.m.At(r, c) }
func (g grid) X(c int) float64    { return float64(c) }
func (g grid) Y(r int) float64    { return float64(g.cycles[r]) }

// heatMap is a HeatMap without glyph boxes. gonum/plot's HeatMap gives
// one per cell, which makes laying out a plot of a 1000 × 128 field take
// seconds; the cells need no padding, since the data range already
// spans them.
type heatMap struct{ *plotter.HeatMap }

func (heatMap) GlyphBoxes(*plot.Plot) []plot.GlyphBox { return nil }

// panel is one heat map of a Hovmöller figure.
type panel struct {
	title    string
	m        *mat.Dense
	cmap     palette.ColorMap
	min, max float64
}

// paletteColors is the number of colours of the heat maps.
const paletteColors = 256

// hovmollerPanels are the panels of f: truth and analysis mean on one
// colour scale, the error on a diverging scale centred on 0, and the local
// inflation on its own scale.
func hovmollerPanels(f *Field) []panel {
	fields := []*mat.Dense{f.Mean}
	if f.Truth != nil {
		fields = append(fields, f.Truth)
	}
	lo, hi := finiteRange(fields...)
	var ps []panel
	if f.Truth != nil {
		ps = append(ps, panel{title: "truth", m: f.Truth, cmap: moreland.ExtendedKindlmann(), min: lo, max: hi})
	}
	ps = append(ps, panel{title: "analysis mean", m: f.Mean, cmap: moreland.ExtendedKindlmann(), min: lo, max: hi})
	if f.Error != nil {
		elo, ehi := finiteRange(f.Error)
		m := math.Max(math.Abs(elo), math.Abs(ehi))
		ps = append(ps, panel{title: "error (analysis − truth)", m: f.Error, cmap: moreland.SmoothBlueRed(), min: -m, max: m})
	}
	if f.Inflation != nil {
		ilo, ihi := finiteRange(f.Inflation)
		ps = append(ps, panel{title: "local inflation Λ", m: f.Inflation, cmap: moreland.BlackBody(), min: ilo, max: ihi})
	}
	for i := range ps {
		if !(ps[i].max > ps[i].min) { // constant (or no finite value): any non-empty range
			ps[i].min, ps[i].max = ps[i].min-1, ps[i].min+1
		}
		if math.IsInf(ps[i].min, 0) || math.IsNaN(ps[i].min) {
			ps[i].min, ps[i].max = -1, 1
		}
		ps[i].cmap.SetMin(ps[i].min)
		ps[i].cmap.SetMax(ps[i].max)
	}
	return ps
}

// finiteRange is the smallest and largest finite value of the matrices
// (+Inf, −Inf if there is none).
func finiteRange(ms ...*mat.Dense) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, m := range ms {
		r, _ := m.Dims()
		for i := range r {
			for _, v := range m.RawRowView(i) {
				if finite(v) {
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
			}
		}
	}
	return lo, hi
}

// Hovmöller figure geometry: panels side by side, each a heat map above
// its colour bar.
const (
	panelWidth   = 3.4 * vg.Inch
	heatHeight   = 4.6 * vg.Inch
	barHeight    = 0.8 * vg.Inch
	figureHeight = heatHeight + barHeight
)

var nanColor = color.Gray{Y: 0xc0}

// drawHovmoller draws the panels of f side by side on dc and returns the
// data areas of their heat maps (for tests).
func drawHovmoller(dc draw.Canvas, f *Field) []vg.Rectangle {
	ps := hovmollerPanels(f)
	areas := make([]vg.Rectangle, len(ps))
	for i, pn := range ps {
		x0 := dc.Min.X + vg.Length(i)*panelWidth
		heat := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: x0, Y: dc.Min.Y + barHeight}, Max: vg.Point{X: x0 + panelWidth, Y: dc.Min.Y + figureHeight},
		}}
		bar := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: x0, Y: dc.Min.Y}, Max: vg.Point{X: x0 + panelWidth, Y: dc.Min.Y + barHeight},
		}}

		p := plot.New()
		p.Title.Text = pn.title
		p.X.Label.Text = "grid point"
		p.Y.Label.Text = "cycle"
		h := plotter.NewHeatMap(grid{m: pn.m, cycles: f.Cycles}, pn.cmap.Palette(paletteColors))
		h.Min, h.Max = pn.min, pn.max
		pal := pn.cmap.Palette(paletteColors).Colors()
		h.Underflow, h.Overflow, h.NaN = pal[0], pal[len(pal)-1], nanColor
		h.Rasterized = true
		p.Add(heatMap{h})
		p.Draw(heat)
		areas[i] = p.DataCanvas(heat).Rectangle

		b := plot.New()
		b.HideY()
		b.X.Padding = 0
		b.Add(&plotter.ColorBar{ColorMap: pn.cmap})
		b.Draw(draw.Crop(bar, 0.35*vg.Inch, -0.15*vg.Inch, 0, -0.2*vg.Inch))
	}
	return areas
}

// hovmollerWidth is the width of the Hovmöller figure of f.
func hovmollerWidth(f *Field) vg.Length {
	return vg.Length(len(hovmollerPanels(f))) * panelWidth
}

// HovmollerPNG renders the Hovmöller diagram (grid point × cycle) of
// the truth, the analysis mean and their difference.
func HovmollerPNG(f *Field) ([]byte, error) {
	return pngOf(hovmollerWidth(f), figureHeight, func(dc draw.Canvas) { drawHovmoller(dc, f) })
}
