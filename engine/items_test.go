package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/engine"
	"github.com/plexbutler/butler/store/sqlite"
)

// itemExec is an executor whose ExecuteItem is a function; it counts the
// calls per item and the most it saw of one item at once.
type itemExec struct {
	node string
	work func(ctx context.Context, j butler.ItemJob) butler.ItemResult

	mu       sync.Mutex
	calls    map[int64]int
	inFlight map[int64]int
	overlap  bool
}

func (e *itemExec) Execute(context.Context, int64) error { return nil }

func (e *itemExec) ExecuteItem(ctx context.Context, j butler.ItemJob) butler.ItemResult {
	e.mu.Lock()
	if e.calls == nil {
		e.calls, e.inFlight = map[int64]int{}, map[int64]int{}
	}
	e.calls[j.Item]++
	e.inFlight[j.Item]++
	if e.inFlight[j.Item] > 1 {
		e.overlap = true
	}
	e.mu.Unlock()
	res := e.work(ctx, j)
	e.mu.Lock()
	e.inFlight[j.Item]--
	e.mu.Unlock()
	res.Item, res.Node = j.Item, e.node
	return res
}

func (e *itemExec) callsOf(item int64) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[item]
}

// openSQLiteItems opens a SQLite engine with n item workers.
func openSQLiteItems(t testing.TB, n int) *engine.Engine {
	t.Helper()
	db, err := sqlite.Open(context.Background(), t.TempDir()+"/butler.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	eng, err := engine.NewSQLite(context.Background(), db.SQL(), engine.Config{Node: "test", ItemWorkers: n, ItemPoll: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func startEngine(t testing.TB, eng *engine.Engine, ex engine.Executor) {
	t.Helper()
	if err := eng.Start(context.Background(), ex); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		eng.Stop(ctx)
	})
}

// drain waits for every pending item of q and returns the results by item.
func drain(t *testing.T, q butler.ItemQueue) map[int64]butler.ItemResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := map[int64]butler.ItemResult{}
	for q.Pending() > 0 {
		res, err := q.Wait(ctx)
		if err != nil {
			t.Fatalf("Wait with %d pending: %v", q.Pending(), err)
		}
		for _, r := range res {
			if _, twice := got[r.Item]; twice {
				t.Errorf("item %d reported twice", r.Item)
			}
			got[r.Item] = r
		}
	}
	return got
}

// waitFor polls cond until it holds, failing the test after 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 15 s for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestItems_EachItemOnceWithItsResult(t *testing.T) {
	eng := openSQLiteItems(t, 3)
	ex := &itemExec{node: "test", work: func(_ context.Context, j butler.ItemJob) butler.ItemResult {
		if j.Item%2 == 1 {
			return butler.ItemResult{Outcome: butler.ItemFailed, Reason: fmt.Sprintf("item %d is broken", j.Item)}
		}
		return butler.ItemResult{Outcome: butler.ItemDone}
	}}
	startEngine(t, eng, ex)
	q := eng.ItemQueue(butler.Run{ID: 41, Task: "DeepMediaAnalysis"})
	ctx := context.Background()
	for _, batch := range [][]int64{{1, 2, 3, 4, 5}, {6, 7, 8, 9, 10, 10}} {
		skipped, err := q.Add(ctx, batch)
		if err != nil || len(skipped) != 0 {
			t.Fatalf("Add(%v) = %v, %v; want nothing skipped", batch, skipped, err)
		}
	}
	if q.Pending() != 10 {
		t.Fatalf("Pending = %d after queuing items 1..10 (10 twice); want 10", q.Pending())
	}
	got := drain(t, q)
	for item := int64(1); item <= 10; item++ {
		r, ok := got[item]
		want := butler.ItemDone
		if item%2 == 1 {
			want = butler.ItemFailed
		}
		switch {
		case !ok:
			t.Errorf("item %d: no result", item)
		case r.Outcome != want || r.Node != "test":
			t.Errorf("item %d: %+v; want %s on node test", item, r, want)
		case want == butler.ItemFailed && r.Reason != fmt.Sprintf("item %d is broken", item):
			t.Errorf("item %d: reason %q; want the worker's", item, r.Reason)
		}
		if n := ex.callsOf(item); n != 1 {
			t.Errorf("item %d worked %d times; want once", item, n)
		}
	}
	if res, err := q.Wait(ctx); err != nil || res != nil {
		t.Errorf("Wait with nothing pending = %v, %v; want at once, nothing", res, err)
	}
}

func TestItems_AnItemHeldByAnotherRunIsSkipped(t *testing.T) {
	eng := openSQLiteItems(t, 2)
	release := make(chan struct{})
	var started sync.Map
	ex := &itemExec{node: "test", work: func(ctx context.Context, j butler.ItemJob) butler.ItemResult {
		started.Store(j.Item, j.RunID)
		<-release
		return butler.ItemResult{Outcome: butler.ItemDone}
	}}
	startEngine(t, eng, ex)
	ctx := context.Background()
	first := eng.ItemQueue(butler.Run{ID: 1, Task: "DeepMediaAnalysis"})
	if _, err := first.Add(ctx, []int64{7}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "item 7 to be worked", func() bool { _, ok := started.Load(int64(7)); return ok })

	second := eng.ItemQueue(butler.Run{ID: 2, Task: "UpgradeMediaAnalysis"})
	skipped, err := second.Add(ctx, []int64{7, 8})
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 1 || skipped[0].Item != 7 || skipped[0].Outcome != butler.ItemSkipped || !skipped[0].Held || !strings.Contains(skipped[0].Reason, "run 1") {
		t.Fatalf("second run's Add(7, 8) skipped %+v; want item 7 skipped, held by run 1", skipped)
	}
	if second.Pending() != 1 {
		t.Fatalf("second run pending %d; want 1 (item 8)", second.Pending())
	}
	close(release)
	if got := drain(t, first); got[7].Outcome != butler.ItemDone {
		t.Errorf("first run's item 7: %+v", got[7])
	}
	if got := drain(t, second); got[8].Outcome != butler.ItemDone {
		t.Errorf("second run's item 8: %+v", got[8])
	}
	if n := ex.callsOf(7); n != 1 {
		t.Errorf("item 7 worked %d times; want once", n)
	}
	// Finished, an item may be queued again: once River has recorded its
	// job's end (its completer does, in batches, up to 250 ms after the
	// worker told the run), as a run queues its held items again.
	third := eng.ItemQueue(butler.Run{ID: 3, Task: "DeepMediaAnalysis"})
	waitFor(t, "item 7 to be queued again", func() bool {
		skipped, err := third.Add(ctx, []int64{7})
		if err != nil || (len(skipped) == 1 && !skipped[0].Held) || len(skipped) > 1 {
			t.Fatalf("Add(7) after its job finished = %v, %v; want it queued, or held for a moment", skipped, err)
		}
		return len(skipped) == 0
	})
	drain(t, third)
	if n := ex.callsOf(7); n != 2 {
		t.Errorf("item 7 worked %d times after a second run queued it; want twice", n)
	}
}

func TestItems_CancelStopsTheItemsBeingWorkedAndDropsTheRest(t *testing.T) {
	eng := openSQLiteItems(t, 2)
	var mu sync.Mutex
	running := map[int64]bool{}
	stopped := map[int64]bool{}
	ex := &itemExec{node: "test", work: func(ctx context.Context, j butler.ItemJob) butler.ItemResult {
		mu.Lock()
		running[j.Item] = true
		mu.Unlock()
		<-ctx.Done()
		mu.Lock()
		stopped[j.Item] = true
		mu.Unlock()
		return butler.ItemResult{Outcome: butler.ItemSkipped, Reason: "told to stop"}
	}}
	startEngine(t, eng, ex)
	ctx := context.Background()
	q := eng.ItemQueue(butler.Run{ID: 5, Task: "DeepMediaAnalysis"})
	var items []int64
	for i := int64(1); i <= 10; i++ {
		items = append(items, i)
	}
	if _, err := q.Add(ctx, items); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two items to be worked", func() bool { mu.Lock(); defer mu.Unlock(); return len(running) == 2 })
	if err := q.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	got := drain(t, q)
	if len(got) != 10 {
		t.Fatalf("%d results after the cancel; want 10", len(got))
	}
	mu.Lock()
	defer mu.Unlock()
	for item, r := range got {
		switch {
		case running[item] && (!stopped[item] || r.Reason != "told to stop"):
			t.Errorf("item %d was being worked: stopped %v, result %+v; want stopped and its worker's result", item, stopped[item], r)
		case !running[item] && (r.Outcome != butler.ItemSkipped || !strings.Contains(r.Reason, "cancelled")):
			t.Errorf("item %d was waiting: %+v; want skipped, cancelled", item, r)
		}
	}
	if len(running) != 2 {
		t.Errorf("%d items were worked; want only the 2 taken before the cancel", len(running))
	}
}

func TestItems_PostgresServersShareTheItems(t *testing.T) {
	db := openPostgres(t)
	release := make(chan struct{})
	var mu sync.Mutex
	inFlight := map[string]int{}
	var execs []*itemExec
	var engines []*engine.Engine
	for _, node := range []string{"a", "b", "c"} {
		eng, err := engine.NewPostgres(context.Background(), db.Pool(), db.Store.DB, engine.Config{Node: node, ItemWorkers: 1, ItemPoll: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ex := &itemExec{node: node, work: func(ctx context.Context, j butler.ItemJob) butler.ItemResult {
			mu.Lock()
			inFlight[node]++
			mu.Unlock()
			select {
			case <-release:
			case <-ctx.Done():
				return butler.ItemResult{Outcome: butler.ItemSkipped, Reason: "told to stop"}
			}
			mu.Lock()
			inFlight[node]--
			mu.Unlock()
			return butler.ItemResult{Outcome: butler.ItemDone}
		}}
		startEngine(t, eng, ex)
		execs, engines = append(execs, ex), append(engines, eng)
	}
	q := engines[0].ItemQueue(butler.Run{ID: 9, Task: "DeepMediaAnalysis"})
	var items []int64
	for i := int64(100); i < 112; i++ {
		items = append(items, i)
	}
	if _, err := q.Add(context.Background(), items); err != nil {
		t.Fatal(err)
	}
	// One item worker per server: three items at once are on three servers.
	waitFor(t, "three items worked at once", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return inFlight["a"]+inFlight["b"]+inFlight["c"] == 3
	})
	mu.Lock()
	if inFlight["a"] != 1 || inFlight["b"] != 1 || inFlight["c"] != 1 {
		t.Errorf("items in flight by server %v; want one on each", inFlight)
	}
	mu.Unlock()
	close(release)
	got := drain(t, q)
	byNode := map[string]int{}
	for _, item := range items {
		r := got[item]
		if r.Outcome != butler.ItemDone {
			t.Errorf("item %d: %+v; want done", item, r)
		}
		byNode[r.Node]++
		calls := 0
		for _, ex := range execs {
			calls += ex.callsOf(item)
			if ex.overlap {
				t.Errorf("server %s worked an item twice at once", ex.node)
			}
		}
		if calls != 1 {
			t.Errorf("item %d worked %d times in the cluster; want once", item, calls)
		}
	}
	if len(byNode) != 3 {
		t.Errorf("items done by server: %v; want all three servers", byNode)
	}
}

// TestItems_RecoverSingleNodeFreesTheItemsOfTheDeadProcess: the item jobs
// a killed process left waiting would hold their items against the next
// run; at the next start they are ended, and the items can be queued.
func TestItems_RecoverSingleNodeFreesTheItemsOfTheDeadProcess(t *testing.T) {
	dead := openSQLiteItems(t, 1) // never started: its jobs wait
	ctx := context.Background()
	q := dead.ItemQueue(butler.Run{ID: 1, Task: "DeepMediaAnalysis"})
	if _, err := q.Add(ctx, []int64{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	n, err := dead.RecoverSingleNode(ctx)
	if err != nil || n != 3 {
		t.Fatalf("RecoverSingleNode = %d, %v; want the 3 waiting item jobs ended", n, err)
	}
	next := dead.ItemQueue(butler.Run{ID: 2, Task: "DeepMediaAnalysis"})
	skipped, err := next.Add(ctx, []int64{1, 2, 3})
	if err != nil || len(skipped) != 0 || next.Pending() != 3 {
		t.Fatalf("the next run's Add = %+v, %v, pending %d; want all 3 queued", skipped, err, next.Pending())
	}
}

// TestItems_CancelOfWaitingItemsReportsThemAtOnce: items no worker took
// are cancelled by Cancel itself; they stay pending until Wait returns
// them, at once.
func TestItems_CancelOfWaitingItemsReportsThemAtOnce(t *testing.T) {
	eng := openSQLiteItems(t, 1) // not started: no worker takes anything
	ctx := context.Background()
	q := eng.ItemQueue(butler.Run{ID: 6, Task: "DeepMediaAnalysis"})
	if _, err := q.Add(ctx, []int64{1, 2, 3, 4, 5}); err != nil {
		t.Fatal(err)
	}
	if err := q.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if n := q.Pending(); n != 5 {
		t.Fatalf("Pending = %d after the cancel; want 5 until Wait returns them", n)
	}
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	res, err := q.Wait(wctx)
	if err != nil || len(res) != 5 {
		t.Fatalf("Wait = %d results, %v; want the 5 cancelled at once", len(res), err)
	}
	for _, r := range res {
		if r.Outcome != butler.ItemSkipped || !strings.Contains(r.Reason, "cancelled") {
			t.Errorf("item %d: %+v; want skipped, cancelled", r.Item, r)
		}
	}
	if q.Pending() != 0 {
		t.Errorf("Pending = %d after Wait; want 0", q.Pending())
	}
}

// An item whose executor gives it back (RetryLater: the server is silent)
// is not a result: its job is offered again a moment later, and the run
// gets the result of the try that did the work, once.
func TestItems_GivenBackItemIsWorkedLater(t *testing.T) {
	eng := openSQLiteItems(t, 1)
	ex := &itemExec{node: "test"}
	ex.work = func(_ context.Context, j butler.ItemJob) butler.ItemResult {
		if ex.callsOf(j.Item) == 1 {
			return butler.ItemResult{RetryLater: true, Reason: "silent"}
		}
		return butler.ItemResult{Outcome: butler.ItemDone}
	}
	startEngine(t, eng, ex)
	q := eng.ItemQueue(butler.Run{ID: 43, Task: "DeepMediaAnalysis"})
	if skipped, err := q.Add(context.Background(), []int64{7}); err != nil || len(skipped) != 0 {
		t.Fatalf("Add: %v, %v", skipped, err)
	}
	got := drain(t, q)
	if r := got[7]; r.Outcome != butler.ItemDone || len(got) != 1 {
		t.Errorf("results %+v; want item 7 done, once", got)
	}
	if n := ex.callsOf(7); n != 2 {
		t.Errorf("item 7 offered %d times; want twice (given back once)", n)
	}
}
