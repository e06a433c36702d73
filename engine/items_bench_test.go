package engine_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/engine"
	"github.com/plexbutler/butler/store/sqlite"
)

// BenchmarkItemsAcrossServers measures how the item work of one run
// spreads over the servers of a cluster on PostgreSQL: one run queues 480
// items (a window of 256 at a time, as the media analysis keeps), each of
// which waits 10 ms (work that is not this machine's CPU: a probe reading
// a network disk), worked by 2 item workers on each of 1 or 3 servers.
// items/s is the figure; 3 servers against 1 is the speed-up (the ideal
// is 3).
//
//	BUTLER_TEST_DATABASE_URL=postgres://... go test -run '^$' -bench ItemsAcrossServers ./engine
func BenchmarkItemsAcrossServers(b *testing.B) {
	const items, work, window = 480, 10 * time.Millisecond, 256
	for _, servers := range []int{1, 3} {
		b.Run(fmt.Sprintf("servers=%d", servers), func(b *testing.B) {
			db := openPostgres(b)
			var engines []*engine.Engine
			for i := range servers {
				eng, err := engine.NewPostgres(context.Background(), db.Pool(), db.Store.DB, engine.Config{Node: fmt.Sprint("s", i), ItemWorkers: 2})
				if err != nil {
					b.Fatal(err)
				}
				ex := &itemExec{node: fmt.Sprint("s", i), work: func(ctx context.Context, _ butler.ItemJob) butler.ItemResult {
					t := time.NewTimer(work) // the item's work: waiting on a slow device
					defer t.Stop()
					select {
					case <-t.C:
					case <-ctx.Done():
					}
					return butler.ItemResult{Outcome: butler.ItemDone}
				}}
				startEngine(b, eng, ex)
				engines = append(engines, eng)
			}
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			for n := range b.N {
				runWindowed(ctx, b, engines[0].ItemQueue(butler.Run{ID: int64(n + 1), Task: "DeepMediaAnalysis"}), int64(n*items), items, window)
			}
			b.ReportMetric(float64(b.N*items)/time.Since(start).Seconds(), "items/s")
		})
	}
}

// BenchmarkItemOverhead measures what an item job costs the server itself
// on SQLite: one run queues 480 items (a window of 256 at a time, as the
// media analysis keeps), each of which waits 20 ms (a program's work,
// which costs the server no CPU), worked by 2 item workers. cpu-ms/item
// is the process's CPU time (user and system) per item: River's insert,
// fetch and completion of the job and the run's reads of its jobs (at the
// default poll interval).
//
//	go test -run '^$' -bench ItemOverhead ./engine
func BenchmarkItemOverhead(b *testing.B) {
	const items, work, window = 480, 20 * time.Millisecond, 256
	db, err := sqlite.Open(context.Background(), b.TempDir()+"/butler.db")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	eng, err := engine.NewSQLite(context.Background(), db.SQL(), engine.Config{Node: "s", ItemWorkers: 2})
	if err != nil {
		b.Fatal(err)
	}
	startEngine(b, eng, &itemExec{node: "s", work: func(ctx context.Context, _ butler.ItemJob) butler.ItemResult {
		t := time.NewTimer(work)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		return butler.ItemResult{Outcome: butler.ItemDone}
	}})
	ctx := context.Background()
	before := cpuTime(b)
	b.ResetTimer()
	for n := range b.N {
		runWindowed(ctx, b, eng.ItemQueue(butler.Run{ID: int64(n + 1), Task: "DeepMediaAnalysis"}), int64(n*items), items, window)
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-before).Microseconds())/1000/float64(b.N*items), "cpu-ms/item")
	b.ReportMetric(float64(b.N*items)/b.Elapsed().Seconds(), "items/s")
}

// cpuTime is the process's CPU time so far, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runWindowed queues items first, first+1, ... (n in all) on q, keeping at
// most window of them pending, as the media analysis does, until all have
// ended.
func runWindowed(ctx context.Context, b *testing.B, q butler.ItemQueue, first int64, n, window int) {
	next, end := first, first+int64(n)
	for done := 0; done < n; {
		var batch []int64
		for q.Pending()+len(batch) < window && next < end {
			batch = append(batch, next)
			next++
		}
		if _, err := q.Add(ctx, batch); err != nil {
			b.Fatal(err)
		}
		res, err := q.Wait(ctx)
		if err != nil {
			b.Fatal(err)
		}
		done += len(res)
	}
}
