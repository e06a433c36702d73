package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/plexbutler/butler/bench/internal/benchmachine"
)

const (
	// minFree is the free space the run needs in its temporary directory:
	// at most about 4 GiB are in use at once (a 1 GiB source and three
	// copies, or a 1 GiB database, its working copy and VACUUM's temporary
	// and WAL files).
	minFree = 6 << 30
	// blobRows is the number of rows of the 1 GiB databases: one
	// randomblob(4000) a 4 KiB page.
	blobRows = (1 << 30) / 4096
	// cacheDirs × cacheFiles is the size of the cache tree.
	cacheDirs, cacheFiles = 200, 1000
)

// buildDB makes, with the sqlite3 shell, a WAL-mode database of rows rows of
// randomblob(4000) (one a page of 4096 bytes) in one transaction of one
// recursive insert; with holes, every other row is then deleted (the file
// keeps its size, half its pages on the free list). It is built with
// journal_mode=OFF and switched to WAL at the end, so that the data are
// written once. The sqlite3 shell does it, natively and in a process of its
// own, rather than this program, whose peak memory must stay small.
func buildDB(sqlite3, path string, rows int, holes bool) error {
	script := fmt.Sprintf(`PRAGMA page_size=4096;
PRAGMA journal_mode=OFF;
PRAGMA synchronous=OFF;
CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB NOT NULL);
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
INSERT INTO blobs (id, b) SELECT i, randomblob(4000) FROM n;
COMMIT;
`, rows)
	if holes {
		script += "DELETE FROM blobs WHERE id % 2 = 0;\n"
	}
	script += "PRAGMA journal_mode=WAL;\nPRAGMA journal_mode;\n"
	cmd := exec.Command(sqlite3, "-batch", path)
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("build %s with sqlite3: %v\n%s", path, err, out)
	}
	if f := strings.Fields(string(out)); len(f) == 0 || f[len(f)-1] != "wal" {
		return fmt.Errorf("build %s: the database is not in WAL mode: sqlite3 said %q", path, out)
	}
	return nil
}

// dbInfo asks the sqlite3 shell for a database's journal mode, page count,
// free pages and rows.
func dbInfo(sqlite3, path string) (string, error) {
	out, err := exec.Command(sqlite3, "-batch", "-readonly", path,
		"SELECT (SELECT journal_mode FROM pragma_journal_mode), (SELECT page_count FROM pragma_page_count), (SELECT freelist_count FROM pragma_freelist_count), (SELECT count(*) FROM blobs);").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("inspect %s: %v: %s", path, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// buildCache makes cacheDirs directories of cacheFiles files of 7 bytes
// under dir, every other file dated 30 days back (modification and access
// time), the others now.
func buildCache(dir string) error {
	old := time.Now().Add(-30 * 24 * time.Hour)
	data := []byte("cached\n")
	for d := range cacheDirs {
		sub := filepath.Join(dir, fmt.Sprintf("d%03d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		for f := range cacheFiles {
			p := filepath.Join(sub, fmt.Sprintf("f%04d", f))
			if err := os.WriteFile(p, data, 0o644); err != nil {
				return err
			}
			if f%2 == 0 {
				if err := os.Chtimes(p, old, old); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// countTree counts the regular files and the directories (dir excluded)
// under dir, and the files among them older than 7 days.
func countTree(dir string) (files, old, dirs int, err error) {
	cutoff := time.Now().Add(-7 * 24 * time.Hour)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if p != dir {
				dirs++
			}
		case d.Type().IsRegular():
			files++
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if fi.ModTime().Before(cutoff) {
				old++
			}
		}
		return nil
	})
	return files, old, dirs, err
}

// fileSize returns the size of path, or -1.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// removeDB removes a database file and its -wal, -shm and -journal files.
func removeDB(path string) error {
	var errs []error
	for _, s := range []string{"", "-wal", "-shm", "-journal"} {
		if err := os.Remove(path + s); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// machine is what the fragment says about the machine and the tools.
type machine struct {
	benchmachine.Machine
	sqlite, gnuTime, fs   string
	free                  int64
	loadBefore, loadAfter string
}

func readMachine(sqlite3, gnuTime, tmp string) machine {
	m := machine{Machine: benchmachine.Describe()}
	m.sqlite = benchmachine.FirstLine(exec.Command(sqlite3, "--version").Output())
	if f := strings.Fields(m.sqlite); len(f) >= 2 {
		m.sqlite = f[0] + " " + f[1]
	}
	m.gnuTime = "not installed: peaks are rusage only"
	if gnuTime != "" {
		m.gnuTime = gnuTime
	}
	if free, fsName, err := benchmachine.FreeSpace(tmp); err == nil {
		m.free, m.fs = free, fsName
	}
	m.loadBefore = benchmachine.LoadAverage()
	return m
}
