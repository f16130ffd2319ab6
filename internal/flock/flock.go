// Package flock takes exclusive advisory file locks, so that a second
// process refuses work the first one is doing (a dev server's database, a
// run's directory) instead of racing it.
package flock

import "errors"

// ErrHeld is the error of a lock another process holds.
var ErrHeld = errors.New("held by another process")
