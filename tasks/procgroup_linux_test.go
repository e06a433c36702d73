package tasks_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	butler "github.com/plexbutler/butler"
	"github.com/plexbutler/butler/tasks"
)

// groupReporter is an outputReporter that takes process-group records
// (butler.ProcessReporter), failing them when refuse is set.
type groupReporter struct {
	*outputReporter
	refuse error
	mu     sync.Mutex
	groups []butler.ProcessGroup
}

func (r *groupReporter) ProcessStarted(p butler.ProcessGroup) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.groups = append(r.groups, p)
	return r.refuse
}

func (r *groupReporter) recorded() []butler.ProcessGroup {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]butler.ProcessGroup(nil), r.groups...)
}

func TestExecRecordsItsProcessGroup(t *testing.T) {
	r := &groupReporter{outputReporter: newOutputReporter(t)}
	if err := (&tasks.Exec{Argv: sh(`echo "PROGRESS 1 $$"`)}).Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	pid := pidFromProgress(t, r.outputReporter)
	g := r.recorded()
	if len(g) != 1 || g[0].PGID != pid || g[0].Start == 0 || g[0].Boot == "" {
		t.Fatalf("recorded %+v, want one group led by the program (pid %d) with its start and boot", g, pid)
	}
}

// A group that cannot be recorded is killed at once: a crash of the server
// would leave it running with nothing to end it.
func TestExecKillsAGroupItCannotRecord(t *testing.T) {
	r := &groupReporter{outputReporter: newOutputReporter(t), refuse: errors.New("database or disk is full")}
	start := time.Now()
	err := (&tasks.Exec{Argv: sh(`sleep 30 & sleep 30`)}).Run(t.Context(), r)
	if err == nil || !strings.Contains(err.Error(), "disk is full") {
		t.Fatalf("Run = %v, want a failure naming the record's error", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("Run took %v: the program was not killed", time.Since(start))
	}
	g := r.recorded()
	if len(g) != 1 {
		t.Fatalf("recorded %+v", g)
	}
	// SIGKILL went to the group as Run ended; what it killed may take a
	// moment to die, and its reparented children stay zombies until their
	// new parent reaps them.
	deadline := time.Now().Add(5 * time.Second)
	for live := liveMembers(t, g[0].PGID); len(live) > 0; live = liveMembers(t, g[0].PGID) {
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has live processes %v 5s after the run", g[0].PGID, live)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// liveMembers returns the processes of group pgid that are not zombies.
func liveMembers(t *testing.T, pgid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var live []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // ended meanwhile
		}
		// "pid (comm) state ppid pgrp ...": fields counted from the last ')'.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) >= 3 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" && f[0] != "X" {
			live = append(live, pid)
		}
	}
	return live
}

// startGroup starts a process group whose leader ignores SIGTERM (when
// stubborn) and has a child; it returns the leader's pid and the child's.
func startGroup(t *testing.T, stubborn bool) (leader, child int) {
	t.Helper()
	trap := ""
	if stubborn {
		trap = "trap '' TERM; "
	}
	cmd := exec.Command("/bin/sh", "-c", trap+`sleep 60 & echo $!; while :; do sleep 1; done`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Reap the leader as soon as it dies, as init would for an orphan.
	waited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(waited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-waited
	})
	buf := make([]byte, 32)
	n, err := out.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	child, err = strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		t.Fatalf("child pid %q: %v", buf[:n], err)
	}
	return cmd.Process.Pid, child
}

// record returns the record the server would have kept of group pid, as
// Exec makes it.
func record(t *testing.T, pid int) butler.ProcessGroup {
	t.Helper()
	r := &groupReporter{outputReporter: newOutputReporter(t)}
	// The record of the test's own group is the way to read the boot id;
	// its start time is then taken from /proc for pid.
	if err := (&tasks.Exec{Argv: sh(`true`)}).Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	g := r.recorded()[0]
	stat, err := readStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	return butler.ProcessGroup{PGID: pid, Start: stat, Boot: g.Boot}
}

func TestGroupReaperEndsWhatACrashLeft(t *testing.T) {
	for _, stubborn := range []bool{false, true} {
		t.Run("stubborn="+strconv.FormatBool(stubborn), func(t *testing.T) {
			leader, child := startGroup(t, stubborn)
			g := record(t, leader)
			grace := 300 * time.Millisecond
			start := time.Now()
			found, err := tasks.GroupReaper{}.Reap(context.Background(), g, grace)
			if err != nil || !found {
				t.Fatalf("Reap = %v, %v; want the group found and ended", found, err)
			}
			if stubborn && time.Since(start) < grace {
				t.Errorf("a group that ignores SIGTERM was gone after %v, before its grace", time.Since(start))
			}
			for _, pid := range []int{leader, child} {
				if !processGone(pid) {
					t.Errorf("process %d is alive after Reap", pid)
				}
			}
		})
	}
}

func TestGroupReaperLeavesOthersAlone(t *testing.T) {
	leader, child := startGroup(t, false)
	g := record(t, leader)
	for name, other := range map[string]butler.ProcessGroup{
		"reused pid":  {PGID: g.PGID, Start: g.Start + 1, Boot: g.Boot},
		"other boot":  {PGID: g.PGID, Start: g.Start, Boot: "another-boot/pid:[1]"},
		"no record":   {},
		"gone":        {PGID: 1 << 22, Start: 1, Boot: g.Boot},
		"unknown ns?": {PGID: g.PGID, Start: g.Start, Boot: ""},
	} {
		found, err := tasks.GroupReaper{}.Reap(context.Background(), other, time.Millisecond)
		if err != nil || found {
			t.Errorf("%s: Reap = %v, %v; want nothing found", name, found, err)
		}
	}
	for _, pid := range []int{leader, child} {
		if processGone(pid) {
			t.Fatalf("process %d was ended by a Reap of another group", pid)
		}
	}
	// The leader gone, its child lives on in the group: still recognised.
	if err := syscall.Kill(leader, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, leader, 5*time.Second)
	found, err := tasks.GroupReaper{}.Reap(context.Background(), g, time.Second)
	if err != nil || !found || !processGone(child) {
		t.Fatalf("Reap of a group whose leader died = %v, %v, child gone %v; want the child ended", found, err, processGone(child))
	}
}

// readStat returns the start time of pid from /proc (clock ticks since
// boot), as the reaper reads it.
func readStat(pid int) (uint64, error) {
	b, err := readFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(b, ')')
	f := strings.Fields(b[i+1:])
	return strconv.ParseUint(f[19], 10, 64)
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}
