package faultprobe

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Proc is a live process, as /proc shows it.
type Proc struct {
	PID, PPID, PGID int
	State           string // R, S, D, T, ...; Z only while other threads live on
	Threads         int
	Args            []string
}

// alive reports whether the process has not ended: not a zombie, or a
// zombie main thread whose other threads are still there (on their way out
// of a dying process, they still hold its files and locks).
func (p Proc) alive() bool {
	return (p.State != "Z" && p.State != "X") || p.Threads > 1
}

// LiveProbes lists the processes alive now (zombies excluded) whose argv[0]
// is binary and, unless marker is empty, one of whose arguments contains
// marker. Processes that end while /proc is read are left out.
func LiveProbes(binary, marker string) ([]Proc, error) {
	names, err := readDirNames("/proc")
	if err != nil {
		return nil, err
	}
	var out []Proc
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", n, "cmdline"))
		if err != nil || len(raw) == 0 {
			continue // ended, or a kernel thread
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if args[0] != binary || (marker != "" && !anyContains(args[1:], marker)) {
			continue
		}
		p, ok := procStat(pid)
		if !ok || !p.alive() {
			continue
		}
		p.Args = args
		out = append(out, p)
	}
	return out, nil
}

func readDirNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}

func anyContains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// procStat reads /proc/<pid>/stat: "pid (comm) state ppid pgrp ...". comm
// may hold anything, so fields are counted from the last ')'.
func procStat(pid int) (Proc, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Proc{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Proc{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return Proc{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgid, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return Proc{}, false
	}
	threads := 1
	if len(f) > 17 {
		if n, err := strconv.Atoi(f[17]); err == nil { // field 20 of proc(5)
			threads = n
		}
	}
	return Proc{PID: pid, PPID: ppid, PGID: pgid, State: f[0], Threads: threads}, true
}

// KillProbes sends SIGKILL to each process by its pid, for a test's clean-up;
// a process gone meanwhile is not an error.
func KillProbes(procs []Proc) error {
	var errs []error
	for _, p := range procs {
		if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("kill %d: %w", p.PID, err))
		}
	}
	return errors.Join(errs...)
}

// LockState reports whether a flock is held on the file at path, and by
// which pid (the process that took it; the lock lasts while any process
// sharing its open file description lives).
//
// It reads /proc/locks, which leaves the lock alone. Where /proc/locks does
// not show the locks of path's file system (checked once per directory, by
// locking a scratch file there), it tries the lock itself with LOCK_NB and
// lets it go at once; holder is then 0, and a probe that starts in that
// instant would find the lock held. Those tries are made one at a time in
// this process (tryLock), so that two of its own never find each other's
// lock and take it for a probe's. A lock file that does not exist is not
// held.
func LockState(path string) (held bool, holder int, err error) {
	ok, err := procLocksWork(filepath.Dir(path))
	if err != nil {
		return false, 0, err
	}
	if ok {
		holder, found, err := ProcLockHolder(path)
		if errors.Is(err, fs.ErrNotExist) {
			return false, 0, nil // no probe ever opened it
		}
		return found, holder, err
	}
	tryLock.Lock()
	defer tryLock.Unlock()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return false, 0, err
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("flock %s: %w", path, err)
	}
	return false, 0, syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// ProcLockHolder looks the file at path up in /proc/locks and returns the
// pid that holds a flock on it (found false when none does). Processes
// waiting for the lock are not holders.
func ProcLockHolder(path string) (pid int, found bool, err error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, false, err
	}
	id := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	data, err := os.ReadFile("/proc/locks")
	if err != nil {
		return 0, false, err
	}
	for line := range bytes.Lines(data) {
		// "1: FLOCK  ADVISORY  WRITE 4242 fe:00:9978047 0 EOF"; a waiter
		// reads "1: -> FLOCK ...".
		f := strings.Fields(string(line))
		if len(f) < 6 || f[1] != "FLOCK" || f[5] != id {
			continue
		}
		pid, err := strconv.Atoi(f[4])
		if err != nil {
			return 0, false, fmt.Errorf("/proc/locks: bad pid in %q", line)
		}
		return pid, true, nil
	}
	return 0, false, nil
}

var procLocksChecked sync.Map // directory -> bool

// tryLock serialises LockState's own tries of a lock (see LockState).
var tryLock sync.Mutex

// procLocksWork reports whether /proc/locks shows flocks taken on files in
// dir: it locks a scratch file there and looks, up to three times (a read
// of /proc/locks while other locks come and go may miss a line).
func procLocksWork(dir string) (bool, error) {
	if v, ok := procLocksChecked.Load(dir); ok {
		return v.(bool), nil
	}
	var works bool
	for range 3 {
		ok, err := procLocksShow(dir)
		if err != nil {
			return false, err
		}
		if works = ok; works {
			break
		}
	}
	procLocksChecked.Store(dir, works)
	return works, nil
}

// procLocksShow locks a scratch file in dir and reports whether
// /proc/locks shows the lock, and then its end.
func procLocksShow(dir string) (bool, error) {
	f, err := os.CreateTemp(dir, ".faultprobe-lockcheck-*")
	if err != nil {
		return false, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return false, fmt.Errorf("flock %s: %w", f.Name(), err)
	}
	pid, found, err := ProcLockHolder(f.Name())
	works := err == nil && found && pid == os.Getpid()
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if works {
		pid, found, err = ProcLockHolder(f.Name())
		works = err == nil && !found && pid == 0
	}
	return works, nil
}
