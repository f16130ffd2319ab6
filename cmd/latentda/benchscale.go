package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/scale"
	"github.com/latentda/latentda/store"
)

// benchScaleOptions holds the flags of `latentda bench scale`.
type benchScaleOptions struct {
	Sizes       []int
	SpeedUpSize int
	Members     int
	Every       int
	Radius      float64
	BatchSize   int
	Dir         string
	Output      string
	LatentNx    int
	Activities  int
	From        string
	Plot        string // write the log-log figure of the analysis cost here
	One         int    // run only this size in this process (used by the parent)
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

func (o *benchScaleOptions) Validate() error {
	if err := checkOutput(o.Output); err != nil {
		return err
	}
	if len(o.Sizes) < 2 && o.One == 0 {
		return usageError{fmt.Errorf("--sizes needs at least two sizes for the slope, got %v", o.Sizes)}
	}
	sizes := o.Sizes
	if o.SpeedUpSize > 0 {
		sizes = append([]int{o.SpeedUpSize}, sizes...)
	}
	if o.One > 0 {
		sizes = []int{o.One}
	}
	for _, n := range sizes {
		if err := o.cycle(n).Validate(); err != nil {
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

func (o *benchScaleOptions) cycle(n int) scale.CycleOptions {
	c := scale.DefaultCycle(n, o.Dir)
	c.Members, c.Every, c.Radius, c.BatchSize = o.Members, o.Every, o.Radius, o.BatchSize
	return c
}

func (o *benchScaleOptions) runOne(stdout io.Writer) error {
	res, err := scale.RunCycle(o.cycle(o.One))
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}

// child runs one size in a fresh process of this binary with GOMAXPROCS
// procs (0: inherited).
func (o *benchScaleOptions) child(ctx context.Context, n, procs int, stderr io.Writer) (scale.CycleResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return scale.CycleResult{}, err
	}
	args := []string{"bench", "scale", "--one", strconv.Itoa(n), "--dir", o.Dir,
		"--members", strconv.Itoa(o.Members), "--every", strconv.Itoa(o.Every),
		"--radius", strconv.FormatFloat(o.Radius, 'g', -1, 64), "--batch-size", strconv.Itoa(o.BatchSize)}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = os.Environ()
	if procs > 0 {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(procs))
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, stderr
	if err := cmd.Run(); err != nil {
		return scale.CycleResult{}, fmt.Errorf("bench scale: nx=%d: %w", n, err)
	}
	var res scale.CycleResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return res, fmt.Errorf("bench scale: nx=%d: child output: %w", n, err)
	}
	fmt.Fprintf(stderr, "nx=%d GOMAXPROCS=%d: cycle %.2fs (analysis %.2fs), peak %.0f MiB\n",
		n, res.GOMAXPROCS, res.CycleWall, res.Stage("analysis").Wall, float64(res.PeakBytes)/(1<<20))
	return res, nil
}

func (o *benchScaleOptions) Run(ctx context.Context, stdout, stderr io.Writer) error {
	var rep scale.Report
	if o.From != "" {
		data, err := os.ReadFile(o.From)
		if err != nil {
			return fmt.Errorf("bench scale: %w", err)
		}
		if err := json.Unmarshal(data, &rep); err != nil {
			return fmt.Errorf("bench scale: %s: %w", o.From, err)
		}
		if err := rep.FitAnalysis(); err != nil {
			return fmt.Errorf("bench scale: %s: %w", o.From, err)
		}
		if rep.Orchestration != nil && rep.Disk != nil && len(rep.Cycles) > 0 {
			if err := rep.AddModel(); err != nil {
				return fmt.Errorf("bench scale: %s: %w", o.From, err)
			}
		}
		return o.print(stdout, rep)
	}
	for _, n := range o.Sizes {
		res, err := o.child(ctx, n, 0, stderr)
		if err != nil {
			return err
		}
		rep.Cycles = append(rep.Cycles, res)
	}
	if err := rep.FitAnalysis(); err != nil {
		return fmt.Errorf("bench scale: %w", err)
	}
	if o.SpeedUpSize > 0 {
		one, err := o.child(ctx, o.SpeedUpSize, 1, stderr)
		if err != nil {
			return err
		}
		two, err := o.child(ctx, o.SpeedUpSize, 2, stderr)
		if err != nil {
			return err
		}
		if rep.SpeedUp, err = scale.NewSpeedUp(one, two); err != nil {
			return err
		}
	}
	largest := rep.Cycles[len(rep.Cycles)-1]
	disk, err := scale.MeasureDisk(o.Dir, int64(largest.Members)*int64(largest.Nx)*8)
	if err != nil {
		return err
	}
	rep.Disk = &disk
	if o.LatentNx > 0 {
		fmt.Fprintf(stderr, "latent cost: KS nx=%d, training the autoencoder\n", o.LatentNx)
		gen, rows, err := experiment.RunLatentCost(ctx, experiment.LatentCostOptions{Nx: o.LatentNx, Members: o.Members})
		if err != nil {
			return fmt.Errorf("bench scale: %w", err)
		}
		rep.Latent, rep.LatentGenerator, rep.LatentNx = rows, &gen, o.LatentNx
	}
	if o.Activities > 0 {
		fmt.Fprintf(stderr, "orchestration: %d activities per workflow on the embedded dev server\n", o.Activities)
		orch, err := scale.MeasureOrchestration(ctx, o.Activities, 3)
		if err != nil {
			return fmt.Errorf("bench scale: %w", err)
		}
		rep.Orchestration = &orch
		if err := rep.AddModel(); err != nil {
			return fmt.Errorf("bench scale: %w", err)
		}
	}
	return o.print(stdout, rep)
}

func (o *benchScaleOptions) print(stdout io.Writer, rep scale.Report) error {
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
	return writeScaleReport(stdout, rep)
}

func writeScaleReport(w io.Writer, rep scale.Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "nx\tN\tobs\tforecast s\tobs_operator s\tanalysis s (cpu)\twrite s\tcycle s\tpeak MiB\twrite MB/s\tread MB/s\trmse_f\trmse_a")
	for _, c := range rep.Cycles {
		a := c.Stage("analysis")
		fmt.Fprintf(tw, "%d\t%d\t%d\t%.3f\t%.3f\t%.3f (%.3f)\t%.3f\t%.3f\t%.0f\t%.0f\t%.0f\t%.3f\t%.3f\n",
			c.Nx, c.Members, c.Obs, c.Stage("forecast").Wall, c.Stage("obs_operator").Wall, a.Wall, a.CPU,
			c.Stage("write").Wall, c.CycleWall, float64(c.PeakBytes)/(1<<20), c.WriteMBps, c.ReadMBps, c.RMSEf, c.RMSEa)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nanalysis time ∝ nx^%.3f, CPU time ∝ nx^%.3f (least squares over %d sizes)\n", rep.AnalysisSlope, rep.AnalysisCPUSlope, len(rep.Cycles))
	if s := rep.SpeedUp; s != nil {
		fmt.Fprintf(w, "speed-up 1 → 2 cores at nx=%d: forecast %.2f× (%.3fs → %.3fs), analysis %.2f× (%.3fs → %.3fs)\n",
			s.Nx, s.Forecast, s.One.Stage("forecast").Wall, s.Two.Stage("forecast").Wall,
			s.Analysis, s.One.Stage("analysis").Wall, s.Two.Stage("analysis").Wall)
	}
	if d := rep.Disk; d != nil {
		fmt.Fprintf(w, "disk, %d MiB: Go write+fsync %.0f MB/s, read %.0f MB/s; dd write (conv=fsync) %.0f MB/s, read %.0f MB/s\n",
			d.Bytes>>20, d.GoWriteMBps, d.GoReadMBps, d.DDWriteMBps, d.DDReadMBps)
	}
	if c := rep.Orchestration; c != nil {
		fmt.Fprintf(w, "\nTemporal dev server, per no-op activity (%d per workflow, best of 3): sequential %.2f ms, local %.3f ms, fan-out %.2f ms\n",
			c.Activities, c.SequentialMillis, c.LocalMillis, c.FanOutMillis)
	}
	if m := rep.Model; m != nil {
		fmt.Fprintf(w, "\nmodel, nx=%d N=%d: forecast %.3g s per element, analysis %.3g s per point (CPU), disk %.0f MB/s, activity latency %.1f ms, dispatch %.2f ms per block\n",
			m.Nx, m.Members, m.F, m.A, m.DiskBps/1e6, m.L*1e3, m.D*1e3)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "workers\tcompute s\tI/O s\torchestration s\tcycle s\tspeed-up\tefficiency")
		for _, p := range rep.Predictions {
			fmt.Fprintf(tw, "%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%.0f%%\n", p.Workers, p.Compute, p.IO, p.Orchestration, p.Total, p.SpeedUp, 100*p.Efficiency)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "shortest cycle at %d workers\n", rep.BestWorkers)
	}
	if g := rep.LatentGenerator; g != nil {
		fmt.Fprintf(w, "\nKS nx=%d, N=%d: autoencoder d=%d (%d epochs, held-out MSE %.3g of variance %.3g, %.0fs to build and train)\n",
			rep.LatentNx, rep.Latent[0].N, g.LatentDim, g.Epochs, g.HeldOutMSE, g.Variance, g.Seconds)
		for _, r := range rep.Latent {
			status := fmt.Sprintf("rmse_a %.3f", r.RMSEa)
			if r.Error != "" {
				status = "error: " + r.Error
			}
			fmt.Fprintf(w, "  %-12s analysis %8.0f µs  (%s)\n", r.Filter, r.AnalysisMicros, status)
		}
	}
	return nil
}
