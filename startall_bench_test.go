package butler_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/engine"
	"github.com/plexbutler/butler/internal/pgtest"
	"github.com/plexbutler/butler/store/postgres"
	"github.com/plexbutler/butler/store/sqlite"
)

// BenchmarkStartAll times POST /butler's work (Manager.StartAll) on the real
// stack — a SQLite file or PostgreSQL (when BUTLER_TEST_DATABASE_URL is
// set), and River — with 100 and 1,000 tasks, beside its reference, side by
// side in one run:
//
//   - butler: each start-all queues a run of every task: the runs and their
//     River jobs are made in one transaction. Between iterations (untimed)
//     they are stopped and the server waits until none is active.
//   - river: River's insert of the same jobs alone (InsertManyTx of one job
//     per task, with Butler's insert options, in one transaction, through
//     the engine's EnqueueTx): the part of a start-all that is River's.
//   - stopall: the way back, DELETE /butler's work (Manager.StopAll)
//     after a start-all (untimed): each waiting run removed and its job
//     cancelled, the running ones (ButlerMaxConcurrentTasks of them)
//     stopped and waited for.
//
// Butler's cost of its own is butler minus river.
//
//	go test -run '^$' -bench StartAll -benchtime 10x .
func BenchmarkStartAll(b *testing.B) {
	for _, store := range []string{"sqlite", "postgres"} {
		for _, n := range []int{100, 1000} {
			b.Run(fmt.Sprintf("store=%s/tasks=%d/butler", store, n), func(b *testing.B) {
				benchStartAll(b, store, n)
			})
			b.Run(fmt.Sprintf("store=%s/tasks=%d/river", store, n), func(b *testing.B) {
				benchRiverInsert(b, store, n)
			})
			b.Run(fmt.Sprintf("store=%s/tasks=%d/stopall", store, n), func(b *testing.B) {
				benchStopAll(b, store, n)
			})
		}
	}
}

// startAllStack starts the real stack of one server on store with n
// tasks whose work lasts until it is stopped, so that the runs a start-all
// makes stay active.
func startAllStack(b *testing.B, store string, n int) (butler.Store, *butler.Manager) {
	b.Helper()
	block := butler.ActionFunc(func(ctx context.Context, _ butler.Reporter) error {
		<-ctx.Done()
		return ctx.Err()
	})
	var catalog []butler.Task
	for i := range n {
		catalog = append(catalog, task(butler.TaskName(fmt.Sprintf("Task%04d", i)), 1, false, block))
	}
	return benchStackOn(b, store, catalog)
}

// waitNoneActive waits until the store holds no active run.
func waitNoneActive(b *testing.B, st butler.Store) {
	b.Helper()
	for {
		active, err := st.ActiveRuns(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if len(active) == 0 {
			return
		}
		time.Sleep(time.Millisecond) // waiting on the workers
	}
}

func benchStartAll(b *testing.B, store string, n int) {
	ctx := context.Background()
	st, m := startAllStack(b, store, n)
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
		waitNoneActive(b, st)
		// Start-all leaves a task that ran in this window alone:
		// the next iteration starts outside any window (UTC noon).
		b.StartTimer()
	}
}

// benchStopAll times StopAll of the runs a start-all of n tasks made.
func benchStopAll(b *testing.B, store string, n int) {
	ctx := context.Background()
	st, m := startAllStack(b, store, n)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if res, err := m.StartAll(ctx); err != nil || len(res) != n {
			b.Fatalf("StartAll: %d results, %v", len(res), err)
		}
		b.StartTimer()
		res, err := m.StopAll(ctx)
		if err != nil || len(res) != n {
			b.Fatalf("StopAll: %d results, %v", len(res), err)
		}
		for _, r := range res {
			if r.Outcome != butler.StopRemoved && r.Outcome != butler.StopStopped {
				b.Fatalf("StopAll: %s of run %d; want it removed or stopped", r.Outcome, r.Run.ID)
			}
		}
		b.StopTimer()
		waitNoneActive(b, st)
		b.StartTimer()
	}
}

// benchRiverInsert times the engine's EnqueueTx of n jobs in one
// transaction, on an engine that is not started (nothing works the jobs).
func benchRiverInsert(b *testing.B, store string, n int) {
	ctx := context.Background()
	var db *sql.DB
	var eng *engine.Engine
	switch store {
	case "sqlite":
		s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "butler.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		db = s.SQL()
		if eng, err = engine.NewSQLite(ctx, db, engine.Config{Node: "bench"}); err != nil {
			b.Fatal(err)
		}
	default:
		p := openBenchPostgres(b)
		db = p.Store.DB
		var err error
		if eng, err = engine.NewPostgres(ctx, p.Pool(), db, engine.Config{Node: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	runs := make([]butler.Run, n)
	id := int64(0)
	b.ResetTimer()
	for range b.N {
		for i := range runs {
			id++
			runs[i] = butler.Run{ID: id, Task: butler.TaskName(fmt.Sprintf("Task%04d", i)), State: butler.StateQueued, Queue: butler.QueueMaintenance}
		}
		// As the stores begin theirs: on a connection whose driver
		// connection the engine may use (butler.Tx's Raw; the engine
		// uses it on PostgreSQL only).
		conn, err := db.Conn(ctx)
		if err != nil {
			b.Fatal(err)
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		ids, err := eng.EnqueueTx(ctx, butler.Tx{Tx: tx, Raw: conn.Raw}, runs)
		if err != nil || len(ids) != n {
			b.Fatalf("EnqueueTx: %d ids, %v", len(ids), err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		conn.Close()
	}
}

// benchStack starts the real stack of one server on catalog for a
// benchmark: a SQLite file, River and a Manager, stopped when it ends.
func benchStack(b *testing.B, catalog []butler.Task) (butler.Store, *butler.Manager) {
	return benchStackOn(b, "sqlite", catalog)
}

// benchStackOn is benchStack on a SQLite file (store "sqlite") or on a
// PostgreSQL schema of its own (store "postgres"; skipped without
// BUTLER_TEST_DATABASE_URL).
func benchStackOn(b *testing.B, store string, catalog []butler.Task) (butler.Store, *butler.Manager) {
	b.Helper()
	return stackOn(b, store, catalog, nil)
}

// stackOn is benchStackOn for a test or a benchmark; queue, when set,
// gives the Manager's queue made of the engine (a wrapper of it, say).
func stackOn(b testing.TB, store string, catalog []butler.Task, queue func(*engine.Engine) butler.Queue) (butler.Store, *butler.Manager) {
	b.Helper()
	ctx := context.Background()
	var st butler.Store
	var eng *engine.Engine
	switch store {
	case "sqlite":
		db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "butler.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		if eng, err = engine.NewSQLite(ctx, db.SQL(), engine.Config{Node: "bench"}); err != nil {
			b.Fatal(err)
		}
		st = db
	default:
		db := openBenchPostgres(b)
		var err error
		if eng, err = engine.NewPostgres(ctx, db.Pool(), db.Store.DB, engine.Config{Node: "bench"}); err != nil {
			b.Fatal(err)
		}
		st = db
	}
	var q butler.Queue = eng
	if queue != nil {
		q = queue(eng)
	}
	m, err := butler.NewManager(ctx, butler.Config{Catalog: catalog, Store: st, Queue: q, HostZone: "UTC",
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
	return st, m
}

// openBenchPostgres opens a PostgreSQL schema of the benchmark's own with
// Butler's and River's tables.
func openBenchPostgres(b testing.TB) *postgres.DB {
	b.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, pgtest.Schema(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, func(ctx context.Context) error { return engine.MigratePostgres(ctx, db.Pool()) }); err != nil {
		b.Fatal(err)
	}
	return db
}
