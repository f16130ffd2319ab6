package cputime

import (
	"runtime"
	"testing"
	"time"
)

// TestProcessGrows: burning CPU for a while shows up in Process.
func TestProcessGrows(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("not measured here")
	}
	c0 := Process()
	x := 1.0
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
		for range 1000 {
			x = x*1.0000001 + 1e-9
		}
	}
	if d := Process() - c0; d <= 0 || x == 0 {
		t.Errorf("CPU time grew by %v over 50 ms of work", d)
	}
}
