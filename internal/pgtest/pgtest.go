// Package pgtest gives tests a PostgreSQL database of their own, on the
// server named by BUTLER_TEST_DATABASE_URL. Tests that need PostgreSQL skip,
// saying why, when the variable is unset; CI sets it.
package pgtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable with the test server's URL.
const EnvURL = "BUTLER_TEST_DATABASE_URL"

// URL returns the test server's URL, or skips the test.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		t.Skipf("PostgreSQL tests skipped: set %s (for example postgres://postgres@127.0.0.1:5432/postgres)", EnvURL)
	}
	return u
}

// Schema creates a schema of its own for the test, dropped at its end, and
// returns a URL whose connections use it.
func Schema(t testing.TB) string {
	t.Helper()
	base := URL(t)
	name := fmt.Sprintf("butler_test_%08x", rand.Uint32())
	exec(t, base, "CREATE SCHEMA "+name)
	t.Cleanup(func() { exec(t, base, "DROP SCHEMA "+name+" CASCADE") })
	return withParam(t, base, "search_path", name)
}

// Database creates a database of its own for the test (for tests that run
// several servers), dropped at its end, and returns its URL.
func Database(t testing.TB) string {
	t.Helper()
	base := URL(t)
	name := fmt.Sprintf("butler_test_%08x", rand.Uint32())
	exec(t, base, "CREATE DATABASE "+name)
	t.Cleanup(func() { exec(t, base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func withParam(t testing.TB, base, key, value string) string {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func exec(t testing.TB, dsn, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the test PostgreSQL (%s): %v", EnvURL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
