//go:build !unix

package devserver

import "time"

func cpuTime() time.Duration { return 0 }
