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
// step, so that path never names a partial file (see atomicFile). If write
// fails or panics, the temporary file is removed and path is left as it
// was. The directory must exist.
func writeAtomic(path string, write func(w io.Writer) error) (err error) {
	f, err := createAtomic(path)
	if err != nil {
		return err
	}
	defer f.abort()
	if err := write(f); err != nil {
		return err
	}
	if err := f.sync(); err != nil {
		return err
	}
	if err := f.rename(path); err != nil {
		return err
	}
	return syncDir(f.dir)
}

// atomicFile is a file being written for an atomic replace of a file in
// dir:
//
//  1. createAtomic creates a new temporary file in the directory (a leading
//     dot, the final base name and a random suffix: the rename below needs
//     the same file system, and the name says what it was for if a crash
//     leaves it behind);
//  2. the caller writes it through a buffer (Write); sync flushes, fsyncs
//     and closes it;
//  3. rename puts it under its final name (atomic on POSIX file systems,
//     replacing any old file); fsyncing the directory (syncDir, once for
//     all the files renamed into it) makes the rename durable.
//
// abort removes the temporary file unless it was renamed; it is safe to
// call at any time, and again.
type atomicFile struct {
	*bufio.Writer
	f        *os.File
	dir, tmp string
	closed   bool
	renamed  bool
}

func createAtomic(path string) (*atomicFile, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" {
		return nil, errors.New("empty file name")
	}
	f, tmp, err := createTemp(dir, base)
	if err != nil {
		return nil, err
	}
	return &atomicFile{Writer: bufio.NewWriterSize(f, 1<<16), f: f, dir: dir, tmp: tmp}, nil
}

// sync flushes, fsyncs and closes the temporary file.
func (a *atomicFile) sync() error {
	if err := a.Flush(); err != nil {
		return err
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", a.tmp, err)
	}
	a.closed = true
	return a.f.Close()
}

// rename puts the synced temporary file under path, in the same directory.
func (a *atomicFile) rename(path string) error {
	if err := os.Rename(a.tmp, path); err != nil {
		return err
	}
	a.renamed = true
	return nil
}

func (a *atomicFile) abort() {
	if !a.closed {
		a.closed = true
		_ = a.f.Close()
	}
	if !a.renamed {
		a.renamed = true
		_ = os.Remove(a.tmp)
	}
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
