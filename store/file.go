package store

import (
	"io"

	"github.com/latentda/latentda/store/internal/arrowfile"
)

// WriteFileAtomic writes data to path atomically (temporary file, fsync,
// rename, directory fsync), for the run's small non-Arrow files such as its
// config.yaml. Errors are wrapped like the other writers'
// ("store: write <path>: ...").
func WriteFileAtomic(path string, data []byte) error {
	err := arrowfile.WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return arrowfile.WriteErr(path, err)
	}
	return nil
}

// CreateFileOnce writes data to path unless path exists, atomically (as
// WriteFileAtomic, but the final step cannot replace a file): of writers
// racing for the same path exactly one creates it. It reports whether this
// call did. The file system must support hard links (every POSIX local
// file system and NFS do).
func CreateFileOnce(path string, data []byte) (created bool, err error) {
	f, err := arrowfile.CreateAtomic(path)
	if err != nil {
		return false, arrowfile.WriteErr(path, err)
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return false, arrowfile.WriteErr(path, err)
	}
	if err := f.Sync(); err != nil {
		return false, arrowfile.WriteErr(path, err)
	}
	if created, err = f.Link(path); err != nil {
		return false, arrowfile.WriteErr(path, err)
	}
	if !created {
		return false, nil
	}
	if err := arrowfile.SyncDir(f.Dir); err != nil {
		return true, arrowfile.WriteErr(path, err)
	}
	return true, nil
}
