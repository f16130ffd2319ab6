package report

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCompareText: the text comparison gives the time means over the
// cycles both runs score, and no means (a dash and why, not 0) when
// there is none.
func TestCompareText(t *testing.T) {
	for _, tc := range []struct {
		burnIn  string
		want    string
		notWant string
	}{
		// Cycles 3..6 (model time 0.15..0.3) are past a burn-in of 0.1.
		{"0.1", "time means over the 4 cycles both runs have and score:\n", "no cycle"},
		// 6 cycles done of 30, with a burn-in of 10.
		{"0.5", "time means: — (no cycle that both runs have is past both burn-ins)\n", "0.0000   0.0000"},
	} {
		t.Run(tc.burnIn, func(t *testing.T) {
			state := t.TempDir()
			s := newSynthRun()
			s.config = strings.Replace(strings.Replace(s.config, "cycles: 6", "cycles: 30", 1), "burn_in: 0.1", "burn_in: "+tc.burnIn, 1)
			s.write(t, state)
			c, err := CompareRuns(filepath.Join(state, "runs"), "r1", "r1")
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			if err := c.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			if out := b.String(); !strings.Contains(out, tc.want) || strings.Contains(out, tc.notWant) {
				t.Errorf("burn-in %s: output\n%s\nwant %q and no %q", tc.burnIn, out, tc.want, tc.notWant)
			}
		})
	}
}
