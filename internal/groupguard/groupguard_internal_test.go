package groupguard

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
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
		n, _ := guard(r, bootClock, killGroup, func(int) { t.Error("a lease ran out, without one") })
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
	// Its child, in its group, too: SIGKILL to the group is queued for
	// every member before kill returns, and they die as the kernel gets to
	// them (a member may be left a zombie until its new parent reaps it).
	for deadline := time.Now().Add(5 * time.Second); ; {
		pids := running(t, watched.Process.Pid)
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes %v of the watched group still run 5 s after SIGKILL", pids)
		}
		time.Sleep(time.Millisecond) // waiting on the kernel, for other processes
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

// TestGuard_Lease: a lease that is renewed in time kills nothing; one that
// runs out kills the groups watched then (within leaseCheck), and any
// group watched until the next renewal; a renewal whose end has passed
// already (written late) kills at once; the guard goes on guarding after
// that. The clock is the bubble's: the boot clock in the guard process.
func TestGuard_Lease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, w := io.Pipe()
		epoch := time.Now()
		var (
			mu     sync.Mutex // synctest.Wait orders nothing for the race detector
			killed []int
			lapses int
			done   = make(chan int, 1)
			clock  = func() time.Duration { return time.Since(epoch) }
			kill   = func(pgid int) error { mu.Lock(); defer mu.Unlock(); killed = append(killed, pgid); return nil }
			lapsed = func(n int) { mu.Lock(); defer mu.Unlock(); lapses += n }
			seen   = func() ([]int, int) { mu.Lock(); defer mu.Unlock(); return slices.Clone(killed), lapses }
		)
		go func() {
			n, _ := guard(r, clock, kill, lapsed)
			done <- n
		}()
		send := func(lines ...string) {
			t.Helper()
			for _, l := range lines {
				if _, err := io.WriteString(w, l+"\n"); err != nil {
					t.Fatal(err)
				}
			}
			synctest.Wait()
		}
		until := func(d time.Duration) string { return "~" + strconv.Itoa(int((clock() + d).Milliseconds())) }
		send("+11", "+12", until(time.Second))
		time.Sleep(999 * time.Millisecond)
		send(until(time.Second), "-12") // renewed 1 ms before it ran out
		time.Sleep(999 * time.Millisecond)
		synctest.Wait()
		if killed, _ := seen(); len(killed) != 0 {
			t.Fatalf("killed %v under a lease renewed in time", killed)
		}
		time.Sleep(leaseCheck)
		synctest.Wait()
		if killed, lapses := seen(); !slices.Equal(killed, []int{11}) || lapses != 1 {
			t.Fatalf("when the lease ran out: killed %v (%d reported); want [11]", killed, lapses)
		}
		send("+13") // told of a group while the lease is out: killed at once
		if killed, lapses := seen(); !slices.Equal(killed, []int{11, 13}) || lapses != 2 {
			t.Fatalf("a group watched while the lease was out: killed %v; want 13 killed at once", killed)
		}
		send(until(5*time.Second), "+14", "+15", "-15") // renewed: it guards again
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if killed, _ := seen(); len(killed) != 2 {
			t.Fatalf("killed %v under a renewed lease", killed)
		}
		// A renewal written late: the end it gives has passed already.
		send(until(-time.Second))
		if killed, _ := seen(); !slices.Equal(killed, []int{11, 13, 14}) {
			t.Fatalf("after a renewal that ended in the past: killed %v; want 14 killed at once", killed)
		}
		send(until(5*time.Second), "+16")
		w.Close() // the server is gone: what is left dies
		n := <-done
		if killed, _ := seen(); n != 1 || !slices.Equal(killed, []int{11, 13, 14, 16}) {
			t.Fatalf("at the end: %d killed, all %v; want 16 killed", n, killed)
		}
	})
}

// TestGuard_RenewLines: what the server's side writes, read by guard: a
// Renew of zero or less lets the lease run out at once.
func TestGuard_RenewLines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		epoch := time.Now()
		clock := func() time.Duration { return time.Since(epoch) }
		g := &Guard{w: pw, clock: clock}
		var killed []int
		done := make(chan struct{})
		go func() {
			guard(pr, clock, func(pgid int) error { killed = append(killed, pgid); return nil }, func(int) {})
			close(done)
		}()
		g.Watch(21)
		g.Watch(0) // no group: nothing sent
		g.Renew(-time.Second)
		pw.Close()
		<-done
		if !slices.Equal(killed, []int{21}) {
			t.Errorf("after Watch(21), Renew(-1s): killed %v; want [21], once", killed)
		}
	})
}
