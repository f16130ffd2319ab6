package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/latentda/latentda/store/internal/arrowfile"
)

// Exists reports whether path names a finished state file. Writes are
// atomic, so a file that exists is complete: a retried step that finds its
// output can reuse it instead of computing it again. It is an error if path
// exists but is not a regular file. Exists does not check the content; the
// readers do.
func Exists(path string) (bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, arrowfile.NewFileError("stat", path, err)
	}
	if !fi.Mode().IsRegular() {
		return false, &arrowfile.FileError{Op: "stat", Path: path, Err: fmt.Errorf("exists but is not a regular file (mode %v)", fi.Mode())}
	}
	return true, nil
}

// StaleTempAge is how long a temporary file of an atomic write must have
// gone unmodified before RemoveStaleTemps takes it for abandoned: a write
// in progress touches its file continuously and renames it within seconds
// of the last byte, so an hour leaves room for clock skew between machines
// sharing the state directory.
const StaleTempAge = time.Hour

// RemoveStaleTemps deletes, under root, the temporary files that atomic
// writes leave behind when their process dies between creating and
// renaming them (".<name>.tmp-<16 hex digits>"), if they were last
// modified before now − maxAge. It returns the paths it removed. Files
// that vanish meanwhile (another worker cleaning up) are not errors; other
// errors stop the walk.
func RemoveStaleTemps(root string, maxAge time.Duration, now time.Time) ([]string, error) {
	var removed []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() || !arrowfile.IsTempName(d.Name()) {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if now.Sub(fi.ModTime()) < maxAge {
			return nil
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		removed = append(removed, path)
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("store: removing stale temporary files under %s: %w", root, err)
	}
	return removed, nil
}
