// Package external runs a forecast model written in any language as a
// child process and advances latentda's ensembles through it, speaking
// Arrow IPC streams over the process's stdin and stdout (the protocol is
// docs/external-models.md). A [Model] is a [dynamics.Model] and a
// [dynamics.EnsembleAdvancer], so a [dynamics.Forecaster] sends each
// forecast to the processes as one request. [Serve] is the model side of
// the protocol, for models written in Go.
//
// Processes are long-lived: [Open] returns one shared Model per Config,
// whose processes serve every cycle and activity of the worker until
// [CloseAll]. A process that fails is discarded, and the next request
// starts a fresh one.
package external

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/dynamics"
)

// Config says how to run an external model.
type Config struct {
	// Command is the program and its arguments. A relative program path
	// is relative to Workdir.
	Command []string
	// Env holds KEY=VALUE entries added to the worker's environment.
	Env []string
	// Workdir is the processes' working directory ("": the worker's).
	Workdir string
	// StateSize is the number of variables n of a state.
	StateSize int
	// Dt is the model time of one step.
	Dt float64
	// Processes is the number of processes; a forecast splits the members
	// into that many contiguous slices, advanced in parallel.
	Processes int
	// Timeout bounds each request (handshake or advance).
	Timeout time.Duration
	// Transport is how the states travel: TransportAuto ("" too: shared
	// memory if the model accepts it, else the pipes), TransportShm or
	// TransportPipe.
	Transport string
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case len(c.Command) == 0 || c.Command[0] == "":
		return errors.New("external: command: required (the program and its arguments)")
	case c.StateSize < 1:
		return fmt.Errorf("external: state_size: must be >= 1, got %d", c.StateSize)
	case math.IsNaN(c.Dt) || math.IsInf(c.Dt, 0) || c.Dt <= 0:
		return fmt.Errorf("external: dt: must be finite and > 0, got %v", c.Dt)
	case c.Processes < 1:
		return fmt.Errorf("external: processes: must be >= 1, got %d", c.Processes)
	case c.Timeout <= 0:
		return fmt.Errorf("external: timeout: must be > 0, got %v", c.Timeout)
	case c.Transport != "" && c.Transport != TransportAuto && c.Transport != TransportShm && c.Transport != TransportPipe:
		return fmt.Errorf("external: transport: must be auto, shm or pipe, got %q", c.Transport)
	}
	for _, kv := range c.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("external: env: %q is not KEY=VALUE", kv)
		}
	}
	return nil
}

// Model is a running external model: Config.Processes processes, started
// on first use. It is safe for concurrent use; each process serves one
// request at a time.
type Model struct {
	cfg   Config
	key   string
	procs []*proc

	mu     sync.Mutex
	ref    []float64 // x₀ from the first handshake
	coords []float64 // and the coordinates (nil: none)
	period float64   // their periodic domain's length (0: a line)
}

var (
	_ dynamics.Model            = (*Model)(nil)
	_ dynamics.EnsembleAdvancer = (*Model)(nil)
)

// pool holds the open Models by configuration.
var pool = struct {
	sync.Mutex
	models map[string]*Model
}{models: map[string]*Model{}}

// Open returns the Model for cfg, shared by every caller with an equal
// Config. The first call starts the first process and checks its
// handshake, so that Reference is known; the other processes start on
// first use. A failure leaves nothing behind: the next Open tries afresh.
func Open(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("external: %w", err)
	}
	key := string(b)
	pool.Lock()
	defer pool.Unlock()
	if m, ok := pool.models[key]; ok {
		return m, nil
	}
	m := &Model{cfg: cfg, key: key}
	m.cfg.Command, m.cfg.Env = slices.Clone(cfg.Command), slices.Clone(cfg.Env)
	for i := range cfg.Processes {
		m.procs = append(m.procs, &proc{m: m, index: i})
	}
	p := m.procs[0]
	p.mu.Lock()
	err = p.start()
	p.mu.Unlock()
	if err != nil {
		return nil, err
	}
	pool.models[key] = m
	return m, nil
}

// CloseAll closes every open Model (on worker shutdown).
func CloseAll() error {
	pool.Lock()
	models := make([]*Model, 0, len(pool.models))
	for _, m := range pool.models {
		models = append(models, m)
	}
	pool.Unlock()
	var errs []error
	for _, m := range models {
		errs = append(errs, m.Close())
	}
	return errors.Join(errs...)
}

// Close stops the model's processes (closing their stdin, then killing
// those that do not exit within 5 s) and removes it from the pool; a later
// Open starts new ones.
func (m *Model) Close() error {
	pool.Lock()
	if pool.models[m.key] == m {
		delete(pool.models, m.key)
	}
	pool.Unlock()
	var errs []error
	for _, p := range m.procs {
		errs = append(errs, p.stop())
	}
	return errors.Join(errs...)
}

// Name returns "external".
func (m *Model) Name() string { return "external" }

// Dim is Config.StateSize.
func (m *Model) Dim() int { return m.cfg.StateSize }

// Dt is Config.Dt.
func (m *Model) Dt() float64 { return m.cfg.Dt }

// Reference returns a copy of the model's reference state x₀, from its
// handshake.
func (m *Model) Reference() []float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.ref)
}

// Coordinates returns a copy of the coordinates of the state variables
// from the model's handshake (nil if it sent none), and the length of
// their periodic domain (0: not periodic).
func (m *Model) Coordinates() (coords []float64, period float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.coords), m.period
}

// setReference records x₀, the coordinates and their period from a
// process's handshake, or reports whether they equal those recorded, bit
// for bit.
func (m *Model) setReference(x0, coords []float64, period float64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ref == nil {
		m.ref, m.coords, m.period = slices.Clone(x0), slices.Clone(coords), period
		return true
	}
	return sameBits(x0, m.ref) && sameBits(coords, m.coords) && (coords == nil) == (m.coords == nil) &&
		math.Float64bits(period) == math.Float64bits(m.period)
}

// sameBits reports whether a and b hold the same float64s, bit for bit.
func sameBits(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

// AdvanceEnsemble advances every row of X (rows × StateSize) by steps
// steps: the rows are split into Processes contiguous slices, each sent to
// its process as one request, in parallel. X changes only if every slice
// came back whole and finite; otherwise the error is an *Error.
func (m *Model) AdvanceEnsemble(X *mat.Dense, steps int) error {
	rows, n := X.Dims()
	if n != m.cfg.StateSize {
		return fmt.Errorf("external: ensemble has %d columns, the model %d variables", n, m.cfg.StateSize)
	}
	if steps < 0 {
		return fmt.Errorf("external: steps must be >= 0, got %d", steps)
	}
	if rows == 0 || steps == 0 {
		return nil
	}
	raw := X.RawMatrix()
	values := raw.Data[:(rows-1)*raw.Stride+n]
	if raw.Stride != n {
		values = make([]float64, rows*n)
		for i := range rows {
			copy(values[i*n:(i+1)*n], X.RawRowView(i))
		}
	}
	parts := min(len(m.procs), rows)
	// The processes stay locked until their replies are copied into X
	// (a reply over shared memory lives in its process's buffer).
	procs := m.procs[:parts]
	for _, p := range procs {
		p.mu.Lock()
	}
	defer func() {
		for _, p := range procs {
			p.mu.Unlock()
		}
	}()
	replies := make([][]float64, parts)
	releases := make([]func(), parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for i, p := range procs {
		lo, hi := i*rows/parts, (i+1)*rows/parts
		wg.Go(func() { replies[i], releases[i], errs[i] = p.advance(values[lo*n:hi*n], hi-lo, steps) })
	}
	wg.Wait()
	defer func() {
		for _, release := range releases {
			if release != nil {
				release()
			}
		}
	}()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	for i, vals := range replies {
		lo, hi := i*rows/parts, (i+1)*rows/parts
		for j := lo; j < hi; j++ {
			copy(X.RawRowView(j), vals[(j-lo)*n:(j-lo+1)*n])
		}
	}
	return nil
}

// NewStepper returns a Stepper that advances one state per request. It is
// for callers that need the dynamics.Stepper interface; it panics with the
// *Error if a request fails, so prefer AdvanceEnsemble (or a
// dynamics.Forecaster, which uses it).
func (m *Model) NewStepper() dynamics.Stepper { return stepper{m} }

type stepper struct{ m *Model }

func (s stepper) Step(x []float64) {
	if err := s.m.AdvanceEnsemble(mat.NewDense(1, len(x), x), 1); err != nil {
		panic(err)
	}
}
