// Package dapper is `latentda bench dapper`: the DAPPER reference table of
// published analysis RMSEs (Lorenz-63, Lorenz-96, Kuramoto–Sivashinsky;
// ETKF, EnKF, DEnKF, LETKF), each row run in process from its config with
// the hand-set inflation of its source or the adaptive one, and checked
// against its reference.
package dapper

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
)

// Case is one row of the DAPPER reference table: a published time-mean
// analysis RMSE for a set-up and a filter.
type Case struct {
	Case      string        `json:"case"`
	Source    string        `json:"source"`
	Method    string        `json:"method"`
	Reference float64       `json:"reference"`
	Config    config.Config `json:"-"`
}

// dapperTable is the reference table: each row names its set-up in
// experiment.DapperConfigs.
var dapperTable = []struct {
	config               string
	kase, source, method string
	reference            float64
}{
	{"l63-etkf", "L63", "Sakov 2012", "ETKF N=10 infl=1.02 rot", 0.60},
	{"l63-enkf", "L63", "Sakov 2012", "EnKF N=10 infl=1.04", 0.65},
	{"l96-etkf", "L96", "Sakov 2008", "ETKF N=24 infl=1.013 rot", 0.18},
	{"l96-enkf", "L96", "Sakov 2008", "EnKF N=40 infl=1.06", 0.22},
	{"l96-denkf", "L96", "Sakov 2008", "DEnKF N=40 infl=1.01", 0.18},
	{"l96-letkf", "L96", "Sakov 2008", "LETKF N=7 infl=1.04 rot loc=4", 0.22},
	{"ks-letkf", "KS", "Bocquet 2019", "LETKF N=16 infl=1.02 rot loc=28", 0.11},
	{"ks-etkf", "KS", "Bocquet 2019", "ETKF N=20 infl=1.03 rot", 0.115},
}

// Cases returns the rows of the DAPPER reference table in order, each
// with its set-up from experiment.DapperConfigs at cycles analysis cycles
// (0: the defaults).
func Cases(cycles int) []Case {
	cfgs := experiment.DapperConfigs(cycles)
	out := make([]Case, len(dapperTable))
	for i, r := range dapperTable {
		out[i] = Case{Case: r.kase, Source: r.source, Method: r.method, Reference: r.reference, Config: cfgs[r.config]}
	}
	return out
}

// Row is the outcome of one case.
type Row struct {
	Case     string  `json:"case"`
	Source   string  `json:"source"`
	Method   string  `json:"method"`
	Cycles   int     `json:"cycles"`
	Seed     uint64  `json:"seed"`
	RMSEa    float64 `json:"rmse_a"`
	RMSEf    float64 `json:"rmse_f"`
	SpreadA  float64 `json:"spread_a"`
	NISRatio float64 `json:"nis_ratio"`
	// Inflation is the time mean of the adaptive inflation (0 for the
	// table's fixed inflations).
	Inflation float64 `json:"inflation"`
	Reference float64 `json:"reference"`
	RelError  float64 `json:"rel_error"`
	Within10  bool    `json:"within_10pct"`
	Seconds   float64 `json:"seconds"`
	Error     string  `json:"error,omitempty"`
}

// Options select and run rows of the table.
type Options struct {
	Cycles   int            // per row (0: the table's defaults)
	Match    *regexp.Regexp // rows whose "case method" matches (nil: all)
	Parallel int            // rows run at once (>= 1)
	Seed     uint64         // run seed (0: the table's)
	// Adaptive replaces every row's hand-set inflation by the adaptive one
	// of the method's default scheme (filter.inflation: adaptive), with
	// hyperprior weight XN for the EnKF-N rows (filter.adaptive.xn) and
	// prior standard deviation PriorSD for the innovation schemes'
	// (filter.adaptive.prior_sd; 0: the defaults). LocalLETKF gives the
	// LETKF rows the local innovation scheme instead of their default, and
	// EnKFN the EnKF-N on top of it (filter.adaptive.enkf_n, with XN).
	Adaptive    bool
	XN, PriorSD float64
	LocalLETKF  bool
	EnKFN       bool
	// Done, if not nil, is called after each row (one call at a time).
	Done func(Row)
}

// Select returns the rows o selects, with o's seed.
func Select(o Options) []Case {
	var cases []Case
	for _, c := range Cases(o.Cycles) {
		if o.Match == nil || o.Match.MatchString(c.Case+" "+c.Method) {
			if o.Seed != 0 {
				c.Config.Seed = o.Seed
			}
			if o.Adaptive {
				c = c.withAdaptiveInflation(o.XN, o.PriorSD, o.LocalLETKF, o.EnKFN)
			}
			cases = append(cases, c)
		}
	}
	return cases
}

// inflationLabel is the hand-set inflation in a row's method label.
var inflationLabel = regexp.MustCompile(`infl=[0-9.]+`)

// withAdaptiveInflation returns the case with its hand-set inflation
// replaced by the adaptive one of the method's default scheme
// (config.FilterConfig.AdaptiveScheme), relabelled; xn is the hyperprior
// weight of the rows whose scheme is the EnKF-N, sd the prior standard
// deviation of the innovation schemes' rows, which are labelled with its
// name (0: the defaults); localLETKF gives the LETKF rows the local
// innovation scheme, and enkfN the EnKF-N on top of it (with xn).
func (c Case) withAdaptiveInflation(xn, sd float64, localLETKF, enkfN bool) Case {
	label := "infl=adaptive"
	var a config.AdaptiveConfig
	if localLETKF && c.Config.Filter.Method == "letkf" {
		a.Scheme, a.EnKFN = config.SchemeLocalInnovation, enkfN
	}
	c.Config.Filter.Inflation = config.AdaptiveInflation
	c.Config.Filter.Adaptive = &a
	scheme := c.Config.Filter.AdaptiveScheme()
	if scheme != config.SchemeEnKFN {
		label += " " + scheme
		if sd != 0 {
			label += fmt.Sprintf(" sd=%g", sd)
			a.PriorSD = &sd
		}
	}
	if a.EnKFN {
		label += " +EnKF-N"
	}
	if xn != 0 && (scheme == config.SchemeEnKFN || a.EnKFN) {
		label += fmt.Sprintf(" xN=%g", xn)
		a.XN = &xn
	}
	if a == (config.AdaptiveConfig{}) {
		c.Config.Filter.Adaptive = nil
	}
	c.Method = inflationLabel.ReplaceAllLiteralString(c.Method, label)
	return c
}

// Run runs cases in process, o.Parallel at a time, and returns one
// row per case in their order. A case that fails has its error in its row;
// the error returned is ctx's.
func Run(ctx context.Context, cases []Case, o Options) ([]Row, error) {
	rows := make([]Row, len(cases))
	var mu sync.Mutex
	sem := make(chan struct{}, max(o.Parallel, 1))
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			s, err := experiment.Run(ctx, c.Config, nil)
			r := Row{
				Case: c.Case, Source: c.Source, Method: c.Method, Cycles: c.Config.Cycles, Seed: c.Config.Seed,
				RMSEa: s.RMSEa, RMSEf: s.RMSEf, SpreadA: s.SpreadA, NISRatio: s.NISRatio,
				Reference: c.Reference, RelError: (s.RMSEa - c.Reference) / c.Reference,
				Seconds: time.Since(start).Seconds(),
			}
			if c.Config.Filter.Inflation.Adaptive() {
				r.Inflation = s.Inflation
			}
			r.Within10 = math.Abs(r.RelError) <= 0.10
			if err != nil {
				r.Error = err.Error()
			}
			rows[i] = r
			if o.Done != nil {
				mu.Lock()
				o.Done(r)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return rows, ctx.Err()
}

// WriteTable prints rows as an aligned text table, or as JSON (one
// object per line) if asJSON.
func WriteTable(w io.Writer, rows []Row, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	adaptive := slices.ContainsFunc(rows, func(r Row) bool { return r.Inflation != 0 })
	header := "case\tmethod\tcycles\treference\trmse_a\trel.err\tspread_a\tnis_ratio\tok"
	if adaptive {
		header = strings.Replace(header, "\tok", "\tinflation\tok", 1)
	}
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		ok := "yes"
		if !r.Within10 {
			ok = "NO"
		}
		if r.Error != "" {
			ok = "error: " + r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.3f\t%.4f\t%+.1f%%\t%.4f\t%.3f\t",
			r.Case, r.Method, r.Cycles, r.Reference, r.RMSEa, 100*r.RelError, r.SpreadA, r.NISRatio)
		if adaptive {
			fmt.Fprintf(tw, "%.4f\t", r.Inflation)
		}
		fmt.Fprintln(tw, ok)
	}
	return tw.Flush()
}

// Failed is the first failed row's error, or nil.
func Failed(rows []Row) error {
	for _, r := range rows {
		if r.Error != "" {
			return fmt.Errorf("bench dapper: %s %s: %s", r.Case, r.Method, r.Error)
		}
	}
	return nil
}
