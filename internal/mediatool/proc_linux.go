package mediatool

import "syscall"

// sysProcAttr puts the program in a process group of its own and has the
// kernel kill it (SIGKILL) should the thread that started it end — that
// is, should Butler die while it runs (Run keeps that thread meanwhile).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
