package sqlite

import (
	"container/list"
	"context"
	"database/sql/driver"
	"errors"
	"reflect"
	"sync"

	msqlite "modernc.org/sqlite"
)

// Prepared statements, kept.
//
// database/sql prepares a statement for every Exec and Query that is not
// run through a *sql.Stmt, and modernc.org/sqlite parses and plans it anew
// each time: in Butler's control path and in River's queries, parsing was
// about half of all the CPU time (a trivial run cost ~3.5 ms of CPU, start
// to end). River runs its own queries on the *sql.DB it is given, so the
// statements cannot be prepared where they are written. Instead each
// connection keeps its most recently used statements by their text and
// runs them again, as SQLite intends a prepared statement to be used.
//
// A cached statement serves one query at a time: while the rows of a query
// are open, the same text runs on a statement of its own. A statement whose
// run failed is finalised, not kept. SQLite re-prepares a kept statement by
// itself when the schema changes (sqlite3_prepare_v2).

// stmtCacheSize is how many statements each connection keeps.
const stmtCacheSize = 128

// cachingConnector opens modernc.org/sqlite connections that keep their
// prepared statements (the wrapping msqlite.NewConnector documents).
type cachingConnector struct{ driver.Connector }

// newCachingConnector returns a connector for dsn whose connections keep
// their prepared statements.
func newCachingConnector(dsn string) (driver.Connector, error) {
	base, err := msqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return cachingConnector{base}, nil
}

func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return newCachingConn(conn)
}

// modernConn is what database/sql uses of a modernc.org/sqlite connection.
type modernConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// cachedStmt is a kept statement.
type cachedStmt struct {
	query string
	stmt  modernStmt
	busy  bool          // its rows are open
	elem  *list.Element // in cachingConn.lru
}

type modernStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// cachingConn is a connection that keeps its prepared statements. Like
// every driver connection it is used by one goroutine at a time (database/sql
// serialises its use); the mutex covers rows closed from another goroutine.
type cachingConn struct {
	modernConn
	mu    sync.Mutex
	stmts map[string]*cachedStmt
	lru   *list.List // most recently used first
}

func newCachingConn(c driver.Conn) (*cachingConn, error) {
	mc, ok := c.(modernConn)
	if !ok {
		c.Close()
		return nil, errors.New("sqlite: the driver's connection lacks a method database/sql needs")
	}
	return &cachingConn{modernConn: mc, stmts: map[string]*cachedStmt{}, lru: list.New()}, nil
}

// Unwrap returns the driver's own connection (msqlite.Limit and other
// helpers of the driver look through wrappers with it).
func (c *cachingConn) Unwrap() driver.Conn { return c.modernConn }

// take returns the kept statement for query, preparing and keeping it if
// need be, marked busy; or nil when the kept one is busy.
func (c *cachingConn) take(ctx context.Context, query string) (*cachedStmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs, ok := c.stmts[query]; ok {
		if cs.busy {
			return nil, nil
		}
		cs.busy = true
		c.lru.MoveToFront(cs.elem)
		return cs, nil
	}
	ds, err := c.modernConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	ms, ok := ds.(modernStmt)
	if !ok {
		ds.Close()
		return nil, errors.New("sqlite: the driver's statement lacks a method database/sql needs")
	}
	cs := &cachedStmt{query: query, stmt: ms, busy: true}
	cs.elem = c.lru.PushFront(cs)
	c.stmts[query] = cs
	c.evict()
	return cs, nil
}

// evict drops the least recently used statements that are not busy while
// more than stmtCacheSize are kept.
func (c *cachingConn) evict() {
	for e := c.lru.Back(); e != nil && c.lru.Len() > stmtCacheSize; {
		cs := e.Value.(*cachedStmt)
		e = e.Prev()
		if !cs.busy {
			c.drop(cs)
		}
	}
}

// give hands a statement back after its run; a failed run drops it (it is
// prepared afresh next time).
func (c *cachingConn) give(cs *cachedStmt, failed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs.busy = false
	if failed {
		c.drop(cs)
	}
	c.evict()
}

func (c *cachingConn) drop(cs *cachedStmt) {
	if c.stmts[cs.query] == cs {
		delete(c.stmts, cs.query)
		c.lru.Remove(cs.elem)
	}
	cs.stmt.Close()
}

// PrepareContext returns query's kept statement for a *sql.Stmt (a
// transaction's prepared insert, say): closing it hands it back, and while
// it is out the same text gets a statement of its own.
func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	cs, err := c.take(ctx, query)
	if err != nil || cs == nil {
		return c.modernConn.PrepareContext(ctx, query)
	}
	return &lentStmt{modernStmt: cs.stmt, conn: c, stmt: cs}, nil
}

// lentStmt is a kept statement lent to a *sql.Stmt.
type lentStmt struct {
	modernStmt
	conn   *cachingConn
	stmt   *cachedStmt
	failed bool
	closed bool
}

func (s *lentStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	res, err := s.modernStmt.ExecContext(ctx, args)
	s.failed = s.failed || err != nil
	return res, err
}

func (s *lentStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := s.modernStmt.QueryContext(ctx, args)
	s.failed = s.failed || err != nil
	return rows, err
}

// Close hands the statement back to its connection (database/sql closes
// a statement after its last rows).
func (s *lentStmt) Close() error {
	if !s.closed {
		s.closed = true
		s.conn.give(s.stmt, s.failed)
	}
	return nil
}

// ExecContext runs query on its kept statement.
func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, err := c.take(ctx, query)
	if err != nil || cs == nil {
		return c.modernConn.ExecContext(ctx, query, args)
	}
	res, err := cs.stmt.ExecContext(ctx, args)
	c.give(cs, err != nil)
	return res, err
}

// QueryContext runs query on its kept statement; the statement is free
// again when the rows are closed.
func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs, err := c.take(ctx, query)
	if err != nil || cs == nil {
		return c.modernConn.QueryContext(ctx, query, args)
	}
	rows, err := cs.stmt.QueryContext(ctx, args)
	if err != nil {
		c.give(cs, true)
		return nil, err
	}
	return &cachedRows{Rows: rows, conn: c, stmt: cs}, nil
}

// Close finalises the kept statements and closes the connection.
func (c *cachingConn) Close() error {
	c.mu.Lock()
	for _, cs := range c.stmts {
		cs.stmt.Close()
	}
	c.stmts = map[string]*cachedStmt{}
	c.lru.Init()
	c.mu.Unlock()
	return c.modernConn.Close()
}

// cachedRows are the rows of a kept statement.
type cachedRows struct {
	driver.Rows
	conn   *cachingConn
	stmt   *cachedStmt
	closed bool
}

func (r *cachedRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.Rows.Close()
	r.conn.give(r.stmt, err != nil)
	return err
}

// The column-type methods of modernc.org/sqlite's rows, passed on.

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if x, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return x.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	if x, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return x.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *cachedRows) ColumnTypeNullable(i int) (bool, bool) {
	if x, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return x.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *cachedRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if x, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return x.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if x, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return x.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}
