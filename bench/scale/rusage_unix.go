//go:build linux || darwin || freebsd

package scale

import (
	"runtime"
	"syscall"
)

// peakRSS is the process's peak resident set size in bytes (Linux's
// VmHWM; ru_maxrss is in KiB on Linux, bytes on Darwin).
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return int64(ru.Maxrss)
	}
	return int64(ru.Maxrss) * 1024
}
