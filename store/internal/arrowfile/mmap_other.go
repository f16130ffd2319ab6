//go:build !(linux || darwin || freebsd)

package arrowfile

import (
	"errors"
	"os"
)

// MapFile is not implemented here: readers read the file instead.
func MapFile(*os.File, int64) ([]byte, func(), error) {
	return nil, nil, errors.New("memory maps are not supported on this platform")
}
