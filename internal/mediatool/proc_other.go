//go:build !linux

package mediatool

import "syscall"

// sysProcAttr puts the program in a process group of its own.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// threadPriority is whether a program inherits the niceness and I/O
// priority of the thread that starts it: not here, where the niceness is
// the process's (the program runs under nice(1) instead).
const threadPriority = false

// lowerThread is never called where threadPriority is false.
func lowerThread(nice, ioprio int) error { return nil }

// mainThread is never asked where threadPriority is false.
func mainThread() bool { return false }
