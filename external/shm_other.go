//go:build !unix

package external

// Serve cannot map a shared-memory file where mmap is not available.

func openShmServer(string) (*shmServer, error) { return nil, errNoShm }

type shmServer struct{}

func (*shmServer) states(int, int) ([]float64, error) { return nil, errNoShm }
func (*shmServer) close()                             {}
