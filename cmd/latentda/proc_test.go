package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/latentda/latentda/devserver"
	"github.com/latentda/latentda/internal/statecmp"
	"github.com/latentda/latentda/internal/temporalclient"
	"github.com/latentda/latentda/workflows"
)

// The test binary doubles as the latentda binary: with this variable set
// it runs the CLI on its arguments instead of the tests, so tests can start
// and kill -9 real `latentda worker` processes without building one.
const reexecEnv = "LATENTDA_TEST_REEXEC_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(reexecEnv) == "1" {
		os.Exit(Execute())
	}
	// The variable is set for the children that act as the CLI only: the
	// processes a fuzz target's workers run in re-execute this binary too.
	os.Exit(m.Run())
}

// proc is a latentda process started by a test.
type proc struct {
	cmd *exec.Cmd
	log string
}

// startLatentda starts `latentda args...` as a child process with its
// output in a log file; the test's cleanup kills it if it still runs.
func startLatentda(t *testing.T, logDir string, args ...string) *proc {
	t.Helper()
	log, err := os.CreateTemp(logDir, "latentda-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), reexecEnv+"=1")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start latentda %v: %v", args, err)
	}
	p := &proc{cmd: cmd, log: log.Name()}
	t.Cleanup(func() { p.kill(t) })
	return p
}

// kill sends SIGKILL (no chance to clean up) and reaps the process.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func warnLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// startServer starts the embedded server (in memory if dbPath is "") on a
// free port, and a client; both stop with the test.
func startServer(t *testing.T, dbPath string, port int) (*devserver.Server, client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if port == 0 {
		port = freePort(t)
	}
	srv, err := devserver.Start(ctx, devserver.Options{
		DBPath: dbPath, FrontendPort: port, UIPort: -1,
		SearchAttributes: workflows.SearchAttributes(), Logger: warnLogger(),
	})
	if err != nil {
		t.Fatalf("start dev server: %v", err)
	}
	c, err := client.Dial(client.Options{
		HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(),
		Logger: sdklog.NewStructuredLogger(warnLogger()),
	})
	if err != nil {
		_ = srv.Stop()
		t.Fatalf("dial %s: %v", srv.FrontendAddress(), err)
	}
	t.Cleanup(func() {
		c.Close()
		if err := srv.Stop(); err != nil {
			t.Errorf("stop dev server: %v", err)
		}
	})
	return srv, c
}

// workflowHistory fetches a workflow's history.
func workflowHistory(ctx context.Context, t *testing.T, c client.Client, wfID string) *historypb.History {
	t.Helper()
	h, err := temporalclient.FetchHistory(ctx, c, wfID, "")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// activityWorkers maps each activity type to the identities of the
// workers that started its attempts.
func activityWorkers(h *historypb.History) map[string][]string {
	types := map[int64]string{}
	out := map[string][]string{}
	for _, ev := range h.Events {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			types[ev.GetEventId()] = a.GetActivityType().GetName()
		}
		if ev.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED {
			a := ev.GetActivityTaskStartedEventAttributes()
			typ := types[a.GetScheduledEventId()]
			out[typ] = append(out[typ], a.GetIdentity())
		}
	}
	return out
}

// sameFiles checks that the run directories want and got hold the same
// state (statecmp.Contents: cycle by cycle, whatever the files' layout;
// temporary files and names for which skip is true left out), bit for
// bit, and returns the temporary files found in got.
func sameFiles(t *testing.T, want, got string, skip func(rel string) bool) (temps []string) {
	t.Helper()
	list := func(root string) map[string][]byte {
		files, tmp := statecmp.Contents(t, root)
		temps = tmp
		for rel := range files {
			if skip != nil && skip(rel) {
				delete(files, rel)
			}
		}
		return files
	}
	w := list(want)
	temps = nil
	g := list(got)
	var diffs []string
	for rel, b := range w {
		if gb, ok := g[rel]; !ok {
			diffs = append(diffs, rel+": missing")
		} else if !bytes.Equal(b, gb) {
			diffs = append(diffs, rel+": bytes differ")
		}
	}
	for rel := range g {
		if _, ok := w[rel]; !ok {
			diffs = append(diffs, rel+": unexpected")
		}
	}
	if len(w) == 0 {
		diffs = append(diffs, "no files in "+want)
	}
	if len(diffs) > 0 {
		if len(diffs) > 20 {
			diffs = append(diffs[:20], fmt.Sprintf("... and %d more", len(diffs)-20))
		}
		t.Errorf("%s differs from %s:\n%s", got, want, strings.Join(diffs, "\n"))
	}
	return temps
}
