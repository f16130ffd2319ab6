package store

import "io"

// WriteFileAtomic writes data to path atomically (temporary file, fsync,
// rename, directory fsync), for the run's small non-Arrow files such as its
// config.yaml.
func WriteFileAtomic(path string, data []byte) error {
	return writeAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
