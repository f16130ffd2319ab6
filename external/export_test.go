package external

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// ProcessCPU is the CPU time (user + system) that m's running processes
// have used so far, from /proc (0 where there is none), for the
// benchmarks.
func ProcessCPU(m *Model) time.Duration {
	var total time.Duration
	for _, p := range m.procs {
		p.mu.Lock()
		if p.run != nil {
			total += pidCPU(p.run.cmd.Process.Pid)
		}
		p.mu.Unlock()
	}
	return total
}

// clockTick is the unit of /proc/PID/stat's times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// pidCPU reads utime + stime (fields 14 and 15) of /proc/PID/stat.
func pidCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) is parenthesised and may hold spaces.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(u+st) * clockTick
}

// FakeAdvance is the fake model's Advance (x ← x/2 + 1 per step) run in
// the caller's process: a forecast through the fake model without the
// protocol, for the benchmarks.
func FakeAdvance(X []float64, rows, steps int) error {
	return (&fakeModel{behaviour: "ok", n: len(X) / rows}).Advance(X, rows, steps)
}

// SharedValues is how many float64s m's shared memory holds (0: none).
func SharedValues(m *Model) int {
	m.shmMu.Lock()
	defer m.shmMu.Unlock()
	if m.seg == nil {
		return 0
	}
	return m.seg.size
}
