package arrowfile

import (
	"errors"
	"fmt"
	"io/fs"
)

// ErrInvalid is matched (with errors.Is) by every error that reports a file
// that exists and could be read but is not a valid state file of the
// expected kind: truncated or corrupt Arrow data, a wrong kind, missing or
// mistyped columns, inconsistent metadata, or values that fail validation
// (for example a NaN observation).
var ErrInvalid = errors.New("store: invalid state file")

// ErrNewerSchema is matched (with errors.Is) by the error a reader returns
// for a file written with a schema version newer than [SchemaVersion]. Such a
// file is probably fine; this build of latentda is too old to read it.
var ErrNewerSchema = errors.New("store: state file written by a newer schema version")

// FileError is the error type returned by every exported function of store
// and store/trainfile. Its message is "store: <op> <path>: <detail>".
type FileError struct {
	Op   string // "read" or "write"
	Path string
	Err  error
}

func (e *FileError) Error() string { return "store: " + e.Op + " " + e.Path + ": " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// ReadErr and WriteErr wrap err as the failure to read or write path.
func ReadErr(path string, err error) error  { return NewFileError("read", path, err) }
func WriteErr(path string, err error) error { return NewFileError("write", path, err) }

// NewFileError wraps err as the failure of op on path.
func NewFileError(op, path string, err error) error {
	// "store: read /x/a.arrow: open: no such file or directory" rather
	// than "...: open /x/a.arrow: no such file or directory".
	var pe *fs.PathError
	if errors.As(err, &pe) && pe == err && pe.Path == path {
		err = fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return &FileError{Op: op, Path: path, Err: err}
}

// InvalidError marks err as describing an invalid file (see ErrInvalid)
// without changing its message.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string        { return e.Err.Error() }
func (e *InvalidError) Unwrap() error        { return e.Err }
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// Invalidf formats an error matching ErrInvalid.
func Invalidf(format string, args ...any) error {
	return &InvalidError{Err: fmt.Errorf(format, args...)}
}

// newerSchemaError reports a file written with a newer schema version.
type newerSchemaError struct{ version int }

func (e *newerSchemaError) Error() string {
	return fmt.Sprintf("written with schema version %d, but this build of latentda reads schema versions up to %d: upgrade latentda to read it",
		e.version, SchemaVersion)
}

func (e *newerSchemaError) Is(target error) bool { return target == ErrNewerSchema }
