package store

import (
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/latentda/latentda/store/internal/arrowfile"
)

// The file format shared by every kind of file (metadata, errors, options)
// is implemented in store/internal/arrowfile, which store and store/trainfile
// both build on; these are its names for users of the package.

// SchemaVersion is the version of the on-disk format this package writes,
// stored in every file under the metadata key "latentda.schema_version".
// Readers accept files of this version and reject newer ones with an error
// matching [ErrNewerSchema]. See docs/state-format.md for the policy.
const SchemaVersion = arrowfile.SchemaVersion

// Kind says what a state file holds; it is stored under "latentda.kind".
// The kinds of the generator and training files are in store/trainfile.
type Kind = arrowfile.Kind

// The kinds of state file.
const (
	KindEnsemble     Kind = "ensemble"     // forecast or analysis ensemble: WriteEnsemble
	KindObservations Kind = "observations" // one cycle's observations: WriteObservations
	KindDiagnostics  Kind = "diagnostics"  // one row per cycle: WriteDiagnostics
	KindTruth        Kind = "truth"        // one state vector: WriteVector
	KindEstimate     Kind = "estimate"     // estimates carried from one cycle to the next: WriteVector
	// KindStateBatch holds the states of a batch of cycles (truths,
	// ensembles or their means and spreads, estimates): CycleBatch.
	KindStateBatch Kind = "state_batch"
	// KindObservationBatch holds the observations of a batch of cycles:
	// CycleBatch.
	KindObservationBatch Kind = "observation_batch"
)

// Meta is the schema-level metadata common to all state files: SchemaVersion,
// Kind, RunID, Model, Params, Cycle, Time and Extra (each field is documented
// at its declaration). It is stored as string key/values in the Arrow schema
// metadata, so that any Arrow implementation can read it.
//
// Readers return Params and Extra as nil when a file has none; writers treat
// nil and empty maps alike.
type Meta = arrowfile.Meta

// Option configures a reader or writer.
type Option = arrowfile.Option

// WithAllocator makes a reader or writer allocate its Arrow buffers from
// mem (the default is memory.DefaultAllocator). Every buffer is released
// before the function returns, so a memory.CheckedAllocator is back to zero
// afterwards; tests use that to check for leaks.
func WithAllocator(mem memory.Allocator) Option { return arrowfile.WithAllocator(mem) }

// WithDigest makes a reader store the SHA-256 of the bytes it parsed, in
// hex, in *d. The file is then read into memory whole before it is parsed,
// so the digest belongs to the data returned even if the file is replaced
// meanwhile.
func WithDigest(d *string) Option { return arrowfile.WithDigest(d) }

// ErrInvalid is matched (with errors.Is) by every error that reports a file
// that exists and could be read but is not a valid state file of the
// expected kind: truncated or corrupt Arrow data, a wrong kind, missing or
// mistyped columns, inconsistent metadata, or values that fail validation
// (for example a NaN observation).
var ErrInvalid = arrowfile.ErrInvalid

// ErrNewerSchema is matched (with errors.Is) by the error a reader returns
// for a file written with a schema version newer than [SchemaVersion]. Such a
// file is probably fine; this build of latentda is too old to read it.
var ErrNewerSchema = arrowfile.ErrNewerSchema
