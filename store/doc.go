// Package store reads and writes the files that hold the state of a
// latentda run: ensembles, observations, true states and the diagnostics
// table. Those of the latent-space work, simulation archives (the training
// sets of generators) and bundles of named tensors (a generator's weights or
// a training checkpoint), are in package store/trainfile; both build on
// store/internal/arrowfile, which holds what every kind of file shares
// (metadata, errors, atomic writes, checked reads).
//
// Every file is a plain Arrow IPC file (the random-access "file" format,
// magic "ARROW1", uncompressed) with simple column types and its metadata as
// string key/values in the schema, so that pyarrow, polars, DuckDB or any
// other Arrow implementation can read it with no custom code. The layout of a
// run directory, the schema of each file and the versioning policy are
// documented in docs/state-format.md; [RunDir] gives the paths.
//
// The cycles a run computes in batches are stored in batch files, one per
// kind of state per batch ([CycleBatch]: truths, ensembles or, as the
// run's [Retention] says, their means and spreads, observations), with
// one fsync per file; cycles stored one at a time, and every cycle of runs
// written before schema version 4, have a directory of files each.
// [RunState] reads a cycle's state from either.
//
// Writes are atomic: a file is written to a temporary file in the same
// directory, fsynced and renamed onto its final name, so a file that exists
// is complete, and a retried step can test [Exists] and reuse it. The same
// data and metadata always give byte-identical files.
//
// Every record batch carries the CRC-32C of its values in its message's
// metadata ("latentda.checksum"; docs/state-format.md defines it), and
// readers verify it, so a flipped bit that leaves a value finite is found;
// files written before checksums, or rewritten by other Arrow tools, have
// none and are read unverified.
//
// Readers trust nothing in a file: they check its structure before the
// Arrow library decodes it (package store/internal/ipcverify), then its
// kind, schema version, columns, types, checksums and values, and report every
// problem as an error naming the file (one matching [ErrInvalid], or
// [ErrNewerSchema] for a file from a newer version); they do not panic on
// any input.
//
// Large state files are moved once: [WriteEnsemble] (and the vector and
// archive writers) hand the matrix's own memory to the Arrow writer, and
// [ReadEnsemble], [ReadVector] and trainfile.ReadArchive map the file into
// memory and copy its values straight into the result, so neither side holds
// a second copy of an ensemble (`go test -bench Ensemble ./store` compares
// them with a plain write and read of the same bytes).
//
// Every function allocates its Arrow buffers from memory.DefaultAllocator,
// or from the allocator given by [WithAllocator], and releases them all
// before it returns.
package store
