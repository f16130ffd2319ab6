package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// go test -run Probe ./bench  (PROBE="regime;filter;h1|h2|...")
func TestProbe(t *testing.T) {
	spec := os.Getenv("PROBE")
	if spec == "" {
		t.Skip()
	}
	parts := strings.Split(spec, ";")
	m := benchModels["ks"]
	rg := regimeByName(parts[0])
	meth := methodByName(parts[1])
	N := rg.members[0]
	if len(parts) > 3 {
		fmt.Sscan(parts[3], &N)
	}
	c := newGeneratorCache(func(s string) { fmt.Println(s) })
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for _, hs := range strings.Split(parts[2], "|") {
		h, err := ParseHyper(hs)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			rs := rowSpec{model: m, regime: rg, N: N, method: meth}
			cfg, err := rs.config(h, 201, 300)
			if err != nil {
				t.Error(err)
				return
			}
			var gen *benchGenerator
			if meth.gen != "" {
				gen, err = c.get(context.Background(), m, meth.gen, meth.genDim(m, h))
				if err != nil {
					t.Error(err)
					return
				}
			}
			r := c.runBuilt(context.Background(), cfg, gen)
			fmt.Printf("%s N=%d %s %s: rmse %.3f spread %.3f nis %.2f err %v us %.0f\n", parts[0], N, meth.name, h, r.sum.RMSEa, r.sum.SpreadA, r.sum.NISRatio, r.err, float64(r.analysis.Microseconds())/float64(max(r.cycles, 1)))
		}()
	}
	wg.Wait()
}
