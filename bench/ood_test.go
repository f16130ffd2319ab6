package bench

import (
	"context"
	"math"
	"testing"
)

func TestROCAUC(t *testing.T) {
	for _, tc := range []struct {
		neg, pos []float64
		want     float64
	}{
		{[]float64{1, 2, 3}, []float64{4, 5}, 1},
		{[]float64{4, 5}, []float64{1, 2, 3}, 0},
		{[]float64{1, 2}, []float64{1, 2}, 0.5},
		{[]float64{1, 3}, []float64{2}, 0.5},
		{[]float64{0, 0, 0, 0}, []float64{0, 1}, 0.75},
	} {
		if got := rocAUC(tc.neg, tc.pos); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("AUC(%v, %v) = %v, want %v", tc.neg, tc.pos, got, tc.want)
		}
	}
}

// TestOODBenchShort runs the evaluation with few cycles: every case and
// policy completes, rates are probabilities, and the sensor spike, an 8σ
// error, is caught on its channel every time.
func TestOODBenchShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 27 short twin experiments")
	}
	res, err := RunOODBench(context.Background(), OODBenchOptions{Cycles: 100, Samples: 2000})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.RMSE) != 3*len(OODCases()) {
		t.Errorf("%d RMSE rows", len(res.RMSE))
	}
	for _, d := range res.Detections {
		if d.FalseAlarm < 0 || d.FalseAlarm > 1 || d.Detection < 0 || d.Detection > 1 || d.AUC < 0 || d.AUC > 1 {
			t.Errorf("%+v", d)
		}
		if d.Case == "c: sensor spikes" && d.Detector == "outlier on channel 10" && d.Detection != 1 {
			t.Errorf("spikes caught in %.0f%% of spiked cycles", 100*d.Detection)
		}
	}
}
