//go:build unix

package flock

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Exclusive takes an exclusive, non-blocking advisory lock on the file at
// path (created if missing) and returns its release. A lock another
// process holds is ErrHeld. The lock dies with the process, so a crash
// leaves no stale lock behind.
func Exclusive(path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrHeld
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
