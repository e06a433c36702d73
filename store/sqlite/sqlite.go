// Package sqlite is the Butler's store on SQLite (modernc.org/sqlite, pure
// Go): the embedded default, one file in the data directory that holds
// Butler's tables and River's.
package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"

	msqlite "modernc.org/sqlite" // also the "sqlite" database/sql driver

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/readahead"
	"github.com/plexbutler/butler/internal/sqliteuri"
	"github.com/plexbutler/butler/internal/sqlstore"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// DB is an open Butler database on SQLite. It implements butler.Store.
type DB struct {
	*sqlstore.Store
	db   *sql.DB       // the one writer (and River's connection)
	read *sql.DB       // read-only connections; nil in memory
	ckpt *checkpointer // nil in memory
	path string

	checked   string    // how Open checked the file (Checked)
	checkedAt time.Time // when it was last checked in full (closeMark)
}

var _ butler.Store = (*DB)(nil)

// PruneRuns deletes one batch of the runs that ended before t
// (sqlstore.Store.PruneRuns). Before it, it lets the checkpointer start
// the write-ahead log over if it has grown (checkpointer.settle): under
// reads that never stop, the log would otherwise grow by all the pruning
// writes, or be started over only by a checkpoint that holds writes back.
func (d *DB) PruneRuns(ctx context.Context, before time.Time) (int, error) {
	if d.ckpt != nil {
		d.ckpt.settle(ctx)
	}
	return d.Store.PruneRuns(ctx, before)
}

// Open opens (creating it when missing) the SQLite database at path and
// brings Butler's tables up to date. A file that is there but is not a
// sound SQLite database (see Check) is refused with a *DamagedError before
// anything is written to it: Open never replaces a damaged database with a
// fresh one, and never turns an empty file into one. Use ":memory:" for a
// private in-memory database.
//
// The full check reads every page, so its cost grows with the database;
// it is skipped for a file that Butler closed cleanly and nothing touched
// since, within a week of its last full check (closeMark; DB.Checked says
// which check was made).
func Open(ctx context.Context, path string) (*DB, error) {
	checked, checkedAt := CheckedNone, time.Now()
	if path != ":memory:" {
		exists, err := checkHeader(path)
		if err != nil {
			return nil, err
		}
		if exists {
			if at, ok := cleanlyClosed(path, checkedAt); ok {
				checked, checkedAt = CheckedClean, at
			} else if err := quickCheck(ctx, path); err != nil {
				return nil, err
			} else {
				checked = CheckedFull
			}
		}
		// From here the file changes: a server killed while it runs
		// leaves no mark, and its next start checks in full.
		if err := removeMark(path); err != nil {
			return nil, fmt.Errorf("open database %s: %w", path, err)
		}
	}
	// Statement journals (every insert of a run has one) in memory: on
	// disk they cost a write of each page a statement changes. The writer's
	// statements are small; VACUUM runs on a connection of its own. Its
	// commits never copy the log into the database (checkpointer).
	writer := url.Values{"_pragma": {"temp_store(MEMORY)"}}
	if path != ":memory:" {
		writer.Add("_pragma", "wal_autocheckpoint(0)")
		writer.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", walSizeLimit))
	}
	conn, err := newCachingConnector(dsn(path) + "&" + writer.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db := sql.OpenDB(conn)
	// SQLite allows one writer; River's driver recommends one connection.
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	d := &DB{Store: &sqlstore.Store{DB: db}, db: db, path: path, checked: checked, checkedAt: checkedAt}
	if err := d.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if path != ":memory:" {
		// Reads outside a transaction go to read-only connections: in WAL
		// mode they do not wait for the writer, nor it for them.
		rc, err := newCachingConnector(dsn(path) + "&" + url.Values{"_pragma": {"query_only(1)"}}.Encode())
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("open database %s: %w", path, err)
		}
		d.read = sql.OpenDB(rc)
		d.read.SetMaxOpenConns(readConns)
		d.read.SetMaxIdleConns(readConns)
		d.Store.Read = d.read
		if d.ckpt, err = startCheckpointer(path, db, checkpointEvery, checkpointAt, walSizeLimit); err != nil {
			d.read.Close()
			db.Close()
			return nil, fmt.Errorf("open database %s: %w", path, err)
		}
	}
	return d, nil
}

// readConns is how many read-only connections a file database keeps.
const readConns = 4

func dsn(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_txlock", "immediate")
	if path == ":memory:" {
		return "file::memory:?" + q.Encode()
	}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	return fileURI(path, q.Encode())
}

// fileURI is the URI of the database file at path with the encoded query
// q (sqliteuri.File). A path that cannot be made absolute (the working
// directory is gone) is used as given, escaped, and fails where SQLite
// opens it.
func fileURI(path, q string) string {
	uri, err := sqliteuri.File(path, q)
	if err != nil {
		return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q
	}
	return uri
}

// sqliteHeader is how every SQLite database file starts.
const sqliteHeader = "SQLite format 3\x00"

// DamagedError is the error of Open and Check for a database file that is
// there but empty, not a SQLite database, or damaged (PRAGMA quick_check
// finds faults). The file has not been changed.
type DamagedError struct {
	// Path is the database file, as given to Open or Check.
	Path string
	// Problem says what is wrong with it, as the end of a sentence that
	// starts with the file's name: "is empty (0 bytes)".
	Problem string
}

// Error says which file it is and what is wrong with it.
func (e *DamagedError) Error() string { return "database " + e.Path + " " + e.Problem }

// Check tells whether the SQLite database file at path can be used as it
// is. It returns nil when there is no file (Open creates one), a
// *DamagedError when the file is empty, does not start with the 16 bytes of
// SQLite's header, or fails SQLite's PRAGMA quick_check (or SQLite finds it
// malformed while checking), and another error when the file cannot be read
// or checked at all. It opens the database read-only: it writes nothing to
// it (SQLite may create the -wal and -shm files of a database in WAL mode).
// Its cost grows with the database's size: quick_check reads every page
// (the file is read ahead into the page cache meanwhile, on Linux, when it
// fits in half of the available memory).
func Check(ctx context.Context, path string) error {
	exists, err := checkHeader(path)
	if err != nil || !exists {
		return err
	}
	return quickCheck(ctx, path)
}

// checkHeader reads the first 16 bytes of the file at path. It returns
// false without error when there is no file.
func checkHeader(path string) (exists bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open database %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, head)
	switch {
	case n == 0 && (err == nil || errors.Is(err, io.EOF)):
		return true, &DamagedError{Path: path, Problem: "is empty (0 bytes), so it holds no database"}
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return true, fmt.Errorf("read database %s: %w", path, err)
	case n < len(head) || !bytes.Equal(head, []byte(sqliteHeader)):
		return true, &DamagedError{Path: path, Problem: fmt.Sprintf("is not a SQLite database: it does not start with the SQLite header (%q)", sqliteHeader)}
	}
	return true, nil
}

// quickCheck runs PRAGMA quick_check on a read-only connection of its own,
// while the file is read ahead into the page cache: quick_check reads
// every page in b-tree order, which from a cold cache is one small random
// read after another.
func quickCheck(ctx context.Context, path string) error {
	ra := readahead.Start(ctx, path, readahead.BothEnds)
	defer ra.Stop() // an error only loses the speed-up
	q := url.Values{}
	q.Add("mode", "ro")
	q.Add("_pragma", "busy_timeout(5000)")
	problems, err := runQuickCheck(ctx, fileURI(path, q.Encode()))
	var se *msqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqliteReadOnly {
		// A hot rollback journal beside the file, which only a writer
		// may roll back: check it the way a writer opens it.
		q.Del("mode")
		problems, err = runQuickCheck(ctx, fileURI(path, q.Encode()))
	}
	if err != nil {
		if !errors.As(err, &se) || (se.Code()&0xff != sqliteCorrupt && se.Code()&0xff != sqliteNotADB) {
			return fmt.Errorf("check database %s: %w; check that the file and its directory can be read", path, err)
		}
		if len(problems) == 0 {
			return &DamagedError{Path: path, Problem: "is damaged: SQLite says " + firstLine(err.Error())}
		}
	} else if len(problems) == 1 && problems[0] == "ok" {
		return nil
	}
	p := "is damaged: PRAGMA quick_check found faults"
	if len(problems) > 0 {
		p += ", the first: " + firstLine(strings.TrimPrefix(problems[0], "*** in database main ***"))
	}
	return &DamagedError{Path: path, Problem: p}
}

// SQLite's primary result codes that quickCheck tells apart.
const (
	sqliteReadOnly = 8
	sqliteCorrupt  = 11
	sqliteNotADB   = 26
)

// runQuickCheck opens dsn, runs PRAGMA quick_check and returns its rows,
// those read before an error included.
func runQuickCheck(ctx context.Context, dsn string) ([]string, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return out, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// firstLine returns s up to its first line break, at most 200 bytes of it.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// SQL returns the connection pool, for River's driver.
func (d *DB) SQL() *sql.DB { return d.db }

// Path returns the database file's path.
func (d *DB) Path() string { return d.path }

// Checked says how Open checked the existing file before it used it:
// CheckedFull, CheckedClean or CheckedNone.
func (d *DB) Checked() string { return d.checked }

// Close closes the database. Once every connection is closed and the
// write-ahead log is empty, it records the file's identity beside it
// (closeMark), so that the next Open of the untouched file need not read
// every page again.
func (d *DB) Close() error {
	var err error
	if d.ckpt != nil {
		err = d.ckpt.stop()
	}
	if d.read != nil {
		err = errors.Join(err, d.read.Close())
	}
	err = errors.Join(d.db.Close(), err)
	if err == nil && d.path != ":memory:" {
		writeMark(d.path, d.checkedAt)
	}
	return err
}

// NeedsUpgrade reports whether the database file at path, which exists,
// has a schema older than this program's: Open would migrate it. A schema
// newer than this program's, which Open refuses, is refused here too, with
// a *sqlstore.NewerSchemaError (not wrapped). It reads the file with its
// write-ahead log (a crash may have left the newest state there) and
// writes nothing to the database.
func NeedsUpgrade(ctx context.Context, path string) (bool, error) {
	db, err := ReadOnly(path)
	if err != nil {
		return false, err
	}
	defer db.Close()
	known, has, err := sqlstore.Versions(ctx, db, migrationFS)
	if err != nil {
		return false, fmt.Errorf("database %s: %w", path, err)
	}
	if has > known {
		return false, &sqlstore.NewerSchemaError{Version: has, Known: known}
	}
	return has > 0 && has < known, nil
}

// ReadOnly opens the SQLite database at path for reading only (with its
// write-ahead log), for checks made before Open.
func ReadOnly(path string) (*sql.DB, error) {
	return sql.Open("sqlite", fileURI(path, "mode=ro&_pragma=busy_timeout(5000)"))
}

func (d *DB) migrate(ctx context.Context) error {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open database %s: %w", d.path, err)
	}
	defer conn.Close()
	if err := d.Store.Migrate(ctx, conn, migrationFS); err != nil {
		if strings.Contains(err.Error(), "not a database") {
			return fmt.Errorf("database %s is not a SQLite database or is damaged: %w", d.path, err)
		}
		return fmt.Errorf("database %s: %w", d.path, err)
	}
	return nil
}
