//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair (master and slave ends), or skips
// the test where there is none.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	fd := int(master.Fd())
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err == nil {
		err = unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0) // unlock the slave
	}
	if err == nil {
		slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	}
	if err != nil {
		master.Close()
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	return master, slave
}

// TestProgressOnTerminal runs `latentda run` with its stderr on a
// pseudo-terminal: it shows one progress line, rewritten in place
// ("\r\033[K") after every batch, with no structured log line among the
// updates, and ends it before the summary, which stdout, on the same
// terminal, prints on lines of its own.
func TestProgressOnTerminal(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cycles int
		args   []string
		// final: the last update shows the last cycle (the in-process
		// run reports every batch; under Temporal the command polls
		// the workflow every second).
		final bool
	}{
		{"in process", 12, []string{"--in-process", "--batch-cycles", "2"}, true},
		// The embedded server and a worker, whose INFO lines a terminal
		// must not see; long enough for several polls (about 14 s on a quiet
		// machine: 400 cycles took 2 s, one poll).
		{"temporal", 1000, []string{"--batch-cycles", "1", "--ui-port", "-1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.final && testing.Short() {
				t.Skip("starts the embedded Temporal server")
			}
			dir := t.TempDir()
			write(t, filepath.Join(dir, "c.yaml"), strings.Replace(goodL63, "cycles: 6", fmt.Sprintf("cycles: %d", tc.cycles), 1))
			master, slave := openPTY(t)
			args := append([]string{"run", "-c", "c.yaml", "--state-dir", "state", "--run-id", "pty"}, tc.args...)
			cmd := exec.Command(os.Args[0], args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), reexecEnv+"=1", "LATENTDA_STATE_DIR=", "LATENTDA_LOG_FORMAT=")
			cmd.Stdout, cmd.Stderr = slave, slave
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			slave.Close() // the child's copy remains: reads end when it exits
			var term bytes.Buffer
			read := make(chan struct{})
			go func() {
				_, _ = io.Copy(&term, master) // ends with EIO once the child has gone
				close(read)
			}()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("latentda %v: %v\nterminal:\n%q", args, err, term.String())
				}
			case <-time.After(2 * time.Minute):
				_ = cmd.Process.Kill()
				t.Fatal("still running after 2 minutes")
			}
			<-read
			summaryAt := strings.Index(term.String(), "run          ")
			if summaryAt < 0 {
				t.Fatalf("no summary on the terminal:\n%q", term.String())
			}
			out, summary := term.String()[:summaryAt], term.String()[summaryAt:]
			const update = "\r\033[Kcycle "
			first, last := strings.Index(out, update), strings.LastIndex(out, update)
			if n := strings.Count(out, update); n < 2 {
				t.Fatalf("%d in-place progress updates, want several:\n%q", n, out)
			}
			if between := out[first:last]; strings.Contains(between, "\n") {
				t.Errorf("lines between the progress updates:\n%q", between)
			}
			if !strings.HasSuffix(out, "\r\n") || strings.Count(out[last:], "\n") != 1 {
				t.Errorf("the progress line is not ended, or other lines follow it:\n%q", out[last:])
			}
			if want := fmt.Sprintf("cycle %d/%d ", tc.cycles, tc.cycles); tc.final && !strings.Contains(out[last:], want) {
				t.Errorf("the last update is not %q:\n%q", want, out[last:])
			}
			for _, structured := range []string{"level=", "msg=", `"level"`} {
				if strings.Contains(out, structured) {
					t.Errorf("a structured log line (%s) on the terminal:\n%q", structured, out)
				}
			}
			if !strings.Contains(summary, fmt.Sprintf("cycles       %d", tc.cycles)) {
				t.Errorf("the summary does not count the cycles:\n%s", summary)
			}
		})
	}
}
