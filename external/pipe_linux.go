package external

import (
	"os"

	"golang.org/x/sys/unix"
)

// pipeSize is the kernel buffer asked for each pipe: a large batch then
// crosses in fewer wake-ups of reader and writer.
const pipeSize = 1 << 20

// growPipe enlarges f's pipe buffer to pipeSize, or as far as
// /proc/sys/fs/pipe-max-size allows; a failure leaves the default.
func growPipe(f *os.File) {
	if c, err := f.SyscallConn(); err == nil {
		_ = c.Control(func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize) })
	}
}
