package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"
)

// Migrate applies, in name order, the migrations of files (migration/*.sql)
// that conn's database has not had yet, each in a transaction of its own,
// and records them in butler_migration.
func (d *Store) Migrate(ctx context.Context, conn *sql.Conn, files fs.FS) error {
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS butler_migration (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(files, "migration/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	// A database migrated by a newer program has tables this one does not
	// know, and would lose what the newer one wrote there: refused.
	var newest sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT max(version) FROM butler_migration`).Scan(&newest); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if newest.Valid && int(newest.Int64) > len(names) {
		return &NewerSchemaError{Version: int(newest.Int64), Known: len(names)}
	}
	for i, name := range names {
		version := i + 1
		var n int
		if err := conn.QueryRowContext(ctx, d.bind(`SELECT count(*) FROM butler_migration WHERE version = ?`), version).Scan(&n); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if n > 0 {
			continue
		}
		body, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, d.bind(`INSERT INTO butler_migration (version, applied_at) VALUES (?, ?)`), version, time.Now().UnixNano()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	return nil
}

// Versions returns the newest schema version among files (the number of
// its migrations), and the version conn's database has (0 when it has no
// migration yet).
func Versions(ctx context.Context, conn *sql.DB, files fs.FS) (known, has int, err error) {
	names, err := fs.Glob(files, "migration/*.sql")
	if err != nil {
		return 0, 0, err
	}
	var newest sql.NullInt64
	err = conn.QueryRowContext(ctx, `SELECT max(version) FROM butler_migration`).Scan(&newest)
	if err != nil && !strings.Contains(err.Error(), "no such table") {
		return len(names), 0, err
	}
	return len(names), int(newest.Int64), nil
}

// NewerSchemaError is Migrate's error for a database that a newer version
// of Butler has migrated.
type NewerSchemaError struct {
	Version int // the database's schema version
	Known   int // the newest this program knows
}

func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("its schema (version %d) was made by a newer Butler; this one knows up to version %d and could lose what the newer one records: run the newer Butler, or restore a backup made by this version", e.Version, e.Known)
}
