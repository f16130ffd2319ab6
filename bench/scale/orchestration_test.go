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
	o, err := MeasureOrchestration(ctx, 20, 2)
	if err != nil {
		t.Fatal(err)
	}
	// A regular activity is a round trip through the server (tens of ms
	// here), a local one a function call in the worker: 20 of them apart
	// is far beyond the noise of starting a workflow.
	if o.Activities != 20 || !(o.SequentialMillis > o.LocalMillis) {
		t.Errorf("%+v", o)
	}
	if _, err := MeasureOrchestration(ctx, 0, 1); err == nil {
		t.Error("n = 0 accepted")
	}
}
