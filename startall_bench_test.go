package butler_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/engine"
	"github.com/plexbutler/butler/store/sqlite"
)

// BenchmarkStartAll times POST /butler's work (Manager.StartAll) with 1,000
// tasks on the real stack: a SQLite file and River. Each start-all queues a
// run of every task; between iterations (untimed) they are stopped and the
// server waits until none is active.
//
//	go test -run '^$' -bench StartAll -benchtime 20x .
func BenchmarkStartAll(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("tasks=%d", n), func(b *testing.B) {
			ctx := context.Background()
			// Slow work, so that the runs stay queued while start-all runs.
			block := butler.ActionFunc(func(ctx context.Context, _ butler.Reporter) error {
				<-ctx.Done()
				return ctx.Err()
			})
			var catalog []butler.Task
			for i := range n {
				catalog = append(catalog, task(butler.TaskName(fmt.Sprintf("Task%04d", i)), 1, false, block))
			}
			db, m := benchStack(b, catalog)
			b.ResetTimer()
			for range b.N {
				res, err := m.StartAll(ctx)
				if err != nil || len(res) != n {
					b.Fatalf("StartAll: %d results, %v", len(res), err)
				}
				b.StopTimer()
				if _, err := m.StopAll(ctx); err != nil {
					b.Fatal(err)
				}
				for {
					active, err := db.ActiveRuns(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if len(active) == 0 {
						break
					}
					time.Sleep(time.Millisecond) // waiting on the workers
				}
				// Start-all leaves a task that ran in this window alone:
				// the next iteration starts outside any window (UTC noon).
				b.StartTimer()
			}
		})
	}
}

// benchStack starts the real stack of one server on catalog for a
// benchmark: a SQLite file, River and a Manager, stopped when it ends.
func benchStack(b *testing.B, catalog []butler.Task) (*sqlite.DB, *butler.Manager) {
	b.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "butler.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	eng, err := engine.NewSQLite(ctx, db.SQL(), engine.Config{Node: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	m, err := butler.NewManager(ctx, butler.Config{Catalog: catalog, Store: db, Queue: eng, HostZone: "UTC",
		DataDir: b.TempDir(), HealthProbeEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	if err := eng.Start(ctx, m); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { eng.Stop(ctx) })
	if err := m.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Stop(ctx) })
	return db, m
}
