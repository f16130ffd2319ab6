package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/latentda/latentda/bench/scale"
	"github.com/latentda/latentda/store"
)

// benchScaleOptions holds the flags of `latentda bench scale`.
type benchScaleOptions struct {
	scale.Options
	Members   int
	Every     int
	Radius    float64
	BatchSize int
	Stride    int
	Dir       string
	Output    string
	From      string
	Plot      string // write the log-log figure of the analysis cost here
	One       int    // run only this size in this process (used by the parent)
}

func newBenchScaleCmd() *cobra.Command {
	o := &benchScaleOptions{}
	cmd := &cobra.Command{
		Use:   "scale",
		Short: "Time one Lorenz-96 LETKF cycle (forecast, analysis, Arrow write) up to 10^6 variables",
		Long: `Runs one cycle per state size, each in a fresh process so that its peak
memory is its own: forecast of N members, H, the LETKF analysis, writing the
analysis ensemble with the store package, then reading it back. Prints the
time and CPU time of every stage, the peak memory, the least-squares slope
of log(analysis time) against log(nx), the speed-up from GOMAXPROCS=1 to 2
at --speedup-size, and the raw disk speed (Go write+fsync and dd) of --dir
for comparison with the Arrow writer and reader.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			if o.One > 0 {
				return o.runOne(cmd.OutOrStdout())
			}
			return o.Run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&o.Sizes, "sizes", []int{1_000, 10_000, 100_000, 1_000_000}, "state sizes nx")
	f.IntVar(&o.SpeedUpSize, "speedup-size", 100_000, "size run with GOMAXPROCS=1 and 2 (0: skip)")
	f.IntVar(&o.Members, "members", 20, "ensemble size N")
	f.IntVar(&o.Every, "every", 2, "observe every k-th variable")
	f.Float64Var(&o.Radius, "radius", 10, "LETKF localisation radius in grid points")
	f.IntVar(&o.BatchSize, "batch-size", 0, "grid points per local analysis (0: one)")
	f.IntVar(&o.Stride, "weight-stride", 0, "local analyses on every k-th batch only, the transforms interpolated between (0: every batch)")
	f.StringVar(&o.Dir, "dir", os.TempDir(), "directory for the ensemble files and the disk-speed test")
	f.IntVar(&o.LatentNx, "latent-nx", 1024, "KS size of the latent versus LETKF analysis cost (0: skip)")
	f.IntVar(&o.Activities, "activities", 50, "no-op Temporal activities per timed workflow on the embedded dev server (0: skip)")
	f.StringVar(&o.Plot, "plot", "", "also write the log-log figure of analysis time against nx to this PNG file")
	f.StringVar(&o.From, "from", "", "print the report saved with -o json in this file (and its model) instead of measuring")
	f.StringVarP(&o.Output, "output", "o", "text", "output format: text or json")
	f.IntVar(&o.One, "one", 0, "run one cycle of this size here and print it as JSON (internal)")
	_ = f.MarkHidden("one")
	return cmd
}

// Validate checks the flags and sets o.Options from them.
func (o *benchScaleOptions) Validate() error {
	if err := checkOutput(o.Output); err != nil {
		return err
	}
	if len(o.Sizes) < 2 && o.One == 0 {
		return usageError{fmt.Errorf("--sizes needs at least two sizes for the slope, got %v", o.Sizes)}
	}
	o.Cycle = scale.DefaultCycle(0, o.Dir)
	o.Cycle.Members, o.Cycle.Every, o.Cycle.Radius, o.Cycle.BatchSize = o.Members, o.Every, o.Radius, o.BatchSize
	o.Cycle.WeightStride = o.Stride
	sizes := o.Sizes
	if o.SpeedUpSize > 0 {
		sizes = append([]int{o.SpeedUpSize}, sizes...)
	}
	if o.One > 0 {
		sizes = []int{o.One}
	}
	for _, n := range sizes {
		if err := o.Sized(n).Validate(); err != nil {
			return usageError{err}
		}
	}
	if o.LatentNx != 0 && o.LatentNx < 16 {
		return usageError{fmt.Errorf("--latent-nx must be 0 or >= 16, got %d", o.LatentNx)}
	}
	if o.Activities < 0 {
		return usageError{fmt.Errorf("--activities must be >= 0, got %d", o.Activities)}
	}
	if o.SpeedUpSize < 0 {
		return usageError{fmt.Errorf("--speedup-size must be >= 0, got %d", o.SpeedUpSize)}
	}
	return nil
}

func (o *benchScaleOptions) runOne(stdout io.Writer) error {
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return err
	}
	res, err := scale.RunCycle(o.Sized(o.One))
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}

// childArgs is the command line of the process that runs one cycle of
// nx = n with these options.
func (o *benchScaleOptions) childArgs(n int) []string {
	return []string{"bench", "scale", "--one", strconv.Itoa(n), "--dir", o.Dir,
		"--members", strconv.Itoa(o.Members), "--every", strconv.Itoa(o.Every),
		"--radius", strconv.FormatFloat(o.Radius, 'g', -1, 64), "--batch-size", strconv.Itoa(o.BatchSize),
		"--weight-stride", strconv.Itoa(o.Stride)}
}

func (o *benchScaleOptions) Run(ctx context.Context, stdout, stderr io.Writer) error {
	var rep scale.Report
	var err error
	if o.From != "" {
		rep, err = scale.LoadReport(o.From)
	} else {
		o.Child = scale.Subprocess(o.childArgs, stderr)
		o.Log = func(s string) { fmt.Fprintln(stderr, s) }
		rep, err = scale.Run(ctx, o.Options)
	}
	if err != nil {
		return fmt.Errorf("bench scale: %w", err)
	}
	if o.Plot != "" {
		png, err := rep.AnalysisPlot()
		if err != nil {
			return err
		}
		if err := store.WriteFileAtomic(o.Plot, png); err != nil {
			return err
		}
	}
	if o.Output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", " ")
		return enc.Encode(rep)
	}
	return rep.WriteText(stdout)
}
