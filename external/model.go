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
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

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

// nameLimit bounds the length of Config.name.
const nameLimit = 80

// name names the model in errors: the program's base name and its
// arguments (quoted where they hold spaces or quotes), cut to about
// nameLimit bytes, so that models run by one interpreter can be told
// apart.
func (c Config) name() string {
	words := []string{filepath.Base(c.Command[0])}
	for _, a := range c.Command[1:] {
		if a == "" || strings.ContainsAny(a, " \t\n\"'") {
			a = strconv.Quote(a)
		}
		words = append(words, a)
	}
	s := strings.Join(words, " ")
	if len(s) <= nameLimit {
		return s
	}
	cut := nameLimit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
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

	// The processes' shared memory, created by the first start that
	// offers it (in Open). Its first hostRows rows hold the hosted
	// ensemble, the rows after them the states AdvanceEnsemble copies in
	// for an ensemble that is not hosted; that layout changes only under
	// procs[0].mu, which every request holds.
	shmMu    sync.Mutex
	seg      *segment // nil: the pipes
	hostRows int
	hosted   bool // a hosted ensemble is out
	closed   bool // Close ran; if an ensemble was hosted then, its release closes seg
}

var (
	_ dynamics.Model            = (*Model)(nil)
	_ dynamics.EnsembleAdvancer = (*Model)(nil)
	_ dynamics.EnsembleHost     = (*Model)(nil)
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
// Open starts new ones. A hosted ensemble stays valid until its release.
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
	m.shmMu.Lock()
	if !m.closed && !m.hosted {
		m.seg.close()
		m.seg = nil
	}
	m.closed = true
	m.shmMu.Unlock()
	return errors.Join(errs...)
}

// offerSegment returns the shared memory to offer a starting process,
// created on first use, or nil for the pipes: with transport pipe, or with
// auto where shared memory is not available.
func (m *Model) offerSegment() (*segment, error) {
	if m.cfg.Transport == TransportPipe {
		return nil, nil
	}
	m.shmMu.Lock()
	defer m.shmMu.Unlock()
	if m.seg != nil || m.closed {
		return m.seg, nil
	}
	err := errNoShm
	if littleEndian {
		if m.seg, err = newSegment(); err == nil {
			return m.seg, nil
		}
	}
	if m.cfg.Transport == TransportShm {
		return nil, fmt.Errorf("transport shm: %w", err)
	}
	if !errors.Is(err, errNoShm) { // not just the platform: worth a word
		slog.Warn("external: shared memory not available: the states go over the pipes", "err", err)
	}
	return nil, nil
}

// HostEnsemble implements dynamics.EnsembleHost: it returns a copy of E
// in the processes' shared memory, which AdvanceEnsemble advances in
// place, copying and checking nothing, and a function that gives the
// memory back (the copy must not be used after it). A Model hosts one
// ensemble at a time; while one is out, or where the model does not take
// shared memory, it returns E itself and a no-op.
func (m *Model) HostEnsemble(E *mat.Dense) (*mat.Dense, func()) {
	rows, n := E.Dims()
	p0 := m.procs[0]
	p0.mu.Lock()
	defer p0.mu.Unlock()
	m.shmMu.Lock()
	defer m.shmMu.Unlock()
	if n != m.cfg.StateSize || m.seg == nil || m.hosted || m.closed || p0.run == nil || !p0.run.shm || m.seg.ensure(rows*n) != nil {
		return E, func() {}
	}
	m.hosted, m.hostRows = true, rows
	H := mat.NewDense(rows, n, m.seg.vals[:rows*n:rows*n])
	H.Copy(E)
	var once sync.Once
	return H, func() {
		once.Do(func() {
			m.shmMu.Lock()
			defer m.shmMu.Unlock()
			m.hosted = false
			if m.closed {
				m.seg.close()
				m.seg = nil
			}
		})
	}
}

// place returns the shared memory (nil: none) and the row of it where X's
// rows are advanced: X's own if X is hosted, else the rows after the
// hosted ones, made room for. The caller holds procs[0].mu.
func (m *Model) place(X *mat.Dense) (seg *segment, first int, hosted bool, err error) {
	m.shmMu.Lock()
	defer m.shmMu.Unlock()
	switch {
	case m.closed:
		return nil, 0, false, &Error{Command: m.cfg.name(), Retryable: true, Err: ErrClosed}
	case m.seg == nil:
		return nil, 0, false, nil
	}
	rows, n := X.Dims()
	raw := X.RawMatrix()
	if m.hosted && raw.Stride == n {
		// X's offset from the segment's start, in values (huge if X lies
		// before it: uintptr arithmetic wraps).
		off := (uintptr(unsafe.Pointer(&raw.Data[0])) - uintptr(unsafe.Pointer(&m.seg.vals[0]))) / 8
		if off%uintptr(n) == 0 && off/uintptr(n)+uintptr(rows) <= uintptr(m.hostRows) {
			return m.seg, int(off) / n, true, nil
		}
	}
	if err := m.seg.ensure((m.hostRows + rows) * n); err != nil {
		return nil, 0, false, &Error{Command: m.cfg.name(), Retryable: true, Err: err}
	}
	return m.seg, m.hostRows, false, nil
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
// its process as one request, in parallel. A hosted X (HostEnsemble) is
// advanced in place and its values are not checked (its holder does), so
// on error they are undefined; any other X changes only if every slice
// came back whole and finite. The error of a failed request is an *Error.
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
	parts := min(len(m.procs), rows)
	// The processes stay locked until their replies are copied into X
	// (a reply lives in its message or in the shared memory).
	procs := m.procs[:parts]
	for _, p := range procs {
		p.mu.Lock()
	}
	defer func() {
		for _, p := range procs {
			p.mu.Unlock()
		}
	}()
	seg, first, hosted, err := m.place(X)
	if err != nil {
		return err
	}
	replies := make([][]float64, parts)
	releases := make([]func(), parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for i, p := range procs {
		lo, hi := i*rows/parts, (i+1)*rows/parts
		part := func() { replies[i], releases[i], errs[i] = p.advance(seg, X, lo, hi, first+lo, hosted, steps) }
		if i == parts-1 {
			part() // the last on this goroutine
		} else {
			wg.Go(part)
		}
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
		for j := lo; vals != nil && j < hi; j++ {
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
