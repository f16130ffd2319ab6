//go:build !linux

package external

// Shared memory is offered on Linux only (memfd and its seals).

type segment struct {
	path string
	vals []float64
	size int
}

func newSegment() (*segment, error) { return nil, errNoShm }
func (*segment) ensure(int) error   { return errNoShm }
func (*segment) close()             {}
