// Package arrowfile is what every kind of latentda state file shares, for
// packages store and store/trainfile, which define the kinds: the metadata
// ([Meta], [EncodeMeta], [DecodeMeta]) and its schema version, the errors
// ([ErrInvalid], [ErrNewerSchema], [FileError]), reader and writer options,
// atomic writes ([WriteAtomic], [AtomicFile]), the record batches'
// checksums ([NewRecord], [Checksum], verified by [ReadTable]), and reading
// a file ([ReadTable], after package store/internal/ipcverify has checked
// its structure, mapped into memory by [ReadMappedPath]) and building its
// columns, so that the same data and metadata always give the same bytes.
//
// store names Meta, Kind, Option and the errors as its own (type aliases),
// and documents the format; see package store.
package arrowfile
