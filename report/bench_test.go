package report

import (
	"fmt"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

var benchPNG []byte

// BenchmarkHovmollerPNG renders the Hovmöller figure of fields of the
// Lorenz-96 (40 points) and KS (128 points) sizes.
func BenchmarkHovmollerPNG(b *testing.B) {
	for _, size := range []struct{ cycles, n int }{{200, 40}, {1000, 128}} {
		b.Run(fmt.Sprintf("%dx%d", size.cycles, size.n), func(b *testing.B) {
			truth := mat.NewDense(size.cycles, size.n, nil)
			mean := mat.NewDense(size.cycles, size.n, nil)
			cycles := make([]int, size.cycles)
			for i := range size.cycles {
				cycles[i] = i + 1
				for j := range size.n {
					x := math.Sin(0.3*float64(j) - 0.1*float64(i))
					truth.Set(i, j, x)
					mean.Set(i, j, x+0.1*math.Cos(float64(i*j)))
				}
			}
			errs := mat.NewDense(size.cycles, size.n, nil)
			errs.Sub(mean, truth)
			f := &Field{Cycles: cycles, Mean: mean, Truth: truth, Error: errs}
			b.ReportAllocs()
			for b.Loop() {
				data, err := HovmollerPNG(f)
				if err != nil {
					b.Fatal(err)
				}
				benchPNG = data
			}
		})
	}
}
