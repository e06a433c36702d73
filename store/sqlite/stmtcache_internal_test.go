package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

// openCaching opens a SQLite file through the caching connector, on one
// connection as the store does.
func openCaching(t *testing.T) *sql.DB {
	t.Helper()
	c, err := newCachingConnector(dsn(filepath.Join(t.TempDir(), "cache.db")))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// kept returns the statements the connection keeps, by text.
func kept(t *testing.T, db *sql.DB) map[string]*cachedStmt {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var out map[string]*cachedStmt
	if err := conn.Raw(func(dc any) error {
		c := dc.(*cachingConn)
		c.mu.Lock()
		defer c.mu.Unlock()
		out = map[string]*cachedStmt{}
		for q, cs := range c.stmts {
			out[q] = cs
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStmtCache_ReusesStatements(t *testing.T) {
	db := openCaching(t)
	const ins = `INSERT INTO t (v) VALUES (?)`
	const sel = `SELECT v FROM t WHERE id = ?`
	for i := range 3 {
		if _, err := db.Exec(ins, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	first := kept(t, db)[ins]
	if first == nil {
		t.Fatal("the insert was not kept")
	}
	for i := range 3 {
		var v string
		if err := db.QueryRow(sel, i+1).Scan(&v); err != nil || v != fmt.Sprint("v", i) {
			t.Fatalf("row %d: %q, %v", i+1, v, err)
		}
	}
	after := kept(t, db)
	if after[ins] != first || after[sel] == nil || after[sel].busy {
		t.Fatalf("kept: insert %p (was %p), select %+v; want the same insert, an idle select", after[ins], first, after[sel])
	}
}

func TestStmtCache_SameQueryWhileItsRowsAreOpen(t *testing.T) {
	db := openCaching(t)
	for i := range 3 {
		if _, err := db.Exec(`INSERT INTO t (v) VALUES (?)`, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	// In a transaction (one connection) the same text runs again while the
	// first query's rows are open: it gets a statement of its own.
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	const q = `SELECT id FROM t WHERE id >= ? ORDER BY id`
	outer, err := tx.Query(q, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for outer.Next() {
		var id int
		if err := outer.Scan(&id); err != nil {
			t.Fatal(err)
		}
		inner, err := tx.Query(q, id)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for inner.Next() {
			n++
		}
		if err := inner.Close(); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d:%d", id, n))
	}
	if err := outer.Close(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[1:3 2:2 3:1]" {
		t.Fatalf("nested queries: %v; want [1:3 2:2 3:1]", got)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if cs := kept(t, db)[q]; cs == nil || cs.busy {
		t.Fatalf("after the rows closed, the statement is %+v; want kept and idle", cs)
	}
}

func TestStmtCache_FailedRunIsDropped(t *testing.T) {
	db := openCaching(t)
	const ins = `INSERT INTO t (id, v) VALUES (?, ?)`
	if _, err := db.Exec(ins, 1, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ins, 1, "b"); err == nil {
		t.Fatal("a duplicate primary key was accepted")
	}
	if _, ok := kept(t, db)[ins]; ok {
		t.Fatal("the statement whose run failed is still kept")
	}
	if _, err := db.Exec(ins, 2, "b"); err != nil {
		t.Fatalf("the same statement after a failure: %v", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows: %d, %v; want 2", n, err)
	}
}

func TestStmtCache_BoundedAndSchemaChanges(t *testing.T) {
	db := openCaching(t)
	if _, err := db.Exec(`INSERT INTO t (v) VALUES ('x')`); err != nil {
		t.Fatal(err)
	}
	const star = `SELECT * FROM t`
	cols := func() int {
		rows, err := db.Query(star)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		c, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		return len(c)
	}
	if n := cols(); n != 2 {
		t.Fatalf("%d columns, want 2", n)
	}
	// A kept statement sees a schema change (SQLite prepares it again).
	if _, err := db.Exec(`ALTER TABLE t ADD COLUMN w TEXT`); err != nil {
		t.Fatal(err)
	}
	if n := cols(); n != 3 {
		t.Fatalf("after ALTER TABLE: %d columns, want 3", n)
	}
	// Many distinct texts: the cache stays bounded and every answer right.
	for i := range 3 * stmtCacheSize {
		var v int
		if err := db.QueryRow(fmt.Sprintf(`SELECT %d + ?`, i), 1).Scan(&v); err != nil || v != i+1 {
			t.Fatalf("SELECT %d + 1 = %d, %v", i, v, err)
		}
	}
	if n := len(kept(t, db)); n > stmtCacheSize {
		t.Fatalf("%d statements kept, want at most %d", n, stmtCacheSize)
	}
}

func TestStmtCache_PreparedStatementsAreKeptToo(t *testing.T) {
	db := openCaching(t)
	const ins = `INSERT INTO t (v) VALUES (?)`
	var first *cachedStmt
	for round := range 3 {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		st, err := tx.Prepare(ins)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if _, err := st.Exec(fmt.Sprint(round, i)); err != nil {
				t.Fatal(err)
			}
		}
		st.Close()
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		cs := kept(t, db)[ins]
		if cs == nil || cs.busy || (first != nil && cs != first) {
			t.Fatalf("round %d: after Close the statement is %+v (first %p); want the same one, idle", round, cs, first)
		}
		first = cs
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil || n != 6 {
		t.Fatalf("rows: %d, %v; want 6", n, err)
	}
}
