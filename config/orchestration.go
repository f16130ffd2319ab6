package config

import (
	"fmt"
	"time"
)

// Orchestration is the config file's orchestration section: how a run's
// cycles are spread over Temporal activities and workers. It is not
// science: a run writes the same files, bit for bit, whatever it says, and
// the science sections (model, observations, filter, latent, ood, anomaly)
// know nothing of it. It is kept in the config file so that a run's stored
// config.yaml records how the run ran; `latentda run --batch-cycles` and
// `--activity` override it.
type Orchestration struct {
	// Activity is local (the default: batches run inside the workflow
	// task, without a server round trip each, for cheap models) or
	// regular (heartbeats, timeouts and retries on any worker).
	Activity string `yaml:"activity" json:"activity,omitempty"`
	// BatchCycles is the number of cycles per activity (default 50).
	// Fanned-out and block-wise cycles run one cycle per step.
	BatchCycles int `yaml:"batch_cycles" json:"batch_cycles,omitempty"`
	// Fanout, if set, forecasts the members of every cycle in batches,
	// one heartbeating activity per batch, on any worker of the task
	// queue: for models whose forecast is expensive.
	Fanout *FanoutConfig `yaml:"fanout,omitempty" json:"fanout,omitempty"`
	// Blocks, for the LETKF without rotation, splits the analysis into
	// this many blocks of whole batches of grid points, each analysed by
	// its own activity on any worker of the task queue (0: the whole
	// analysis in one activity).
	Blocks int `yaml:"blocks" json:"blocks,omitempty"`
}

// Activity kinds (Orchestration.Activity).
const (
	ActivityLocal   = "local"
	ActivityRegular = "regular"
)

// DefaultBatchCycles is Orchestration.BatchCycles' default.
const DefaultBatchCycles = 50

// FanoutConfig sizes the forecast activities of a fanned-out forecast.
type FanoutConfig struct {
	// MembersPerTask is the number of members per forecast activity,
	// 1..filter.members. Required.
	MembersPerTask int `yaml:"members_per_task" json:"members_per_task"`
	// HeartbeatTimeout is how long a forecast or analysis activity may
	// go without a heartbeat before Temporal gives it to another worker:
	// the time to detect a dead worker (default 1m, at least 1s).
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout" json:"heartbeat_timeout"`
}

// DefaultFanoutHeartbeat is FanoutConfig.HeartbeatTimeout's default, and
// the heartbeat timeout of block-wise analyses without a fan-out.
const DefaultFanoutHeartbeat = time.Minute

// movedKeys name the new place of the config keys that moved out of the
// science sections into orchestration.
var movedKeys = map[string]string{
	"filter.blocks":   "orchestration.blocks",
	"forecast":        "orchestration.fanout (forecast.fanout)",
	"forecast.fanout": "orchestration.fanout",
}

// withDefaults fills in the documented defaults.
func (o *Orchestration) withDefaults() {
	if o.Activity == "" {
		o.Activity = ActivityLocal
	}
	if o.BatchCycles == 0 {
		o.BatchCycles = DefaultBatchCycles
	}
	if o.Fanout != nil {
		fo := *o.Fanout
		if fo.HeartbeatTimeout == 0 {
			fo.HeartbeatTimeout = DefaultFanoutHeartbeat
		}
		o.Fanout = &fo
	}
}

// Orchestrated returns the orchestration section with its defaults (all
// defaults without one).
func (c Config) Orchestrated() Orchestration {
	var o Orchestration
	if c.Orchestration != nil {
		o = *c.Orchestration
	}
	o.withDefaults()
	return o
}

// Fanout returns the fan-out settings, or nil if the forecast is not
// fanned out.
func (c Config) Fanout() *FanoutConfig {
	if c.Orchestration == nil {
		return nil
	}
	return c.Orchestration.Fanout
}

// validateOrchestration checks the orchestration section.
func (c Config) validateOrchestration() error {
	if c.Orchestration == nil {
		return nil
	}
	o := c.Orchestration
	switch o.Activity {
	case "", ActivityLocal, ActivityRegular:
	default:
		return fmt.Errorf("orchestration.activity: want local or regular, got %q", o.Activity)
	}
	if o.BatchCycles < 0 {
		return fmt.Errorf("orchestration.batch_cycles: must be >= 1, got %d", o.BatchCycles)
	}
	if fo := o.Fanout; fo != nil {
		if fo.MembersPerTask < 1 || fo.MembersPerTask > c.Filter.Members {
			return fmt.Errorf("orchestration.fanout.members_per_task: must be 1..%d (filter.members), got %d", c.Filter.Members, fo.MembersPerTask)
		}
		if fo.HeartbeatTimeout < time.Second {
			return fmt.Errorf("orchestration.fanout.heartbeat_timeout: must be a duration of at least 1s (such as 30s or 2m), got %v", fo.HeartbeatTimeout)
		}
	}
	b := o.Blocks
	switch {
	case b == 0:
		return nil
	case b < 0:
		return fmt.Errorf("orchestration.blocks: must be >= 0, got %d", b)
	case c.Latent != nil:
		return fmt.Errorf("orchestration.blocks: the latent filters analyse the whole ensemble in one activity; not with latent")
	case c.Filter.Method != "letkf" || c.Filter.Rotate:
		return fmt.Errorf("orchestration.blocks: only the LETKF without rotation splits into blocks (method %s, rotate %v)", c.Filter.Method, c.Filter.Rotate)
	}
	if nb := c.batches(); b > nb {
		return fmt.Errorf("orchestration.blocks: %d blocks for %d batches of grid points; at most %d", b, nb, nb)
	}
	return nil
}

// batches is the number of LETKF batches of grid points.
func (c Config) batches() int {
	bs := max(c.Filter.BatchSize, 1)
	return (c.Model.Nx + bs - 1) / bs
}

// AnalysisBlocks returns the grid-point ranges [lo, hi) of the analysis
// blocks (orchestration.blocks of them, each of whole batches, sizes
// differing by at most one batch), or nil without blocks.
func (c Config) AnalysisBlocks() [][2]int {
	if c.Orchestration == nil || c.Orchestration.Blocks <= 0 {
		return nil
	}
	k := c.Orchestration.Blocks
	bs, nb := max(c.Filter.BatchSize, 1), c.batches()
	out := make([][2]int, k)
	for i := range out {
		out[i] = [2]int{i * nb / k * bs, min((i+1)*nb/k*bs, c.Model.Nx)}
	}
	return out
}
