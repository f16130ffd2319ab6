package external

import (
	"bufio"
	"errors"
	"fmt"
	"io"
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

// Serve answers the requests that latentda writes on r (the model's stdin)
// on w (its stdout), until r ends, and then returns nil. A Handler error is
// sent back as an error message and serving goes on; a request that is not
// a protocol message, or a failure to write, ends Serve with an error.
func Serve(r io.Reader, w io.Writer, h Handler) error {
	br := bufio.NewReaderSize(r, readBuffer)
	bw := bufio.NewWriterSize(w, 1<<16)
	n := 0 // state size, from the handshake
	for {
		if _, err := br.Peek(1); errors.Is(err, io.EOF) {
			return nil
		}
		msg, err := readMessage(br, 0)
		if err != nil {
			return fmt.Errorf("external: serve: %w", err)
		}
		err = answer(bw, msg, h, &n)
		msg.release()
		if err == nil {
			err = bw.Flush()
		}
		if err != nil {
			return fmt.Errorf("external: serve: %w", err)
		}
	}
}

// answer writes the reply to one request; *n is the state size.
func answer(w io.Writer, msg message, h Handler, n *int) error {
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
		x0, err := h.Hello(size, dt)
		if err != nil {
			return fail(err)
		}
		if len(x0) != size {
			return fail(fmt.Errorf("the reference state has %d values, want %d", len(x0), size))
		}
		*n = size
		meta := map[string]string{keyKind: kindHello, keyStateSize: strconv.Itoa(size), keyDt: formatFloat(dt)}
		return writeMessage(w, meta, x0, 1, size)
	case kindAdvance:
		if *n == 0 {
			return fail(errors.New("advance before hello"))
		}
		steps, err := msg.intMeta(keySteps)
		if err != nil {
			return fail(err)
		}
		if steps < 0 {
			return fail(fmt.Errorf("steps must be >= 0, got %d", steps))
		}
		X, err := msg.states(-1, *n)
		if err != nil {
			return fail(err)
		}
		rows := len(X) / *n
		if err := h.Advance(X, rows, steps); err != nil {
			return fail(err)
		}
		return writeMessage(w, map[string]string{keyKind: kindState}, X, rows, *n)
	}
	return fail(fmt.Errorf("unknown request kind %q", msg.kind()))
}
