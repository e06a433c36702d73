// Package procgroup ends the process group a program was started in once
// the program itself is gone: what it left there is signalled, and the
// caller waits until nothing of the group is alive, so that no work is
// counted ended while one of its processes lives. Exec's programs and the
// programs of the media tasks (internal/mediatool) end this way. It takes
// the standard library only.
package procgroup

import (
	"bytes"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Poll is how often End looks whether processes are left in the group.
const Poll = 20 * time.Millisecond

// KillWaitWarn is how long End waits for a killed group before it says so
// in its log (then again every minute).
const KillWaitWarn = 5 * time.Second

// Signal sends sig to every process of the process group pgid. A group
// that is gone already is not an error.
func Signal(pgid int, sig syscall.Signal) {
	_ = syscall.Kill(-pgid, sig)
}

// Alive reports whether the process group pgid still has a process that
// has not ended. Processes that have ended but that nobody has reaped yet
// (zombies, which an init process may reap only now and then) do not count
// where /proc tells them apart (Linux); elsewhere they do. A process whose
// main thread has ended while others of its threads have not (the main
// thread called pthread_exit, or the threads of a dying process are still
// on their way out, holding its open files and their locks) shows as a
// zombie too, but counts until its last thread has gone.
func Alive(pgid int) bool {
	if syscall.Kill(-pgid, 0) != nil {
		return false
	}
	live, ok := liveMembers(pgid)
	return !ok || live
}

// liveMembers reports, from /proc, whether a process of group pgid is
// alive (not a zombie). ok is false when /proc cannot tell.
func liveMembers(pgid int) (live, ok bool) {
	d, err := os.Open("/proc")
	if err != nil {
		return false, false
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return false, false
	}
	seen := false
	want := strconv.Itoa(pgid)
	for _, n := range names {
		if n == "" || n[0] < '0' || n[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + n + "/stat")
		if err != nil {
			continue // ended meanwhile
		}
		seen = true
		// "pid (comm) state ppid pgrp ...": comm may hold anything, so
		// the fields are counted from the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 || f[2] != want {
			continue
		}
		if f[0] != "Z" && f[0] != "X" {
			return true, true
		}
		// A zombie main thread with other threads still there: the
		// process lives on. f[17] is num_threads, field 20 of proc(5).
		if len(f) > 17 && f[17] != "1" && f[17] != "0" {
			return true, true
		}
	}
	return false, seen
}

// End ends what a program left in its process group pgid once the program
// itself is gone: SIGTERM (unless it was sent at termSent already), and
// SIGKILL when something is still there grace after it (a termSent of now
// and a grace of 0 send SIGKILL at once); killed reports whether it sent
// SIGKILL. It returns once the group is gone: a killed process may take a
// while to be (a large address space to free, a read of a disk or a
// network file system that does not answer), and until then the program's
// work is not over. log (nil for none) hears of processes left behind and
// of a group slow to go.
func End(pgid int, termSent time.Time, grace time.Duration, log *slog.Logger) (killed bool) {
	if !Alive(pgid) {
		return false
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if termSent.IsZero() {
		log.Warn("program left processes behind in its process group: SIGTERM to them", "pgid", pgid, "grace", grace)
		Signal(pgid, syscall.SIGTERM)
		termSent = time.Now()
	}
	deadline := termSent.Add(grace)
	tick := time.NewTicker(Poll)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		<-tick.C
		if !Alive(pgid) {
			return false
		}
	}
	Signal(pgid, syscall.SIGKILL)
	killedAt := time.Now()
	warnAt := killedAt.Add(KillWaitWarn)
	for Alive(pgid) {
		<-tick.C
		if now := time.Now(); now.After(warnAt) {
			log.Warn("processes of the program's group are still there after SIGKILL (in the kernel: a disk or network file system that does not answer?); its work ends when they are gone",
				"pgid", pgid, "since", now.Sub(killedAt).Round(time.Second))
			warnAt = now.Add(time.Minute)
		}
	}
	return true
}
