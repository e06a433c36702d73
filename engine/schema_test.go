package engine_test

import (
	"context"
	"errors"
	"testing"

	"github.com/plexbutler/butler/engine"
)

// TestSchema_NewerRefused: River's tables migrated by a newer Butler (a
// version this program does not know) are refused with NewerSchemaError,
// on SQLite and on PostgreSQL, and left as they are; the version it knows
// opens as before.
func TestSchema_NewerRefused(t *testing.T) {
	ctx := context.Background()
	t.Run("sqlite", func(t *testing.T) {
		db, _ := openSQLite(t)
		known, has, err := engine.SQLiteSchema(ctx, db.SQL())
		if err != nil || known == 0 || has != known {
			t.Fatalf("SQLiteSchema of a migrated database: known %d, has %d, %v; want the same, not 0", known, has, err)
		}
		if _, err := engine.NewSQLite(ctx, db.SQL(), engine.Config{Node: "again"}); err != nil {
			t.Fatalf("NewSQLite on tables of the version it knows: %v", err)
		}
		if _, err := db.SQL().Exec(`INSERT INTO river_migration (line, version) VALUES ('main', ?)`, known+1); err != nil {
			t.Fatal(err)
		}
		_, err = engine.NewSQLite(ctx, db.SQL(), engine.Config{Node: "older"})
		var newer *engine.NewerSchemaError
		if !errors.As(err, &newer) || newer.Version != known+1 || newer.Known != known {
			t.Fatalf("NewSQLite on newer tables: %v; want a NewerSchemaError for version %d (known %d)", err, known+1, known)
		}
		if _, has, _ := engine.SQLiteSchema(ctx, db.SQL()); has != known+1 {
			t.Errorf("the refused tables have version %d; want %d, unchanged", has, known+1)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		db := openPostgres(t)
		if err := engine.MigratePostgres(ctx, db.Pool()); err != nil {
			t.Fatalf("MigratePostgres on tables of the version it knows: %v", err)
		}
		var known int
		if err := db.Pool().QueryRow(ctx, `SELECT max(version) FROM river_migration WHERE line = 'main'`).Scan(&known); err != nil || known == 0 {
			t.Fatalf("River's version after migrating: %d, %v", known, err)
		}
		if _, err := db.Pool().Exec(ctx, `INSERT INTO river_migration (line, version) VALUES ('main', $1)`, known+1); err != nil {
			t.Fatal(err)
		}
		err := engine.MigratePostgres(ctx, db.Pool())
		var newer *engine.NewerSchemaError
		if !errors.As(err, &newer) || newer.Version != known+1 || newer.Known != known {
			t.Fatalf("MigratePostgres on newer tables: %v; want a NewerSchemaError for version %d (known %d)", err, known+1, known)
		}
	})
}
