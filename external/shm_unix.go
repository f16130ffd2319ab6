//go:build unix

package external

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// shmFile is the memory-mapped file of one process's shared-memory
// transport: latentda writes the request's states at its start and reads
// the reply's from there. Its creator holds an exclusive flock on it for
// its lifetime, which tells a later start whether the file is stale.
type shmFile struct {
	f    *os.File
	data []byte    // the mapping
	vals []float64 // data as float64s
	out  []float64 // the checked reply, copied out of the mapping
}

// shmDir is where the shared-memory files go: /dev/shm where present (a
// tmpfs: the pages are memory that is never written back to a disk, and
// the files vanish at reboot), else the temporary directory.
func shmDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() && unix.Access("/dev/shm", unix.W_OK) == nil {
		return "/dev/shm"
	}
	return os.TempDir()
}

// newShmFile creates an empty shared-memory file, locked, in dir, first
// removing the files that workers which have since died left there.
func newShmFile(dir string) (*shmFile, error) {
	removeStale(dir)
	for range 3 {
		f, err := os.CreateTemp(dir, shmPrefix+"*"+shmSuffix)
		if err != nil {
			return nil, fmt.Errorf("external: shared memory: %w", err)
		}
		// Another worker's removeStale may hold or have removed the file
		// between its creation and the lock: then make another.
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil && sameFile(f) {
			return &shmFile{f: f}, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("external: shared memory: files in %s keep vanishing", dir)
}

// sameFile reports whether f's path still names f.
func sameFile(f *os.File) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(f.Name())
	return err == nil && os.SameFile(a, b)
}

// removeStale removes the shared-memory files in dir whose creator has
// exited (its flock is gone). Files of other users, or still locked, stay.
func removeStale(dir string) {
	paths, _ := filepath.Glob(filepath.Join(dir, shmPrefix+"*"+shmSuffix))
	for _, path := range paths {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil && sameFile(f) {
			if os.Remove(path) == nil {
				slog.Info("external: removed a stale shared-memory file", "path", path)
			}
		}
		f.Close()
	}
}

// path is the file's name, for the handshake.
func (s *shmFile) path() string { return s.f.Name() }

// ensure makes the file and its mapping hold at least size float64s, and
// the reply buffer as many.
func (s *shmFile) ensure(size int) error {
	if len(s.vals) >= size {
		return nil
	}
	if err := s.f.Truncate(int64(size) * 8); err != nil {
		return fmt.Errorf("external: shared memory: %w", err)
	}
	data, err := mapFile(s.f, size*8)
	if err != nil {
		return err
	}
	s.unmap()
	s.data, s.vals = data, floats(data)
	s.out = make([]float64, size)
	return nil
}

func (s *shmFile) unmap() {
	if s.data != nil {
		_ = unix.Munmap(s.data)
		s.data, s.vals = nil, nil
	}
}

// close unmaps and removes the file; a nil s is a no-op.
func (s *shmFile) close() {
	if s == nil {
		return
	}
	s.unmap()
	os.Remove(s.f.Name())
	s.f.Close()
}

// mapFile maps the first size bytes of f, shared and writable.
func mapFile(f *os.File, size int) ([]byte, error) {
	data, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("external: shared memory: mmap %s: %w", f.Name(), err)
	}
	return data, nil
}

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

// states returns the first size float64s of the file, mapping more of it
// if needed; latentda has sized the file before the request.
func (s *shmServer) states(size int) ([]float64, error) {
	if len(s.data) < size*8 {
		fi, err := s.f.Stat()
		if err != nil {
			return nil, err
		}
		if fi.Size() < int64(size)*8 {
			return nil, fmt.Errorf("the shared-memory file holds %d bytes, the request needs %d", fi.Size(), size*8)
		}
		data, err := mapFile(s.f, size*8)
		if err != nil {
			return nil, err
		}
		s.unmap()
		s.data = data
	}
	return floats(s.data)[:size], nil
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
