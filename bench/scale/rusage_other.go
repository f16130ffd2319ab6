//go:build !(linux || darwin || freebsd)

package scale

// peakRSS is not measured on this platform.
func peakRSS() int64 { return 0 }
