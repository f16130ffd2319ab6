package dynamics

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// sink keeps benchmark results alive so the compiler cannot drop the work.
var sink float64

// benchEnsemble returns members × dim states: a small perturbation of init
// (or of F-ish values when init is nil) so every member differs.
func benchEnsemble(members int, init []float64, dim int) *mat.Dense {
	E := mat.NewDense(members, dim, nil)
	for i := range members {
		row := E.RawRowView(i)
		for j := range row {
			base := 8.0
			if init != nil {
				base = init[j]
			}
			row[j] = base + 0.01*math.Sin(float64(1+i*dim+j))
		}
	}
	return E
}

func benchForecast(b *testing.B, m Model, members int, init []float64, opts ...ForecasterOption) {
	f, err := NewForecaster(m, members, opts...)
	if err != nil {
		b.Fatal(err)
	}
	E := benchEnsemble(members, init, m.Dim())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := f.Forecast(E, 1, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	sink = E.At(0, 0)
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(ns/float64(members*m.Dim()), "ns/elem-step")
}

// One RK4 step of Lorenz-96 (nx = 40) for a 24-member ensemble.
func BenchmarkForecastLorenz96Nx40M24(b *testing.B) {
	m, _ := NewLorenz96(40, 8, 0.05)
	benchForecast(b, m, 24, nil)
}

// One ETD-RK4 step of KS (nx = 128, L = 32π, dt = 0.5) for 16 members.
func BenchmarkForecastKSNx128M16(b *testing.B) {
	m, _ := NewKS(KSNx, KSLength, KSDt)
	benchForecast(b, m, 16, m.InitialCondition())
}

// Same, forced onto one worker (serial reference for the parallel speed-up).
func BenchmarkForecastKSNx128M16Serial(b *testing.B) {
	m, _ := NewKS(KSNx, KSLength, KSDt)
	benchForecast(b, m, 16, m.InitialCondition(), withWorkers(1))
}

// One RK4 step of a single Lorenz-96 state with nx = 1,000,000.
func BenchmarkForecastLorenz96Nx1e6M1(b *testing.B) {
	m, _ := NewLorenz96(1_000_000, 8, 0.05)
	benchForecast(b, m, 1, nil)
}

// One RK4 step of 20 members of Lorenz-96 with nx = 100,000, the forecast
// of `latentda bench scale`; run with -cpu 1,2 for the two-core speed-up.
func BenchmarkForecastLorenz96Nx1e5M20(b *testing.B) {
	m, _ := NewLorenz96(100_000, 8, 0.05)
	benchForecast(b, m, 20, nil)
}

// Raw right-hand side cost of Lorenz-96 (no integrator).
func BenchmarkLorenz96Deriv(b *testing.B) {
	for _, n := range []int{40, 1_000_000} {
		b.Run(map[int]string{40: "nx=40", 1_000_000: "nx=1e6"}[n], func(b *testing.B) {
			m, _ := NewLorenz96(n, 8, 0.05)
			x := make([]float64, n)
			dst := make([]float64, n)
			for i := range x {
				x[i] = 8 + math.Sin(float64(i))
			}
			b.ReportAllocs()
			for b.Loop() {
				m.Deriv(dst, x)
			}
			sink = dst[0]
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/elem")
		})
	}
}

// One RK4 step of Lorenz-63 via its stepper.
func BenchmarkStepLorenz63(b *testing.B) {
	m, _ := NewLorenz63(Lorenz63Sigma, Lorenz63Rho, Lorenz63Beta, Lorenz63Dt)
	s := m.NewStepper()
	x := []float64{1, 2, 3}
	b.ReportAllocs()
	for b.Loop() {
		s.Step(x)
	}
	sink = x[0]
}
