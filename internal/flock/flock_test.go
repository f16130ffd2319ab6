//go:build unix

package flock

import (
	"errors"
	"path/filepath"
	"testing"
)

// TestExclusive: a lock another process holds is ErrHeld; released, it can
// be taken again. flock(2) locks belong to open files, so a second open in
// this process stands for the other process.
func TestExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	release, err := Exclusive(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Exclusive(path); !errors.Is(err, ErrHeld) {
		t.Fatalf("second lock: %v, want ErrHeld", err)
	}
	release()
	again, err := Exclusive(path)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again()
}
