package external

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"
)

// fakeConfig runs the test binary as a fake model with behaviour b.
func fakeConfig(b string, processes int) Config {
	return Config{Command: []string{os.Args[0]}, Env: []string{fakeEnv + "=" + b}, StateSize: 5, Dt: 0.1,
		Processes: processes, Timeout: 2 * time.Second}
}

func openFake(t *testing.T, b string, processes int) *Model {
	t.Helper()
	m, err := Open(fakeConfig(b, processes))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	return m
}

// fakeEnsemble is rows states with distinct values.
func fakeEnsemble(rows, n int) *mat.Dense {
	E := mat.NewDense(rows, n, nil)
	for i := range rows {
		for j := range n {
			E.Set(i, j, float64(10*i+j))
		}
	}
	return E
}

// fakeAdvance is what the fake model does to X in steps steps.
func fakeAdvance(X *mat.Dense, steps int) *mat.Dense {
	Y := mat.DenseCopyOf(X)
	Y.Apply(func(_, _ int, v float64) float64 {
		for range steps {
			v = v/2 + 1
		}
		return v
	}, Y)
	return Y
}

func TestAdvance(t *testing.T) {
	for _, tc := range []struct {
		name            string
		rows, processes int
	}{
		{"one process", 7, 1},
		{"three processes", 7, 3},
		{"more processes than members", 2, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := openFake(t, "ok", tc.processes)
			if got := m.Reference(); len(got) != 5 || got[0] != 1 || got[4] != 5 {
				t.Errorf("Reference() = %v, want 1..5", got)
			}
			X := fakeEnsemble(tc.rows, 5)
			want := fakeAdvance(X, 3)
			for range 2 { // the processes serve several requests
				if err := m.AdvanceEnsemble(X, 2); err != nil {
					t.Fatal(err)
				}
				if err := m.AdvanceEnsemble(X, 1); err != nil {
					t.Fatal(err)
				}
				if !mat.Equal(X, want) {
					t.Fatalf("advanced ensemble\n%v\nwant\n%v", mat.Formatted(X), mat.Formatted(want))
				}
				want = fakeAdvance(want, 3)
			}
		})
	}
}

// Open shares one Model per Config; Close ends it and a later Open starts
// anew.
func TestOpenShares(t *testing.T) {
	a := openFake(t, "ok", 1)
	b, err := Open(fakeConfig("ok", 1))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("Open with an equal Config gave another Model")
	}
	if c := openFake(t, "ok", 2); c == a {
		t.Error("Open with another Config gave the same Model")
	}
}

func TestStepper(t *testing.T) {
	m := openFake(t, "ok", 1)
	x := []float64{0, 1, 2, 3, 4}
	m.NewStepper().Step(x)
	if want := []float64{1, 1.5, 2, 2.5, 3}; !equal(x, want) {
		t.Errorf("Step: %v, want %v", x, want)
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Misbehaving models fail with a classified *Error that carries their
// stderr, leave the ensemble as it was, and (when retryable) the next
// request starts a fresh process that works.
func TestMisbehavingModels(t *testing.T) {
	for _, tc := range []struct {
		behaviour string
		open      bool // the failure comes from Open (the handshake)
		kind      error
		retryable bool
		stderr    string // in the error
	}{
		{"exit-at-once", true, ErrExited, true, "cannot open the mesh file"},
		{"refuse", true, ErrModel, false, "above the CFL limit"},
		{"nondeterministic", false, ErrNondeterministic, false, ""},
		{"exit-mid", false, ErrExited, true, "segmentation fault"},
		{"hang", false, ErrTimeout, true, ""},
		{"garbage", false, ErrProtocol, false, ""},
		{"wrong-size", false, ErrState, false, ""},
		{"nan", false, ErrState, false, ""},
		{"error", false, ErrModel, false, "did not converge"},
	} {
		t.Run(tc.behaviour, func(t *testing.T) {
			processes := 1
			if tc.behaviour == "nondeterministic" {
				processes = 2 // the second process's x₀ differs
			}
			var err error
			var X, before *mat.Dense
			if tc.open {
				_, err = Open(fakeConfig(tc.behaviour, processes))
			} else {
				m := openFake(t, tc.behaviour, processes)
				X = fakeEnsemble(4, 5)
				if err := m.AdvanceEnsemble(X, 1); err != nil && tc.behaviour != "nondeterministic" {
					t.Fatalf("first request: %v", err)
				} else if err != nil {
					checkError(t, err, tc.kind, tc.retryable, tc.stderr)
					return
				}
				before = mat.DenseCopyOf(X)
				start := time.Now()
				err = m.AdvanceEnsemble(X, 1)
				if d := time.Since(start); d > 10*time.Second {
					t.Errorf("the failure took %v", d)
				}
				if !mat.Equal(X, before) {
					t.Error("a failed request changed the ensemble")
				}
				if tc.retryable {
					if err := m.AdvanceEnsemble(X, 1); err != nil {
						t.Errorf("after a retryable failure, the next request (a fresh process): %v", err)
					} else if want := fakeAdvance(before, 1); !mat.Equal(X, want) {
						t.Error("the fresh process advanced the ensemble wrongly")
					}
				}
			}
			checkError(t, err, tc.kind, tc.retryable, tc.stderr)
		})
	}
}

func checkError(t *testing.T, err error, kind error, retryable bool, stderr string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *external.Error", err, err)
	}
	if !errors.Is(err, kind) {
		t.Errorf("error %q is not %v", err, kind)
	}
	if IsRetryable(err) != retryable {
		t.Errorf("IsRetryable = %v, want %v (%v)", !retryable, retryable, err)
	}
	if !strings.Contains(err.Error(), stderr) {
		t.Errorf("error %q does not contain %q", err, stderr)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := fakeConfig("ok", 1)
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no command", func(c *Config) { c.Command = nil }, "command"},
		{"empty program", func(c *Config) { c.Command = []string{""} }, "command"},
		{"state size", func(c *Config) { c.StateSize = 0 }, "state_size"},
		{"dt", func(c *Config) { c.Dt = 0 }, "dt"},
		{"processes", func(c *Config) { c.Processes = 0 }, "processes"},
		{"timeout", func(c *Config) { c.Timeout = 0 }, "timeout"},
		{"env", func(c *Config) { c.Env = []string{"NOEQUALS"} }, "env"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error about %s", err, tc.want)
			}
		})
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestStartFailure(t *testing.T) {
	c := fakeConfig("ok", 1)
	c.Command = []string{"/nonexistent/model"}
	_, err := Open(c)
	var e *Error
	if !errors.As(err, &e) || e.Retryable {
		t.Errorf("Open of a missing program: %v, want a non-retryable *Error", err)
	}
}
