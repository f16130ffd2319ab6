package external

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// The kinds of failure, for errors.Is on an *Error.
var (
	// ErrExited: the model process exited or closed its stdout. Retryable:
	// a fresh process may succeed.
	ErrExited = errors.New("the model process exited")
	// ErrTimeout: a request got no answer within Config.Timeout; the
	// process was killed. Retryable.
	ErrTimeout = errors.New("the model did not answer in time")
	// ErrProtocol: the model wrote something that is not a valid message
	// of the protocol. Not retryable: the program needs fixing.
	ErrProtocol = errors.New("protocol violation")
	// ErrModel: the model answered with an error message. Retryable only
	// if the model says so.
	ErrModel = errors.New("the model reported an error")
	// ErrState: the model returned states of the wrong size, or NaN or
	// Inf. Not retryable.
	ErrState = errors.New("invalid state from the model")
	// ErrNondeterministic: a fresh process handshook with another
	// reference state than the first one did. Not retryable.
	ErrNondeterministic = errors.New("the model is not deterministic")
	// ErrClosed: a request to a Model after its Close (the worker is
	// stopping). Retryable: another worker can serve it.
	ErrClosed = errors.New("the model was closed")
)

// stdoutClosed is the ErrExited of a process that closed its stdout and
// had not exited exitGrace later.
type stdoutClosed struct{}

func (stdoutClosed) Error() string {
	return fmt.Sprintf("the model process closed its stdout and was still running %v later: killed", exitGrace)
}

func (stdoutClosed) Is(target error) bool { return target == ErrExited }

// Error is a failure of an external model process, with the tail of what
// it wrote on stderr.
type Error struct {
	Command   string // the program's base name and its arguments, shortened
	Process   int    // which of the Config.Processes processes
	Retryable bool   // a fresh process may succeed
	Stderr    string // the last lines the process wrote on stderr
	Err       error  // wraps one of ErrExited, ErrTimeout, ... (or a start failure)
}

func (e *Error) Error() string {
	s := fmt.Sprintf("external: %s (process %d): %v", e.Command, e.Process, e.Err)
	if e.Stderr != "" {
		s += "; its stderr ends with:\n" + e.Stderr
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// IsRetryable reports whether err is an external model's failure that a
// retry with a fresh process may cure (the process exited, or timed out,
// or the model said so).
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable
}

// tail keeps the last bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
	max int
}

// stderrTail is how much of a process's stderr is kept for errors.
const (
	stderrTail      = 4096
	stderrTailLines = 20
)

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String returns the last whole lines kept (at most stderrTailLines).
func (t *tail) String() string {
	t.mu.Lock()
	s := string(t.buf)
	full := len(t.buf) == t.max
	t.mu.Unlock()
	if full { // the first line is cut
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > stderrTailLines {
		lines = lines[len(lines)-stderrTailLines:]
	}
	return strings.Join(lines, "\n")
}
