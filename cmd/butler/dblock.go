package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// dbLock is the lock of one SQLite database: an exclusive flock on the file
// "<database>.lock" beside the database file, its path with every symbolic
// link resolved. Whatever path, symlink or data directory leads two butler
// processes (serve, restore) to the same file, they meet at the same lock.
//
// The lock is on a file of its own rather than on the database: it stays
// put when the database file is moved aside and replaced (butler restore,
// serve --new-database), and it never shares a descriptor with SQLite's
// own POSIX locks, which a close of any descriptor of the database would
// drop.
type dbLock struct {
	// path is the database file, symlinks resolved.
	path string
	f    *os.File
	// stopped says what lockDatabase undid of a butler restore that was
	// stopped part-way (finishStoppedRestore), for the output or the log.
	stopped []string
}

// lockDatabase takes the lock of the SQLite database at db. When another
// process holds it, the error is a *lockedError that names the database
// and, when /proc/locks tells (Linux), the holder's pid and command. Once
// it holds the lock, it undoes what a butler restore of the database that
// was stopped part-way left behind (finishStoppedRestore).
func lockDatabase(db string) (*dbLock, error) {
	path, err := resolveDBPath(db)
	if err != nil {
		return nil, err
	}
	// The lock is by name: a second name of the file (a hard link) would
	// lead another server to another lock, and SQLite to another journal.
	// The second name that a restore gives the database while it replaces
	// it (or gave it, stopped part-way) is no such name: the restore holds
	// this lock, or finishStoppedRestore removes it below.
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err == nil && st.Nlink > 1 && int(st.Nlink)-1 != len(restoreLinks(path)) {
		return nil, hardLinksError(path, uint64(st.Nlink))
	}
	lockPath := path + ".lock"
	// Never through a symbolic link: the lock is this file, beside the
	// database, and nothing is created elsewhere.
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("database %s: its lock file %s is a symbolic link; remove it (the lock file is made again, as a file)", db, lockPath)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("database %s: its directory %s does not exist; create it or point --database at another file", db, filepath.Dir(path))
		}
		return nil, fmt.Errorf("database %s: cannot open its lock file: %v; make its directory writable", db, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := lockHolder(f)
		f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("database %s: lock %s: %v", db, lockPath, err)
		}
		name := db
		if path != db {
			name = db + " (" + path + ")"
		}
		return nil, &lockedError{what: "database " + name, holder: holder}
	}
	l := &dbLock{path: path, f: f}
	if l.stopped, err = finishStoppedRestore(path); err != nil {
		f.Close()
		return nil, fmt.Errorf("database %s: a butler restore that was stopped part-way left files beside it, and putting them right failed: %v", path, err)
	}
	if err := syscall.Stat(path, &st); err == nil && st.Nlink > 1 {
		f.Close()
		return nil, hardLinksError(path, uint64(st.Nlink))
	}
	return l, nil
}

// hardLinksError is lockDatabase's error for a database file path with
// more than one name.
func hardLinksError(path string, nlink uint64) error {
	return fmt.Errorf("database %s has %d names (hard links): SQLite keeps its journal beside each name, and two servers opening it by two names would write it at once; remove the other names (find / -xdev -samefile %s) or point --database at a copy", path, nlink, path)
}

// lockedError is the error of lockDatabase when another process holds the
// lock.
type lockedError struct {
	what   string // "database /x/butler.db"
	holder string // " (pid 4242, butler serve)", or ""
}

func (e *lockedError) Error() string {
	return e.what + " is in use by another butler process" + e.holder
}

// unlock releases the lock. The lock file stays: removing it would let a
// process that has just opened it lock a file no longer in the directory.
func (l *dbLock) unlock() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// resolveDBPath returns the absolute path of the database file db with
// every symbolic link resolved, a dangling last link included (SQLite
// creates the file it points at). When the file does not exist, its
// directory is resolved.
func resolveDBPath(db string) (string, error) {
	p, err := filepath.Abs(db)
	if err != nil {
		return "", fmt.Errorf("database %s: %v", db, err)
	}
	for range 40 {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			dir, derr := filepath.EvalSymlinks(filepath.Dir(p))
			if derr != nil {
				return p, nil // lockDatabase says the directory is missing
			}
			return filepath.Join(dir, filepath.Base(p)), nil
		}
		if err != nil {
			return "", fmt.Errorf("database %s: %v", db, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			r, err := filepath.EvalSymlinks(p)
			if err != nil {
				return "", fmt.Errorf("database %s: %v", db, err)
			}
			return r, nil
		}
		target, err := os.Readlink(p)
		if err != nil {
			return "", fmt.Errorf("database %s: %v", db, err)
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		p = target
	}
	return "", fmt.Errorf("database %s: too many levels of symbolic links", db)
}

// lockHolder says who holds a flock on f's file, as " (pid N, butler
// serve)", from /proc/locks and /proc/N/cmdline; "" when it cannot tell.
// Only the program's name and its first argument are shown: the rest of
// the command line may hold a token.
func lockHolder(f *os.File) string {
	pid := flockHolder(f)
	if pid <= 0 {
		return ""
	}
	cmd := ""
	if b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline")); err == nil {
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) > 0 && args[0] != "" {
			cmd = filepath.Base(args[0])
			if len(args) > 1 && args[1] != "" && !strings.HasPrefix(args[1], "-") {
				cmd += " " + args[1]
			}
		}
	}
	if cmd == "" {
		return fmt.Sprintf(" (pid %d)", pid)
	}
	return fmt.Sprintf(" (pid %d, %s)", pid, cmd)
}

// flockHolder returns the pid that /proc/locks gives for the flock held on
// f's file, or 0.
func flockHolder(f *os.File) int {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0
	}
	b, err := os.ReadFile("/proc/locks")
	if err != nil {
		return 0
	}
	dev := fmt.Sprintf("%02x:%02x:%d", unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev)), st.Ino)
	ino := ":" + strconv.FormatUint(st.Ino, 10)
	// Lines: "1: FLOCK  ADVISORY  WRITE 4242 fe:00:778394 0 EOF"; waiters
	// have "->" after the number. Some file systems (overlayfs) show
	// another device than stat does, so the inode alone is a fallback when
	// one process only holds a flock on an inode of that number.
	byIno := map[int]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" {
			continue
		}
		pid, err := strconv.Atoi(fields[4])
		if err != nil || pid <= 0 {
			continue
		}
		switch {
		case fields[5] == dev:
			return pid
		case strings.HasSuffix(fields[5], ino):
			byIno[pid] = true
		}
	}
	if len(byIno) == 1 {
		for pid := range byIno {
			return pid
		}
	}
	return 0
}
