package experiment

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/latentda/latentda/config"
	"gonum.org/v1/gonum/mat"
)

func TestBuildArchive(t *testing.T) {
	cfg := config.Config{Model: config.ModelConfig{Name: "lorenz96", Nx: 12}}
	opts := ArchiveOptions{Samples: 600, Every: 3, SpinUp: 5, Seed: 4}
	var calls []int
	X, times, err := BuildArchive(context.Background(), cfg, opts, func(done int) error {
		calls = append(calls, done)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if m, n := X.Dims(); m != 600 || n != 12 || len(times) != 600 {
		t.Fatalf("archive %d×%d with %d times, want 600×12", m, n, len(times))
	}
	// Progress every 256 snapshots.
	if !slices.Equal(calls, []int{256, 512}) {
		t.Errorf("progress calls %v, want [256 512]", calls)
	}
	// Snapshots every 3 steps of 0.05 after 100 spin-up steps.
	for k, tk := range times {
		if want := float64(100+3*(k+1)) * 0.05; math.Abs(tk-want) > 1e-12 {
			t.Fatalf("time of snapshot %d is %v, want %v", k, tk, want)
		}
	}
	// On the attractor: the values are not all near the rest state F.
	var sd float64
	for _, v := range X.RawMatrix().Data {
		sd += (v - 8) * (v - 8)
	}
	if sd = math.Sqrt(sd / float64(600*12)); sd < 1 {
		t.Errorf("archive stays within %v of the rest state", sd)
	}

	// Deterministic: the same seed gives the same bits; another seed
	// another trajectory.
	bits := func(X *mat.Dense, times []float64) []uint64 {
		var b []uint64
		for _, v := range append(slices.Clone(X.RawMatrix().Data), times...) {
			b = append(b, math.Float64bits(v))
		}
		return b
	}
	X2, times2, err := BuildArchive(context.Background(), cfg, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(bits(X, times), bits(X2, times2)) {
		t.Error("two archives with the same seed differ")
	}
	other := opts
	other.Seed = 5
	X3, times3, err := BuildArchive(context.Background(), cfg, other, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(times, times3) {
		t.Error("the seed changed the snapshot times")
	}
	if mat.Equal(X, X3) {
		t.Error("archives with seeds 4 and 5 are identical")
	}

	// The progress callback stops the run with its error.
	errStop := errors.New("stop here")
	calls = nil
	X4, _, err := BuildArchive(context.Background(), cfg, opts, func(done int) error {
		calls = append(calls, done)
		return errStop
	})
	if !errors.Is(err, errStop) || X4 != nil {
		t.Errorf("stopped by progress: archive %v, error %v; want nil and %v", X4 != nil, err, errStop)
	}
	if !slices.Equal(calls, []int{256}) {
		t.Errorf("progress calls after the stop %v, want [256]", calls)
	}
	// So does a cancelled context, checked with the progress.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := BuildArchive(ctx, cfg, opts, func(int) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: error %v", err)
	}

	// Bad options.
	for _, o := range []ArchiveOptions{{Samples: 1}, {Samples: 20, Every: -1}, {Samples: 20, SpinUp: -1}, {Samples: 20, SpinUp: math.Inf(1)}} {
		if _, _, err := BuildArchive(context.Background(), cfg, o, nil); err == nil || !strings.Contains(err.Error(), "archive") {
			t.Errorf("options %+v: error %v", o, err)
		}
	}
	if _, _, err := BuildArchive(context.Background(), config.Config{Model: config.ModelConfig{Name: "lorenz84"}}, opts, nil); err == nil {
		t.Error("unknown model accepted")
	}
}
