package engine

import (
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler/store/sqlite"
)

// openRiverDB opens a SQLite database with River's tables, closed at the
// test's end.
func openRiverDB(t *testing.T) *sql.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir()+"/butler.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := NewSQLite(ctx, db.SQL(), Config{Node: "test"}); err != nil {
		t.Fatal(err)
	}
	return db.SQL()
}

// addJobs inserts n jobs of kind butler_item in state, finished (when
// finished is not zero) at that time, as River's SQLite driver writes it.
func addJobs(t *testing.T, x *sql.DB, n int, state string, finished time.Time) {
	t.Helper()
	var at any
	if !finished.IsZero() {
		at = finished.UTC().Format(sqliteTime)
	}
	if _, err := x.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
		INSERT INTO river_job (kind, state, queue, finalized_at) SELECT 'butler_item', ?2, 'items', ?3 FROM n`, n, state, at); err != nil {
		t.Fatal(err)
	}
}

func countJobs(t *testing.T, x *sql.DB, where string) int {
	t.Helper()
	var n int
	if err := x.QueryRow(`SELECT count(*) FROM river_job WHERE ` + where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestJobCleaner_DeletesOnlyExpiredJobs: a pass deletes the jobs finished
// longer ago than their state's retention, however many batches that
// takes, and nothing else: not the recently finished, not the unfinished.
func TestJobCleaner_DeletesOnlyExpiredJobs(t *testing.T) {
	x := openRiverDB(t)
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	addJobs(t, x, 2345, "completed", now.Add(-completedRetention-time.Second)) // expired
	addJobs(t, x, 7, "completed", now.Add(-completedRetention+time.Second))
	addJobs(t, x, 120, "cancelled", now.Add(-cancelledRetention-time.Minute)) // expired
	addJobs(t, x, 5, "cancelled", now.Add(-time.Hour))
	addJobs(t, x, 60, "discarded", now.Add(-discardedRetention-time.Hour)) // expired
	addJobs(t, x, 3, "discarded", now.Add(-2*24*time.Hour))
	addJobs(t, x, 4, "running", time.Time{})
	addJobs(t, x, 6, "available", time.Time{})

	c := &jobCleaner{db: x, logger: slog.New(slog.DiscardHandler), now: func() time.Time { return now }}
	n, err := c.clean(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 2345+120+60 {
		t.Errorf("deleted %d jobs; want %d, the expired ones", n, 2345+120+60)
	}
	for state, want := range map[string]int{"completed": 7, "cancelled": 5, "discarded": 3, "running": 4, "available": 6} {
		if got := countJobs(t, x, "state = '"+state+"'"); got != want {
			t.Errorf("%s jobs left: %d, want %d", state, got, want)
		}
	}
	if c.batch < cleanLeast || c.batch > cleanMost {
		t.Errorf("next batch %d; want it between %d and %d", c.batch, cleanLeast, cleanMost)
	}
	if n, err := c.clean(context.Background()); n != 0 || err != nil {
		t.Errorf("a second pass deleted %d (%v); want none", n, err)
	}
}

// TestCleanSQL_ReadsTheIndexInOrder: a batch of the cleaning reads River's
// index on (state, finalized_at) in its order, with and without SQLite's
// statistics: no scan of the table, no sort of every expired job (River's
// own statement sorts them by id, or with statistics walks the whole
// table in id order; its plan is logged if that ever changes).
func TestCleanSQL_ReadsTheIndexInOrder(t *testing.T) {
	x := openRiverDB(t)
	now := time.Now()
	addJobs(t, x, 3000, "completed", now.Add(-2*completedRetention))
	addJobs(t, x, 3000, "completed", now)
	addJobs(t, x, 10, "available", time.Time{})
	plan := func(q string, args ...any) string {
		t.Helper()
		return queryPlan(t, x, q, args...)
	}
	// River's JobDeleteBefore on SQLite (riversqlite's river_job.sql), with
	// its switches as Butler would set them.
	const riverSQL = `DELETE FROM river_job WHERE id IN (SELECT id FROM river_job WHERE (
		(state = 'cancelled' AND finalized_at < ?1) OR (state = 'completed' AND finalized_at < ?1) OR
		(state = 'discarded' AND finalized_at < ?2)) ORDER BY id LIMIT ?3)`
	for _, stats := range []string{"none", "ANALYZE"} {
		if stats == "ANALYZE" {
			if _, err := x.Exec(`ANALYZE`); err != nil {
				t.Fatal(err)
			}
		}
		p := plan(cleanSQL, "completed", "2026-12-01 00:00:00.000", 100)
		if strings.Contains(p, "TEMP B-TREE") || strings.Contains(p, "SCAN river_job") || !strings.Contains(p, "river_job_state_and_finalized_at_index (state=? AND finalized_at<?)") {
			t.Errorf("statistics %s: plan %q; want a search of river_job_state_and_finalized_at_index on state and finalized_at, without a sort", stats, p)
		}
		if r := plan(riverSQL, "2026-12-01 00:00:00.000", "2026-11-25 00:00:00.000", 100); !strings.Contains(r, "TEMP B-TREE") && !strings.Contains(r, "SCAN river_job") {
			t.Logf("statistics %s: River's own statement no longer sorts or scans: %q", stats, r)
		}
	}
}

// noExec is an executor for an engine whose jobs the test does not run.
type noExec struct{}

func (noExec) Execute(context.Context, int64) error { return nil }

// TestEngine_SQLiteCleansExpiredJobs: a SQLite engine deletes River's
// expired jobs from its start, and Stop ends its cleaner.
func TestEngine_SQLiteCleansExpiredJobs(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir()+"/butler.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e, err := NewSQLite(ctx, db.SQL(), Config{Node: "test"})
	if err != nil {
		t.Fatal(err)
	}
	x := db.SQL()
	addJobs(t, x, 700, "completed", time.Now().Add(-completedRetention-time.Minute))
	addJobs(t, x, 9, "completed", time.Now())
	if err := e.Start(ctx, noExec{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for countJobs(t, x, "true") != 9 {
		if time.Now().After(deadline) {
			t.Fatalf("after 15 s, %d jobs; want the 9 that have not expired", countJobs(t, x, "true"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := e.cleanDone
	if err := e.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	default:
		t.Error("Stop returned with the cleaner still running")
	}
}

// queryPlan returns SQLite's plan of q, its steps joined by "; ".
func queryPlan(t *testing.T, x *sql.DB, q string, args ...any) string {
	t.Helper()
	rows, err := x.Query(`EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(steps, "; ")
}
