package groupguard

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// startGroup starts a process that leads a group of its own and leaves a
// child in it, as a shell script does.
func startGroup(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", "sleep 300 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	return cmd
}

// TestGuard_KillsWhatItWasNotToldIsGone: when its input ends (the server's
// end of the pipe closed), the guard kills every group added and not
// removed, whole, and leaves the others alone.
func TestGuard_KillsWhatItWasNotToldIsGone(t *testing.T) {
	watched, forgotten := startGroup(t), startGroup(t)
	r, w := io.Pipe()
	done := make(chan int, 1)
	go func() {
		n, _ := guard(r)
		done <- n
	}()
	for _, line := range []string{"+" + strconv.Itoa(watched.Process.Pid), "+" + strconv.Itoa(forgotten.Process.Pid),
		"nonsense", "+0", "-" + strconv.Itoa(forgotten.Process.Pid)} {
		if _, err := io.WriteString(w, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if n := <-done; n != 1 {
		t.Fatalf("the guard killed %d groups; want 1", n)
	}
	if err := watched.Wait(); err == nil {
		t.Fatal("the watched group's leader exited by itself; want it killed")
	}
	// Its child, in its group, too: SIGKILL to the group is delivered to
	// every member before kill returns, so none is running now (a member
	// may be left a zombie until its new parent reaps it).
	if pids := running(t, watched.Process.Pid); len(pids) > 0 {
		t.Fatalf("processes %v of the watched group still run", pids)
	}
	if pids := running(t, forgotten.Process.Pid); len(pids) == 0 {
		t.Fatal("the guard killed a group it was told is gone")
	}
}

// running returns the processes of group pgid that are not zombies, from
// /proc.
func running(t *testing.T, pgid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		// state, ppid, pgrp
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" && f[0] != "X" {
			out = append(out, pid)
		}
	}
	return out
}

// TestStart_RefusedInAGuard: a process started as a guard does not start
// one (a program that ran something else than Main on the guard's command
// would otherwise start guards without end).
func TestStart_RefusedInAGuard(t *testing.T) {
	t.Setenv(childEnv, "1")
	if g, err := Start("/bin/true", nil, nil); err == nil || !strings.Contains(err.Error(), "must not start one") {
		if g != nil {
			g.Stop()
		}
		t.Fatalf("Start in a guard: %v; want a refusal", err)
	}
}
