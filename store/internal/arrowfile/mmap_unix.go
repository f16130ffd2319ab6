//go:build linux || darwin || freebsd

package arrowfile

import (
	"errors"
	"math"
	"os"
	"syscall"
)

// MapFile maps the size bytes of f read-only; unmap releases the mapping.
func MapFile(f *os.File, size int64) (data []byte, unmap func(), err error) {
	if size <= 0 || size > math.MaxInt {
		return nil, nil, errors.New("cannot map an empty or huge file")
	}
	data, err = syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() { _ = syscall.Munmap(data) }, nil
}
