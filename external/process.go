package external

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"gonum.org/v1/gonum/mat"
)

// closeGrace is how long a process may take to exit after its stdin is
// closed before it is killed.
const closeGrace = 5 * time.Second

// exitGrace is how long a process that closed its stdout may take to
// exit before it is treated as a protocol violation.
const exitGrace = 2 * time.Second

// proc is one of a Model's processes, started on first use and again
// after a failure. Its mutex serialises requests.
type proc struct {
	m     *Model
	index int
	mu    sync.Mutex
	run   *running // nil: not running
}

// running is a started process and its pipes.
type running struct {
	cmd     *exec.Cmd
	stdin   *os.File
	stdout  *bufio.Reader
	out     *os.File
	stderr  *tail
	shm     bool          // the model accepted the shared-memory transport
	done    chan struct{} // closed when the process has exited
	waitErr error         // cmd.Wait's result, set before done closes
}

// start starts the process and reads its handshake.
func (p *proc) start() error {
	cfg := p.m.cfg
	seg, err := p.m.offerSegment()
	if err != nil {
		return p.fail(false, err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return p.fail(false, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return p.fail(false, err)
	}
	cmd := exec.Command(cfg.Command[0], cfg.Command[1:]...)
	cmd.Dir = cfg.Workdir
	cmd.Env = append(os.Environ(), cfg.Env...)
	cmd.Stdin, cmd.Stdout = inR, outW
	r := &running{cmd: cmd, stdin: inW, out: outR, stdout: bufio.NewReaderSize(outR, readBuffer), stderr: newTail(stderrTail),
		done: make(chan struct{})}
	cmd.Stderr = r.stderr
	cmd.WaitDelay = time.Second // a grandchild holding stderr open does not block Wait
	ownGroup(cmd)
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		r.closePipes()
		return p.fail(false, fmt.Errorf("start: %w", err))
	}
	growPipe(inW)
	growPipe(outR)
	go func() {
		r.waitErr = cmd.Wait()
		close(r.done)
	}()
	p.run = r
	if err := p.hello(seg); err != nil {
		p.discard()
		return err
	}
	return nil
}

// hello performs the handshake of a fresh process: it checks the model's
// state size and time step, that its reference state x₀ equals the first
// process's (else the model is not deterministic), and whether it takes
// the shared-memory file offered (seg; nil: none).
func (p *proc) hello(seg *segment) error {
	cfg := p.m.cfg
	meta := map[string]string{keyKind: kindHello, keyStateSize: strconv.Itoa(cfg.StateSize), keyDt: formatFloat(cfg.Dt)}
	if seg != nil {
		meta[keyShmPath] = seg.path
	}
	msg, err := p.roundTrip(meta, nil, -1, 2) // x₀ and the coordinates
	if err != nil {
		return err
	}
	defer msg.release()
	if err := p.checkKind(msg, kindHello); err != nil {
		return err
	}
	if n, err := msg.intMeta(keyStateSize); err != nil || n != cfg.StateSize {
		return p.fail(false, fmt.Errorf("%w: the model's handshake says state_size %q, the config %d", ErrState, msg.meta[keyStateSize], cfg.StateSize))
	}
	if dt, err := msg.floatMeta(keyDt); err != nil || dt != cfg.Dt {
		return p.fail(false, fmt.Errorf("%w: the model's handshake says dt %q, the config %v", ErrState, msg.meta[keyDt], cfg.Dt))
	}
	x0, coords, err := msg.helloStates(cfg.StateSize)
	if err != nil {
		return p.fail(false, fmt.Errorf("handshake: the reference state: %w", protocolUnlessState(err)))
	}
	period, err := checkCoords(msg, coords)
	if err != nil {
		return p.fail(false, fmt.Errorf("handshake: %w", err))
	}
	if !p.m.setReference(x0, coords, period) {
		return p.fail(false, fmt.Errorf("%w: process %d handshook with another reference state or other coordinates than the first process did", ErrNondeterministic, p.index))
	}
	switch t, ok := msg.meta[keyTransport]; {
	case t == TransportShm && seg != nil:
		p.run.shm = true
	case !ok || t == TransportPipe:
		if cfg.Transport == TransportShm {
			return p.fail(false, fmt.Errorf("%w: the model did not accept the shared-memory file (the config says transport: shm)", ErrProtocol))
		}
	default:
		return p.fail(false, fmt.Errorf("%w: the model's handshake says %s %q, and %q was offered", ErrProtocol, keyTransport, t, meta[keyShmPath]))
	}
	return nil
}

// checkCoords returns the period of a hello reply's coordinates (0 without
// one, or without coordinates) and checks them: finite (helloStates saw
// to that), and in [0, period) if periodic.
func checkCoords(msg message, coords []float64) (float64, error) {
	if _, ok := msg.meta[keyPeriod]; !ok {
		return 0, nil
	}
	period, err := msg.floatMeta(keyPeriod)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%w: %w", ErrProtocol, err)
	case coords == nil:
		return 0, fmt.Errorf("%w: %q without a %q column", ErrProtocol, keyPeriod, coordColumn)
	case !(period > 0) || math.IsInf(period, 0):
		return 0, fmt.Errorf("%w: %q is %v, want a finite length > 0", ErrState, keyPeriod, period)
	}
	for j, c := range coords {
		if !(c >= 0 && c < period) {
			return 0, fmt.Errorf("%w: coordinate %d is %v, outside the periodic domain [0, %v)", ErrState, j, c, period)
		}
	}
	return period, nil
}

// advance advances rows lo..hi−1 of X by steps steps. Over shared memory
// (seg) they are advanced in it from row first: in place if X lives there
// (hosted), else copied there first. It returns the advanced
// states for the caller to copy into X (nil if X was advanced in place)
// and a function that releases them; they stay valid until then, and
// while the caller holds p.mu (and, for the segment, the first process's
// mu), which it must hold during the call.
func (p *proc) advance(seg *segment, X *mat.Dense, lo, hi, first int, hosted bool, steps int) ([]float64, func(), error) {
	if p.run == nil {
		if err := p.start(); err != nil {
			return nil, nil, err
		}
	}
	n, rows := p.m.cfg.StateSize, hi-lo
	meta := map[string]string{keyKind: kindAdvance, keySteps: strconv.Itoa(steps)}
	if p.run.shm && seg != nil {
		vals := seg.vals[first*n : (first+rows)*n]
		if !hosted {
			copyRows(vals, X, lo, hi)
		}
		meta[keyRows], meta[keyFirst] = strconv.Itoa(rows), strconv.Itoa(first)
		msg, err := p.roundTrip(meta, nil, -1, 0)
		if err != nil {
			return nil, nil, err
		}
		defer msg.release()
		if err := p.checkKind(msg, kindState); err != nil {
			return nil, nil, err
		}
		if err := sharedReply(msg, rows); err != nil {
			return nil, nil, p.fail(false, err)
		}
		if hosted { // its holder checks the values (dynamics.EnsembleHost)
			return nil, func() {}, nil
		}
		if err := checkFinite(vals, n); err != nil {
			return nil, nil, p.fail(false, err)
		}
		return vals, func() {}, nil
	}
	msg, err := p.roundTrip(meta, rowsOf(X, lo, hi), rows, rows)
	if err != nil {
		return nil, nil, err
	}
	if err := p.checkKind(msg, kindState); err != nil {
		msg.release()
		return nil, nil, err
	}
	vals, err := msg.states(rows, n)
	if err != nil {
		err = p.fail(false, protocolUnlessState(err))
		msg.release()
		return nil, nil, err
	}
	return vals, msg.release, nil
}

// copyRows copies rows lo..hi−1 of X into dst, row after row.
func copyRows(dst []float64, X *mat.Dense, lo, hi int) {
	_, n := X.Dims()
	for i := lo; i < hi; i++ {
		copy(dst[(i-lo)*n:(i-lo+1)*n], X.RawRowView(i))
	}
}

// rowsOf returns rows lo..hi−1 of X, row after row: a view of X if its
// rows are contiguous, else a copy.
func rowsOf(X *mat.Dense, lo, hi int) []float64 {
	raw := X.RawMatrix()
	if raw.Stride == raw.Cols {
		return raw.Data[lo*raw.Cols : hi*raw.Cols]
	}
	dst := make([]float64, (hi-lo)*raw.Cols)
	copyRows(dst, X, lo, hi)
	return dst
}

// protocolUnlessState marks err as a protocol violation unless it is
// already an ErrState.
func protocolUnlessState(err error) error {
	if errors.Is(err, ErrState) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrProtocol, err)
}

// checkKind turns a reply of another kind than want into an error: the
// model's own error message, or a protocol violation. Either way the
// process is discarded, and the error's stderr holds all that the process
// wrote before its reply.
func (p *proc) checkKind(msg message, want string) error {
	switch msg.kind() {
	case want:
		return nil
	case kindError:
		text := msg.meta[keyMessage]
		if text == "" {
			text = "(no message)"
		}
		return p.fail(msg.meta[keyRetryable] == "true", fmt.Errorf("%w: %s", ErrModel, text))
	}
	return p.fail(false, fmt.Errorf("%w: a %q message where a %q reply was due", ErrProtocol, msg.kind(), want))
}

// roundTrip writes a request and reads the reply (whose batch may hold up
// to maxStates states of n values, over all its columns), killing the
// process if no reply comes within the timeout. On error the process is
// gone.
func (p *proc) roundTrip(meta map[string]string, values []float64, rows, maxStates int) (message, error) {
	r := p.run
	n := p.m.cfg.StateSize
	timer := time.AfterFunc(p.m.cfg.Timeout, r.kill)
	defer timer.Stop()
	written := make(chan error, 1)
	if values == nil { // metadata only: the pipe holds it whole
		written <- writeMessage(r.stdin, meta, nil, rows, n)
	} else { // the model may reply before it has read all of it
		go func() { written <- writeMessage(r.stdin, meta, values, rows, n) }()
	}
	// The batch: maxStates·n float64s, plus room for validity bitmaps and
	// padding.
	limit := int64(maxStates)*int64(n)*9 + 1<<16
	// On failure the timer is stopped (it fired if Stop says so) and the
	// process is left running until failRead has seen whether it exits.
	// failRead kills it, which ends a write still under way.
	msg, err := readMessage(r.stdout, limit)
	if err != nil {
		err = p.failRead(err, !timer.Stop())
		<-written
		return message{}, err
	}
	if err := <-written; err != nil {
		msg.release()
		return message{}, p.failRead(err, !timer.Stop())
	}
	return msg, nil
}

// failRead classifies a failed read or write: a timeout, the process
// exiting or closing its stdout, or garbage on the stream.
func (p *proc) failRead(err error, timedOut bool) error {
	r := p.run
	switch {
	case timedOut:
		return p.fail(true, fmt.Errorf("%w (timeout %v): killed", ErrTimeout, p.m.cfg.Timeout))
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed):
		select {
		case <-r.done:
			return p.fail(true, fmt.Errorf("%w (%s)", ErrExited, r.exitStatus()))
		case <-time.After(exitGrace):
			return p.fail(true, stdoutClosed{})
		}
	}
	return p.fail(false, fmt.Errorf("%w: %w", ErrProtocol, err))
}

// fail stops the process (it cannot be trusted after a failure) and
// returns err as an *Error with its stderr, all of it that the process
// wrote before it was killed.
func (p *proc) fail(retryable bool, err error) error {
	return &Error{Command: p.m.cfg.name(), Process: p.index, Retryable: retryable, Stderr: p.discard(), Err: err}
}

// discard kills the process, if running, and returns the tail of its
// stderr once it has all been read (cmd.Wait waits for that).
func (p *proc) discard() string {
	r := p.run
	if r == nil {
		return ""
	}
	r.kill()
	<-r.done
	r.closePipes()
	p.run = nil
	return r.stderr.String()
}

// stop closes the process's stdin, which asks it to exit, and kills it
// if it has not exited after closeGrace.
func (p *proc) stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.run
	if r == nil {
		return nil
	}
	p.run = nil
	r.stdin.Close()
	var err error
	select {
	case <-r.done:
	case <-time.After(closeGrace):
		err = fmt.Errorf("external: %s (process %d) did not exit within %v of its stdin closing: killed", p.m.cfg.name(), p.index, closeGrace)
		r.kill()
		<-r.done
	}
	r.closePipes()
	return err
}

// closePipes closes latentda's ends of the pipes.
func (r *running) closePipes() {
	r.stdin.Close()
	r.out.Close()
}

// exitStatus describes how the process ended, once done is closed.
func (r *running) exitStatus() string {
	var ee *exec.ExitError
	if errors.As(r.waitErr, &ee) {
		return ee.ProcessState.String()
	}
	if r.waitErr != nil {
		return r.waitErr.Error()
	}
	return "exit status 0"
}
