//go:build !unix

package enkf

import "time"

// cpuTime is 0 where getrusage is not available (the CPU metrics then
// read 0).
func cpuTime() time.Duration { return 0 }
