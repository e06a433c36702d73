package sqlite

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/plexbutler/butler/internal/atomicfile"
)

// How Open checked an existing database file before using it (DB.Checked).
const (
	// CheckedNone: there was no file (Open made one), or it is in memory.
	CheckedNone = "none"
	// CheckedFull: the header and PRAGMA quick_check, which reads every
	// page: the cost grows with the database.
	CheckedFull = "full"
	// CheckedClean: the header, and the file is the one Butler closed
	// cleanly after its last full check, untouched since (closeMark).
	CheckedClean = "closed cleanly"
)

// closeMark is what Close records beside the database (in PATH-closed)
// once every connection is closed and the write-ahead log is empty: the
// file's identity at that moment. As fsck skips a file system that was
// unmounted cleanly, Open then skips the full check of a file that is
// still exactly what Butler left — same device, inode, size, modification
// and change times (the change time cannot be set back by any tool). Any
// write since (by SQLite, a copy, a restore, a disk editor) changes them.
// Open removes the mark before it writes, so that a server killed while
// running leaves none, and the next start checks in full.
//
// What it cannot see: a fault of the disk itself that changes no
// metadata. The integrity check of OptimizeDatabase (weekly by default)
// reads every page.
type closeMark struct {
	Device    uint64 `json:"device"`
	Inode     uint64 `json:"inode"`
	Size      int64  `json:"size"`
	ModTimeNS int64  `json:"mtime_ns"`
	ChangeNS  int64  `json:"ctime_ns"`
	// CheckedAt is when the file was last checked in full; a mark whose
	// check is older than fullCheckEvery is not trusted.
	CheckedAt time.Time `json:"checked_at"`
}

// fullCheckEvery is how long a full check counts: a server restarted
// cleanly for longer than this checks its database in full again.
const fullCheckEvery = 7 * 24 * time.Hour

// markPath is where the mark of the database at path is kept.
func markPath(path string) string { return path + "-closed" }

// markOf returns the identity of the file at path, checked at checkedAt;
// ok is false where the platform does not say it.
func markOf(path string, checkedAt time.Time) (closeMark, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return closeMark{}, false
	}
	m, ok := identity(fi)
	m.CheckedAt = checkedAt
	return m, ok
}

// cleanlyClosed reports whether the database at path is the file Butler
// closed cleanly (closeMark) within fullCheckEvery of its last full check
// at now, and returns when that check was.
func cleanlyClosed(path string, now time.Time) (time.Time, bool) {
	data, err := os.ReadFile(markPath(path))
	if err != nil {
		return time.Time{}, false
	}
	var was closeMark
	if err := json.Unmarshal(data, &was); err != nil || was.CheckedAt.IsZero() || now.Sub(was.CheckedAt) > fullCheckEvery || was.CheckedAt.After(now) {
		return time.Time{}, false
	}
	if !walEmpty(path) {
		return time.Time{}, false
	}
	is, ok := markOf(path, was.CheckedAt)
	return was.CheckedAt, ok && is == was
}

// walEmpty reports whether the database at path has no write-ahead log
// with anything in it.
func walEmpty(path string) bool {
	fi, err := os.Stat(path + "-wal")
	return errors.Is(err, fs.ErrNotExist) || err == nil && fi.Size() == 0
}

// writeMark records the mark of the database at path, closed just now,
// when its log is empty. A mark that cannot be written costs the next
// start a full check, nothing else: its error is dropped.
func writeMark(path string, checkedAt time.Time) {
	if !walEmpty(path) {
		return
	}
	m, ok := markOf(path, checkedAt)
	if !ok {
		return
	}
	data, err := json.Marshal(m)
	if err != nil {
		return
	}
	_ = atomicfile.WriteFile(markPath(path), data, 0o600)
}

// removeMark removes the mark of the database at path, before anything
// is written to it.
func removeMark(path string) error {
	if err := os.Remove(markPath(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
