package config

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEstimate checks the estimates' formulas on small configs, where
// they are exact arithmetic (the tolerance is rounding only).
func TestEstimate(t *testing.T) {
	l96 := mustParse(t, validYAML) // nx 40, N 20, every 2: p 20, 100 cycles
	for _, tc := range []struct {
		name      string
		cfg       Config
		mem, disk float64
		seconds   float64
	}{
		{"l96 etkf", l96,
			8*(6*21*40+4*20*20+4*400) + 64<<20,
			100 * (8*(41*40+3*20) + 8<<10),
			(100*(1*21*40*40+4*(400*20+8000)) + 50/0.05*40*40) / 1e9},
		{"external: no time estimate", func() Config { c := l96; c.Model.Name = "external"; return c }(),
			8*(6*21*40+4*20*20+4*400) + 64<<20,
			100 * (8*(41*40+3*20) + 8<<10),
			0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.cfg.Estimate()
			for _, v := range []struct {
				what      string
				got, want float64
			}{{"memory", e.MemoryBytes, tc.mem}, {"disk", e.DiskBytes, tc.disk}, {"seconds", e.Seconds, tc.seconds}} {
				if math.Abs(v.got-v.want) > 1e-9*math.Abs(v.want) {
					t.Errorf("%s: got %v, want %v", v.what, v.got, v.want)
				}
			}
		})
	}
}

func mustParse(t *testing.T, yaml string) Config {
	t.Helper()
	c, err := Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLimitsCheck: a config beyond a limit is refused with the fields,
// the estimate, the limit and the flag that lifts it; a zero limit is no
// limit; the example configs fit the default limits.
func TestLimitsCheck(t *testing.T) {
	replace := func(old, new string) Config {
		return mustParse(t, strings.Replace(validYAML, old, new, 1))
	}
	for _, tc := range []struct {
		name   string
		cfg    Config
		limits Limits
		want   string // "" for no error
	}{
		{"nx 10^12", replace("nx: 40", "nx: 1000000000000"), DefaultLimits,
			"model.nx × filter.members: 1000000000000 variables × 20 members need about 1.2PiB of memory, over the limit of 8GiB; raise it with --max-memory (0: no limit)"},
		{"nx 10^8", replace("nx: 40", "nx: 100000000"), DefaultLimits, "need about 123.7GiB of memory, over the limit of 8GiB; raise it with --max-memory"},
		{"nx 10^8 without a memory limit: disk", replace("nx: 40", "nx: 100000000"), Limits{Disk: 1 << 40}, "cycles: 100 cycles of 100000000 variables × 20 members need about 3.1TiB of disk, over the limit of 1TiB; raise it with --max-disk"},
		{"cycles 10^12", replace("cycles: 100", "cycles: 1000000000000"), DefaultLimits, "cycles: 1000000000000 cycles of 40 variables × 20 members need about 19.4PiB of disk, over the limit of 50GiB; raise it with --max-disk (0: no limit)"},
		{"steps_between 10^9", replace("variance: 1}", "variance: 1, steps_between: 1000000000}"), DefaultLimits, "cycles × observations.steps_between: 100 cycles of 1000000000 model steps need about 933 h of compute, over the limit of 24h0m0s; raise it with --max-time (0: no limit)"},
		{"cycles 10^12 in years", replace("cycles: 100", "cycles: 1000000000000"), Limits{Time: time.Hour}, "need about 3.09 years of compute"},
		{"no limits", replace("cycles: 100", "cycles: 1000000000000"), Limits{}, ""},
		{"within the defaults", replace("nx: 40", "nx: 4000"), DefaultLimits, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.limits.Check(tc.cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatal("no example configs", err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".train.yaml") {
			continue
		}
		cfg, err := Load(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := DefaultLimits.Check(cfg); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
		err  bool
	}{
		{"0", 0, false},
		{"1000", 1000, false},
		{"8GiB", 8 << 30, false},
		{"500MB", 500e6, false},
		{"1.5TiB", 3 << 39, false},
		{" 2 KiB ", 2048, false},
		{"12B", 12, false},
		{"-1GiB", 0, true},
		{"lots", 0, true},
		{"1e30", 0, true},
		{"NaN", 0, true},
		{"0.5", 0, true}, // below one byte: not "no limit"
	} {
		got, err := ParseByteSize(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseByteSize(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
	for b, want := range map[ByteSize]string{0: "0B", 1023: "1023B", 1536: "1.5KiB", 8 << 30: "8GiB"} {
		if got := b.String(); got != want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(b), got, want)
		}
	}
}

// TestConfigSizeLimits: a config file over MaxConfigBytes is refused
// without decoding it, and so is a list over MaxListLength.
func TestConfigSizeLimits(t *testing.T) {
	long := "[" + strings.Repeat("1,", MaxListLength) + "1]"
	big := validYAML + "# " + strings.Repeat("x", MaxConfigBytes) + "\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"long list", strings.Replace(validYAML, "variance: 1}", "variance: 1, indices: "+long+"}", 1), "observations.indices: line 7: 100001 entries, over the limit of 100000 for a list in a config"},
		{"big file", big, "of YAML, larger than 1MiB, the limit of a config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := writeFile(path, big); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "big.yaml: larger than 1MiB, the limit of a config file") {
		t.Fatalf("Load: got %v", err)
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }

// FuzzParseByteSize: any input parses to a size >= 0 or is refused, and a
// parsed size printed and parsed again stays within the rounding of its
// printed form (one decimal of its unit).
func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"0", "8GiB", "500MB", "1.5TiB", "12B", "-1", "1e30", "NaN", " 2 KiB "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseByteSize(s)
		if err != nil {
			return
		}
		if b < 0 {
			t.Fatalf("%q parsed to %d", s, b)
		}
		again, err := ParseByteSize(b.String())
		if err != nil {
			t.Fatalf("%q → %d → %q: %v", s, b, b.String(), err)
		}
		if d := math.Abs(float64(again - b)); d > 0.051*float64(b)+1 {
			t.Fatalf("%q → %d → %q → %d", s, b, b.String(), again)
		}
	})
}
