package external

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the model program: run with
// LATENTDA_FAKE_MODEL=behaviour it serves the protocol as fakeModel does
// (or misbehaves as told) instead of running the tests.
const fakeEnv = "LATENTDA_FAKE_MODEL"

// fakeTransportEnv tells the fake model the transport latentda was
// configured with ("pipe-only": a model that ignores the offer of shared
// memory).
const fakeTransportEnv = "LATENTDA_FAKE_TRANSPORT"

func TestMain(m *testing.M) {
	if b := os.Getenv(fakeEnv); b != "" {
		if b == "exit-at-once" {
			fmt.Fprintln(os.Stderr, "fake: cannot open the mesh file")
			os.Exit(3)
		}
		var stdin io.Reader = os.Stdin
		if b == "pipe-only" {
			stdin = withoutShmOffer(os.Stdin)
		}
		f := &fakeModel{behaviour: b, shm: os.Getenv(fakeTransportEnv) != TransportPipe}
		var h Handler = f
		if strings.HasPrefix(b, "coords") {
			h = fakeCoords{f}
		}
		if err := Serve(stdin, os.Stdout, h); err != nil {
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
	shm       bool // over shared memory (when latentda offers it)
	n         int
	calls     int
}

// fakeCoords is the fake model with coordinates: 2j on a ring of length
// 2n ("coords"), on a line ("coords-line"), or invalid ("coords-outside":
// the last one at the period; "coords-nan").
type fakeCoords struct{ *fakeModel }

func (f fakeCoords) Coordinates(n int) ([]float64, float64) {
	c := make([]float64, n)
	for j := range c {
		c[j] = 2 * float64(j)
	}
	switch f.behaviour {
	case "coords-line":
		return c, 0
	case "coords-outside":
		c[n-1] = 2 * float64(n)
	case "coords-nan":
		c[0] = math.NaN()
	}
	return c, 2 * float64(n)
}

// withoutShmOffer returns the requests on r with the handshake's offer of
// shared memory taken out: what a model that does not know the transport
// sees.
func withoutShmOffer(r io.Reader) io.Reader {
	br := bufio.NewReaderSize(r, readBuffer)
	msg, err := readMessage(br, 0)
	if err != nil {
		return br
	}
	defer msg.release()
	delete(msg.meta, keyShmPath)
	delete(msg.meta, keyProtocol)
	var b bytes.Buffer
	if err := writeMessage(&b, msg.meta, nil, -1, 0); err != nil {
		return br
	}
	return io.MultiReader(&b, br)
}

// truncateShm tries to truncate the process's shared-memory file (found
// among its open files) to nothing; its seal makes that fail with EPERM.
func truncateShm() error {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	for _, fd := range fds {
		if path, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.Contains(path, shmName) {
			return os.Truncate("/proc/self/fd/"+fd.Name(), 0)
		}
	}
	return errors.New("fake: no shared-memory file open")
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
		case "close-stdout":
			os.Stdout.Close()
			time.Sleep(time.Hour)
		case "garbage":
			fmt.Fprintln(os.Stdout, "Traceback (most recent call last):")
			time.Sleep(time.Hour)
		case "wrong-size":
			// A reply one state short, written past Serve.
			var err error
			if f.shm {
				err = writeMessage(os.Stdout, map[string]string{keyKind: kindState, keyRows: strconv.Itoa(rows - 1)}, nil, -1, 0)
			} else {
				err = writeMessage(os.Stdout, map[string]string{keyKind: kindState}, X[f.n:], rows-1, f.n)
			}
			if err != nil {
				return err
			}
			time.Sleep(time.Hour)
		case "error":
			return errors.New("fake: the solver did not converge")
		case "error-retryable":
			// Much on stderr, then a retryable error reply, written past
			// Serve.
			for i := range 20000 {
				fmt.Fprintf(os.Stderr, "fake: licence check %d failed\n", i)
			}
			fmt.Fprintln(os.Stderr, "fake: the licence server is down")
			if err := writeMessage(os.Stdout, map[string]string{keyKind: kindError, keyMessage: "no licence", keyRetryable: "true"}, nil, -1, 0); err != nil {
				return err
			}
			time.Sleep(time.Hour)
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
	if f.calls == 2 && f.behaviour == "truncate" {
		return truncateShm()
	}
	return nil
}
