package engine

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/store/sqlite"
)

func itemJob(t *testing.T, id, run int64, state rivertype.JobState) *rivertype.JobRow {
	t.Helper()
	args, err := json.Marshal(ItemArgs{Item: id, RunID: run, Task: "DeepMediaAnalysis"})
	if err != nil {
		t.Fatal(err)
	}
	return &rivertype.JobRow{ID: id, Kind: ItemArgs{}.Kind(), State: state, EncodedArgs: args}
}

// TestItemEnds_Deliver: only ended item jobs reach their run's listener;
// an end that does not fit is dropped and says so; a forgotten listener
// hears nothing.
func TestItemEnds_Deliver(t *testing.T) {
	var h itemEnds
	l := h.listen(1)
	other := h.listen(2)
	h.deliver(itemJob(t, 10, 1, rivertype.JobStateCompleted))
	h.deliver(itemJob(t, 11, 1, rivertype.JobStateRetryable)) // not ended
	h.deliver(itemJob(t, 12, 3, rivertype.JobStateCompleted)) // nobody listens
	run := itemJob(t, 13, 1, rivertype.JobStateCompleted)
	run.Kind = Args{}.Kind() // a run's job, not an item's
	h.deliver(run)
	h.deliver(itemJob(t, 14, 2, rivertype.JobStateDiscarded))
	if got := len(l.told); got != 1 || (<-l.told).job != 10 {
		t.Errorf("run 1 was told %d ends; want job 10 only", got+1)
	}
	if got := len(other.told); got != 1 || (<-other.told).job != 14 {
		t.Errorf("run 2 was told %d ends; want job 14 only", got+1)
	}
	for i := range toldBuffer + 1 {
		h.deliver(itemJob(t, int64(100+i), 1, rivertype.JobStateCancelled))
	}
	if !l.dropped.Load() || len(l.told) != toldBuffer {
		t.Errorf("after %d ends: dropped %v, %d kept; want dropped, %d kept", toldBuffer+1, l.dropped.Load(), len(l.told), toldBuffer)
	}
	h.forget(2, other)
	h.deliver(itemJob(t, 15, 2, rivertype.JobStateCompleted))
	if len(other.told) != 0 {
		t.Error("a forgotten listener was told an end")
	}
	if len(h.byRun) != 1 {
		t.Errorf("%d listeners left; want run 1's", len(h.byRun))
	}
}

// TestItemQueue_Close: a queue listens from its first Add and stops at
// Close.
func TestItemQueue_Close(t *testing.T) {
	e := &Engine{started: true, itemPoll: DefaultItemPoll}
	q := e.ItemQueue(butler.Run{ID: 5, Task: "DeepMediaAnalysis"}).(*itemQueue)
	q.listener = q.ends.listen(5) // what Add does before it inserts
	if len(e.ends.byRun) != 1 {
		t.Fatalf("%d listeners; want the queue's", len(e.ends.byRun))
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if len(e.ends.byRun) != 0 || q.ends != nil {
		t.Errorf("after Close: %d listeners, ends %v; want none, nil", len(e.ends.byRun), q.ends)
	}
}

// blindClient reads no job as ended (JobList finds nothing), and counts
// the reads.
type blindClient struct {
	riverClient
	lists atomic.Int64
}

func (c *blindClient) JobList(context.Context, *river.JobListParams) (*river.JobListResult, error) {
	c.lists.Add(1)
	return &river.JobListResult{}, nil
}

type itemsDone struct{}

func (itemsDone) Execute(context.Context, int64) error { return nil }

func (itemsDone) ExecuteItem(_ context.Context, j butler.ItemJob) butler.ItemResult {
	if j.Item == 3 {
		return butler.ItemResult{Item: j.Item, Outcome: butler.ItemFailed, Reason: "item 3 is broken"}
	}
	return butler.ItemResult{Item: j.Item, Outcome: butler.ItemDone}
}

// startItemEngine starts a SQLite engine with two item workers, whose River
// client is wrap's, working with x; it is stopped when the test ends.
func startItemEngine(t *testing.T, wrap func(riverClient) riverClient, x Executor) *Engine {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir()+"/butler.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e, err := NewSQLite(ctx, db.SQL(), Config{Node: "test", ItemWorkers: 2})
	if err != nil {
		t.Fatal(err)
	}
	e.client = wrap(e.client)
	if err := e.Start(ctx, x); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	return e
}

// itemEndsHeard starts a SQLite engine whose River client is wrap's, queues
// six items of run 7 (the worker fails item 3) and waits for their ends,
// each of which must come once; why says what alone could tell them.
func itemEndsHeard(t *testing.T, wrap func(riverClient) riverClient, why string) map[int64]butler.ItemResult {
	t.Helper()
	ctx := context.Background()
	e := startItemEngine(t, wrap, itemsDone{})
	q := e.ItemQueue(butler.Run{ID: 7, Task: "DeepMediaAnalysis"})
	if _, err := q.Add(ctx, []int64{1, 2, 3, 4, 5, 6}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got := map[int64]butler.ItemResult{}
	for q.Pending() > 0 {
		res, err := q.Wait(wctx)
		if err != nil {
			t.Fatalf("Wait with %d pending: %v (%s)", q.Pending(), err, why)
		}
		for _, r := range res {
			if _, twice := got[r.Item]; twice {
				t.Errorf("item %d ended twice", r.Item)
			}
			got[r.Item] = r
		}
	}
	if len(got) != 6 || got[3].Outcome != butler.ItemFailed || got[3].Reason != "item 3 is broken" || got[1].Outcome != butler.ItemDone {
		t.Errorf("results %+v; want 6, item 3 failed with the worker's reason", got)
	}
	return got
}

// TestItemQueue_EndsHereAreTold: a run learns of the items this server
// ends, results and all, from what the server itself tells it: its reads
// of its jobs find none of them, and it still reads them (for the items
// other servers end).
func TestItemQueue_EndsHereAreTold(t *testing.T) {
	blind := &blindClient{}
	itemEndsHeard(t, func(c riverClient) riverClient { blind.riverClient = c; return blind },
		"its reads find nothing: only what the server tells could end it")
	if blind.lists.Load() == 0 {
		t.Error("the run never read its jobs: it would not learn of the items other servers end")
	}
}

// deafClient is blindClient that hears none of River's events.
type deafClient struct{ *blindClient }

func (deafClient) Subscribe(...river.EventKind) (<-chan *river.Event, func()) {
	ch := make(chan *river.Event)
	return ch, sync.OnceFunc(func() { close(ch) })
}

// TestItemQueue_EndsToldByTheirWorker: a run learns of the items this
// server ends from their worker, as each one's work returns, without
// waiting for River to record the jobs' ends (its completer does that in
// batches, up to 250 ms later): here River's events never come and the
// run's reads of its jobs find nothing.
func TestItemQueue_EndsToldByTheirWorker(t *testing.T) {
	itemEndsHeard(t, func(c riverClient) riverClient { return deafClient{&blindClient{riverClient: c}} },
		"no event comes and its reads find nothing: only the workers could tell it")
}

// itemsUntilStopped works each item until its context is cancelled, and
// says on started when it began.
type itemsUntilStopped struct{ started chan int64 }

func (itemsUntilStopped) Execute(context.Context, int64) error { return nil }

func (x itemsUntilStopped) ExecuteItem(ctx context.Context, j butler.ItemJob) butler.ItemResult {
	x.started <- j.Item
	<-ctx.Done()
	return butler.ItemResult{Item: j.Item, Outcome: butler.ItemSkipped, Reason: "stopped"}
}

// TestItemQueue_CancelledHearsFromWorkers: the items being worked when a
// run's queue is cancelled end there, and the run hears of them from their
// workers, without waiting for River to record them: here River's events
// never come and the run's reads of its jobs find nothing.
func TestItemQueue_CancelledHearsFromWorkers(t *testing.T) {
	ctx := context.Background()
	x := itemsUntilStopped{started: make(chan int64, 2)}
	e := startItemEngine(t, func(c riverClient) riverClient { return deafClient{&blindClient{riverClient: c}} }, x)
	q := e.ItemQueue(butler.Run{ID: 7, Task: "DeepMediaAnalysis"})
	if _, err := q.Add(ctx, []int64{1, 2}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		<-x.started
	}
	if err := q.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ended := 0
	for q.Pending() > 0 {
		res, err := q.Wait(wctx)
		if err != nil {
			t.Fatalf("Wait with %d pending after Cancel: %v (no event comes and its reads find nothing: only the workers could tell it)", q.Pending(), err)
		}
		for _, r := range res {
			if r.Outcome != butler.ItemSkipped {
				t.Errorf("item %d: %+v; want skipped, stopped", r.Item, r)
			}
			ended++
		}
	}
	if ended != 2 {
		t.Errorf("%d items ended; want the 2 being worked", ended)
	}
}

// endedClient reads the jobs in ended as completed (JobList).
type endedClient struct {
	riverClient
	ended map[int64]bool
}

func (c *endedClient) JobList(context.Context, *river.JobListParams) (*river.JobListResult, error) {
	var res river.JobListResult
	for id := range c.ended {
		res.Jobs = append(res.Jobs, &rivertype.JobRow{ID: id, State: rivertype.JobStateCompleted})
	}
	return &res, nil
}

// TestItemQueue_ReadsSoonWhileTheyFindEnds: the reads of a run's jobs come
// every 50 ms while they find ends (other servers are working its items),
// and back off, doubling, to the poll interval while they find none.
func TestItemQueue_ReadsSoonWhileTheyFindEnds(t *testing.T) {
	c := &endedClient{ended: map[int64]bool{}}
	e := &Engine{client: c, itemPoll: time.Second}
	q := e.ItemQueue(butler.Run{ID: 1, Task: "DeepMediaAnalysis"}).(*itemQueue)
	q.pending = map[int64]int64{1: 10, 2: 20, 3: 30}
	var every []time.Duration
	for range 7 {
		if _, err := q.read(t.Context()); err != nil {
			t.Fatal(err)
		}
		every = append(every, q.readEvery)
	}
	c.ended[2] = true
	res, err := q.read(t.Context())
	if err != nil || len(res) != 1 || res[0].Item != 20 {
		t.Fatalf("read with job 2 ended = %+v, %v; want item 20", res, err)
	}
	every = append(every, q.readEvery)
	ms := time.Millisecond
	want := []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second, 50 * ms}
	if !slices.Equal(every, want) {
		t.Errorf("read intervals %v; want %v", every, want)
	}
}

// TestItemResultOf_ReadsTheOutputOfEitherVersion: an item job's output
// gives its result, with the items of the backlog it covered and the time
// its worker paused; an output written before those were told (an older
// server's) reads as before, with neither: one item, no pause.
func TestItemResultOf_ReadsTheOutputOfEitherVersion(t *testing.T) {
	for _, c := range []struct {
		name, output string
		want         butler.ItemResult
	}{
		{"new", `{"item":5,"outcome":"done","node":"a","elapsed":2000000000,"paused":3000000000,"covered":10}`,
			butler.ItemResult{Item: 5, Outcome: butler.ItemDone, Node: "a", Elapsed: 2 * time.Second, Paused: 3 * time.Second, Covered: 10}},
		{"old", `{"item":5,"outcome":"failed","reason":"unreadable","node":"a","elapsed":2000000000}`,
			butler.ItemResult{Item: 5, Outcome: butler.ItemFailed, Reason: "unreadable", Node: "a", Elapsed: 2 * time.Second}},
	} {
		row := itemJob(t, 5, 1, rivertype.JobStateCompleted)
		row.Metadata = []byte(`{"output":` + c.output + `}`)
		if got := itemResultOf(row, 5); got != c.want {
			t.Errorf("%s output: %+v; want %+v", c.name, got, c.want)
		}
	}
}
