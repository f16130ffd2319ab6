package dapper

import (
	"context"
	"github.com/latentda/latentda/config"
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/latentda/latentda/experiment"
)

// TestDapperShort runs every row of the DAPPER table with fewer cycles than
// `latentda bench dapper` (1500 instead of 5000–20000). A time mean over
// 1500 cycles scatters by a few percent between seeds (measured: the rows
// move by < 5% between seeds at this length), so we allow 20% where the
// full benchmark is held to 10%. The run is deterministic, so the test does
// not flake; the tolerance is about robustness to legitimate code changes
// that alter the random streams.
func TestDapperShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ~10 s of filtering")
	}
	for _, c := range Cases(1500) {
		t.Run(c.Config.Name, func(t *testing.T) {
			t.Parallel()
			s, err := experiment.Run(context.Background(), c.Config, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rel := math.Abs(s.RMSEa-c.Reference) / c.Reference; rel > 0.20 {
				t.Errorf("%s %s: rmse_a %.4f, reference %.3f (%.0f%% off)", c.Case, c.Method, s.RMSEa, c.Reference, 100*rel)
			}
			if s.RMSEa >= s.RMSEf {
				t.Errorf("analysis (%.4f) no better than forecast (%.4f)", s.RMSEa, s.RMSEf)
			}
		})
	}
}

// TestDapperCases: every row of the table has its set-up, in order, and
// the cycles reach every row.
func TestDapperCases(t *testing.T) {
	cases := Cases(123)
	if len(cases) != len(experiment.DapperConfigs(0)) {
		t.Errorf("%d rows for %d set-ups", len(cases), len(experiment.DapperConfigs(0)))
	}
	seen := map[string]bool{}
	for i, c := range cases {
		if c.Config.Name != dapperTable[i].config || c.Config.Cycles != 123 || seen[c.Config.Name] {
			t.Errorf("row %d (%s %s): config %q with %d cycles", i, c.Case, c.Method, c.Config.Name, c.Config.Cycles)
		}
		seen[c.Config.Name] = true
		if !strings.Contains(strings.ToLower(c.Method), c.Config.Filter.Method) {
			t.Errorf("row %d: method %q runs %s", i, c.Method, c.Config.Filter.Method)
		}
	}
}

func TestSelectDapper(t *testing.T) {
	got := Select(Options{Cycles: 10, Match: regexp.MustCompile("^L96 .*ETKF"), Seed: 9})
	if len(got) != 2 || got[0].Config.Name != "l96-etkf" || got[1].Config.Name != "l96-letkf" {
		t.Fatalf("selected %+v", got)
	}
	for _, c := range got {
		if c.Config.Seed != 9 {
			t.Errorf("%s: seed %d, want 9", c.Config.Name, c.Config.Seed)
		}
	}
	if got := Select(Options{}); len(got) != len(dapperTable) || got[0].Config.Seed != 3 {
		t.Errorf("no match and seed: %d rows, seed %d", len(got), got[0].Config.Seed)
	}
}

// TestRunDapper runs two short rows and prints them: rows in the order of
// the cases, one Done call each, the table and the JSON lines.
func TestRunDapper(t *testing.T) {
	cases := Select(Options{Cycles: 200, Match: regexp.MustCompile("^L63")})
	done := 0
	rows, err := Run(context.Background(), cases, Options{Parallel: 2, Done: func(Row) { done++ }})
	if err != nil {
		t.Fatal(err)
	}
	if done != 2 || len(rows) != 2 || rows[0].Method != cases[0].Method || rows[1].Method != cases[1].Method {
		t.Fatalf("%d calls, rows %+v", done, rows)
	}
	for _, r := range rows {
		if r.Error != "" || !(r.RMSEa > 0) || r.Cycles != 200 || r.RelError != (r.RMSEa-r.Reference)/r.Reference {
			t.Errorf("%+v", r)
		}
	}
	if err := Failed(rows); err != nil {
		t.Error(err)
	}
	var b strings.Builder
	if err := WriteTable(&b, rows, false); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(b.String()), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "case  method") || !strings.HasPrefix(lines[1], "L63   ETKF N=10") {
		t.Errorf("table:\n%s", b.String())
	}
	b.Reset()
	if err := WriteTable(&b, rows, true); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(b.String()), "\n"); len(lines) != 2 || !strings.Contains(lines[0], `"rmse_a":`) {
		t.Errorf("JSON:\n%s", b.String())
	}
	rows[1].Error = "diverged"
	if err := Failed(rows); err == nil || !strings.Contains(err.Error(), "EnKF N=10 infl=1.04: diverged") {
		t.Errorf("got %v", err)
	}
}

// TestSelectDapperAdaptive: --inflation adaptive replaces every row's
// hand-set inflation, in the config and in the label, and nothing else;
// --xn tunes the EnKF-N rows, --prior-sd the stochastic EnKF's innovation
// scheme.
func TestSelectDapperAdaptive(t *testing.T) {
	plain := Select(Options{})
	for _, xn := range []float64{0, 2} {
		sd := xn / 10 // the innovation scheme's prior_sd: 0 (the default) or 0.2
		cases := Select(Options{Adaptive: true, XN: xn, PriorSD: sd})
		if len(cases) != len(plain) {
			t.Fatalf("%d rows, want %d", len(cases), len(plain))
		}
		for i, c := range cases {
			f := c.Config.Filter
			enkfN := f.Method != "enkf" // the stochastic EnKF's default is the innovation scheme
			if wantXN := enkfN && xn != 0; !f.Inflation.Adaptive() || (xn != 0) != (f.Adaptive != nil) || (wantXN && *f.Adaptive.XN != xn) {
				t.Errorf("xn %v, %s: filter %+v", xn, c.Method, f)
			}
			if wantSD := !enkfN && sd != 0; wantSD != (f.Adaptive != nil && f.Adaptive.PriorSD != nil) || (wantSD && (*f.Adaptive.PriorSD != sd || f.Adaptive.XN != nil)) {
				t.Errorf("prior sd %v, %s: filter %+v", sd, c.Method, f)
			}
			if enkfN == strings.Contains(c.Method, "innovation") || (!enkfN && strings.Contains(c.Method, "xN")) {
				t.Errorf("xn %v: label %q of scheme %s", xn, c.Method, f.AdaptiveScheme())
			}
			if strings.Contains(c.Method, "infl=1") || !strings.Contains(c.Method, "infl=adaptive") {
				t.Errorf("label %q", c.Method)
			}
			want := plain[i].Config
			want.Filter.Inflation, want.Filter.Adaptive = f.Inflation, f.Adaptive
			if !reflect.DeepEqual(c.Config, want) {
				t.Errorf("%s: config changed beyond the inflation:\n%+v\n%+v", c.Method, c.Config, want)
			}
		}
	}
	// --local-letkf: the LETKF rows take the local innovation scheme (with
	// --prior-sd), the others keep theirs.
	for _, c := range Select(Options{Adaptive: true, XN: 2, PriorSD: 0.1, LocalLETKF: true}) {
		f := c.Config.Filter
		switch local := f.AdaptiveScheme() == config.SchemeLocalInnovation; {
		case local != (f.Method == "letkf"):
			t.Errorf("%s: scheme %s", c.Method, f.AdaptiveScheme())
		case local && (*f.Adaptive.PriorSD != 0.1 || f.Adaptive.XN != nil || !strings.Contains(c.Method, "infl=adaptive local-innovation sd=0.1")):
			t.Errorf("%s: filter %+v", c.Method, f.Adaptive)
		case !local && (f.AdaptiveScheme() == config.SchemeInnovation) != (f.Method == "enkf"):
			t.Errorf("%s: scheme %s, want the method's default", c.Method, f.AdaptiveScheme())
		}
	}
	// --enkf-n: the EnKF-N on top of the LETKF rows' local innovation
	// scheme, with --xn.
	for _, c := range Select(Options{Adaptive: true, XN: 2, LocalLETKF: true, EnKFN: true}) {
		f := c.Config.Filter
		letkf := f.Method == "letkf"
		if a := f.Adaptive; letkf && (!a.EnKFN || *a.XN != 2 || a.PriorSD != nil || !strings.Contains(c.Method, "infl=adaptive local-innovation +EnKF-N xN=2")) ||
			!letkf && a != nil && a.EnKFN {
			t.Errorf("%s: filter %+v", c.Method, f.Adaptive)
		}
	}
}
