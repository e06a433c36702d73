package sqlstore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/sqlstore"
	"github.com/plexbutler/butler/storetest"
)

// TestHotQueries_ListsEveryStatement runs the conformance suite on SQLite
// and records every statement the store sends: each one that touches
// butler_run must be one of HotQueries (which the stores' tests EXPLAIN),
// or a history page of Runs. A statement added to a control path without
// being listed fails here.
func TestHotQueries_ListsEveryStatement(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	record := func(q string) {
		mu.Lock()
		defer mu.Unlock()
		seen[normalize(q)] = true
	}
	storetest.Exercise(t, func(t *testing.T) butler.Store { return openRecording(t, record) })
	// What the suite does not call: the health probe's write, a run's log.
	s := openRecording(t, record)
	if err := s.CheckWrite(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RunLog(t.Context(), 1); butler.ErrorCode(err) != butler.ENOTFOUND {
		t.Fatalf("RunLog of no run: %v", err)
	}
	listed := map[string]bool{}
	for _, q := range s.HotQueries(time.Now(), "t") {
		listed[normalize(q.SQL)] = true
	}
	if len(seen) == 0 {
		t.Fatal("no statement recorded")
	}
	for q := range seen {
		if !strings.Contains(q, "butler_run") || listed[q] || historyPage(q) || q == suiteOwn {
			continue
		}
		t.Errorf("the store ran a statement on butler_run that sqlstore's HotQueries does not list: %s", q)
	}
	var unseen []string
	for q := range listed {
		if !seen[q] {
			unseen = append(unseen, q)
		}
	}
	slices.Sort(unseen)
	for _, q := range unseen {
		t.Errorf("HotQueries lists a statement the store never ran in the suite (is it still used, as written?): %s", q)
	}
}

// TestHistoryQueries_ArePages: the statements of HistoryQueries are pages
// of Runs as the check above knows them.
func TestHistoryQueries_ArePages(t *testing.T) {
	qs := (&sqlstore.Store{}).HistoryQueries(time.Now(), "t")
	if len(qs) == 0 {
		t.Fatal("no history queries")
	}
	for _, q := range qs {
		if !historyPage(normalize(q.SQL)) {
			t.Errorf("not a page of Runs: %v", q)
		}
	}
}

// suiteOwn is the statement the conformance suite itself runs in a queue
// job's transaction (countQueued).
const suiteOwn = "SELECT count(*) FROM butler_run WHERE state = 'queued'"

// historyPage reports whether q is a page of Runs (the history, not a
// control path: its cost follows its filters). Runs with a lower bound on
// the creation time only is Plan's, which HotQueries lists.
func historyPage(q string) bool {
	return strings.HasPrefix(q, "SELECT id, uuid, task,") && strings.HasSuffix(q, " ORDER BY id DESC LIMIT ?")
}

// normalize folds white space, a list of placeholders into one (as in
// FinishRun's "state IN (?, ?)"), a list of such lists into one (the rows
// of CreateRuns' insert) and repeated cases into one (CreateRuns' update of
// the job ids); HotQueries lists one length of each.
func normalize(q string) string {
	q = placeholders.ReplaceAllString(strings.Join(strings.Fields(q), " "), "(?)")
	q = placeholderRows.ReplaceAllString(q, "(?)")
	return jobCases.ReplaceAllString(q, " WHEN ? THEN CAST(? AS BIGINT)")
}

var (
	placeholders    = regexp.MustCompile(`\(\?(, \?)*\)`)
	placeholderRows = regexp.MustCompile(`\(\?\)(, \(\?\))+`)
	jobCases        = regexp.MustCompile(`( WHEN \? THEN CAST\(\? AS BIGINT\))+`)
)

// openRecording opens a store on a private in-memory SQLite database with
// Butler's SQLite tables, through a driver that calls record with every
// statement made after the migrations.
func openRecording(t *testing.T, record func(string)) *sqlstore.Store {
	t.Helper()
	ctx := context.Background()
	var migrated atomic.Bool
	rec := func(q string) {
		if migrated.Load() {
			record(q)
		}
	}
	base, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		t.Fatal(err)
	}
	drv := base.Driver()
	base.Close()
	db := sql.OpenDB(recordingConnector{drv: drv, dsn: "file::memory:?_pragma=foreign_keys(1)&_txlock=immediate", record: rec})
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	t.Cleanup(func() { db.Close() })
	s := &sqlstore.Store{DB: db}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := s.Migrate(ctx, conn, os.DirFS("../../store/sqlite")); err != nil {
		t.Fatal(err)
	}
	migrated.Store(true)
	return s
}

type recordingConnector struct {
	drv    driver.Driver
	dsn    string
	record func(string)
}

func (c recordingConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return recordingConn{conn, c.record}, nil
}

func (c recordingConnector) Driver() driver.Driver { return c.drv }

// recordingConn records the statements it is given and hands them to the
// driver's connection (modernc's implements every interface used here).
type recordingConn struct {
	driver.Conn
	record func(string)
}

func (c recordingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	c.record(q)
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
}

func (c recordingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	c.record(q)
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (c recordingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	c.record(q)
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (c recordingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}
