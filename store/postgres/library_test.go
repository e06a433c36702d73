package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/pgtest"
	"github.com/plexbutler/butler/store/postgres"
	"github.com/plexbutler/butler/storetest"
)

func TestMediaIndex(t *testing.T) {
	pgtest.URL(t)
	storetest.ExerciseMediaIndex(t, func(t *testing.T) butler.MediaIndex { return open(t) })
}

// TestMediaIndex_ICUCollation runs the suite in a database whose collation
// sorts for people (ICU's "en": "a b" < "a/x" < "B"), where the index must
// still sort paths byte by byte, as the scanner walks them.
func TestMediaIndex_ICUCollation(t *testing.T) {
	base := pgtest.URL(t)
	ctx := context.Background()
	onBase := func(q string) error {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, q)
		return err
	}
	name := fmt.Sprintf("butler_test_icu_%08x", rand.Uint32())
	if err := onBase("CREATE DATABASE " + name + " TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en' LOCALE 'C.UTF-8'"); err != nil {
		t.Skipf("no database with an ICU collation on this server (PostgreSQL 15 or later, built with ICU): %v", err)
	}
	t.Cleanup(func() {
		if err := onBase("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	var order string
	check, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	err = check.QueryRow(ctx, `SELECT string_agg(x, '|' ORDER BY x) FROM (VALUES ('B'), ('a/x'), ('a b')) v(x)`).Scan(&order)
	check.Close(ctx)
	if err != nil || order != "a b|a/x|B" {
		t.Fatalf("the database's collation sorts %q (%v); the test needs one that is not byte order", order, err)
	}
	storetest.ExerciseMediaIndex(t, func(t *testing.T) butler.MediaIndex {
		// A schema of its own in that database for each subtest.
		schema := fmt.Sprintf("s_%08x", rand.Uint32())
		c, err := pgx.Connect(ctx, u.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		su := *u
		su.RawQuery = q.Encode()
		db, err := postgres.Open(ctx, su.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return db
	})
}
