package temporalclient

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/latentda/latentda/store"
)

// TestRemoveStaleTempsOnlyInRunDirs: an abandoned temporary file inside a
// run directory is removed; one of the same name and age elsewhere in the
// state directory (or beside it) is not the cleanup's.
func TestRemoveStaleTempsOnlyInRunDirs(t *testing.T) {
	state := t.TempDir()
	old := time.Now().Add(-2 * store.StaleTempAge)
	mk := func(path string) string {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const name = ".analysis.arrow.tmp-0123456789abcdef"
	inRun := mk(filepath.Join(state, "runs", "r1", "cycle-000001", name))
	outside := []string{
		mk(filepath.Join(state, name)),
		mk(filepath.Join(state, "generators", name)),
		mk(filepath.Join(state, "obs", name)),
	}
	RemoveStaleTemps(state)
	if _, err := os.Stat(inRun); !os.IsNotExist(err) {
		t.Errorf("%s: not removed (%v)", inRun, err)
	}
	for _, p := range outside {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s outside the run directories: %v", p, err)
		}
	}
}
