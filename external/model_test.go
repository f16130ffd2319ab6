package external

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"
)

// fakeConfig runs the test binary as a fake model with behaviour b over
// transport.
func fakeConfig(b string, processes int, transport string) Config {
	return Config{Command: []string{os.Args[0]}, Env: []string{fakeEnv + "=" + b, fakeTransportEnv + "=" + transport},
		StateSize: 5, Dt: 0.1, Processes: processes, Timeout: 2 * time.Second, Transport: transport}
}

// transports are the transports the tests run over.
var transports = []string{TransportPipe, TransportShm}

func openFake(t *testing.T, b string, processes int, transport string) *Model {
	t.Helper()
	m, err := Open(fakeConfig(b, processes, transport))
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
		for _, transport := range transports {
			t.Run(tc.name+"/"+transport, func(t *testing.T) {
				testAdvance(t, openFake(t, "ok", tc.processes, transport), tc.rows)
			})
		}
	}
}

func testAdvance(t *testing.T, m *Model, rows int) {
	if got := m.Reference(); len(got) != 5 || got[0] != 1 || got[4] != 5 {
		t.Errorf("Reference() = %v, want 1..5", got)
	}
	X := fakeEnsemble(rows, 5)
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
}

// Open shares one Model per Config; Close ends it and a later Open starts
// anew.
func TestOpenShares(t *testing.T) {
	a := openFake(t, "ok", 1, "")
	b, err := Open(fakeConfig("ok", 1, ""))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("Open with an equal Config gave another Model")
	}
	if c := openFake(t, "ok", 2, ""); c == a {
		t.Error("Open with another Config gave the same Model")
	}
}

func TestStepper(t *testing.T) {
	m := openFake(t, "ok", 1, "")
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
	for _, tc := range []misbehaviour{
		{"exit-at-once", true, ErrExited, true, "cannot open the mesh file"},
		{"refuse", true, ErrModel, false, "above the CFL limit"},
		{"nondeterministic", false, ErrNondeterministic, false, ""},
		{"exit-mid", false, ErrExited, true, "segmentation fault"},
		{"hang", false, ErrTimeout, true, ""},
		{"close-stdout", false, ErrExited, true, "closed its stdout and was still running 2s later: killed"},
		{"garbage", false, ErrProtocol, false, `they read as text, "Traceback (most`},
		{"wrong-size", false, ErrState, false, ""},
		{"nan", false, ErrState, false, ""},
		{"error", false, ErrModel, false, "did not converge"},
		{"error-retryable", false, ErrModel, true, "fake: the licence server is down"}, // the last of many stderr lines
		{"truncate", false, ErrModel, false, "operation not permitted"},                // shared memory only: the seal refuses it
	} {
		for _, transport := range transports {
			if tc.behaviour == "truncate" && transport != TransportShm {
				continue
			}
			t.Run(tc.behaviour+"/"+transport, func(t *testing.T) {
				testMisbehaving(t, tc, transport)
			})
		}
	}
}

// misbehaviour is a fake model's behaviour and the failure it must give.
type misbehaviour struct {
	behaviour string
	open      bool // the failure comes from Open (the handshake)
	kind      error
	retryable bool
	stderr    string // in the error
}

func testMisbehaving(t *testing.T, tc misbehaviour, transport string) {
	behaviour, open, kind, retryable, stderr := tc.behaviour, tc.open, tc.kind, tc.retryable, tc.stderr
	processes := 1
	if behaviour == "nondeterministic" {
		processes = 2 // the second process's x₀ differs
	}
	var err error
	var X, before *mat.Dense
	if open {
		_, err = Open(fakeConfig(behaviour, processes, transport))
	} else {
		m := openFake(t, behaviour, processes, transport)
		X = fakeEnsemble(4, 5)
		if err := m.AdvanceEnsemble(X, 1); err != nil && behaviour != "nondeterministic" {
			t.Fatalf("first request: %v", err)
		} else if err != nil {
			checkError(t, err, kind, retryable, stderr)
			return
		}
		before = mat.DenseCopyOf(X)
		pid := m.procs[0].run.cmd.Process.Pid
		start := time.Now()
		err = m.AdvanceEnsemble(X, 1)
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("the failure took %v", d)
		}
		if !mat.Equal(X, before) {
			t.Error("a failed request changed the ensemble")
		}
		if m.procs[0].run != nil {
			t.Error("the failed process was kept")
		}
		if retryable {
			if err := m.AdvanceEnsemble(X, 1); err != nil {
				t.Errorf("after a retryable failure, the next request (a fresh process): %v", err)
			} else if want := fakeAdvance(before, 1); !mat.Equal(X, want) {
				t.Error("the fresh process advanced the ensemble wrongly")
			} else if m.procs[0].run.cmd.Process.Pid == pid {
				t.Error("the next request went to the failed process")
			}
		}
	}
	checkError(t, err, kind, retryable, stderr)
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
	ok := fakeConfig("ok", 1, "")
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
		{"transport", func(c *Config) { c.Transport = "mmap" }, "transport"},
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
	c := fakeConfig("ok", 1, "")
	c.Command = []string{"/nonexistent/model"}
	_, err := Open(c)
	var e *Error
	if !errors.As(err, &e) || e.Retryable {
		t.Errorf("Open of a missing program: %v, want a non-retryable *Error", err)
	}
}

// The transport is negotiated in the handshake: shared memory when
// offered and accepted, else the pipes, or a failure if the config
// requires shared memory. The shared memory goes with the Model's Close.
func TestTransportNegotiation(t *testing.T) {
	for _, tc := range []struct {
		behaviour, transport string
		shm                  bool   // the process uses shared memory
		fail                 string // Open's error
	}{
		{"ok", "", true, ""},
		{"ok", TransportAuto, true, ""},
		{"ok", TransportShm, true, ""},
		{"ok", TransportPipe, false, ""},
		{"pipe-only", TransportAuto, false, ""},
		{"pipe-only", TransportPipe, false, ""},
		{"pipe-only", TransportShm, false, "did not accept the shared-memory file"},
	} {
		t.Run(tc.behaviour+"/"+tc.transport, func(t *testing.T) {
			m, err := Open(fakeConfig(tc.behaviour, 1, tc.transport))
			if tc.fail != "" {
				if !errors.Is(err, ErrProtocol) || IsRetryable(err) || !strings.Contains(err.Error(), tc.fail) {
					t.Errorf("Open: %v, want a non-retryable protocol error about %q", err, tc.fail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := m.procs[0].run.shm; got != tc.shm {
				t.Errorf("over shared memory: %v, want %v", got, tc.shm)
			}
			testAdvance(t, m, 3)
			if err := m.Close(); err != nil {
				t.Error(err)
			}
			if m.seg != nil {
				t.Error("the shared memory outlives Close")
			}
		})
	}
}

// A hosted ensemble lives in the shared memory and is advanced there in
// place (the memory holds no room for a copy), by several processes,
// bit for bit as an ensemble that is not hosted; slices of it too. One
// ensemble is hosted at a time; it stays valid after Close until its
// release, and a model on the pipes hosts nothing.
func TestHostedEnsemble(t *testing.T) {
	const rows, n = 6, 5
	m := openFake(t, "ok", 2, TransportShm)
	X := fakeEnsemble(rows, n)
	H, release := m.HostEnsemble(X)
	if &H.RawMatrix().Data[0] != &m.seg.vals[0] || !mat.Equal(H, X) {
		t.Fatal("the hosted ensemble is not a copy of X in the shared memory")
	}
	if E, _ := m.HostEnsemble(X); E != X {
		t.Error("a second ensemble was hosted while the first is out")
	}
	if err := m.AdvanceEnsemble(H, 2); err != nil {
		t.Fatal(err)
	}
	if err := m.AdvanceEnsemble(H.Slice(1, 4, 0, n).(*mat.Dense), 1); err != nil {
		t.Fatal(err)
	}
	want := fakeAdvance(X, 2)
	want.Slice(1, 4, 0, n).(*mat.Dense).Copy(fakeAdvance(mat.DenseCopyOf(want.Slice(1, 4, 0, n)), 1))
	if !mat.Equal(H, want) {
		t.Errorf("hosted: %v, want %v", mat.Formatted(H), mat.Formatted(want))
	}
	if m.seg.size != rows*n {
		t.Errorf("the shared memory holds %d values, want the hosted %d: the hosted states were copied", m.seg.size, rows*n)
	}
	if err := m.AdvanceEnsemble(X, 2); err != nil || !mat.Equal(X, fakeAdvance(fakeEnsemble(rows, n), 2)) {
		t.Errorf("an ensemble beside the hosted one: %v", err)
	}
	if !mat.Equal(H, want) {
		t.Error("advancing another ensemble changed the hosted one")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if !mat.Equal(H, want) || m.seg == nil {
		t.Error("Close took the hosted ensemble away before its release")
	}
	if err := m.AdvanceEnsemble(X, 1); !errors.Is(err, ErrClosed) || !IsRetryable(err) {
		t.Errorf("advance after Close: %v, want a retryable ErrClosed", err)
	}
	release()
	release()
	if m.seg != nil {
		t.Error("the release after Close kept the shared memory")
	}

	m2 := openFake(t, "ok", 1, TransportShm)
	H2, release2 := m2.HostEnsemble(X)
	release2()
	if H3, release3 := m2.HostEnsemble(X); H3 == X || &H3.RawMatrix().Data[0] != &H2.RawMatrix().Data[0] {
		t.Error("the memory was not hosted again after its release")
	} else {
		release3()
	}
	if E, _ := openFake(t, "ok", 1, TransportPipe).HostEnsemble(X); E != X {
		t.Error("a model on the pipes hosted an ensemble")
	}
}

// A hosted ensemble whose model fails: the error is classified as for
// any ensemble (the values are undefined). Its values are not checked:
// a NaN stays in it for its holder to find.
func TestHostedFailure(t *testing.T) {
	for _, tc := range []struct {
		behaviour string
		kind      error // nil: no error
	}{{"exit-mid", ErrExited}, {"wrong-size", ErrState}, {"error", ErrModel}, {"nan", nil}} {
		t.Run(tc.behaviour, func(t *testing.T) {
			m := openFake(t, tc.behaviour, 1, TransportShm)
			H, release := m.HostEnsemble(fakeEnsemble(4, 5))
			defer release()
			if err := m.AdvanceEnsemble(H, 1); err != nil {
				t.Fatal(err)
			}
			err := m.AdvanceEnsemble(H, 1)
			var e *Error
			switch {
			case tc.kind == nil && (err != nil || !math.IsNaN(H.At(3, 4))):
				t.Errorf("error %v, last value %v: want none, and the model's NaN", err, H.At(3, 4))
			case tc.kind != nil && (!errors.As(err, &e) || !errors.Is(err, tc.kind)):
				t.Errorf("error %v, want an *Error that is %v", err, tc.kind)
			}
		})
	}
}

// The coordinates of the handshake: kept when valid, a non-retryable
// ErrState when not.
func TestCoordinates(t *testing.T) {
	for _, tc := range []struct {
		behaviour string
		coords    []float64
		period    float64
		err       string
	}{
		{"ok", nil, 0, ""},
		{"coords", []float64{0, 2, 4, 6, 8}, 10, ""},
		{"coords-line", []float64{0, 2, 4, 6, 8}, 0, ""},
		{"coords-outside", nil, 0, "coordinate 4 is 10, outside the periodic domain [0, 10)"},
		{"coords-nan", nil, 0, "state 0, variable 0 is NaN"},
	} {
		t.Run(tc.behaviour, func(t *testing.T) {
			m, err := Open(fakeConfig(tc.behaviour, 1, ""))
			if tc.err != "" {
				if !errors.Is(err, ErrState) || IsRetryable(err) || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("Open: %v, want a non-retryable ErrState containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if coords, period := m.Coordinates(); !slices.Equal(coords, tc.coords) || period != tc.period {
				t.Errorf("Coordinates() = %v, %v; want %v, %v", coords, period, tc.coords, tc.period)
			}
		})
	}
}

// A large model's coordinates fit in its handshake's size limit: x₀ and
// the coordinates are two columns of n values.
func TestCoordinatesLarge(t *testing.T) {
	const n = 20000
	cfg := fakeConfig("coords", 1, "")
	cfg.StateSize = n
	m, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if coords, period := m.Coordinates(); len(coords) != n || coords[n-1] != 2*(n-1) || period != 2*n {
		t.Errorf("%d coordinates ending %v, period %v; want %d ending %d, period %d", len(coords), coords[max(len(coords)-1, 0):], period, n, 2*(n-1), 2*n)
	}
}

// Errors name the program with its arguments, so that two models run by
// one interpreter can be told apart; a long command is cut.
func TestErrorNamesCommand(t *testing.T) {
	prog, long := filepath.Base(os.Args[0]), strings.Repeat("x", 100)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "external: " + prog + " (process 0): "},
		{[]string{"ocean.py", "--grid", "fine"}, "external: " + prog + " ocean.py --grid fine (process 0): "},
		{[]string{"-u", "my model.py", ""}, "external: " + prog + ` -u "my model.py" "" (process 0): `},
		{[]string{long}, "external: " + prog + " " + long[:nameLimit-len(prog)-1] + "… (process 0): "},
	} {
		cfg := fakeConfig("refuse", 1, "")
		cfg.Command = append(cfg.Command, tc.args...)
		_, err := Open(cfg)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("command %q: error %v, want one starting %q", cfg.Command, err, tc.want)
		}
	}
}
