package store

import (
	"github.com/latentda/latentda/store/internal/arrowfile"
	"github.com/latentda/latentda/store/internal/ipcverify"
)

// VerifyStreamSchema checks the metadata of the schema message that starts
// an Arrow IPC stream (the flatbuffer Message after the continuation marker
// and length) as the file readers check a file's schema, so that arrow-go
// can decode it without reading out of bounds or allocating by a corrupt
// count: a Message whose header is a little-endian Schema of the column
// types this package writes, without dictionaries. Errors match
// ErrInvalid.
func VerifyStreamSchema(meta []byte) error {
	return arrowfile.Verified(ipcverify.StreamSchema(meta))
}
