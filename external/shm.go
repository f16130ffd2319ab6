package external

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
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
	keyRows      = "rows"      // advance request and state reply: the states in the file
)

// shmPrefix and shmSuffix frame the names of the shared-memory files, so
// that a later start can find those a crashed worker left.
const (
	shmPrefix = "latentda-external-"
	shmSuffix = ".shm"
)

// littleEndian: the protocol's doubles are little-endian, and the file is
// read and written in the host's order, so shared memory is offered only
// on little-endian hosts.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// sharedReply checks a state reply over shared memory (metadata rows, no
// record batch) and copies the rows·n values of src, the mapped file,
// into dst, checking each value as it is copied: a model that writes the
// file after its reply cannot slip a NaN past the check. A fault while
// reading src (a model that truncated the file) is an error, not a crash.
func sharedReply(dst []float64, msg message, src []float64, rows, n int) (err error) {
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
	if len(src) < rows*n || len(dst) < rows*n {
		return fmt.Errorf("external: %d mapped values and %d destination values for %d states of %d", len(src), len(dst), rows, n)
	}
	return guardFault(func() error {
		// Block by block: copied, then the copy checked while in cache.
		for lo := 0; lo < rows*n; lo += checkBlock {
			hi := min(lo+checkBlock, rows*n)
			copy(dst[lo:hi], src[lo:hi])
			if i := vec.FirstNonFinite(dst[lo:hi]); i >= 0 {
				return fmt.Errorf("%w: %s reply: state %d, variable %d is %v", ErrState, msg.kind(), (lo+i)/n, (lo+i)%n, dst[lo+i])
			}
		}
		return nil
	})
}

// checkBlock is how many values sharedReply copies before checking them.
const checkBlock = 4096

// guardFault runs f, turning a memory fault in it (the mapped file
// truncated under it: SIGBUS) into an error.
func guardFault(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: the shared-memory file faulted (truncated by the model?): %v", ErrProtocol, p)
		}
	}()
	return f()
}

// errNoShm: shared memory is not available on this platform.
var errNoShm = errors.New("shared memory is not available on this platform")
