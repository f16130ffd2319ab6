package activities_test

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/activities/internal/statetest"
	"github.com/latentda/latentda/store"
)

// mountTmpfs mounts a tmpfs of the given size on a new directory, or skips
// the test where mounting is not allowed (store's TestWriteAtomic covers
// injected write errors there).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func remount(t *testing.T, dir, opts string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+opts, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s %s: %v: %s", dir, opts, err, out)
	}
}

// TestFullDiskAndReadOnlyStateDir runs out of space in the middle of a
// run (a 192 KiB tmpfs), then makes the state directory read-only: both
// give an error naming the file and the cause, leave every file under its
// final name complete and no temporary file behind; with space again, a
// retry of the failed batch finishes the run bit-identical to one that
// never failed.
func TestFullDiskAndReadOnlyStateDir(t *testing.T) {
	root := mountTmpfs(t, "192k")
	a := &activities.Activities{StateRoot: root}
	cfg := shortL63(200)
	initialize(t, a, cfg)
	var failed int
	for from := 1; from <= cfg.Cycles; from += 10 {
		_, err := runCycles(a, cfg, from, from+9)
		if err == nil {
			continue
		}
		if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), root) {
			t.Fatalf("cycles %d..%d on a full disk: %v, want ENOSPC naming a file under %s", from, from+9, err, root)
		}
		t.Logf("cycles %d..%d: %v", from, from+9, err)
		failed = from
		break
	}
	if failed == 0 {
		t.Fatal("the run fit into the tmpfs; make it smaller")
	}
	checkFinalFiles(t, root)

	remount(t, root, "ro")
	before := statetest.Snapshot(t, runDir(a).Root)
	_, err := runCycles(a, cfg, failed, failed+9)
	if !errors.Is(err, syscall.EROFS) || !strings.Contains(err.Error(), root) {
		t.Fatalf("cycles on a read-only state directory: %v, want EROFS naming a file", err)
	}
	if d := statetest.DiffSnapshots(before, statetest.Snapshot(t, runDir(a).Root)); len(d) > 0 {
		t.Errorf("a failed batch on a read-only state directory changed it:\n%s", strings.Join(d, "\n"))
	}

	remount(t, root, "rw,size=16m")
	for from := failed; from <= cfg.Cycles; from += 10 {
		if _, err := runCycles(a, cfg, from, from+9); err != nil {
			t.Fatalf("cycles %d..%d after freeing space: %v", from, from+9, err)
		}
	}
	ref := newActivities(t)
	runBatches(t, ref, cfg, [][2]int{{1, 200}})
	if d := statetest.DiffSnapshots(statetest.Contents(t, runDir(ref).Root), statetest.Contents(t, runDir(a).Root)); len(d) > 0 {
		t.Errorf("the run that ran out of space differs from one that did not:\n%s", strings.Join(d, "\n"))
	}
}

// checkFinalFiles checks that every Arrow file under root reads back and
// that no temporary file is left.
func checkFinalFiles(t *testing.T, root string) {
	t.Helper()
	statetest.Contents(t, runDir(&activities.Activities{StateRoot: root}).Root) // reads every cycle's state
	for rel := range statetest.Snapshot(t, root) {
		name := filepath.Base(rel)
		switch {
		case strings.Contains(name, ".tmp-"):
			t.Errorf("temporary file left: %s", rel)
		case name == "diagnostics.arrow":
			if _, _, err := store.ReadDiagnostics(filepath.Join(root, rel)); err != nil {
				t.Errorf("%s: %v", rel, err)
			}
		case name == "analysis.arrow" || name == "forecast.arrow":
			if _, _, err := store.ReadEnsemble(filepath.Join(root, rel)); err != nil {
				t.Errorf("%s: %v", rel, err)
			}
		case name == "truth.arrow":
			if _, _, err := store.ReadVector(filepath.Join(root, rel)); err != nil {
				t.Errorf("%s: %v", rel, err)
			}
		case name == "observations.arrow":
			if _, _, err := store.ReadObservations(filepath.Join(root, rel)); err != nil {
				t.Errorf("%s: %v", rel, err)
			}
		}
	}
}
