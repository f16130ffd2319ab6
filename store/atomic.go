package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// tempMarker separates a final file name from the random suffix of the
// temporary file it is written to: ".analysis.arrow.tmp-1a2b3c4d5e6f7a8b".
const tempMarker = ".tmp-"

// writeAtomic writes a file with write and puts it under path in one atomic
// step, so that path never names a partial file:
//
//  1. create a new temporary file in path's directory (a leading dot, path's
//     base name and a random suffix: the rename below needs the same file
//     system, and the name says what it was for if it is left behind by a
//     crash);
//  2. write it through a buffer, flush, fsync and close it;
//  3. rename it onto path (atomic on POSIX file systems, replacing any old
//     file), then fsync the directory so that the rename is durable.
//
// If any step before the rename fails (or write panics) the temporary file is
// removed and path is left as it was. The directory must exist.
func writeAtomic(path string, write func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" {
		return errors.New("empty file name")
	}
	f, tmp, err := createTemp(dir, base)
	if err != nil {
		return err
	}
	closed, renamed := false, false
	defer func() {
		if !closed {
			_ = f.Close()
		}
		if !renamed {
			_ = os.Remove(tmp)
		}
	}()

	bw := bufio.NewWriterSize(f, 1<<16)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	closed = true
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	renamed = true
	return syncDir(dir)
}

// createTemp creates a new file for writing in dir named after base, with
// permissions 0o666 less the umask, as the final file would get from
// os.Create (os.CreateTemp would use 0o600).
func createTemp(dir, base string) (*os.File, string, error) {
	for range 100 {
		name := filepath.Join(dir, fmt.Sprintf(".%s%s%016x", base, tempMarker, rand.Uint64()))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		return f, name, nil
	}
	return nil, "", fmt.Errorf("could not create a temporary file in %s", dir)
}

// syncDir fsyncs a directory, making renames and new entries in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

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
		return false, newFileError("stat", path, err)
	}
	if !fi.Mode().IsRegular() {
		return false, &fileError{op: "stat", path: path, err: fmt.Errorf("exists but is not a regular file (mode %v)", fi.Mode())}
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
		if !d.Type().IsRegular() || !isTempName(d.Name()) {
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

// isTempName reports whether name is that of a temporary file made by
// createTemp: "." + a non-empty base + tempMarker + 16 hex digits.
func isTempName(name string) bool {
	i := strings.LastIndex(name, tempMarker)
	if !strings.HasPrefix(name, ".") || i < 2 {
		return false
	}
	suffix := name[i+len(tempMarker):]
	if len(suffix) != 16 {
		return false
	}
	for _, c := range suffix {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
