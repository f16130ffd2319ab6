package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Limits on the config file itself, checked before it is decoded: a
// config is a few hundred bytes, and a huge one (an 18-million-entry
// indices list) would take gigabytes to decode.
const (
	// MaxConfigBytes is the largest config file accepted (1 MiB).
	MaxConfigBytes = 1 << 20
	// MaxListLength is the most entries a list in a config may hold.
	MaxListLength = 100_000
)

// Estimate is what a run of a config needs, estimated from the config
// alone before anything starts (see [Config.Estimate]). The estimates are
// rough (within a small factor): they are for refusing a run that cannot
// finish, not for planning one.
type Estimate struct {
	// MemoryBytes is the peak memory of the run's numerics on one worker.
	MemoryBytes float64
	// DiskBytes is the size of the run directory after the last cycle.
	DiskBytes float64
	// Seconds is the run's compute time on one core (0 for an external
	// model, whose cost is unknown).
	Seconds float64
}

// flopsPerSecond is the floating-point rate the time estimate assumes for
// one core (the order of magnitude of the RK4 and analysis loops).
const flopsPerSecond = 1e9

// Estimate returns what the run of c (with its defaults) needs:
//
//	memory ≈ 8 B · (6·(N+1)·nx + 4·N·p + 4·N²) + 64 MiB
//	disk   ≈ cycles · (8 B · ((2N+1)·nx + 3p) + 8 KiB)
//	time   ≈ (cycles · (steps_between · (N+1) · nx · f + a) + s · nx · f) / 10⁹ flop/s
//
// with N members, nx state variables, p observations per cycle, f the
// model's flops per variable and step (about 40 for the Lorenz models'
// RK4, 100 + 20·log₂ nx for the Kuramoto–Sivashinsky ETDRK4) and a the
// analysis' flops (4·(N²·p + N³), per grid point for the LETKF), and s
// the steps of the reference state's spin-up (ModelConfig.spinUpTime / dt).
// The
// memory holds the ensemble, its forecast, anomalies and RK4 stages; the
// disk the forecast and analysis ensembles, the truth and the
// observations of every cycle. A latent generator adds its own size.
func (c Config) Estimate() Estimate {
	nx, n := float64(c.Model.Nx), float64(c.Filter.Members)
	p := c.obsPerCycle()
	cycles, steps := float64(c.Cycles), float64(c.Observations.StepsBetween)
	var e Estimate
	e.MemoryBytes = 8*(6*(n+1)*nx+4*n*p+4*n*n) + 64<<20
	e.DiskBytes = cycles * (8*((2*n+1)*nx+3*p) + 8<<10)
	var f float64
	switch c.Model.Name {
	case "lorenz63", "lorenz96":
		f = 40
	case "ks":
		f = 100 + 20*math.Log2(max(nx, 2))
	default:
		return e
	}
	spinUp := c.Model.spinUpTime() / c.Model.Dt
	analysis := 4 * (n*n*p + n*n*n)
	if c.Filter.Method == "letkf" {
		local := min(p, 2*c.Filter.LocRadius+1)
		analysis = nx * 4 * (n*n*local + n*n*n)
	}
	e.Seconds = (cycles*(steps*(n+1)*nx*f+analysis) + spinUp*nx*f) / flopsPerSecond
	return e
}

// obsPerCycle is the number of observations per cycle, p.
func (c Config) obsPerCycle() float64 {
	o, nx := c.Observations, float64(c.Model.Nx)
	switch o.Operator {
	case "every-k":
		return math.Ceil((nx - float64(o.Offset)) / float64(max(o.Every, 1)))
	case "subset", "square", "abs":
		if len(o.Indices) > 0 {
			return float64(len(o.Indices))
		}
	}
	return nx
}

// Limits bound what a run may need (see [Config.Estimate]); a zero field
// is no limit. The command line sets them with --max-memory, --max-disk
// and --max-time.
type Limits struct {
	Memory ByteSize
	Disk   ByteSize
	Time   time.Duration
}

// DefaultLimits are the limits unless the flags say otherwise.
var DefaultLimits = Limits{Memory: 8 << 30, Disk: 50 << 30, Time: 24 * time.Hour}

// Check returns an error naming the fields that set the estimate, the
// estimate, the limit and the flag that lifts it, for the first estimate
// of c over its limit.
func (l Limits) Check(c Config) error {
	e := c.Estimate()
	switch {
	case l.Memory > 0 && e.MemoryBytes > float64(l.Memory):
		return fmt.Errorf("model.nx × filter.members: %d variables × %d members need about %s of memory, over the limit of %s; raise it with --max-memory (0: no limit)",
			c.Model.Nx, c.Filter.Members, ByteSize(min(e.MemoryBytes, math.MaxInt64)), l.Memory)
	case l.Disk > 0 && e.DiskBytes > float64(l.Disk):
		return fmt.Errorf("cycles: %d cycles of %d variables × %d members need about %s of disk, over the limit of %s; raise it with --max-disk (0: no limit)",
			c.Cycles, c.Model.Nx, c.Filter.Members, ByteSize(min(e.DiskBytes, math.MaxInt64)), l.Disk)
	case l.Time > 0 && e.Seconds > l.Time.Seconds():
		return fmt.Errorf("cycles × observations.steps_between: %d cycles of %d model steps need about %s of compute, over the limit of %s; raise it with --max-time (0: no limit)",
			c.Cycles, c.Observations.StepsBetween, roughDuration(e.Seconds), l.Time)
	}
	return nil
}

// roughDuration prints s seconds as hours, or years when long.
func roughDuration(s float64) string {
	switch h := s / 3600; {
	case h >= 24*365:
		return fmt.Sprintf("%.3g years", h/(24*365))
	case h >= 1:
		return fmt.Sprintf("%.3g h", h)
	}
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}

// ByteSize is a number of bytes, written as an integer with an optional
// unit: 512MiB, 8GiB, 2TB, 1000 (bytes). It is a flag value
// (Set, String, Type).
type ByteSize int64

var byteUnits = []struct {
	suffix string
	size   float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"PiB", 1 << 50},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"PB", 1e15}, {"B", 1},
}

// ParseByteSize reads a size such as 8GiB, 500MB, 1.5TiB or 0.
func ParseByteSize(s string) (ByteSize, error) {
	num, mult := strings.TrimSpace(s), 1.0
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.size
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || !(v >= 0) || v*mult >= math.MaxInt64 || v > 0 && v*mult < 1 {
		return 0, fmt.Errorf("want a size such as 8GiB, 500MB or 0 (no limit), of at least one byte, got %q", s)
	}
	return ByteSize(v * mult), nil
}

// String prints b in the largest binary unit that keeps it >= 1.
func (b ByteSize) String() string {
	for i := 4; i >= 0; i-- {
		if u := byteUnits[i]; float64(b) >= u.size {
			return strconv.FormatFloat(math.Round(float64(b)/u.size*10)/10, 'f', -1, 64) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// Set parses a flag value (see [ParseByteSize]).
func (b *ByteSize) Set(s string) error {
	v, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Type names the flag value's type in help texts.
func (b *ByteSize) Type() string { return "size" }
