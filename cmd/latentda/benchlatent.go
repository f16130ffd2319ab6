package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/latentda/latentda/bench"
	"github.com/latentda/latentda/internal/cputime"
)

// benchLatentOptions holds the flags of `latentda bench latent`.
type benchLatentOptions struct {
	bench.LatentOptions
	Tuned      string
	Report     string
	JSON       string
	Render     bool
	Inflation  string
	Compare    string
	TuningFrom string
}

func newBenchLatentCmd() *cobra.Command {
	o := &benchLatentOptions{}
	cmd := &cobra.Command{
		Use:   "latent",
		Short: "Tuned, multi-seed benchmark of the latent filters against the full-space ETKF and LETKF; writes docs/results-latent.md and .json",
		Long: `Runs every selected filter in every selected regime (KS, and Lorenz-96
where meaningful): each is tuned over the same number of configurations on
the tuning seeds, then scored on disjoint evaluation seeds, with the mean
analysis RMSE and its 95% confidence interval, spread, NIS ratio, lost
seeds and analysis cost. Generators are fitted first, on an archive from
its own seed. The report and the JSON are rewritten after every row, so an
interrupted run leaves the rows it finished (marked as a subset).

One row, tuning included, in minutes:
  latentda bench latent --model ks --regime sparse --filter letkf --seeds 1 --report /tmp/r.md --json /tmp/r.json
and on evaluation seeds that neither the tuning nor the published report uses, to try an idea:
  latentda bench latent --model ks --regime sparse --filter letkf --seeds 3 --first-seed 201 --report /tmp/r.md --json /tmp/r.json
and without tuning:
  latentda bench latent --model ks --regime sparse --filter letkf --tuned inflation=1.02,loc_radius=8
and one seed traced cycle by cycle, to see where it loses track:
  latentda bench latent --model ks --regime sparse --filter letkf --tuned inflation=1.02,loc_radius=8 --first-seed 201 --seeds 1 --trace /tmp/trace
and the published choices scored on more evaluation seeds, without tuning again:
  latentda bench latent --tuning-from docs/results-latent.json --seeds 20 --report /tmp/r.md --json /tmp/r.json
and each row's three best tuning configurations run on five more seeds, the
best over all ten kept (so that the choice is not the luckiest of twenty):
  latentda bench latent --confirm 3 --model ks --regime sparse --filter letkf --seeds 1 --report /tmp/r.md --json /tmp/r.json

With --inflation adaptive, every method for which the EnKF-N is derived runs
with the adaptive inflation in place of its inflation knob, and the report
sets each row against the tuned row of --compare:
  latentda bench latent --inflation adaptive --report docs/results-latent-adaptive.md --json docs/results-latent-adaptive.json
--scheme innovation takes the global innovation inflation instead, and
--scheme local-innovation runs the LETKF and the localised hybrids
(latent-hybrid-local-*) with the local one:
  latentda bench latent --inflation adaptive --scheme local-innovation --report docs/results-latent-local-innovation.md --json docs/results-latent-local-innovation.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.Run(cmd.Context(), cmd.ErrOrStderr(), "latentda "+strings.Join(os.Args[1:], " "))
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.Models, "model", nil, "models: ks, lorenz96 (default both)")
	f.StringSliceVar(&o.Regimes, "regime", nil, "regimes: "+strings.Join(bench.RegimeNames(), ", ")+" (default all)")
	f.StringSliceVar(&o.Filters, "filter", nil, "filters: "+strings.Join(bench.MethodNames(), ", ")+" (default all, but without --inflation adaptive not the opt-in "+strings.Join(bench.OptInMethodNames(), ", ")+")")
	f.IntVar(&o.Seeds, "seeds", 5, "evaluation seeds (--first-seed, --first-seed + 1, ...)")
	f.IntVar(&o.FirstSeed, "first-seed", 1, "the first evaluation seed: 201, say, tries an idea on truths that neither the tuning (101, ...) nor the published report (1..5) uses")
	f.IntVar(&o.TuneSeeds, "tune-seeds", bench.DefaultTuneSeeds, "tuning seeds (101, 102, ...)")
	f.IntVar(&o.Cycles, "cycles", 0, "scored cycles of an evaluation run (default per model: KS 400, L96 800)")
	f.IntVar(&o.TuneCycles, "tune-cycles", 0, "scored cycles of a tuning run (default per model: KS 200, L96 400)")
	f.StringVar(&o.Tuned, "tuned", "", "skip tuning and evaluate these hyperparameters, as name=value,... (such as inflation=1.05,loc_radius=16)")
	f.IntVar(&o.Confirm, "confirm", 0, "confirm each row's tuning: run this many of its best configurations on as many further seeds as there are tuning seeds (106, ... with five) and choose the lowest mean over both sets (0: none; with --tuning-from a report without a confirmation, on its tuning)")
	f.StringVar(&o.TuningFrom, "tuning-from", "", "skip tuning: take every row's tuning from this JSON report's row, run with the same tuning seeds, lengths and inflation options (to score its choices on more evaluation seeds)")
	f.IntVar(&o.Parallel, "parallel", 4, "runs at once (more than the cores gives the benchmark a larger share of a machine shared with other work)")
	f.StringVar(&o.Report, "report", "docs/results-latent.md", "Markdown report to write")
	f.StringVar(&o.JSON, "json", "docs/results-latent.json", "JSON rows to write")
	f.BoolVar(&o.Render, "render", false, "run nothing: render the Markdown report again from the JSON file --json names")
	f.StringVar(&o.Inflation, "inflation", "", "adaptive: an adaptive inflation (--scheme) in place of every method's inflation knob (the hybrid and iterative analyses are left out, but for the localised hybrids with local-innovation)")
	f.StringVar(&o.Scheme, "scheme", "", "with --inflation adaptive: enkf-n (the default) or innovation (every method they are derived for), or local-innovation (the LETKF and the localised hybrids latent-hybrid-local-*)")
	f.Float64Var(&o.XN, "xn", 0, "with --inflation adaptive --scheme enkf-n, a fixed hyperprior weight filter.adaptive.xn (0: tuned on 1, 2, 4 like the inflation it replaces; --enkf-n on top of an innovation scheme keeps xn 1, or tunes it with --tune-xn)")
	f.Float64Var(&o.PriorSD, "prior-sd", 0, "with --scheme innovation or local-innovation, a fixed filter.adaptive.prior_sd (0: tuned on 0.02, 0.04, 0.08 like the inflation it replaces)")
	f.BoolVar(&o.EnKFN, "enkf-n", false, "with --scheme innovation or local-innovation, the EnKF-N (xn 1) on top of the estimate, filter.adaptive.enkf_n")
	f.IntVar(&o.EnKFNMemory, "enkf-n-memory", 0, "with --scheme enkf-n or --enkf-n, average the local EnKF-N's inflation of the LETKF and the localised hybrids over this many analyses, filter.adaptive.enkf_n_memory (0: each analysis its own)")
	f.Float64Var(&o.MinInflation, "min-inflation", 0, "with --scheme innovation or local-innovation, a lower bound on the carried estimate, filter.adaptive.min_inflation (0: the default, 0.01, which lets it deflate; 1: inflate only)")
	f.BoolVar(&o.TuneEnKFNMemory, "tune-enkf-n-memory", false, "with --scheme enkf-n or --enkf-n, tune the local EnKF-N's memory (enkf_n_memory) of the LETKF and the localised hybrids as a knob: on 1 and 20, with the scheme's knob on its two ends (prior_sd 0.02 and 0.08, xn 1 and 4)")
	f.BoolVar(&o.TuneXN, "tune-xn", false, "with --enkf-n, tune its xn too: on 1 and 4, with prior_sd on 0.02 and 0.08 (or xn on 1, 2, 4 with --prior-sd)")
	f.StringVar(&o.TraceDir, "trace", "", "with --tuned or --tuning-from, write each evaluation run's diagnostics cycle by cycle to DIR/model-regime-N-filter-seedS.csv (rmse, spread, NIS, inflation, the share of points whose analysis has the other sign)")
	f.StringVar(&o.Compare, "compare", "docs/results-latent.json", "with --inflation adaptive, the JSON report of tuned rows to set the adaptive rows against")
	return cmd
}

func (o *benchLatentOptions) Run(ctx context.Context, stderr io.Writer, cmdline string) error {
	if o.Render {
		return bench.RenderLatentReport(o.JSON, o.Report)
	}
	if o.Seeds < 1 || o.TuneSeeds < 1 || o.FirstSeed < 1 || o.Parallel < 1 {
		return usageError{fmt.Errorf("--seeds, --tune-seeds, --first-seed and --parallel must be >= 1, got %d, %d, %d, %d", o.Seeds, o.TuneSeeds, o.FirstSeed, o.Parallel)}
	}
	switch o.Inflation {
	case "adaptive":
		o.Adaptive = true
	case "":
	default:
		return usageError{fmt.Errorf("--inflation: want adaptive (or nothing, for the grid-tuned inflation), got %q", o.Inflation)}
	}
	if o.Tuned != "" {
		h, err := bench.ParseHyper(o.Tuned)
		if err != nil {
			return usageError{fmt.Errorf("--tuned: %w", err)}
		}
		o.LatentOptions.Tuned = h
	}
	if o.TuningFrom != "" {
		if filepath.Clean(o.TuningFrom) == filepath.Clean(o.JSON) {
			return usageError{fmt.Errorf("--tuning-from %s is also --json, which this run rewrites after every row; give another --json", o.TuningFrom)}
		}
		from, err := bench.ReadLatentReportFile(o.TuningFrom)
		if err != nil {
			return fmt.Errorf("--tuning-from: %w", err)
		}
		o.LatentOptions.TuningFrom = &from
	}
	if err := o.LatentOptions.Validate(); err != nil {
		return usageError{err}
	}
	if o.TraceDir != "" {
		if err := os.MkdirAll(o.TraceDir, 0o755); err != nil {
			return fmt.Errorf("--trace: %w", err)
		}
	}
	if from := o.LatentOptions.TuningFrom; from != nil {
		if err := o.LatentOptions.SameTuning(*from); err != nil {
			return usageError{fmt.Errorf("--tuning-from %s: %w", o.TuningFrom, err)}
		}
	}
	var tuned bench.LatentReport
	if o.Adaptive {
		var err error
		if tuned, err = bench.ReadLatentReportFile(o.Compare); err != nil {
			return fmt.Errorf("--compare: %w", err)
		}
		if err := o.LatentOptions.Comparable(tuned); err != nil {
			return usageError{fmt.Errorf("--compare %s: %w", o.Compare, err)}
		}
	}
	start := time.Now()
	o.Log = timestampedLog(stderr)
	var done []bench.LatentRow
	narrowed := len(o.Models) > 0 || len(o.Regimes) > 0 || len(o.Filters) > 0 || o.Tuned != ""
	write := func(rows []bench.LatentRow, gens []bench.GeneratorInfo, subset string) error {
		rep := bench.NewLatentReport(o.LatentOptions, rows, gens, cmdline, time.Since(start))
		rep.Subset, rep.CPUSeconds, rep.TuningFrom = subset, cputime.Process().Seconds(), o.TuningFrom
		if o.Adaptive {
			rep.ComparedWith, rep.Tuned = o.Compare, &tuned
		}
		return rep.WriteFiles(o.Report, o.JSON)
	}
	o.RowDone = func(r bench.LatentRow, gens []bench.GeneratorInfo) {
		done = append(done, r)
		if err := write(done, gens, fmt.Sprintf("partial, %d rows finished so far", len(done))); err != nil {
			o.Log("writing the partial report: " + err.Error())
		}
	}
	rows, gens, err := bench.RunLatent(ctx, o.LatentOptions)
	if err != nil && rows == nil {
		return fmt.Errorf("bench latent: %w", err)
	}
	subset := ""
	switch {
	case err != nil:
		rows, subset = done, fmt.Sprintf("stopped (%v) after %d rows", err, len(done))
	case narrowed:
		subset = "narrowed by the command's flags"
	}
	if werr := write(rows, gens, subset); werr != nil {
		return werr
	}
	o.Log(fmt.Sprintf("wrote %s and %s in %s", o.Report, o.JSON, time.Since(start).Round(time.Second)))
	if err != nil {
		return fmt.Errorf("bench latent: %w", err)
	}
	return nil
}

// timestampedLog returns a progress logger that writes each line to w
// after the UTC time, one line at a time.
func timestampedLog(w io.Writer) func(string) {
	var mu sync.Mutex
	return func(s string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "%s %s\n", time.Now().UTC().Format("15:04:05"), s)
	}
}
