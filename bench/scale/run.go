package scale

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

	"github.com/latentda/latentda/bench"
	"github.com/latentda/latentda/internal/strictjson"
)

// Options set up Run.
type Options struct {
	Sizes       []int        // state sizes nx, by size (two or more, for the slope)
	SpeedUpSize int          // size also run with GOMAXPROCS 1 and 2 (0: skip)
	Cycle       CycleOptions // the set-up of every size (its Nx is ignored)
	LatentNx    int          // KS size of the latent against LETKF analysis cost (0: skip)
	Activities  int          // no-op activities per timed workflow on the dev server (0: skip)
	// Child runs one cycle of nx = n in a fresh process with GOMAXPROCS
	// procs (0: inherited), so that its peak memory is its own; see
	// Subprocess.
	Child func(ctx context.Context, n, procs int) (CycleResult, error)
	// Log, if not nil, receives progress lines.
	Log func(string)
}

// Sized returns the set-up of o at nx = n.
func (o Options) Sized(n int) CycleOptions {
	c := o.Cycle
	c.Nx = n
	return c
}

// Run measures the report of `latentda bench scale`: a cycle of every size
// in its own process and the slope of the analysis cost, the speed-up from
// one core to two, the disk speed at the largest ensemble, then (if asked)
// the latent cost on KS and the Temporal activity cost with the fan-out
// model built from all of them.
func Run(ctx context.Context, o Options) (Report, error) {
	logf := func(format string, args ...any) {
		if o.Log != nil {
			o.Log(fmt.Sprintf(format, args...))
		}
	}
	child := func(n, procs int) (CycleResult, error) {
		res, err := o.Child(ctx, n, procs)
		if err != nil {
			return res, fmt.Errorf("scale: nx=%d: %w", n, err)
		}
		logf("nx=%d GOMAXPROCS=%d: cycle %.2fs (analysis %.2fs), peak %.0f MiB",
			n, res.GOMAXPROCS, res.CycleWall, res.Stage("analysis").Wall, float64(res.PeakBytes)/(1<<20))
		return res, nil
	}
	var rep Report
	for _, n := range o.Sizes {
		res, err := child(n, 0)
		if err != nil {
			return rep, err
		}
		rep.Cycles = append(rep.Cycles, res)
	}
	if err := rep.FitAnalysis(); err != nil {
		return rep, err
	}
	if o.SpeedUpSize > 0 {
		one, err := child(o.SpeedUpSize, 1)
		if err != nil {
			return rep, err
		}
		two, err := child(o.SpeedUpSize, 2)
		if err != nil {
			return rep, err
		}
		if rep.SpeedUp, err = NewSpeedUp(one, two); err != nil {
			return rep, err
		}
	}
	largest := rep.Cycles[len(rep.Cycles)-1]
	disk, err := MeasureDisk(o.Cycle.Dir, int64(largest.Members)*int64(largest.Nx)*8)
	if err != nil {
		return rep, err
	}
	rep.Disk = &disk
	if o.LatentNx > 0 {
		logf("latent cost: KS nx=%d, training the autoencoder", o.LatentNx)
		gen, rows, err := bench.RunLatentCost(ctx, bench.LatentCostOptions{Nx: o.LatentNx, Members: o.Cycle.Members})
		if err != nil {
			return rep, fmt.Errorf("scale: %w", err)
		}
		rep.Latent, rep.LatentGenerator, rep.LatentNx = rows, &gen, o.LatentNx
	}
	if o.Activities > 0 {
		logf("orchestration: %d activities per workflow on the embedded dev server", o.Activities)
		orch, err := MeasureOrchestration(ctx, o.Activities, 3)
		if err != nil {
			return rep, err
		}
		rep.Orchestration = &orch
		if err := rep.AddModel(); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// Subprocess returns a Run.Child that runs this program's executable
// (os.Executable) with the arguments args(n), which must run RunCycle for
// nx = n and print its result as JSON on stdout; the child's stderr goes
// to stderr.
func Subprocess(args func(n int) []string, stderr io.Writer) func(ctx context.Context, n, procs int) (CycleResult, error) {
	return func(ctx context.Context, n, procs int) (CycleResult, error) {
		exe, err := os.Executable()
		if err != nil {
			return CycleResult{}, err
		}
		cmd := exec.CommandContext(ctx, exe, args(n)...)
		cmd.Env = os.Environ()
		if procs > 0 {
			cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(procs))
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, stderr
		if err := cmd.Run(); err != nil {
			return CycleResult{}, err
		}
		var res CycleResult
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			return res, fmt.Errorf("child output: %w", err)
		}
		return res, nil
	}
}

// LoadReport reads a report saved as JSON and recomputes its slopes and,
// if it has the cycles, the disk speed and the orchestration cost, its
// model.
func LoadReport(path string) (Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return Report{}, fmt.Errorf("scale: %w", err)
	}
	defer f.Close()
	rep, err := ReadReport(f)
	if err != nil {
		return rep, fmt.Errorf("scale: %s: %w", path, err)
	}
	return rep, nil
}

// ReadReport is [LoadReport] from a reader. It refuses keys that no
// report has and anything after the report.
func ReadReport(r io.Reader) (Report, error) {
	var rep Report
	if err := strictjson.Decode(r, &rep); err != nil {
		return Report{}, err
	}
	if err := rep.FitAnalysis(); err != nil {
		return rep, err
	}
	if rep.Orchestration != nil && rep.Disk != nil && len(rep.Cycles) > 0 {
		if err := rep.AddModel(); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// WriteText prints the report as text tables.
func (rep Report) WriteText(w io.Writer) error {
	if len(rep.Cycles) > 0 && rep.Cycles[0].WeightStride > 1 {
		fmt.Fprintf(w, "LETKF weight stride %d: local analyses on every %d-th batch, the transforms interpolated between\n\n",
			rep.Cycles[0].WeightStride, rep.Cycles[0].WeightStride)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "nx\tN\tobs\tforecast s\tobs_operator s\tanalysis s (cpu)\tcpu µs/point\twrite s\tcycle s\tpeak MiB\twrite MB/s\tread MB/s\trmse_f\trmse_a")
	for _, c := range rep.Cycles {
		a := c.Stage("analysis")
		fmt.Fprintf(tw, "%d\t%d\t%d\t%.3f\t%.3f\t%.3f (%.3f)\t%.2f\t%.3f\t%.3f\t%.0f\t%.0f\t%.0f\t%.3f\t%.3f\n",
			c.Nx, c.Members, c.Obs, c.Stage("forecast").Wall, c.Stage("obs_operator").Wall, a.Wall, a.CPU, a.CPU/float64(c.Nx)*1e6,
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
