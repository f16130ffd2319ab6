//go:build !unix

package devserver

// lockDatabase is a no-op where flock(2) is not available: nothing stops
// two processes from opening the same database there.
func lockDatabase(string) (func(), error) { return func() {}, nil }
