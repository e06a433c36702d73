package engine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/plexbutler/butler/store/sqlite"
)

// BenchmarkCleanExpiredJobs: how long the server's other writes wait while
// River's expired jobs are deleted on SQLite, River's own way against the
// engine's (jobCleaner).
//
// Each run opens a SQLite file with River's tables and fills it with jobs
// of kind butler_item, as the items of a library would leave them:
// expired finished 25 hours ago, and as many finished an hour ago (kept).
// Then, while one goroutine writes back to back through the same
// connection (an INSERT of one row into a table of its own, as a start or
// a stop writes its run), the expired jobs are deleted: "river" by River's
// own statement (JobDeleteBefore of riversqlite, batches of 10,000 ordered
// by id, one after another, as River's cleaner runs it), "butler" by
// jobCleaner.clean. Reported: max-write-ms and p99-write-ms, the longest
// and 99th percentile of the writer's calls during the deletion, and
// clean-ms, how long the deletion took.
func BenchmarkCleanExpiredJobs(b *testing.B) {
	for _, expired := range []int{10_000, 100_000} {
		for _, how := range []string{"river", "butler"} {
			b.Run(fmt.Sprintf("expired=%d/%s", expired, how), func(b *testing.B) {
				var longest, p99, took time.Duration
				for range b.N {
					l, p, t := cleanWhileWriting(b, expired, how)
					longest, p99, took = max(longest, l), max(p99, p), took+t
				}
				b.ReportMetric(float64(longest.Microseconds())/1000, "max-write-ms")
				b.ReportMetric(float64(p99.Microseconds())/1000, "p99-write-ms")
				b.ReportMetric(float64(took.Microseconds())/1000/float64(b.N), "clean-ms")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// riverDeleteBefore is River's JobDeleteBefore on SQLite, its switches as
// River's cleaner sets them from the retentions.
const riverDeleteBefore = `DELETE FROM river_job WHERE id IN (SELECT id FROM river_job WHERE (
	(state = 'cancelled' AND finalized_at < ?1) OR (state = 'completed' AND finalized_at < ?1) OR
	(state = 'discarded' AND finalized_at < ?2)) ORDER BY id LIMIT ?3)`

func cleanWhileWriting(b *testing.B, expired int, how string) (longest, p99, took time.Duration) {
	b.StopTimer()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, b.TempDir()+"/butler.db")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := NewSQLite(ctx, db.SQL(), Config{Node: "bench"}); err != nil {
		b.Fatal(err)
	}
	x := db.SQL()
	now := time.Now()
	fill := `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
		INSERT INTO river_job (args, kind, state, queue, attempt, max_attempts, attempted_at, finalized_at)
		SELECT jsonb('{"run_id":' || (i / 1000) || ',"item":' || i || ',"task":"DeepMediaAnalysis"}'),
			'butler_item', 'completed', 'items', 1, 1, ?2, ?2 FROM n`
	for _, at := range []time.Time{now.Add(-completedRetention - time.Hour), now.Add(-time.Hour)} {
		if _, err := x.ExecContext(ctx, fill, expired, at.UTC().Format(sqliteTime)); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := x.ExecContext(ctx, `CREATE TABLE bench_write (id INTEGER PRIMARY KEY, at INTEGER)`); err != nil {
		b.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	var waits []time.Duration
	var wg sync.WaitGroup
	wg.Go(func() {
		for wctx.Err() == nil {
			start := time.Now()
			if _, err := x.ExecContext(wctx, `INSERT INTO bench_write (at) VALUES (?)`, start.UnixNano()); err != nil && wctx.Err() == nil {
				b.Error(err)
				return
			}
			waits = append(waits, time.Since(start))
		}
	})
	b.StartTimer()
	start := time.Now()
	switch how {
	case "river":
		horizon := now.Add(-completedRetention).UTC().Format(sqliteTime)
		discarded := now.Add(-discardedRetention).UTC().Format(sqliteTime)
		for {
			res, err := x.ExecContext(ctx, riverDeleteBefore, horizon, discarded, 10_000)
			if err != nil {
				b.Fatal(err)
			}
			if n, _ := res.RowsAffected(); n < 10_000 {
				break
			}
		}
	case "butler":
		c := &jobCleaner{db: x, logger: slog.New(slog.DiscardHandler), now: func() time.Time { return now }}
		if _, err := c.clean(ctx); err != nil {
			b.Fatal(err)
		}
	}
	took = time.Since(start)
	b.StopTimer()
	stop()
	wg.Wait()
	var left int
	if err := x.QueryRowContext(ctx, `SELECT count(*) FROM river_job`).Scan(&left); err != nil || left != expired {
		b.Fatalf("%d jobs left (%v); want the %d that have not expired", left, err, expired)
	}
	if len(waits) == 0 {
		b.Fatal("no write was made during the deletion")
	}
	slices.Sort(waits)
	return waits[len(waits)-1], waits[len(waits)*99/100], took
}
