package scale

import (
	"context"
	"testing"
	"time"
)

func TestMeasureOrchestration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o, err := MeasureOrchestration(ctx, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	// A regular activity is a round trip through the server: well above
	// the microseconds of a function call.
	if o.Activities != 5 || !(o.SequentialMillis > 0.1) {
		t.Errorf("%+v", o)
	}
	if _, err := MeasureOrchestration(ctx, 0, 1); err == nil {
		t.Error("n = 0 accepted")
	}
}
