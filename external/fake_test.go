package external

import (
	"errors"
	"fmt"
	"math"
	"os"
	"testing"
	"time"
)

// The test binary doubles as the model program: run with
// LATENTDA_FAKE_MODEL=behaviour it serves the protocol as fakeModel does
// (or misbehaves as told) instead of running the tests.
const fakeEnv = "LATENTDA_FAKE_MODEL"

func TestMain(m *testing.M) {
	if b := os.Getenv(fakeEnv); b != "" {
		if b == "exit-at-once" {
			fmt.Fprintln(os.Stderr, "fake: cannot open the mesh file")
			os.Exit(3)
		}
		if err := Serve(os.Stdin, os.Stdout, &fakeModel{behaviour: b}); err != nil {
			fmt.Fprintln(os.Stderr, "fake:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fakeModel is x ← x/2 + 1 per step, with x₀ = (1, 2, ..., n), that
// misbehaves on its second advance request as behaviour says.
type fakeModel struct {
	behaviour string
	n         int
	calls     int
}

func (f *fakeModel) Hello(n int, dt float64) ([]float64, error) {
	if f.behaviour == "refuse" {
		return nil, fmt.Errorf("fake: dt %v is above the CFL limit", dt)
	}
	f.n = n
	x0 := make([]float64, n)
	for i := range x0 {
		x0[i] = float64(i + 1)
	}
	if f.behaviour == "nondeterministic" {
		x0[0] += float64(os.Getpid())
	}
	return x0, nil
}

func (f *fakeModel) Advance(X []float64, rows, steps int) error {
	f.calls++
	if f.calls == 2 {
		switch f.behaviour {
		case "exit-mid":
			fmt.Fprintln(os.Stderr, "fake: segmentation fault in advance")
			os.Exit(139 - 128)
		case "hang":
			time.Sleep(time.Hour)
		case "garbage":
			fmt.Fprintln(os.Stdout, "Traceback (most recent call last):")
			time.Sleep(time.Hour)
		case "wrong-size":
			// A reply one state short, written past Serve.
			if err := writeMessage(os.Stdout, map[string]string{keyKind: kindState}, X[f.n:], rows-1, f.n); err != nil {
				return err
			}
			time.Sleep(time.Hour)
		case "error":
			return errors.New("fake: the solver did not converge")
		}
	}
	for i := range X {
		for range steps {
			X[i] = X[i]/2 + 1
		}
	}
	if f.calls == 2 && f.behaviour == "nan" {
		X[len(X)-1] = math.NaN()
	}
	return nil
}
