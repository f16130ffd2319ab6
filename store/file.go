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
