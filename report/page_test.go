package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentda/latentda/config"
)

var update = flag.Bool("update", false, "rewrite the golden pages in testdata/")

func loadSynth(t *testing.T) *Run {
	t.Helper()
	state := t.TempDir()
	dir := newSynthRun().write(t, state)
	writeGenerator(t, state, []float64{4, 2, 1}, []float64{5, 3, 2.5})
	r, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.Notes = append(r.Notes, "A note with *Markdown* <markup> & a | pipe.")
	return r
}

// TestPageGolden compares the Markdown and HTML pages of a synthetic run
// with testdata/page.golden.*; `go test ./report -run Golden -update`
// rewrites them.
func TestPageGolden(t *testing.T) {
	r := loadSynth(t)
	figs, err := Figures(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []Format{Markdown, HTML} {
		t.Run(string(f), func(t *testing.T) {
			got, err := Page(r, figs, f)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "page.golden."+string(f))
			if *update {
				if err := os.WriteFile(golden, got, 0o666); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("page differs from %s (rerun with -update if the change is intended):\n%s", golden, got)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	r := loadSynth(t)
	out := filepath.Join(t.TempDir(), "out")
	for _, f := range []Format{Markdown, HTML} {
		page, err := Write(r, out, f)
		if err != nil {
			t.Fatal(err)
		}
		if page != filepath.Join(out, "index."+string(f)) {
			t.Errorf("page %s, want index.%s in %s", page, f, out)
		}
		text, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"rmse.png", "flagged.png", "flag-map.png", "hovmoller.png", "training.png", "hyperparameters.png", "ood-tests.png"} {
			if _, err := os.Stat(filepath.Join(out, name)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			if !strings.Contains(string(text), name) {
				t.Errorf("%s does not show %s", page, name)
			}
		}
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 10 {
		t.Errorf("%d files in %s, want 8 figures and 2 pages", len(entries), out)
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"md", "html"} {
		if f, err := ParseFormat(s); err != nil || string(f) != s {
			t.Errorf("ParseFormat(%q) = %q, %v", s, f, err)
		}
	}
	for _, s := range []string{"", "MD", "pdf", "markdown"} {
		if _, err := ParseFormat(s); err == nil || !strings.Contains(err.Error(), "md or html") {
			t.Errorf("ParseFormat(%q): error %v, want one naming md or html", s, err)
		}
	}
	if _, err := Page(&Run{}, nil, "pdf"); err == nil {
		t.Error("Page with format pdf: no error")
	}
}

// TestInflationLabel: the report names a fixed inflation, the adaptive
// scheme, and the EnKF-N on top of an innovation scheme.
func TestInflationLabel(t *testing.T) {
	for _, tc := range []struct {
		f    config.FilterConfig
		want string
	}{
		{config.FilterConfig{Method: "etkf", Inflation: 1.02}, "1.02"},
		{config.FilterConfig{Method: "letkf", Inflation: config.AdaptiveInflation}, "adaptive, scheme enkf-n"},
		{config.FilterConfig{Method: "letkf", Inflation: config.AdaptiveInflation, Adaptive: &config.AdaptiveConfig{Scheme: config.SchemeLocalInnovation}}, "adaptive, scheme local-innovation"},
		{config.FilterConfig{Method: "letkf", Inflation: config.AdaptiveInflation, Adaptive: &config.AdaptiveConfig{Scheme: config.SchemeLocalInnovation, EnKFN: true}}, "adaptive, scheme local-innovation with the EnKF-N"},
	} {
		if got := inflation(tc.f); got != tc.want {
			t.Errorf("inflation(%+v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}

// TestPageWithoutMeans: a run with no cycle past the burn-in shows no
// time means (a dash and why), not 0, as the run summary does.
func TestPageWithoutMeans(t *testing.T) {
	state := t.TempDir()
	s := newSynthRun()
	// A run of 30 cycles, 6 done, with a burn-in of 10 (model time 0.5).
	s.config = strings.Replace(strings.Replace(s.config, "cycles: 6", "cycles: 30", 1), "burn_in: 0.1", "burn_in: 0.5", 1)
	r, err := Load(s.write(t, state), Options{})
	if err != nil {
		t.Fatal(err)
	}
	const why = "No time means: no cycle is past the burn-in (model time 0.5)."
	for f, want := range map[Format][]string{
		Markdown: {"| RMSE | — | — |\n| spread | — | — |\n", why},
		HTML:     {"<tr><th>RMSE</th><td>—</td><td>—</td></tr>", "<p>" + why + "</p>"},
	} {
		page, err := Page(r, nil, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(string(page), w) {
				t.Errorf("%s page lacks %q:\n%s", f, w, page)
			}
		}
	}
}
