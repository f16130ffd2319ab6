package external_test

import (
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/dynamics"
	"github.com/latentda/latentda/external"
	"github.com/latentda/latentda/internal/cputime"
)

// BenchmarkForecast is one cycle's ensemble forecast (24 members, one
// Lorenz-96 step) with the built-in model, through the Go example program,
// and through the test binary's fake model (x ← x/2 + 1, next to free: the
// protocol's own cost), over the pipes and over shared memory, at L96 size
// and at 10⁵ variables (docs/external-models.md):
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
			benchForecast(b, builtin, members)
		})
		for _, program := range []string{"l96go", "fake"} {
			for _, processes := range []int{1, 2} {
				for _, transport := range []string{external.TransportPipe, external.TransportShm} {
					b.Run(fmt.Sprintf("n=%d/%s/processes=%d/%s", n, program, processes, transport), func(b *testing.B) {
						cfg := external.Config{Command: []string{l96goPath}, StateSize: n, Dt: dynamics.Lorenz96Dt,
							Processes: processes, Timeout: time.Minute, Transport: transport}
						if program == "fake" {
							cfg.Command, cfg.Env = []string{os.Args[0]}, []string{"LATENTDA_FAKE_MODEL=ok", "LATENTDA_FAKE_TRANSPORT=" + transport}
						}
						m, err := external.Open(cfg)
						if err != nil {
							b.Fatal(err)
						}
						defer m.Close()
						benchForecast(b, m, members)
					})
				}
			}
		}
	}
}

func benchForecast(b *testing.B, m dynamics.Model, members int) {
	f, err := dynamics.NewForecaster(m, members)
	if err != nil {
		b.Fatal(err)
	}
	n := m.Dim()
	E := mat.NewDense(members, n, nil)
	for i := range members {
		for j := range n {
			E.Set(i, j, dynamics.Lorenz96Forcing+math.Sin(float64(7*i+j+1)))
		}
	}
	if err := f.Forecast(E, 1, 0); err != nil { // starts every process
		b.Fatal(err)
	}
	b.SetBytes(int64(8 * members * n))
	c0 := cpu(m)
	for b.Loop() {
		if err := f.Forecast(E, 1, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpu(m)-c0)/float64(b.N)/1e6, "cpu-ms/op")
}

// cpu is the CPU time used so far by the benchmark binary and, for an
// external model, by its processes.
func cpu(m dynamics.Model) time.Duration {
	c := cputime.Process()
	if e, ok := m.(*external.Model); ok {
		c += external.ProcessCPU(e)
	}
	return c
}
