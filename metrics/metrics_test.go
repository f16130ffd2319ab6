package metrics_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latentda/latentda/metrics"
)

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestServeExposesRecordedValues(t *testing.T) {
	m, err := metrics.New()
	if err != nil {
		t.Fatal(err)
	}
	m.CycleDone("r1", 3*time.Millisecond, 0.25, 0.5)
	m.CycleDone("r1", 5*time.Millisecond, 0.2, 0.4)
	m.CycleDone("r2", time.Millisecond, 1.5, 1)
	m.ObservationsFlagged(3)
	m.ObservationsFlagged(0)
	m.BytesWritten(1000)
	m.BytesWritten(-1) // ignored: counters only go up
	m.SDKHandler().WithTags(map[string]string{"task_queue": "q"}).Counter("temporal_test_counter").Inc(2)

	s, err := metrics.Serve("127.0.0.1:0", m)
	if err != nil {
		t.Fatal(err)
	}
	body := get(t, "http://"+s.Addr()+"/metrics")
	for _, want := range []string{
		"latentda_cycles_total 3\n",
		"latentda_cycle_duration_seconds_count 3\n",
		"latentda_cycle_duration_seconds_sum 0.00900", // 3 + 5 + 1 ms, up to rounding
		`latentda_analysis_rmse{run_id="r1"} 0.2` + "\n",
		`latentda_analysis_rmse{run_id="r2"} 1.5` + "\n",
		`latentda_analysis_spread{run_id="r1"} 0.4` + "\n",
		"latentda_observations_flagged_total 3\n",
		"latentda_bytes_written_total 1000\n",
		`temporal_test_counter_total{task_queue="q"} 2` + "\n",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in\n%s", want, body)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + s.Addr() + "/metrics"); err == nil {
		t.Error("server still answers after Close")
	}
}

func TestServeBusyAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m, err := metrics.New()
	if err != nil {
		t.Fatal(err)
	}
	_, err = metrics.Serve(l.Addr().String(), m)
	if err == nil || !strings.Contains(err.Error(), "metrics: listen on "+l.Addr().String()) {
		t.Fatalf("got %v, want an error naming the address", err)
	}
}
