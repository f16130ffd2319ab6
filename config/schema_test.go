package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestOverride(t *testing.T) {
	base, err := Parse([]byte(validYAML))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := base.Override([]string{
		"filter.inflation=1.05", "seed=9", "observations.indices=[0, 2]", "observations.operator=subset", "observations.every=null",
		"orchestration.fanout.members_per_task=4", "orchestration.fanout.heartbeat_timeout=20s", "cycles = 200",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Filter.Inflation != 1.05 || cfg.Seed != 9 || cfg.Cycles != 200 || len(cfg.Observations.Indices) != 2 ||
		cfg.Fanout() == nil || cfg.Fanout().MembersPerTask != 4 || cfg.Fanout().HeartbeatTimeout != 20*time.Second {
		t.Errorf("override gave %+v (fan-out %+v)", cfg, cfg.Fanout())
	}
	if cfg.Filter.Members != base.Filter.Members || !reflect.DeepEqual(cfg.Model, base.Model) {
		t.Errorf("override changed other settings: %+v", cfg)
	}
	if base.Filter.Inflation != 1.02 {
		t.Error("override changed its receiver")
	}
	// Setting a whole mapping, and removing one with null.
	cfg, err = cfg.Override([]string{"orchestration=null", "model={name: lorenz96, nx: 20}"})
	if err != nil || cfg.Orchestration != nil || cfg.Model.Nx != 20 || cfg.Model.Forcing != 8 {
		t.Errorf("mapping override: %+v, %v", cfg, err)
	}

	for _, tc := range []struct{ set, want string }{
		{"filter.inflaton=1.05", "filter.inflaton: unknown key; the keys under filter are method, members, inflation,"},
		{"colour=red", "colour: unknown key; the keys at the top level are name, seed, cycles,"},
		{"filter.inflation.x=1", "filter.inflation.x: filter.inflation holds a number > 0 or adaptive, not keys"},
		{"filter.members=many", "setting filter.members: want an integer, got many"},
		{"filter.members=2.5", "setting filter.members: want an integer, got 2.5"},
		{"filter.members=1", "filter.members: need at least 2 members, got 1"},
		{"filter.rotate=[1]", "setting filter.rotate: want true or false, got a list"},
		{"orchestration.fanout.members_per_task=0", "orchestration.fanout.members_per_task: must be 1..20"},
		{"forecast.fanout.members_per_task=4", "forecast.fanout: moved to orchestration.fanout"},
		{"filter.blocks=4", "filter.blocks: moved to orchestration.blocks"},
		{"filter.inflation", "want key=value"},
		{"=3", "want key=value"},
		{"seed={", "value \"{\" is not YAML"},
	} {
		t.Run(tc.set, func(t *testing.T) {
			_, err := base.Override([]string{tc.set})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// FuzzOverride: any setting gives a valid config or an error, never a
// panic.
func FuzzOverride(f *testing.F) {
	base, err := Parse([]byte(validYAML))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"filter.inflation=1.05", "orchestration.fanout={members_per_task: 3}", "model=null", "observations.indices=[1, 2]", "a.b.c=&x", "seed=*y", "anomaly={bias: 1, bias_index: 3}", "ood.outlier_k=4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := base.Override([]string{s})
		if err == nil {
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("%q: no error, but the result does not validate: %v", s, verr)
			}
		}
	})
}
