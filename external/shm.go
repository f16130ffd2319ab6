package external

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/latentda/latentda/internal/vec"
)

// The transports of states between latentda and a model process
// (Config.Transport).
const (
	// TransportAuto uses shared memory if the model accepts it in the
	// handshake, else the stream; "" means the same.
	TransportAuto = "auto"
	// TransportShm requires shared memory: a model that does not accept
	// it fails its handshake.
	TransportShm = "shm"
	// TransportPipe sends the states in the messages on the pipes.
	TransportPipe = "pipe"
)

// Schema metadata keys of the shared-memory transport.
const (
	keyShmPath   = "shm_path"  // hello request: the file latentda offers
	keyTransport = "transport" // hello reply: TransportShm if the model maps the file
	keyRows      = "rows"      // advance request and state reply: the number of states in the file
	keyFirst     = "first"     // advance request: the row of the file where they start
)

// shmName names the shared-memory file (a memfd: /proc/PID/fd/N links to
// "/memfd:latentda-external").
const shmName = "latentda-external"

// littleEndian: the protocol's doubles are little-endian, and the file is
// read and written in the host's order, so shared memory is offered only
// on little-endian hosts.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// sharedReply checks a state reply over shared memory: metadata rows
// holding the number of states asked for, and no record batch.
func sharedReply(msg message, rows int) error {
	if msg.rec != nil {
		return fmt.Errorf("%w: a %s reply with a record batch over the shm transport", ErrProtocol, msg.kind())
	}
	v, ok := msg.meta[keyRows]
	got, perr := strconv.Atoi(v)
	if !ok || perr != nil {
		return fmt.Errorf("%w: %s reply: %q is %q, want the number of states %d", ErrProtocol, msg.kind(), keyRows, v, rows)
	}
	if got != rows {
		return fmt.Errorf("%w: %s reply holds %d states, want %d", ErrState, msg.kind(), got, rows)
	}
	return nil
}

// checkFinite checks that the states vals (of n values each) the model
// left in the shared memory are finite. They are checked where they lie,
// before AdvanceEnsemble copies them into X, so a model that writes the
// memory after its reply (outside the protocol) could slip a non-finite
// value past it; a batch of cycles refuses such a value when it records
// the forecast (store.CycleBatch.RefuseNonFinite).
func checkFinite(vals []float64, n int) error {
	i := vec.FirstNonFinite(vals)
	if i < 0 {
		return nil
	}
	return fmt.Errorf("%w: %s reply: state %d, variable %d is %v", ErrState, kindState, i/n, i%n, vals[i])
}

// errNoShm: shared memory is not available on this platform.
var errNoShm = errors.New("shared memory is not available on this platform")
