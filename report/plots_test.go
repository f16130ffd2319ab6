package report

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/latentda/latentda/store"
)

func decodePNG(t *testing.T, data []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// rgb8 is a colour as the 8-bit PNG stores it.
func rgb8(c color.Color) [3]uint32 {
	r, g, b, _ := c.RGBA()
	return [3]uint32{r >> 8, g >> 8, b >> 8}
}

// pixelBox is the bounding box, in image pixels, of the pixels of colour c
// inside the canvas rectangle area of a figure of height h.
func pixelBox(img image.Image, area vg.Rectangle, h vg.Length, c color.Color) (image.Rectangle, int) {
	toPx := func(l vg.Length) int { return int(math.Round(l.Dots(DPI))) }
	top, bottom := toPx(h-area.Max.Y), toPx(h-area.Min.Y) // image rows grow downwards
	want := rgb8(c)
	var box image.Rectangle
	n := 0
	for y := top; y < bottom; y++ {
		for x := toPx(area.Min.X); x < toPx(area.Max.X); x++ {
			if rgb8(img.At(x, y)) != want {
				continue
			}
			p := image.Rect(x, y, x+1, y+1)
			if n == 0 {
				box = p
			} else {
				box = box.Union(p)
			}
			n++
		}
	}
	return box, n
}

// cellBox is where cell (row r, column c) of a rows × cols heat map lands
// in image pixels: cells are one unit wide, centred on their index.
func cellBox(area vg.Rectangle, h vg.Length, rows, cols, r, c int) image.Rectangle {
	w, ht := area.Max.X-area.Min.X, area.Max.Y-area.Min.Y
	x0 := area.Min.X + w*vg.Length(c)/vg.Length(cols)
	x1 := area.Min.X + w*vg.Length(c+1)/vg.Length(cols)
	y0 := area.Min.Y + ht*vg.Length(r)/vg.Length(rows)
	y1 := area.Min.Y + ht*vg.Length(r+1)/vg.Length(rows)
	px := func(l vg.Length) float64 { return l.Dots(DPI) }
	return image.Rect(int(math.Floor(px(x0))), int(math.Floor(px(h-y1))), int(math.Ceil(px(x1))), int(math.Ceil(px(h-y0))))
}

// TestHovmollerPixels draws fields with a known hottest and coldest cell
// and checks that the extreme colours of each panel's palette appear only
// there: x is the grid point, y the cycle, increasing upwards.
func TestHovmollerPixels(t *testing.T) {
	const rows, cols = 20, 10
	truth := mat.NewDense(rows, cols, nil)
	truth.Set(17, 2, 1)  // late cycle, small grid point: top left
	truth.Set(3, 8, -1)  // early cycle, large grid point: bottom right
	truth.Set(9, 5, 0.5) // inside the range
	mean := mat.NewDense(rows, cols, nil)
	mean.Scale(0.5, truth)
	errs := mat.NewDense(rows, cols, nil)
	errs.Sub(mean, truth) // −0.5·truth: hottest where truth is coldest
	cycles := make([]int, rows)
	for i := range cycles {
		cycles[i] = 100 + i
	}
	f := &Field{Cycles: cycles, Mean: mean, Truth: truth, Error: errs}

	var areas []vg.Rectangle
	w := hovmollerWidth(f)
	data, err := pngOf(w, figureHeight, func(dc draw.Canvas) { areas = drawHovmoller(dc, f) })
	if err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, data)
	if got, want := img.Bounds().Size(), image.Pt(int(math.Round(w.Dots(DPI))), int(math.Round(figureHeight.Dots(DPI)))); got != want {
		t.Fatalf("image size %v, want %v", got, want)
	}
	ps := hovmollerPanels(f)
	if len(ps) != 3 || len(areas) != 3 {
		t.Fatalf("%d panels, %d areas; want 3", len(ps), len(areas))
	}
	// Each panel's extreme values, and the cells that hold them.
	type cell struct{ r, c int }
	type extreme struct {
		v  float64
		at cell
	}
	for i, tc := range []struct {
		title     string
		hot, cold extreme
	}{
		{"truth", extreme{1, cell{17, 2}}, extreme{-1, cell{3, 8}}},
		{"analysis mean", extreme{0.5, cell{17, 2}}, extreme{-0.5, cell{3, 8}}},
		{"error (analysis − truth)", extreme{0.5, cell{3, 8}}, extreme{-0.5, cell{17, 2}}},
	} {
		pn := ps[i]
		if pn.title != tc.title {
			t.Fatalf("panel %d is %q, want %q", i, pn.title, tc.title)
		}
		pal := pn.cmap.Palette(paletteColors).Colors()
		colorOf := func(v float64) color.Color {
			return pal[int((v-pn.min)*float64(len(pal)-1)/(pn.max-pn.min)+0.5)]
		}
		for _, x := range []struct {
			what string
			e    extreme
		}{{"hottest", tc.hot}, {"coldest", tc.cold}} {
			box, n := pixelBox(img, areas[i], figureHeight, colorOf(x.e.v))
			want := cellBox(areas[i], figureHeight, rows, cols, x.e.at.r, x.e.at.c)
			if n == 0 {
				t.Errorf("%s: no pixel of the %s colour", tc.title, x.what)
				continue
			}
			if !box.In(want) {
				t.Errorf("%s: %s colour at pixels %v, outside cell (cycle %d, grid point %d) at %v", tc.title, x.what, box, cycles[x.e.at.r], x.e.at.c, want)
			}
			// The cell is filled, not just touched: most of its pixels.
			if full := want.Dx() * want.Dy(); 2*n < full {
				t.Errorf("%s: %d pixels of the %s colour, want most of the cell's %d", tc.title, n, x.what, full)
			}
		}
	}
	// Truth and mean share one scale: the mean's extremes (half the
	// truth's) are not the palette's ends.
	if ps[0].min != ps[1].min || ps[0].max != ps[1].max || ps[0].min != -1 || ps[0].max != 1 {
		t.Errorf("truth range [%v, %v], mean range [%v, %v]; want both [-1, 1]", ps[0].min, ps[0].max, ps[1].min, ps[1].max)
	}
	if ps[2].min != -0.5 || ps[2].max != 0.5 {
		t.Errorf("error range [%v, %v], want [-0.5, 0.5], symmetric about 0", ps[2].min, ps[2].max)
	}
}

func TestHovmollerWithoutTruth(t *testing.T) {
	mean := mat.NewDense(2, 3, []float64{1, 2, 3, 4, 5, math.NaN()})
	f := &Field{Cycles: []int{0, 1}, Mean: mean}
	ps := hovmollerPanels(f)
	if len(ps) != 1 || ps[0].title != "analysis mean" || ps[0].min != 1 || ps[0].max != 5 {
		t.Fatalf("panels %+v: want the analysis mean alone on [1, 5]", ps)
	}
	data, err := HovmollerPNG(f)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := decodePNG(t, data).Bounds().Dx(), int(math.Round(panelWidth.Dots(DPI))); got != want {
		t.Errorf("width %d px, want one panel, %d px", got, want)
	}
	// A constant field still gets a colour scale.
	f.Mean = mat.NewDense(2, 3, []float64{2, 2, 2, 2, 2, 2})
	if ps := hovmollerPanels(f); !(ps[0].max > ps[0].min) {
		t.Errorf("constant field: range [%v, %v] is empty", ps[0].min, ps[0].max)
	}
	if _, err := HovmollerPNG(f); err != nil {
		t.Fatal(err)
	}
}

func TestLinePlots(t *testing.T) {
	rows := newSynthRun().rows
	noTruth := append([]store.DiagRow(nil), rows...)
	for i := range noTruth {
		noTruth[i].RMSEF, noTruth[i].RMSEA = math.NaN(), math.NaN()
	}
	qc := append([]store.DiagRow(nil), rows...)
	for i := range qc {
		qc[i].QCNIS, qc[i].QCNISThreshold = float64(30+i%7), 63.7
		qc[i].Projection, qc[i].ProjectionThreshold = math.NaN(), math.NaN() // no projection test
	}
	fixed := append([]store.DiagRow(nil), rows...)
	for i := range fixed {
		fixed[i].Inflation, fixed[i].ObsVariance, fixed[i].VarianceScale = 1.02, math.NaN(), math.NaN()
	}
	for _, tc := range []struct {
		name  string
		rows  []store.DiagRow
		ss    []series
		names []string
	}{
		{"quality control without projection", qc, qcSeries, []string{"NIS", "NIS threshold"}},
		{"rmse", rows, rmseSeries, []string{"RMSE forecast", "RMSE analysis", "spread forecast", "spread analysis"}},
		{"rmse without truth", noTruth, rmseSeries, []string{"spread forecast", "spread analysis"}},
		{"counts", rows, countSeries, []string{"observations", "flagged by quality control"}},
		{"hyperparameters", rows, hyperSeries, []string{"inflation", "observation-error variance scale"}},
		{"fixed inflation", fixed, hyperSeries, []string{"inflation"}},
		{"no rows", nil, rmseSeries, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ls, names, err := lines(tc.rows, tc.ss)
			if err != nil {
				t.Fatal(err)
			}
			if len(ls) != len(names) || !equalStrings(names, tc.names) {
				t.Fatalf("%d lines named %q, want %q", len(ls), names, tc.names)
			}
			for i, l := range ls {
				if len(l.XYs) != len(tc.rows) {
					t.Errorf("%s: %d points, want one per cycle, %d", names[i], len(l.XYs), len(tc.rows))
				}
				for k, xy := range l.XYs {
					s := tc.ss[indexOf(tc.ss, names[i])]
					if xy.X != float64(tc.rows[k].Cycle) || xy.Y != s.value(tc.rows[k]) {
						t.Errorf("%s point %d = %v, want (%d, %v)", names[i], k, xy, tc.rows[k].Cycle, s.value(tc.rows[k]))
					}
				}
			}
			_, legend, err := linePlot("t", "y", tc.rows, tc.ss)
			if err != nil {
				t.Fatal(err)
			}
			if legend != len(tc.names) {
				t.Errorf("%d legend entries, want %d", legend, len(tc.names))
			}
		})
	}
}

// TestLegendCoversNothing: a figure's legend is drawn where nothing else
// is. Its text, found as the pixels that change with the text's colour,
// lies only on pixels that are white without it, even when the curves
// zigzag over the whole of the axes.
func TestLegendCoversNothing(t *testing.T) {
	rows := make([]store.DiagRow, 200)
	for i := range rows {
		v := float64(i % 2)
		rows[i] = store.DiagRow{Cycle: i + 1, RMSEF: v, RMSEA: 1 - v, SpreadF: v, SpreadA: 1 - v}
	}
	render := func(text color.Color) image.Image {
		p, err := RMSEPlot(rows)
		if err != nil {
			t.Fatal(err)
		}
		p.Legend.TextStyle.Color = text
		data, err := plotPNG(p, 8*vg.Inch, 4*vg.Inch)
		if err != nil {
			t.Fatal(err)
		}
		return decodePNG(t, data)
	}
	withText, without := render(color.Black), render(color.White)
	white := rgb8(color.White)
	var text, covered int
	b := withText.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if rgb8(withText.At(x, y)) == rgb8(without.At(x, y)) {
				continue
			}
			text++
			if rgb8(without.At(x, y)) != white {
				covered++
			}
		}
	}
	if text == 0 {
		t.Fatal("no legend text found")
	}
	if covered > 0 {
		t.Errorf("the legend's text covers %d of its %d pixels' worth of the plot", covered, text)
	}
}

// TestHasHyper: the hyperparameter figure is drawn for learned
// hyperparameters only, not for a fixed inflation nor for files without
// the columns (schema versions 1 and 2, read as NaN).
func TestHasHyper(t *testing.T) {
	nan := math.NaN()
	row := func(infl, scale float64) store.DiagRow { return store.DiagRow{Inflation: infl, VarianceScale: scale} }
	for _, tc := range []struct {
		name string
		rows []store.DiagRow
		want bool
	}{
		{"no rows", nil, false},
		{"old file", []store.DiagRow{row(nan, nan), row(nan, nan)}, false},
		{"fixed inflation", []store.DiagRow{row(1.02, nan), row(nan, nan), row(1.02, nan)}, false},
		{"adaptive inflation", []store.DiagRow{row(nan, nan), row(1.02, nan), row(1.03, nan)}, true},
		{"variance estimate", []store.DiagRow{row(1.02, nan), row(1.02, 1)}, true},
	} {
		if got := hasHyper(tc.rows); got != tc.want {
			t.Errorf("%s: hasHyper = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestTestsTitle(t *testing.T) {
	nan := math.NaN()
	row := func(manifold, chart float64) store.DiagRow {
		return store.DiagRow{Manifold: manifold, InnovationChart: chart}
	}
	for _, tc := range []struct {
		rows []store.DiagRow
		want string
	}{
		{[]store.DiagRow{row(nan, nan), row(2, nan)}, "Quality control: manifold test"},
		{[]store.DiagRow{row(nan, 0.5)}, "Quality control: innovation chart"},
		{[]store.DiagRow{row(2, nan), row(nan, 0.5)}, "Quality control: manifold test and innovation chart"},
	} {
		if got := testsTitle(tc.rows); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.rows, got, tc.want)
		}
	}
}

func indexOf(ss []series, name string) int {
	for i, s := range ss {
		if s.name == name {
			return i
		}
	}
	return -1
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFlagGroups(t *testing.T) {
	var flags []Flag
	for i, reason := range []string{"ood: r=4", "gross", "ood: r=5", "", " a : x", "b", "c", "d", "e:1", "ood"} {
		flags = append(flags, Flag{Cycle: i, Position: float64(10 * i), Reason: reason})
	}
	names, groups := flagGroups(flags)
	wantNames := []string{"ood", "gross", "no reason given", "a", "b", "c", "other"}
	wantCycles := [][]float64{{0, 2, 9}, {1}, {3}, {4}, {5}, {6}, {7, 8}}
	if !equalStrings(names, wantNames) || len(groups) != len(wantCycles) {
		t.Fatalf("groups %q (%d), want %q", names, len(groups), wantNames)
	}
	for i, g := range groups {
		var cycles []float64
		for _, xy := range g {
			cycles = append(cycles, xy.X)
			if xy.Y != 10*xy.X {
				t.Errorf("%s: point %v, want position 10 × cycle", names[i], xy)
			}
		}
		if !equalFloats(cycles, wantCycles[i]) {
			t.Errorf("%s: cycles %v, want %v", names[i], cycles, wantCycles[i])
		}
	}
	if _, err := FlagMapPlot(flags, nil); err != nil {
		t.Fatal(err)
	}
}

func TestTrainingPlotScale(t *testing.T) {
	for _, tc := range []struct {
		name         string
		train, valid []float64
		log          bool
	}{
		{"decades", []float64{10, 1, 0.1}, []float64{12, 2, 0.5}, true},
		{"within a decade", []float64{0.9, 0.5, 0.3}, []float64{0.8, 0.6}, false},
		{"zero loss", []float64{1, 0}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := TrainingPlot(&Curve{Train: tc.train, Valid: tc.valid})
			if err != nil {
				t.Fatal(err)
			}
			_, isLog := p.Y.Scale.(plot.LogScale)
			if isLog != tc.log {
				t.Errorf("log scale %v, want %v", isLog, tc.log)
			}
			if _, err := plotPNG(p, 4*vg.Inch, 3*vg.Inch); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestFiguresDeterministic renders the figures of a run twice: same
// files, same bytes, the documented sizes.
func TestFiguresDeterministic(t *testing.T) {
	state := t.TempDir()
	dir := newSynthRun().write(t, state)
	writeGenerator(t, state, []float64{4, 2, 1}, []float64{5, 3, 2.5})
	r, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := Figures(r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Figures(r)
	if err != nil {
		t.Fatal(err)
	}
	wantSize := map[string]image.Point{
		"rmse.png":            {768, 384},
		"flagged.png":         {768, 384},
		"hovmoller.png":       {979, 518}, // 3 panels of 3.4 in × 5.4 in at 96 dpi
		"training.png":        {768, 384},
		"flag-map.png":        {768, 384},
		"qc.png":              {768, 384},
		"ood-tests.png":       {768, 384},
		"hyperparameters.png": {768, 384},
	}
	if len(a) != len(wantSize) {
		t.Fatalf("%d figures, want %d", len(a), len(wantSize))
	}
	for i, f := range a {
		if f.File != b[i].File || !bytes.Equal(f.png, b[i].png) {
			t.Errorf("%s: rendering twice gave different bytes", f.File)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(f.png))
		if err != nil {
			t.Fatalf("%s: %v", f.File, err)
		}
		if got := image.Pt(cfg.Width, cfg.Height); got != wantSize[f.File] {
			t.Errorf("%s: %v px, want %v", f.File, got, wantSize[f.File])
		}
	}
}
