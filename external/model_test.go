package external

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
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
		{"garbage", false, ErrProtocol, false, ""},
		{"wrong-size", false, ErrState, false, ""},
		{"nan", false, ErrState, false, ""},
		{"error", false, ErrModel, false, "did not converge"},
		{"truncate", false, ErrProtocol, false, ""}, // shared memory only
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
		start := time.Now()
		err = m.AdvanceEnsemble(X, 1)
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("the failure took %v", d)
		}
		if !mat.Equal(X, before) {
			t.Error("a failed request changed the ensemble")
		}
		if retryable {
			if err := m.AdvanceEnsemble(X, 1); err != nil {
				t.Errorf("after a retryable failure, the next request (a fresh process): %v", err)
			} else if want := fakeAdvance(before, 1); !mat.Equal(X, want) {
				t.Error("the fresh process advanced the ensemble wrongly")
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
// requires shared memory. The file is gone when the process is.
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
			before := shmFiles(t)
			m, err := Open(fakeConfig(tc.behaviour, 1, tc.transport))
			if tc.fail != "" {
				if !errors.Is(err, ErrProtocol) || IsRetryable(err) || !strings.Contains(err.Error(), tc.fail) {
					t.Errorf("Open: %v, want a non-retryable protocol error about %q", err, tc.fail)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				p := m.procs[0]
				if got := p.run.shm != nil; got != tc.shm {
					t.Errorf("over shared memory: %v, want %v", got, tc.shm)
				}
				path := ""
				if tc.shm {
					path = p.run.shm.path()
					if _, err := os.Stat(path); err != nil {
						t.Error(err)
					}
				}
				testAdvance(t, m, 3)
				if err := m.Close(); err != nil {
					t.Error(err)
				}
				if _, err := os.Stat(path); tc.shm && !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s after Close: %v", path, err)
				}
			}
			for _, path := range shmFiles(t) {
				if !slices.Contains(before, path) {
					t.Errorf("%s left behind", path)
				}
			}
		})
	}
}

// shmFiles lists the shared-memory files in shmDir.
func shmFiles(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(shmDir(), shmPrefix+"*"+shmSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// A worker killed with its model running leaves its shared-memory file
// behind; the next one to start a model process removes it, and not the
// files of live workers.
func TestStaleShmRemoved(t *testing.T) {
	live := openFake(t, "ok", 1, TransportShm)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), crashEnv+"=1")
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.HasPrefix(string(out), shmPrefix) {
		t.Fatalf("the crashing worker: %v, output %q", err, out)
	}
	path := filepath.Join(shmDir(), strings.TrimSpace(string(out)))
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the crashed worker's file: %v", err)
	}
	s, err := newShmFile(shmDir())
	if err != nil {
		t.Fatal(err)
	}
	s.close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the crashed worker's file %s is still there (%v)", path, err)
	}
	if _, err := os.Stat(live.procs[0].run.shm.path()); err != nil {
		t.Errorf("a live worker's file: %v", err)
	}
}

// crashWorker opens a fake model over shared memory, prints the name of
// its file and kills itself.
func crashWorker() {
	os.Unsetenv(crashEnv) // not for the model process
	m, err := Open(fakeConfig("ok", 1, TransportShm))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(filepath.Base(m.procs[0].run.shm.path()))
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
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
