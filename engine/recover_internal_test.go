package engine

import (
	"context"
	"strings"
	"testing"
)

// TestRecoverSQL_ReadsOnlyUnfinishedJobs: RecoverSingleNode's statement
// reads River's table through the index on state, never through kind's
// index, which lists every item job River keeps (the finished ones a day
// long), nor the whole table; with and without SQLite's statistics
// (OptimizeDatabase runs ANALYZE). It ends what it is meant to end.
func TestRecoverSQL_ReadsOnlyUnfinishedJobs(t *testing.T) {
	ctx := context.Background()
	x := openRiverDB(t)
	// A day of finished item jobs, and one job of every other kind.
	if _, err := x.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
		INSERT INTO river_job (kind, state, queue, finalized_at) SELECT 'butler_item', 'completed', 'items', datetime('now') FROM n`); err != nil {
		t.Fatal(err)
	}
	if _, err := x.ExecContext(ctx, `INSERT INTO river_job (id, kind, state, queue) VALUES
		(900001, 'butler_item', 'available', 'items'), (900002, 'butler_item', 'retryable', 'items'),
		(900003, 'butler_run', 'running', 'default'), (900004, 'butler_run', 'available', 'default'),
		(900005, 'butler_item', 'running', 'items')`); err != nil {
		t.Fatal(err)
	}
	plan := func() string {
		t.Helper()
		return queryPlan(t, x, recoverSQL)
	}
	for _, stats := range []string{"none", "ANALYZE"} {
		if stats == "ANALYZE" {
			if _, err := x.ExecContext(ctx, `ANALYZE`); err != nil {
				t.Fatal(err)
			}
		}
		p := plan()
		if strings.Contains(p, "river_job_kind") || strings.Contains(p, "SCAN") || !strings.Contains(p, "river_job_prioritized_fetching_index") {
			t.Errorf("statistics %s: plan %q; want a search of river_job_prioritized_fetching_index (state) alone", stats, p)
		}
	}
	res, err := x.ExecContext(ctx, recoverSQL)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 4 {
		t.Errorf("ended %d jobs; want 4: the two running, the two item jobs waiting", n)
	}
	var waiting, completed int
	x.QueryRowContext(ctx, `SELECT count(*) FROM river_job WHERE id = 900004 AND state = 'available'`).Scan(&waiting)
	x.QueryRowContext(ctx, `SELECT count(*) FROM river_job WHERE state = 'completed'`).Scan(&completed)
	if waiting != 1 || completed != 5000 {
		t.Errorf("a waiting run job left: %d, finished jobs left: %d; want 1 and 5000, untouched", waiting, completed)
	}
}
