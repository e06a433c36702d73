//go:build !linux

package mediaprobe

import "syscall"

// sysProcAttr puts ffprobe in a process group of its own.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
