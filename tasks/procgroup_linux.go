package tasks

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// execSysProcAttr puts the program in a process group of its own and has
// the kernel kill it (SIGKILL) should the thread that started it end — that
// is, should Butler die without stopping it (the caller keeps that thread
// for as long as the program runs). What the program started in its group
// is ended at Butler's next start (GroupReaper).
func execSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// bootID names this boot of this machine and this process namespace: the
// kernel's boot id and the pid namespace's inode. "" when unknown.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b)) + "/" + ns
}

// processStart returns when process pid started, in clock ticks since
// boot (field 22 of /proc/PID/stat); ok is false when there is no such
// process.
func processStart(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// "pid (comm) state ppid ...": comm may hold anything, so the fields
	// are counted from the last ')'; starttime is the 20th after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	return v, err == nil
}

// leaderExited reports whether process pid, a child of this process, has
// exited, without reaping it (waitid with WNOWAIT): exec.Cmd.Wait still
// collects its status. A child already reaped has exited too.
func leaderExited(pid int) bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	if errors.Is(err, unix.ECHILD) {
		return true
	}
	return err == nil && info.Signo != 0
}
