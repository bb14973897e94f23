//go:build unix && !linux

package runner

import "syscall"

// sysProcAttr puts a child in its own process group. Without Pdeathsig
// outside Linux, a runner killed with SIGKILL leaves its children running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
