package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/plexbutler/butler/internal/atomicfile"
	"github.com/plexbutler/butler/internal/sqliteuri"
)

// How butler restore replaces a database, so that a restore stopped at any
// instant (killed, or the power lost) leaves the database's name holding
// either the old database, with its side files, or the restored one, and
// never a database beside another one's write-ahead log:
//
//  1. the copy of the backup is made, checked and fsynced under a hidden
//     name, ".<name>.restore-*.tmp" (copyForRestore); that name never
//     holds anything else, so a leftover one is always safe to remove;
//  2. the old database is checkpointed (checkpointForRestore): the
//     transactions in its -wal file go into the database file, and SQLite
//     removes the emptied -wal and -shm files as it closes;
//  3. the aside names are made as second names (link(2)) of the old files,
//     the database's first, then its side files', and the directory is
//     fsynced: the old files are now under both names;
//  4. the database's side files (what step 2 left, if anything) lose their
//     first names, and the directory is fsynced: they are kept under their
//     aside names only;
//  5. the copy is renamed over the database (rename(2), atomic), and the
//     directory is fsynced.
//
// Stopped before step 5, the old database is still in its place. A
// restore, or a server, that takes the database's lock next undoes what
// the stopped restore did (finishStoppedRestore): it puts back the side
// files that step 4 took away, removes the second names of step 3 and the
// copy of step 1. So no transaction of the old database's -wal file is
// lost even when step 2 could not empty it (a program other than Butler
// reading the database, say).

// restoreCopyPrefix starts the names of the copies that butler restore
// makes beside the database file db.
func restoreCopyPrefix(db string) string {
	return "." + filepath.Base(db) + ".restore-"
}

// sideSuffixes are the suffixes of the files SQLite keeps beside a
// database file.
var sideSuffixes = []string{"-journal", "-wal", "-shm"}

// checkpointForRestore moves the transactions in the -wal file of the
// database file db into the file itself (PRAGMA wal_checkpoint(TRUNCATE))
// and closes it, so that SQLite removes the emptied -wal and -shm files; a
// hot -journal is rolled back the same way. The caller holds the
// database's lock. It does nothing to a database without side files, or
// to a file that is not SQLite (whose -wal SQLite would not read). It
// returns what it did, for the output, or why it could not: then the side
// files stay with the database, aside.
func checkpointForRestore(ctx context.Context, db string) string {
	wal, err := os.Stat(db + "-wal")
	hasWAL := err == nil && wal.Size() > 0
	_, err = os.Stat(db + "-journal")
	hasJournal := err == nil
	if !hasWAL && !hasJournal || checkSQLiteHeader(db) != nil {
		return ""
	}
	fail := func(err error) string {
		return fmt.Sprintf("could not checkpoint %s (%v): its side files are kept with it, aside", db, err)
	}
	uri, err := sqliteuri.File(db, "_pragma=busy_timeout(1000)")
	if err != nil {
		return fail(err)
	}
	conn, err := sql.Open("sqlite", uri)
	if err != nil {
		return fail(err)
	}
	conn.SetMaxOpenConns(1)
	var busy, log, done int
	err = conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &log, &done)
	if err = errors.Join(err, conn.Close()); err != nil {
		return fail(err)
	}
	if fi, err := os.Stat(db + "-wal"); err == nil && fi.Size() > 0 {
		return fail(fmt.Errorf("its -wal file still holds %s", formatSize(fi.Size())))
	}
	if hasWAL {
		return fmt.Sprintf("checkpointed %s: the transactions of its -wal file are in the database file now", db)
	}
	return ""
}

// setAside gives the database file db and its side files a second name,
// "<db>.<tag>-<UTC time>" (each side file keeping its suffix after that,
// so that SQLite finds them together), never over an existing file, and
// then takes away the side files' first names; the database file keeps
// its own, for the rename that replaces it. The directory is fsynced
// after each of the two steps. It returns the aside name of the database
// and the moves, old and new name, the database's first: none when there
// is no database. When it fails, what it did is undone.
func setAside(db, tag string, now time.Time) (string, [][2]string, error) {
	if _, err := os.Lstat(db); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil, nil
		}
		return "", nil, err
	}
	present := []string{""}
	for _, s := range sideSuffixes {
		if _, err := os.Lstat(db + s); err == nil {
			present = append(present, s)
		}
	}
	base := db + "." + tag + "-" + now.UTC().Format(asideStampLayout)
	target := base
	for i := 2; ; i++ {
		free := true
		for _, s := range append([]string{""}, sideSuffixes...) {
			if _, err := os.Lstat(target + s); err == nil {
				free = false
			}
		}
		if free {
			break
		}
		target = fmt.Sprintf("%s-%d", base, i)
	}
	undo := func(err error) (string, [][2]string, error) {
		if _, uerr := undoSetAside(db, target); uerr != nil {
			err = fmt.Errorf("%v; and undoing it: %v", err, uerr)
		}
		return "", nil, err
	}
	var moved [][2]string
	for _, s := range present {
		if err := os.Link(db+s, target+s); err != nil {
			return undo(fmt.Errorf("give %s the second name %s: %v", db+s, target+s, err))
		}
		moved = append(moved, [2]string{db + s, target + s})
	}
	if err := atomicfile.SyncDir(filepath.Dir(db)); err != nil {
		return undo(err)
	}
	for _, s := range present[1:] {
		if err := os.Remove(db + s); err != nil {
			return undo(fmt.Errorf("move %s aside: %v", db+s, err))
		}
	}
	if len(present) > 1 {
		if err := atomicfile.SyncDir(filepath.Dir(db)); err != nil {
			return undo(err)
		}
	}
	return target, moved, nil
}

// undoSetAside undoes setAside(db, ...) that gave db the aside name target
// and was stopped before db was replaced (target is still a name of db):
// the side files that lost their first names get them back, and the aside
// names go. It returns what it did, for the output or the log.
func undoSetAside(db, target string) ([]string, error) {
	var did []string
	if same, _ := sameFile(db, target); !same {
		return nil, nil // never made: the database's is the first link
	}
	for _, s := range sideSuffixes {
		if _, err := os.Lstat(target + s); err != nil {
			continue
		}
		if _, err := os.Lstat(db + s); errors.Is(err, fs.ErrNotExist) {
			if err := os.Rename(target+s, db+s); err != nil {
				return did, err
			}
			did = append(did, fmt.Sprintf("put %s back as %s", target+s, db+s))
			continue
		}
		if same, _ := sameFile(db+s, target+s); same {
			if err := os.Remove(target + s); err != nil {
				return did, err
			}
		}
	}
	if err := atomicfile.SyncDir(filepath.Dir(db)); err != nil {
		return did, err
	}
	if err := os.Remove(target); err != nil {
		return did, err
	}
	did = append(did, fmt.Sprintf("removed %s, a second name of %s", target, db))
	return did, atomicfile.SyncDir(filepath.Dir(db))
}

// restoreLinks returns the aside names of a restore ("<db>.before-restore-
// <UTC time>") that are second names of the database file db itself: a
// restore made them and has not replaced db yet, or was stopped first.
func restoreLinks(db string) []string {
	entries, err := os.ReadDir(filepath.Dir(db))
	if err != nil {
		return nil
	}
	prefix := filepath.Base(db) + ".before-restore-"
	var out []string
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, prefix) || !e.Type().IsRegular() || hasSideSuffix(n) {
			continue
		}
		p := filepath.Join(filepath.Dir(db), n)
		if same, _ := sameFile(db, p); same {
			out = append(out, p)
		}
	}
	return out
}

// hasSideSuffix reports whether name ends with a side file's suffix.
func hasSideSuffix(name string) bool {
	for _, s := range sideSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// finishStoppedRestore undoes what a butler restore of the database file
// db that was stopped part-way (killed, or the power lost) left behind,
// so that db is again the database it was, with its side files: the side
// files it had moved aside are put back, the aside names it had given the
// database go, and so does its copy of the backup, which it never put in
// place. The caller holds the database's lock, so no restore is running.
// It returns what it did, for the output or the log.
func finishStoppedRestore(db string) ([]string, error) {
	var did []string
	for _, target := range restoreLinks(db) {
		d, err := undoSetAside(db, target)
		did = append(did, d...)
		if err != nil {
			return did, fmt.Errorf("undo the stopped restore's %s: %v", target, err)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(db))
	if err != nil {
		return did, err
	}
	prefix := restoreCopyPrefix(db)
	removed := false
	for _, e := range entries {
		n := e.Name()
		main := n
		for _, s := range sideSuffixes {
			main = strings.TrimSuffix(main, s)
		}
		if !strings.HasPrefix(n, prefix) || !strings.HasSuffix(main, ".tmp") {
			continue
		}
		p := filepath.Join(filepath.Dir(db), n)
		if err := os.Remove(p); err != nil {
			return did, err
		}
		removed = true
		did = append(did, fmt.Sprintf("removed %s, the copy of a backup that a stopped butler restore had not put in place", p))
	}
	if removed {
		return did, atomicfile.SyncDir(filepath.Dir(db))
	}
	return did, nil
}
