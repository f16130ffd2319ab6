//go:build linux

package external

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// segmentReserve is the address range latentda maps a segment over: the
// file grows inside it, so the mapping, and an ensemble hosted in it,
// never moves. Only the pages the file holds (and are touched) take
// memory; 1 TiB is far below a 64-bit address space and above any
// ensemble a worker holds.
const segmentReserve = 1 << 40

// segment is a Model's shared memory: an anonymous memory file (memfd)
// that every process of the Model maps, sealed so that it can grow but
// never shrink. A model that truncates it gets EPERM instead of faulting
// latentda on its next read, and the file vanishes with the worker, so a
// crash leaves nothing behind.
type segment struct {
	fd   int
	path string    // /proc/<pid>/fd/<fd>: how a model process opens it
	data []byte    // the mapping, segmentReserve bytes
	vals []float64 // data as float64s; the first size are backed by the file
	size int
}

// newSegment creates an empty segment.
func newSegment() (*segment, error) {
	fd, err := unix.MemfdCreate(shmName, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("external: shared memory: memfd_create: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("external: shared memory: seal: %w", err)
	}
	data, err := unix.Mmap(fd, 0, segmentReserve, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_NORESERVE)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("external: shared memory: mmap: %w", err)
	}
	return &segment{fd: fd, path: fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), fd), data: data, vals: floats(data)}, nil
}

// ensure makes the file hold at least size float64s.
func (s *segment) ensure(size int) error {
	if size <= s.size {
		return nil
	}
	if size > len(s.vals) {
		return fmt.Errorf("external: shared memory: %d values, more than the %d bytes reserved", size, segmentReserve)
	}
	if err := unix.Ftruncate(s.fd, int64(size)*8); err != nil {
		return fmt.Errorf("external: shared memory: grow to %d bytes: %w", int64(size)*8, err)
	}
	s.size = size
	return nil
}

// close unmaps and closes the segment; a nil s is a no-op.
func (s *segment) close() {
	if s == nil {
		return
	}
	_ = unix.Munmap(s.data)
	unix.Close(s.fd)
}
