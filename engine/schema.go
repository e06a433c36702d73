package engine

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// NewerSchemaError is the error for a database whose River tables a newer
// version of Butler (a newer River) migrated: this program would work them
// as it knows them and could lose or misread what the newer one keeps
// there.
type NewerSchemaError struct {
	Version int // the version of River's tables in the database
	Known   int // the newest version this program knows
}

func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("its job queue's tables (River schema version %d) were migrated by a newer Butler; this one knows up to version %d: run the newer Butler, or restore a backup made by this version", e.Version, e.Known)
}

// riverLine is the migration line of River's own tables.
const riverLine = "main"

// SQLiteSchema returns the newest version of River's tables this program
// knows and the version db (a SQLite database, which may be opened
// read-only) has: 0 when it has none yet. It writes nothing.
func SQLiteSchema(ctx context.Context, db *sql.DB) (known, has int, err error) {
	m, err := rivermigrate.New(riversqlite.New(db), nil)
	if err != nil {
		return 0, 0, fmt.Errorf("engine: %w", err)
	}
	known = newest(m.AllVersions())
	err = db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM river_migration WHERE line = ?`, riverLine).Scan(&has)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return known, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("engine: read the version of River's tables: %w", err)
	}
	return known, has, nil
}

// postgresSchema is SQLiteSchema for a PostgreSQL database (River's tables
// in the search path, as River finds them).
func postgresSchema(ctx context.Context, pool *pgxpool.Pool) (known, has int, err error) {
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return 0, 0, fmt.Errorf("engine: %w", err)
	}
	known = newest(m.AllVersions())
	var there bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('river_migration') IS NOT NULL`).Scan(&there); err != nil {
		return 0, 0, fmt.Errorf("engine: read the version of River's tables: %w", err)
	}
	if !there {
		return known, 0, nil
	}
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM river_migration WHERE line = $1`, riverLine).Scan(&has); err != nil {
		return 0, 0, fmt.Errorf("engine: read the version of River's tables: %w", err)
	}
	return known, has, nil
}

// newest is the highest version of all (sorted, as AllVersions gives them).
func newest(all []rivermigrate.Migration) int {
	if len(all) == 0 {
		return 0
	}
	return all[len(all)-1].Version
}

// notNewer refuses a database whose River tables are newer than known.
func notNewer(known, has int) error {
	if has > known {
		return &NewerSchemaError{Version: has, Known: known}
	}
	return nil
}
