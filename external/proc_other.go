//go:build !unix

package external

import "os/exec"

// ownGroup does nothing where process groups are not available.
func ownGroup(*exec.Cmd) {}

// kill kills the process.
func (r *running) kill() {
	if p := r.cmd.Process; p != nil {
		_ = p.Kill()
	}
}
