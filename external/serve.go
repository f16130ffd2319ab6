package external

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// Handler is a model written in Go, served over the protocol by Serve.
type Handler interface {
	// Hello is called at the handshake with the state size n and time
	// step dt of latentda's config. It returns the model's reference state
	// x₀ (n values on its attractor, from which the twin experiment draws
	// its initial truth and members), or an error if the model cannot run
	// with n and dt.
	Hello(n int, dt float64) (x0 []float64, err error)
	// Advance advances every row of X (rows states of n values, row after
	// row) by steps model steps, in place.
	Advance(X []float64, rows, steps int) error
}

// Coordinator is a Handler whose state variables have coordinates, for
// the LETKF's localisation (docs/external-models.md); Serve sends them in
// the handshake.
type Coordinator interface {
	// Coordinates returns the coordinate of each of the n state variables
	// (called after Hello) and the length of the periodic domain they lie
	// on (all in [0, period)), or 0 if it is not periodic.
	Coordinates(n int) (coords []float64, period float64)
}

// Serve answers the requests that latentda writes on r (the model's stdin)
// on w (its stdout), until r ends, and then returns nil. A Handler error is
// sent back as an error message and serving goes on; a request that is not
// a protocol message, or a failure to write, ends Serve with an error.
//
// If the handshake offers a shared-memory file and it can be opened, Serve
// accepts it, and the states of the advance requests are advanced in
// place in the file (docs/external-models.md).
func Serve(r io.Reader, w io.Writer, h Handler) error {
	br := bufio.NewReaderSize(r, readBuffer)
	bw := bufio.NewWriterSize(w, 1<<16)
	s := &server{h: h}
	defer s.close()
	for {
		if _, err := br.Peek(1); errors.Is(err, io.EOF) {
			return nil
		}
		msg, err := readMessage(br, 0)
		if err != nil {
			return fmt.Errorf("external: serve: %w", err)
		}
		err = s.answer(bw, msg)
		msg.release()
		if err == nil {
			err = bw.Flush()
		}
		if err != nil {
			return fmt.Errorf("external: serve: %w", err)
		}
	}
}

// server is the state of Serve between requests.
type server struct {
	h   Handler
	n   int        // state size, from the handshake
	shm *shmServer // the shared-memory file, if accepted
}

func (s *server) close() {
	if s.shm != nil {
		s.shm.close()
		s.shm = nil
	}
}

// answer writes the reply to one request.
func (s *server) answer(w io.Writer, msg message) error {
	fail := func(err error) error {
		return writeMessage(w, map[string]string{keyKind: kindError, keyMessage: err.Error()}, nil, -1, 0)
	}
	switch msg.kind() {
	case kindHello:
		size, err := msg.intMeta(keyStateSize)
		if err != nil {
			return fail(err)
		}
		dt, err := msg.floatMeta(keyDt)
		if err != nil {
			return fail(err)
		}
		x0, err := s.h.Hello(size, dt)
		if err != nil {
			return fail(err)
		}
		if len(x0) != size {
			return fail(fmt.Errorf("the reference state has %d values, want %d", len(x0), size))
		}
		s.n = size
		meta := map[string]string{keyKind: kindHello, keyStateSize: strconv.Itoa(size), keyDt: formatFloat(dt)}
		var coords []float64
		if c, ok := s.h.(Coordinator); ok {
			var period float64
			if coords, period = c.Coordinates(size); len(coords) != size {
				return fail(fmt.Errorf("%d coordinates, want %d", len(coords), size))
			}
			if period != 0 {
				meta[keyPeriod] = formatFloat(period)
			}
		}
		s.close()
		if path := msg.meta[keyShmPath]; path != "" && littleEndian {
			// A file that cannot be opened leaves the pipes.
			if shm, err := openShmServer(path); err == nil {
				s.shm = shm
				meta[keyTransport] = TransportShm
			}
		}
		return writeMessage(w, meta, x0, 1, size, coords...)
	case kindAdvance:
		if s.n == 0 {
			return fail(errors.New("advance before hello"))
		}
		steps, err := msg.intMeta(keySteps)
		if err != nil {
			return fail(err)
		}
		if steps < 0 {
			return fail(fmt.Errorf("steps must be >= 0, got %d", steps))
		}
		if _, ok := msg.meta[keyRows]; ok {
			return s.advanceShared(w, msg, steps, fail)
		}
		X, err := msg.states(-1, s.n)
		if err != nil {
			return fail(err)
		}
		rows := len(X) / s.n
		if err := s.h.Advance(X, rows, steps); err != nil {
			return fail(err)
		}
		return writeMessage(w, map[string]string{keyKind: kindState}, X, rows, s.n)
	}
	return fail(fmt.Errorf("unknown request kind %q", msg.kind()))
}

// advanceShared answers an advance request over shared memory: the
// states, rows of the file from row first, are advanced in place.
func (s *server) advanceShared(w io.Writer, msg message, steps int, fail func(error) error) error {
	if s.shm == nil {
		return fail(errors.New("an advance request over shared memory, but no shared-memory file was accepted"))
	}
	if msg.rec != nil {
		return fail(errors.New("an advance request over shared memory with a record batch"))
	}
	rows, err := msg.intMeta(keyRows)
	if err != nil {
		return fail(err)
	}
	first, err := msg.intMeta(keyFirst)
	if err != nil {
		return fail(err)
	}
	if rows < 0 || first < 0 || rows > math.MaxInt/8/s.n-first {
		return fail(fmt.Errorf("%q %d and %q %d: want both >= 0 and the rows within the file", keyRows, rows, keyFirst, first))
	}
	X, err := s.shm.states(first*s.n, (first+rows)*s.n)
	if err != nil {
		return fail(err)
	}
	if err := s.h.Advance(X, rows, steps); err != nil {
		return fail(err)
	}
	return writeMessage(w, map[string]string{keyKind: kindState, keyRows: strconv.Itoa(rows)}, nil, -1, 0)
}
