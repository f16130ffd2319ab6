package report

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/store"
)

// Format is the format of the report page.
type Format string

// The page formats.
const (
	Markdown Format = "md"
	HTML     Format = "html"
)

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Markdown, HTML:
		return f, nil
	}
	return "", fmt.Errorf("report: format must be md or html, got %q", s)
}

// Figure is one PNG of the report.
type Figure struct {
	File    string // file name in the report directory
	Title   string
	Caption string
	png     []byte
}

// page is what the page templates show.
type page struct {
	Title   string
	Setup   []string   // one line each: model, observations, filter, …
	Summary [][]string // rows of the summary table: label, forecast, analysis
	NoMeans string     // below the table when it has no means, else ""
	Figures []Figure
	Notes   []string
}

// Figures renders the report's plots: RMSE and spread, observations and
// flagged observations per cycle (when the run has observations), the
// quality-control statistics (when computed), the inflation and
// observation-error variance scale (when learned: adaptive inflation, an
// online variance estimate), where observations were flagged (when some
// were), the Hovmöller diagram (1-D models) and the generator's training
// curve (latent runs).
func Figures(r *Run) ([]Figure, error) {
	var figs []Figure
	add := func(name, title, caption string, data []byte, err error) error {
		if err != nil {
			return err
		}
		figs = append(figs, Figure{File: name, Title: title, Caption: caption, png: data})
		return nil
	}
	const w, h = 8 * vg.Inch, 4 * vg.Inch
	// addPlot renders a plot the way every figure but the Hovmöller
	// diagram is.
	addPlot := func(name, title, caption string, p *plot.Plot, err error) error {
		if err != nil {
			return err
		}
		data, err := plotPNG(p, w, h)
		return add(name, title, caption, data, err)
	}
	p, err := RMSEPlot(r.Diag)
	if err := addPlot("rmse.png", "RMSE and spread", rmseCaption(r), p, err); err != nil {
		return nil, err
	}
	if slices.ContainsFunc(r.Diag, func(d store.DiagRow) bool { return d.NObs > 0 }) {
		p, err := FlaggedPlot(r.Diag)
		if err := addPlot("flagged.png", "Flagged observations", flaggedCaption(r.Diag), p, err); err != nil {
			return nil, err
		}
	}
	if hasQC(r.Diag) {
		caption := "The batch tests before each analysis: the NIS against its χ² quantile and the generator-manifold statistic J* against its calibrated threshold (docs/results-ood.md)."
		p, err := QCPlot(r.Diag)
		if err := addPlot("qc.png", "Quality-control statistics", caption, p, err); err != nil {
			return nil, err
		}
	}
	if hasTests(r.Diag) {
		caption := "Before each analysis, each over its threshold: the manifold test (this batch's two-sided score, or with ood.manifold_memory its chart over cycles) and the innovation chart (ood.innovation_memory). A chart's alarm is recorded only; the policy acts on the other tests (docs/operations.md)."
		p, err := TestsPlot(r.Diag)
		if err := addPlot("ood-tests.png", "Manifold test and innovation chart", caption, p, err); err != nil {
			return nil, err
		}
	}
	if hasHyper(r.Diag) {
		p, err := HyperPlot(r.Diag)
		if err := addPlot("hyperparameters.png", "Inflation and observation-error variance scale", hyperCaption(r), p, err); err != nil {
			return nil, err
		}
	}
	if hasLearnedWeight(r.Diag) {
		caption := "Per cycle: the weight α of the ensemble's covariance in the hybrid-local analysis, α L∘Pₑ + (1 − α) J Σ_clim Jᵀ, estimated from the innovations (latent.alpha_estimate)." + meanAfterBurnIn(r, "α", func(d store.DiagRow) float64 { return d.HybridWeight })
		p, err := HybridWeightPlot(r.Diag)
		if err := addPlot("hybrid-weight.png", "Hybrid weight", caption, p, err); err != nil {
			return nil, err
		}
	}
	if len(r.Flags) > 0 {
		caption := fmt.Sprintf("Where and when the %d flagged observations were, by the kind of reason (the text before the first colon of flag_reason).", len(r.Flags))
		p, err := FlagMapPlot(r.Flags, r.Diag)
		if err := addPlot("flag-map.png", "Where observations were flagged", caption, p, err); err != nil {
			return nil, err
		}
	}
	if f := r.Field; f != nil {
		data, err := HovmollerPNG(f)
		caption := fmt.Sprintf("Hovmöller diagram (grid point × cycle) of cycles %d–%d of %d; truth and analysis share one colour scale, the error is centred on 0.",
			f.Cycles[0], f.Cycles[len(f.Cycles)-1], len(r.Diag))
		if f.Inflation != nil {
			caption += " The last panel is the inflation Λ of the forecast covariance that each local analysis applied (filter.adaptive.scheme: local-innovation), on the grid points of its batch."
			if a := r.Config.Filter.Adaptive; a != nil && a.EnKFN {
				caption += " Each local EnKF-N (enkf_n: true) inflated the anomalies by its own λ on top of √Λ; the inflation plot shows the mean of √Λ·λ."
			}
		}
		if err := add("hovmoller.png", "Hovmöller diagram", caption, data, err); err != nil {
			return nil, err
		}
	}
	if c := r.Curve; c != nil {
		p, err := TrainingPlot(c)
		if err := addPlot("training.png", "Generator training", trainingCaption(c), p, err); err != nil {
			return nil, err
		}
	}
	return figs, nil
}

func rmseCaption(r *Run) string {
	s := r.Summary
	if s.Scored == 0 {
		return fmt.Sprintf("Per cycle; no cycle is past the burn-in (model time %s) yet.", num(r.Config.BurnIn))
	}
	return fmt.Sprintf("Per cycle. Time means over the %d cycles after the burn-in (model time %s): analysis RMSE %s, spread %s; forecast RMSE %s, spread %s.",
		s.Scored, num(r.Config.BurnIn), num(s.RMSEa), num(s.SpreadA), num(s.RMSEf), num(s.SpreadF))
}

func hyperCaption(r *Run) string {
	return fmt.Sprintf("Per cycle: the inflation the analysis used (filter.inflation: %s) and the estimated factor on the given observation-error variances after the cycle (observations.variance_estimate; its mean over the observations when estimated per channel).",
		inflation(r.Config.Filter)) +
		meanAfterBurnIn(r, "inflation", func(d store.DiagRow) float64 { return d.Inflation }) +
		meanAfterBurnIn(r, "variance scale", func(d store.DiagRow) float64 { return d.VarianceScale })
}

// meanAfterBurnIn is the caption sentence giving the mean of a
// diagnostics column over the scored cycles that have it, or "" if none
// has.
func meanAfterBurnIn(r *Run, name string, value func(store.DiagRow) float64) string {
	var sum float64
	var n int
	for _, d := range r.Diag {
		if v := value(d); r.Config.Scored(d.Cycle) && finite(v) {
			sum += v
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" Mean %s after the burn-in: %s over %s.", name, num(sum/float64(n)), plural(n, "cycle"))
}

func flaggedCaption(rows []store.DiagRow) string {
	var obs, flagged int
	for _, d := range rows {
		obs += d.NObs
		flagged += d.NFlagged
	}
	return fmt.Sprintf("Observations and flagged observations per cycle: %d of %d flagged over %d cycles.", flagged, obs, len(rows))
}

func trainingCaption(c *Curve) string {
	s := fmt.Sprintf("Loss per epoch, %d epochs, read from %s.", max(len(c.Train), len(c.Valid)), filepath.Base(c.Source))
	if i := argmin(c.Valid); i >= 0 {
		s += fmt.Sprintf(" Lowest validation loss %s at epoch %d.", num(c.Valid[i]), i+1)
	}
	return s
}

// argmin is the index of the smallest finite value, or −1.
func argmin(xs []float64) int {
	best := -1
	for i, x := range xs {
		if finite(x) && (best < 0 || x < xs[best]) {
			best = i
		}
	}
	return best
}

// plural is "1 model step", "2 model steps".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// num formats a statistic with 4 significant digits; "n/a" for NaN.
func num(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.4g", x)
}

func newPage(r *Run, figs []Figure) page {
	c := r.Config
	m := c.Model
	model := fmt.Sprintf("model: %s, dt %s", m.Name, num(m.Dt))
	switch m.Name {
	case "lorenz96":
		model += fmt.Sprintf(", %d variables, forcing %s", m.Nx, num(m.Forcing))
	case "ks":
		model += fmt.Sprintf(", %d grid points, domain length %s", m.Nx, num(m.Length))
	}
	o := c.Observations
	variance := "error variance " + num(o.Variance)
	if v := o.VarianceEstimate; v != nil {
		what := "one factor"
		if v.PerChannel {
			what = "per channel"
		}
		variance += fmt.Sprintf(" (the starting guess; estimated online by %s, %s)", v.Method, what)
	}
	setup := []string{
		model,
		fmt.Sprintf("observations: operator %s, %s, %s per cycle", o.Operator, variance, plural(o.StepsBetween, "model step")),
		fmt.Sprintf("filter: %s, %d members, inflation %s", c.Filter.Method, c.Filter.Members, inflation(c.Filter)),
	}
	if l := c.Latent; l != nil {
		line := fmt.Sprintf("latent: generator %s, encoding %s, update %s, analysis %s", l.Generator, l.Encoding, l.Update, l.AnalysisOrDefault())
		switch {
		case l.AlphaEstimate != nil:
			line += fmt.Sprintf(", hybrid weight α estimated (memory %s)", num(l.AlphaEstimate.Memory))
		case l.AlphaOrDefault() < 1 || l.AnalysisOrDefault() == config.LatentHybridLocal:
			line += ", hybrid weight α " + num(l.AlphaOrDefault())
		}
		setup = append(setup, line)
	}
	s := r.Summary
	setup = append(setup, fmt.Sprintf("cycles: %d run, %d after the burn-in (model time %s), seed %d", len(r.Diag), s.Scored, num(c.BurnIn), c.Seed))
	p := page{
		Title: "latentda report: " + r.ID,
		Setup: setup,
		Summary: [][]string{
			{"RMSE", num(s.RMSEf), num(s.RMSEa)},
			{"spread", num(s.SpreadF), num(s.SpreadA)},
		},
		Figures: figs,
		Notes:   r.Notes,
	}
	if s.Scored == 0 {
		// No means, as the run summary and status say before the burn-in ends.
		p.Summary = [][]string{{"RMSE", "—", "—"}, {"spread", "—", "—"}}
		p.NoMeans = fmt.Sprintf("No time means: no cycle is past the burn-in (model time %s).", num(c.BurnIn))
	}
	return p
}

// mdEscape keeps text from being read as Markdown markup.
var mdEscape = strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`, "<", "&lt;", "|", `\|`)

var mdPage = template.Must(template.New("md").Funcs(template.FuncMap{"md": mdEscape.Replace}).Parse(
	`# {{md .Title}}

{{range .Setup}}- {{md .}}
{{end}}
Time means after the burn-in, as ` + "`latentda run`" + ` reports them:

| | forecast | analysis |
| --- | --- | --- |
{{range .Summary}}| {{index . 0}} | {{index . 1}} | {{index . 2}} |
{{end}}{{with .NoMeans}}
{{md .}}
{{end}}{{range .Figures}}
## {{md .Title}}

![{{md .Title}}]({{.File}})

{{md .Caption}}
{{end}}{{if .Notes}}
## Notes

{{range .Notes}}- {{md .}}
{{end}}{{end}}
Written by ` + "`latentda report`" + ` from the run's Arrow files.
`))

var htmlPage = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font-family: sans-serif; max-width: 70em; margin: 2em auto; padding: 0 1em; }
table { border-collapse: collapse; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
img { max-width: 100%; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<ul>
{{range .Setup}}<li>{{.}}</li>
{{end}}</ul>
<p>Time means after the burn-in, as <code>latentda run</code> reports them:</p>
<table>
<tr><th></th><th>forecast</th><th>analysis</th></tr>
{{range .Summary}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td><td>{{index . 2}}</td></tr>
{{end}}</table>
{{with .NoMeans}}<p>{{.}}</p>
{{end}}{{range .Figures}}
<h2>{{.Title}}</h2>
<figure>
<img src="{{.File}}" alt="{{.Title}}">
<figcaption>{{.Caption}}</figcaption>
</figure>
{{end}}{{if .Notes}}
<h2>Notes</h2>
<ul>
{{range .Notes}}<li>{{.}}</li>
{{end}}</ul>
{{end}}
<p>Written by <code>latentda report</code> from the run's Arrow files.</p>
</body>
</html>
`))

// Page renders the report page for the figures.
func Page(r *Run, figs []Figure, format Format) ([]byte, error) {
	var buf bytes.Buffer
	var err error
	switch format {
	case Markdown:
		err = mdPage.Execute(&buf, newPage(r, figs))
	case HTML:
		err = htmlPage.Execute(&buf, newPage(r, figs))
	default:
		return nil, fmt.Errorf("report: format must be md or html, got %q", format)
	}
	if err != nil {
		return nil, fmt.Errorf("report: page: %w", err)
	}
	return buf.Bytes(), nil
}

// Write renders the report of r into dir: the figures as PNG files and
// the page as index.md or index.html. It returns the page's path. Every
// file is written atomically; the same run gives the same bytes.
func Write(r *Run, dir string, format Format) (string, error) {
	figs, err := Figures(r)
	if err != nil {
		return "", err
	}
	pg, err := Page(r, figs, format)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	for _, f := range figs {
		if err := store.WriteFileAtomic(filepath.Join(dir, f.File), f.png); err != nil {
			return "", fmt.Errorf("report: %w", err)
		}
	}
	path := filepath.Join(dir, "index."+string(format))
	if err := store.WriteFileAtomic(path, pg); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	return path, nil
}

// inflation is filter.inflation with an adaptive one's scheme.
func inflation(f config.FilterConfig) string {
	if scheme := f.AdaptiveScheme(); scheme != "" {
		if f.Adaptive != nil && f.Adaptive.EnKFN {
			scheme += " with the EnKF-N"
		}
		return fmt.Sprintf("%s, scheme %s", f.Inflation, scheme)
	}
	return f.Inflation.String()
}
