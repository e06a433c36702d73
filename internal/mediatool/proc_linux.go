package mediatool

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// sysProcAttr puts the program in a process group of its own and has the
// kernel kill it (SIGKILL) should the thread that started it end — that
// is, should Butler die while it runs (Run keeps that thread meanwhile).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// threadPriority is whether a program inherits the niceness and I/O
// priority of the thread that starts it (on Linux both are a thread's).
const threadPriority = true

// lowerThread sets the calling thread's niceness and I/O priority (each
// when not 0). For a thread, not the process: on Linux setpriority(2) and
// ioprio_set(2) with who 0 mean the calling thread.
func lowerThread(nice, ioprio int) error {
	if nice != 0 {
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, nice); err != nil {
			return fmt.Errorf("setpriority %d: %w", nice, err)
		}
	}
	if ioprio != 0 {
		const whoProcess = 1 // IOPRIO_WHO_PROCESS
		if _, _, errno := unix.Syscall(unix.SYS_IOPRIO_SET, whoProcess, 0, uintptr(ioprio)); errno != 0 {
			return fmt.Errorf("ioprio_set %#x: %w", ioprio, errno)
		}
	}
	return nil
}

// mainThread reports whether the calling thread is the process's first,
// which Go never ends.
func mainThread() bool { return unix.Gettid() == unix.Getpid() }
