package dynamics

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestForecastContext: a forecast under a live context gives the bits of
// Forecast (with and without noise, serial and parallel); one whose
// context ends stops within the check interval, long before its steps
// are done, and says why.
func TestForecastContext(t *testing.T) {
	m := mustL96(t, 40)
	for _, tc := range []struct {
		name    string
		members int
		steps   int
		noise   float64
	}{
		{"serial", 2, 10, 0},
		{"parallel, chunks of steps", 8, 3 * CancelCheckWork / 40, 0},
		{"noise, chunks of steps", 4, 2*CancelCheckWork/40 + 7, 0.01},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, got := l96Ensemble(tc.members, 40), l96Ensemble(tc.members, 40)
			f := mustForecaster(t, m, tc.members, WithNoise(tc.noise))
			if err := f.Forecast(want, tc.steps, 5); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := f.ForecastContext(ctx, got, tc.steps, 5); err != nil {
				t.Fatal(err)
			}
			if !equalDense(got, want) {
				t.Error("ForecastContext differs from Forecast")
			}
		})
	}
	// 10⁹ steps of Lorenz-96 would take minutes; the cancelled forecast
	// must return at its next look at the context.
	for _, members := range []int{1, 8} {
		f := mustForecaster(t, m, members)
		E := l96Ensemble(members, 40)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		start := time.Now()
		err := f.ForecastContext(ctx, E, 1_000_000_000, 0)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%d members: got %v, want context.Canceled", members, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%d members: stopped after %v", members, d)
		}
	}
}
