package tasks_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// dsn returns a modernc.org/sqlite DSN for path with the given parameters.
func dsn(t *testing.T, path string, params ...string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: strings.Join(params, "&")}
	return u.String()
}

// openDB opens the database at path (creating it) with journal mode mode
// ("wal" or "delete") and a busy timeout. It is closed when the test ends.
func openDB(t *testing.T, path, mode string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(t, path, "_pragma=busy_timeout(5000)", "_pragma=journal_mode("+mode+")"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	return db
}

// payload returns n deterministic bytes for row i.
func payload(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*31 + j*7)
	}
	return b
}

// createDB creates a database at path in journal mode mode with table items
// holding rows rows of payloadSize-byte payloads, and closes it.
func createDB(t *testing.T, path, mode string, rows, payloadSize int) {
	t.Helper()
	db := openDB(t, path, mode)
	if _, err := db.Exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, payload BLOB)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE INDEX items_name ON items(name)`); err != nil {
		t.Fatal(err)
	}
	insertRows(t, db, 0, rows, payloadSize)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// insertRows inserts rows ids first..first+n-1 in one transaction.
func insertRows(t *testing.T, db *sql.DB, first, n, payloadSize int) {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	stmt, err := tx.Prepare(`INSERT INTO items (id, name, payload) VALUES (?, ?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	for i := first; i < first+n; i++ {
		if _, err := stmt.Exec(i, fmt.Sprintf("item %d", i), payload(i, payloadSize)); err != nil {
			t.Fatal(err)
		}
	}
	if err := stmt.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// readOnly opens the database at path read-only; closed when the test ends.
func readOnly(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(t, path, "mode=ro", "_pragma=busy_timeout(5000)"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// digest returns the number of rows of items in the database at path and a
// hash of their content.
func digest(t *testing.T, path string) (int, string) {
	t.Helper()
	db := readOnly(t, path)
	defer db.Close()
	rows, err := db.Query(`SELECT id, name, payload FROM items ORDER BY id`)
	if err != nil {
		t.Fatalf("read items of %s: %v", path, err)
	}
	defer rows.Close()
	h := sha256.New()
	n := 0
	for rows.Next() {
		var id int
		var name string
		var p []byte
		if err := rows.Scan(&id, &name, &p); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%d|%s|%x\n", id, name, p)
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n, hex.EncodeToString(h.Sum(nil))
}

// integrity returns PRAGMA integrity_check's rows for the database at path.
func integrity(t *testing.T, path string) string {
	t.Helper()
	db := readOnly(t, path)
	defer db.Close()
	rows, err := db.Query(`PRAGMA integrity_check`)
	if err != nil {
		t.Fatalf("integrity check of %s: %v", path, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "\n")
}

// pragmaInt returns the integer value of PRAGMA name for the database at path.
func pragmaInt(t *testing.T, path, name string) int64 {
	t.Helper()
	db := readOnly(t, path)
	defer db.Close()
	var v int64
	if err := db.QueryRow(`PRAGMA ` + name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s of %s: %v", name, path, err)
	}
	return v
}

// pragmaString returns the text value of PRAGMA name for the database at path.
func pragmaString(t *testing.T, path, name string) string {
	t.Helper()
	db := readOnly(t, path)
	defer db.Close()
	var v string
	if err := db.QueryRow(`PRAGMA ` + name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s of %s: %v", name, path, err)
	}
	return v
}

// names returns the names of the entries in dir, nil when it does not exist.
func names(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

// holdExclusiveLock opens the database at path on a connection of its own
// and takes an exclusive lock on it until the test ends.
func holdExclusiveLock(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(t, path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.ExecContext(context.Background(), "ROLLBACK")
		conn.Close()
	})
}
