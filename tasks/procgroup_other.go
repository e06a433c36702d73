//go:build !linux

package tasks

import "syscall"

// execSysProcAttr puts the program in a process group of its own.
func execSysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// bootID is "" where the boot cannot be named: groups are not recorded.
func bootID() string { return "" }

// processStart is unknown where there is no /proc.
func processStart(int) (uint64, bool) { return 0, false }
