//go:build unix

package external

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// floats views a mapping (page-aligned) as float64s.
func floats(b []byte) []float64 {
	if len(b) < 8 {
		return nil
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(&b[0])), len(b)/8)
}

// shmServer is the model side of the transport (Serve): the file named
// in the handshake, mapped as far as the requests need.
type shmServer struct {
	f    *os.File
	data []byte
}

// openShmServer opens the file latentda offered.
func openShmServer(path string) (*shmServer, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return &shmServer{f: f}, nil
}

// states returns the float64s lo..hi−1 of the file, mapping more of it if
// needed; latentda has sized the file before the request.
func (s *shmServer) states(lo, hi int) ([]float64, error) {
	if len(s.data) < hi*8 {
		fi, err := s.f.Stat()
		if err != nil {
			return nil, err
		}
		if fi.Size() < int64(hi)*8 {
			return nil, fmt.Errorf("the shared-memory file holds %d bytes, the request needs %d", fi.Size(), hi*8)
		}
		data, err := unix.Mmap(int(s.f.Fd()), 0, hi*8, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return nil, fmt.Errorf("mmap %s: %w", s.f.Name(), err)
		}
		s.unmap()
		s.data = data
	}
	return floats(s.data)[lo:hi], nil
}

func (s *shmServer) unmap() {
	if s.data != nil {
		_ = unix.Munmap(s.data)
		s.data = nil
	}
}

// close unmaps and closes the file.
func (s *shmServer) close() {
	s.unmap()
	s.f.Close()
}
