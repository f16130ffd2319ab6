package store

import "io"

// WriteFileAtomic writes data to path atomically (temporary file, fsync,
// rename, directory fsync), for the run's small non-Arrow files such as its
// config.yaml. Errors are wrapped like the other writers'
// ("store: write <path>: ...").
func WriteFileAtomic(path string, data []byte) error {
	err := writeAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return writeErr(path, err)
	}
	return nil
}
