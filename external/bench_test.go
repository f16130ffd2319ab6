package external_test

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/dynamics"
	"github.com/latentda/latentda/external"
	"github.com/latentda/latentda/internal/cputime"
	"github.com/latentda/latentda/store"
)

// BenchmarkForecast is one cycle's ensemble forecast (24 members, one
// Lorenz-96 step) as a batch of cycles makes it: the forecast, then its
// record (a copy that checks every value is finite). With the built-in
// model; with the fake model's arithmetic (x ← x/2 + 1) in the
// benchmark's process ("in-process") and through the test binary as a
// fake model process, whose difference is the protocol's own cost; and
// through the Go example program; over the pipes, over shared memory, and
// with the ensemble hosted in the shared memory (as a batch holds it); at
// L96 size and at 10⁵ variables (docs/external-models.md):
//
//	go test -run XXX -bench Forecast -benchtime 2s ./external/
func BenchmarkForecast(b *testing.B) {
	const members = 24
	l96goPath := l96go(b)
	for _, n := range []int{40, 100_000} {
		builtin, err := dynamics.NewLorenz96(n, dynamics.Lorenz96Forcing, dynamics.Lorenz96Dt)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("n=%d/builtin", n), func(b *testing.B) {
			benchForecast(b, builtin, members, false)
		})
		b.Run(fmt.Sprintf("n=%d/fake/in-process", n), func(b *testing.B) {
			benchForecast(b, halfPlusOne{n}, members, false)
		})
		for _, program := range []string{"l96go", "fake"} {
			for _, processes := range []int{1, 2} {
				for _, transport := range []string{external.TransportPipe, external.TransportShm, hosted} {
					b.Run(fmt.Sprintf("n=%d/%s/processes=%d/%s", n, program, processes, transport), func(b *testing.B) {
						host := transport == hosted
						if host {
							transport = external.TransportShm
						}
						cfg := fakeConfig(n, processes, transport)
						if program == "l96go" {
							cfg.Command, cfg.Env = []string{l96goPath}, nil
						}
						benchForecast(b, openBench(b, cfg), members, host)
					})
				}
			}
		}
	}
}

// halfPlusOne is the fake model's arithmetic (x ← x/2 + 1, external.
// FakeAdvance) as a built-in model: what a forecast through the fake
// model costs without the protocol, its members stepped as the built-in
// models' are (in parallel above dynamics.SerialWorkThreshold).
type halfPlusOne struct{ n int }

func (h halfPlusOne) Name() string                 { return "half-plus-one" }
func (h halfPlusOne) Dim() int                     { return h.n }
func (h halfPlusOne) Dt() float64                  { return dynamics.Lorenz96Dt }
func (h halfPlusOne) NewStepper() dynamics.Stepper { return h }
func (h halfPlusOne) Step(x []float64)             { _ = external.FakeAdvance(x, 1, 1) }

// BenchmarkOverhead is the protocol's own cost per cycle: one cycle's
// forecast and record (as a batch of cycles makes them) of the fake
// model's arithmetic in process, its members stepped as the built-in
// models' are (on GOMAXPROCS goroutines at 10⁵), and through as many fake model processes
// over shared memory with the ensemble hosted there, both every
// iteration, in turns, so that both see the same machine; with the built-in
// Lorenz-96 forecast, alternated too, for scale. It reports the medians
// over the iterations, in ms, of each cycle, of the overhead (the
// difference of the two, iteration by iteration), of its part in the
// forecast (the rest is in the record) and of the built-in forecast, and
// the overhead as a percentage of that forecast
// (docs/external-models.md):
//
//	go test -run XXX -bench Overhead -benchtime 2000x ./external/
func BenchmarkOverhead(b *testing.B) {
	const members = 24
	for _, n := range []int{40, 100_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			m := openBench(b, fakeConfig(n, runtime.GOMAXPROCS(0), external.TransportShm))
			builtin, err := dynamics.NewLorenz96(n, dynamics.Lorenz96Forcing, dynamics.Lorenz96Dt)
			if err != nil {
				b.Fatal(err)
			}
			inProcess, hosted, forecast := benchStep(b, halfPlusOne{n}, members, false), benchStep(b, m, members, true), benchStep(b, builtin, members, false)
			var cIn, cHosted, overhead, inForecast, fBuiltin []float64
			for b.Loop() {
				// Either may slow the other (caches, the model processes'
				// runtime finishing its work): take turns to go first.
				var tIn, tHosted, fIn, fHosted float64
				if len(cIn)%2 == 0 {
					tIn, fIn = inProcess()
					tHosted, fHosted = hosted()
				} else {
					tHosted, fHosted = hosted()
					tIn, fIn = inProcess()
				}
				_, tForecast := forecast()
				cIn, cHosted, fBuiltin = append(cIn, tIn), append(cHosted, tHosted), append(fBuiltin, tForecast)
				overhead, inForecast = append(overhead, tHosted-tIn), append(inForecast, fHosted-fIn)
			}
			b.ReportMetric(median(cIn), "in-process-ms")
			b.ReportMetric(median(cHosted), "external-ms")
			b.ReportMetric(median(overhead), "overhead-ms")
			b.ReportMetric(median(inForecast), "overhead-in-forecast-ms")
			b.ReportMetric(median(fBuiltin), "builtin-forecast-ms")
			b.ReportMetric(100*median(overhead)/median(fBuiltin), "overhead-%")
		})
	}
}

// BenchmarkHost is what a batch of cycles pays once, at its start, to
// host its ensemble (24 members of 10⁵ variables) in the shared memory of
// 2 fake model processes: the copy into it; first-ms is the first time a
// worker does it, which also allocates the memory's pages
// (docs/external-models.md).
//
//	go test -run XXX -bench Host ./external/
func BenchmarkHost(b *testing.B) {
	const members, n = 24, 100_000
	f, err := dynamics.NewForecaster(openBench(b, fakeConfig(n, 2, external.TransportShm)), members)
	if err != nil {
		b.Fatal(err)
	}
	E := benchEnsemble(members, n)
	t0 := time.Now()
	_, release := f.Host(E) // the memory's first use allocates its pages
	first := time.Since(t0)
	release()
	b.SetBytes(int64(8 * members * n))
	for b.Loop() {
		H, release := f.Host(E)
		if H == E {
			b.Fatal("the ensemble was not hosted")
		}
		release()
	}
	b.ReportMetric(ms(first), "first-ms")
}

// benchStep returns a function that runs one cycle's forecast of an
// ensemble of members of m (with host, hosted in m's shared memory) and
// records it in a batch of cycles that refuses non-finite values, and
// returns the cycle's time and the forecast's, in ms.
func benchStep(b *testing.B, m dynamics.Model, members int, host bool) func() (cycle, forecast float64) {
	f, err := dynamics.NewForecaster(m, members)
	if err != nil {
		b.Fatal(err)
	}
	E := benchEnsemble(members, m.Dim())
	if host {
		H, release := f.Host(E)
		if H == E {
			b.Fatal("the ensemble was not hosted")
		}
		b.Cleanup(release)
		E = H
	}
	batch := store.RunDir{Root: b.TempDir()}.NewCycleBatch(store.Retention{})
	batch.RefuseNonFinite()
	b.Cleanup(batch.Abort)
	return func() (float64, float64) {
		t0 := time.Now()
		if err := f.Forecast(E, 1, 0); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := batch.Forecast(store.Meta{Cycle: 1}, E); err != nil {
			b.Fatal(err)
		}
		return ms(time.Since(t0)), ms(t1.Sub(t0))
	}
}

// fakeConfig runs the test binary as a fake model (x ← x/2 + 1) of n
// variables.
func fakeConfig(n, processes int, transport string) external.Config {
	return external.Config{Command: []string{os.Args[0]}, Env: []string{"LATENTDA_FAKE_MODEL=ok", "LATENTDA_FAKE_TRANSPORT=" + transport},
		StateSize: n, Dt: dynamics.Lorenz96Dt, Processes: processes, Timeout: time.Minute, Transport: transport}
}

// openBench opens cfg's model for the rest of the benchmark.
func openBench(b *testing.B, cfg external.Config) *external.Model {
	m, err := external.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

func ms(d time.Duration) float64 { return d.Seconds() * 1e3 }

func median(x []float64) float64 {
	y := slices.Clone(x)
	slices.Sort(y)
	return y[len(y)/2]
}

// hosted names the benchmarks of an ensemble hosted in the shared memory.
const hosted = "hosted"

// benchForecast benchmarks the forecast of m's ensemble of members (hosted
// in its shared memory if host) and its record, and reports the CPU time
// per cycle: the benchmark's and the model processes', and the
// benchmark process's alone.
func benchForecast(b *testing.B, m dynamics.Model, members int, host bool) {
	step := benchStep(b, m, members, host)
	cpu := cputime.Process
	if e, ok := m.(*external.Model); ok {
		cpu = func() time.Duration { return cputime.Process() + external.ProcessCPU(e) }
	}
	step() // starts every process
	b.SetBytes(int64(8 * members * m.Dim()))
	c0, s0 := cpu(), cputime.Process()
	for b.Loop() {
		step()
	}
	b.ReportMetric(float64(cpu()-c0)/float64(b.N)/1e6, "cpu-ms/op")
	b.ReportMetric(float64(cputime.Process()-s0)/float64(b.N)/1e6, "self-ms/op")
}

// benchEnsemble is a members × n ensemble on Lorenz-96's scale.
func benchEnsemble(members, n int) *mat.Dense {
	E := mat.NewDense(members, n, nil)
	for i := range members {
		for j := range n {
			E.Set(i, j, dynamics.Lorenz96Forcing+math.Sin(float64(7*i+j+1)))
		}
	}
	return E
}
