package runner

import "syscall"

// sysProcAttr puts a child in its own process group and has the kernel send
// it SIGTERM if the runner dies without stopping it (Pdeathsig).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
