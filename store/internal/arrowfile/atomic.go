package arrowfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// TempMarker separates a final file name from the random suffix of the
// temporary file it is written to: ".analysis.arrow.tmp-1a2b3c4d5e6f7a8b".
const TempMarker = ".tmp-"

// WriteAtomic writes a file with write and puts it under path in one atomic
// step, so that path never names a partial file (see AtomicFile). If write
// fails or panics, the temporary file is removed and path is left as it
// was. The directory must exist.
func WriteAtomic(path string, write func(w io.Writer) error) (err error) {
	f, err := CreateAtomic(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Rename(path); err != nil {
		return err
	}
	return SyncDir(f.Dir)
}

// AtomicFile is a file being written for an atomic replace of a file in
// dir:
//
//  1. CreateAtomic creates a new temporary file in the directory (a leading
//     dot, the final base name and a random suffix: the rename below needs
//     the same file system, and the name says what it was for if a crash
//     leaves it behind);
//  2. the caller writes it through a buffer (Write); Sync flushes, fsyncs
//     and closes it;
//  3. Rename puts it under its final name (atomic on POSIX file systems,
//     replacing any old file); fsyncing the directory (SyncDir, once for
//     all the files renamed into it) makes the rename durable.
//
// Abort removes the temporary file unless it was renamed; it is safe to
// call at any time, and again.
type AtomicFile struct {
	*bufio.Writer
	f *os.File
	// Dir is the directory of the file, Tmp the temporary file's path.
	Dir, Tmp string
	closed   bool
	renamed  bool
}

// CreateAtomic creates the temporary file for path (see AtomicFile).
func CreateAtomic(path string) (*AtomicFile, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" {
		return nil, errors.New("empty file name")
	}
	f, tmp, err := CreateTemp(dir, base)
	if err != nil {
		return nil, err
	}
	return &AtomicFile{Writer: bufio.NewWriterSize(f, 1<<16), f: f, Dir: dir, Tmp: tmp}, nil
}

// Sync flushes, fsyncs and closes the temporary file.
func (a *AtomicFile) Sync() error {
	if err := a.Flush(); err != nil {
		return err
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", a.Tmp, err)
	}
	a.closed = true
	return a.f.Close()
}

// Rename puts the synced temporary file under path, in the same directory.
func (a *AtomicFile) Rename(path string) error {
	if err := os.Rename(a.Tmp, path); err != nil {
		return err
	}
	a.renamed = true
	return nil
}

// Link puts the synced temporary file under path unless path exists, in
// one atomic step (a hard link, which fails with fs.ErrExist if path is
// taken), and removes the temporary name. It reports whether the file was
// put there.
func (a *AtomicFile) Link(path string) (bool, error) {
	err := os.Link(a.Tmp, path)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	a.renamed = true
	return true, os.Remove(a.Tmp)
}

// Abort removes the temporary file unless it was renamed (see AtomicFile).
func (a *AtomicFile) Abort() {
	if !a.closed {
		a.closed = true
		_ = a.f.Close()
	}
	if !a.renamed {
		a.renamed = true
		_ = os.Remove(a.Tmp)
	}
}

// CreateTemp creates a new file for writing in dir named after base, with
// permissions 0o666 less the umask, as the final file would get from
// os.Create (os.CreateTemp would use 0o600).
func CreateTemp(dir, base string) (*os.File, string, error) {
	for range 100 {
		name := filepath.Join(dir, fmt.Sprintf(".%s%s%016x", base, TempMarker, rand.Uint64()))
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

// SyncDir fsyncs a directory, making renames and new entries in it durable.
func SyncDir(dir string) error {
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

// IsTempName reports whether name is that of a temporary file made by
// CreateTemp: "." + a non-empty base + TempMarker + 16 hex digits.
func IsTempName(name string) bool {
	i := strings.LastIndex(name, TempMarker)
	if !strings.HasPrefix(name, ".") || i < 2 {
		return false
	}
	suffix := name[i+len(TempMarker):]
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

// SameContents reports whether the files a and b hold the same bytes; a
// missing b counts as the same (there is nothing to compare with).
func SameContents(a, b string) (bool, error) {
	fb, err := os.Open(b)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer fb.Close()
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	sa, err := fa.Stat()
	if err != nil {
		return false, err
	}
	sb, err := fb.Stat()
	if err != nil {
		return false, err
	}
	if sa.Size() != sb.Size() {
		return false, nil
	}
	ba, bb := make([]byte, 1<<16), make([]byte, 1<<16)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == io.EOF || eb == io.ErrUnexpectedEOF, nil
		}
		if ea != nil {
			return false, ea
		}
		if eb != nil {
			return false, eb
		}
	}
}
