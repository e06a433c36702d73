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

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/sqlstore"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// DB is an open Butler database on SQLite. It implements butler.Store.
type DB struct {
	*sqlstore.Store
	db   *sql.DB
	path string
}

var _ butler.Store = (*DB)(nil)

// Open opens (creating it when missing) the SQLite database at path and
// brings Butler's tables up to date. A file that exists but is not a SQLite
// database is an error: Open never replaces a damaged database with a fresh
// one. Use ":memory:" for a private in-memory database.
func Open(ctx context.Context, path string) (*DB, error) {
	if path != ":memory:" {
		if err := checkHeader(path); err != nil {
			return nil, err
		}
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// SQLite allows one writer; River's driver recommends one connection.
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	d := &DB{Store: &sqlstore.Store{DB: db}, db: db, path: path}
	if err := d.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

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
	return "file:" + path + "?" + q.Encode()
}

// checkHeader refuses a file that is there, not empty and not SQLite.
func checkHeader(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open database %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, 16)
	n, err := io.ReadFull(f, head)
	if n == 0 && (err == io.EOF || err == nil) {
		return nil
	}
	if !bytes.Equal(head[:n], []byte("SQLite format 3\x00")[:n]) || n < 16 {
		return fmt.Errorf("database %s is not a SQLite database; move it away or point --database at another file (nothing was changed)", path)
	}
	return nil
}

// SQL returns the connection pool, for River's driver.
func (d *DB) SQL() *sql.DB { return d.db }

// Path returns the database file's path.
func (d *DB) Path() string { return d.path }

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

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
