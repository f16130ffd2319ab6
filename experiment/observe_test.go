package experiment

import (
	"math"
	"testing"
)

// TestObserveMatchesObsNoise pins Observe to the documented per-cycle
// stream of observations.DiagR.ObsNoise, bit for bit, and checks that it
// does not allocate.
func TestObserveMatchesObsNoise(t *testing.T) {
	s, err := Build(DapperCases(1000)[2].Config)
	if err != nil {
		t.Fatal(err)
	}
	truth, _ := s.Initial()
	y := make([]float64, s.Op.OutDim())
	want := make([]float64, len(y))
	for _, k := range []int{1, 2, 77} {
		s.Observe(y, truth, k)
		s.R.ObsNoise(want, Stream(s.Config.Seed, streamObs), k)
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
