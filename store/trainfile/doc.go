// Package trainfile reads and writes the files of the latent-space work:
// simulation archives, the training sets of generators ([WriteArchive]), and
// bundles of named tensors, a generator's weights or a training checkpoint
// ([WriteTensors]).
//
// They are latentda state files like those of package store, written and
// checked by the same code (store/internal/arrowfile): plain Arrow IPC files
// with their metadata in the schema, written atomically, read without
// trusting anything in them. The Meta and Option arguments are store.Meta
// and store.Option, and errors match store.ErrInvalid and
// store.ErrNewerSchema. docs/state-format.md documents their schemas.
package trainfile

import "github.com/latentda/latentda/store/internal/arrowfile"

// The kinds of file this package writes (see store.Kind).
const (
	KindArchive    arrowfile.Kind = "archive"    // snapshots of a simulation, a training set: WriteArchive
	KindGenerator  arrowfile.Kind = "generator"  // a generator's weights: WriteTensors
	KindCheckpoint arrowfile.Kind = "checkpoint" // a training checkpoint (weights, optimiser state): WriteTensors
)
