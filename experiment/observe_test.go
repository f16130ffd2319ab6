package experiment

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestObserveStream pins Observe's noise to the documented per-cycle
// stream, σ_i · NormFloat64 of a PCG seeded (StreamSeed(seed, streamObs),
// k), bit for bit, and checks that it does not allocate.
func TestObserveStream(t *testing.T) {
	s, err := Build(DapperConfigs(1000)["l96-etkf"])
	if err != nil {
		t.Fatal(err)
	}
	truth, _ := initial(t, s)
	y := make([]float64, s.Op.OutDim())
	want := make([]float64, len(y))
	for _, k := range []int{1, 2, 77} {
		s.Observe(y, truth, k)
		rng := rand.New(rand.NewPCG(StreamSeed(s.Config.Seed, streamObs), uint64(k)))
		for i := range want {
			want[i] = s.R.Std(i) * rng.NormFloat64()
		}
		for i := range want {
			if math.Float64bits(y[i]) != math.Float64bits(truth[i]+want[i]) {
				t.Fatalf("cycle %d obs %d: %v, want %v", k, i, y[i], truth[i]+want[i])
			}
		}
	}
	if a := testing.AllocsPerRun(10, func() { s.Observe(y, truth, 5) }); a != 0 {
		t.Errorf("Observe allocates %v times", a)
	}
}
