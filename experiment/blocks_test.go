package experiment

import (
	"slices"
	"strings"
	"testing"

	"github.com/latentda/latentda/config"
)

func TestAnalysisBlocks(t *testing.T) {
	for _, tc := range []struct {
		nx, batch, blocks int
		want              [][2]int
	}{
		{40, 1, 0, nil},
		{40, 1, 1, [][2]int{{0, 40}}},
		{40, 1, 3, [][2]int{{0, 13}, {13, 26}, {26, 40}}},
		{41, 4, 3, [][2]int{{0, 12}, {12, 28}, {28, 41}}}, // 11 batches of 4 (the last one short): 3, 4 and 4 batches
		{40, 4, 10, [][2]int{{0, 4}, {4, 8}, {8, 12}, {12, 16}, {16, 20}, {20, 24}, {24, 28}, {28, 32}, {32, 36}, {36, 40}}},
	} {
		c := config.Config{Model: config.ModelConfig{Nx: tc.nx}, Filter: config.FilterConfig{BatchSize: tc.batch}, Orchestration: &config.Orchestration{Blocks: tc.blocks}}
		if got := c.AnalysisBlocks(); !slices.Equal(got, tc.want) {
			t.Errorf("nx %d, batch %d, %d blocks: %v, want %v", tc.nx, tc.batch, tc.blocks, got, tc.want)
		}
	}
}

func TestBlocksConfigErrors(t *testing.T) {
	for _, tc := range []struct{ filter, extra, want string }{
		{"{method: letkf, members: 10, loc_radius: 4}", "orchestration: {blocks: -1}", "orchestration.blocks: must be >= 0"},
		{"{method: etkf, members: 10}", "orchestration: {blocks: 2}", "orchestration.blocks: only the LETKF without rotation"},
		{"{method: letkf, members: 10, loc_radius: 4, rotate: true}", "orchestration: {blocks: 2}", "only the LETKF without rotation"},
		{"{method: letkf, members: 10, loc_radius: 4}", "orchestration: {blocks: 41}", "41 blocks for 40 batches"},
		{"{method: letkf, members: 10, loc_radius: 4, blocks: 2}", "", "filter.blocks: line 4: moved to orchestration.blocks"},
		{"{method: letkf, members: 10, loc_radius: 4}", "forecast: {fanout: {members_per_task: 2}}", "forecast.fanout: line 5: moved to orchestration.fanout"},
	} {
		doc := "name: x\ncycles: 10\nmodel: {name: lorenz96}\nfilter: " + tc.filter + "\n" + tc.extra
		if _, err := config.Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.filter, err, tc.want)
		}
	}
}
