//go:build !unix

package external

// Shared memory is not offered where mmap and flock are not available.

type shmFile struct {
	vals, out []float64
}

func shmDir() string                           { return "" }
func newShmFile(string) (*shmFile, error)      { return nil, errNoShm }
func (*shmFile) path() string                  { return "" }
func (*shmFile) ensure(int) error              { return errNoShm }
func (*shmFile) close()                        {}
func openShmServer(string) (*shmServer, error) { return nil, errNoShm }

type shmServer struct{}

func (*shmServer) states(int) ([]float64, error) { return nil, errNoShm }
func (*shmServer) close()                        {}
