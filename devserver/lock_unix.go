//go:build unix

package devserver

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDatabase takes an exclusive, non-blocking advisory lock on
// dbPath+".lock" for the lifetime of the server. Two Temporal servers on one
// SQLite file would both own history shard 1 and fence each other off
// (and fight over the frontend port), so a second process gets a clear
// error instead. The lock dies with the process, so a crash leaves no stale
// lock behind.
func lockDatabase(dbPath string) (release func(), err error) {
	path := dbPath + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("devserver: opening lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("devserver: database %s is in use by another dev server (lock %s held)", dbPath, path)
		}
		return nil, fmt.Errorf("devserver: locking %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
