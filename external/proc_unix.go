//go:build unix

package external

import (
	"os/exec"
	"syscall"
)

// ownGroup starts the process in a process group of its own, so that
// killing it also kills what it started (a shell wrapper's children).
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// kill kills the process's group.
func (r *running) kill() {
	if p := r.cmd.Process; p != nil {
		_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	}
}
