package engine

import (
	"context"
	"encoding/json"
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
	if got := len(l.told); got != 1 || (<-l.told).ID != 10 {
		t.Errorf("run 1 was told %d ends; want job 10 only", got+1)
	}
	if got := len(other.told); got != 1 || (<-other.told).ID != 14 {
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

// countingClient counts the reads of jobs (JobList).
type countingClient struct {
	riverClient
	lists atomic.Int64
}

func (c *countingClient) JobList(ctx context.Context, p *river.JobListParams) (*river.JobListResult, error) {
	c.lists.Add(1)
	return c.riverClient.JobList(ctx, p)
}

type itemsDone struct{}

func (itemsDone) Execute(context.Context, int64) error { return nil }

func (itemsDone) ExecuteItem(_ context.Context, j butler.ItemJob) butler.ItemResult {
	if j.Item == 3 {
		return butler.ItemResult{Item: j.Item, Outcome: butler.ItemFailed, Reason: "item 3 is broken"}
	}
	return butler.ItemResult{Item: j.Item, Outcome: butler.ItemDone}
}

// TestItemQueue_EndsHereAreTold: a run learns of the items this server
// ends as River records them, results and all, without reading its jobs
// again: one read (its first Wait's) for all of them.
func TestItemQueue_EndsHereAreTold(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir()+"/butler.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e, err := NewSQLite(ctx, db.SQL(), Config{Node: "test", ItemWorkers: 2, ItemPoll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingClient{riverClient: e.client}
	e.client = counting
	if err := e.Start(ctx, itemsDone{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	q := e.ItemQueue(butler.Run{ID: 7, Task: "DeepMediaAnalysis"})
	if _, err := q.Add(ctx, []int64{1, 2, 3, 4, 5, 6}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	got := map[int64]butler.ItemResult{}
	for q.Pending() > 0 {
		res, err := q.Wait(wctx)
		if err != nil {
			t.Fatalf("Wait with %d pending: %v (an hourly read would be the only way to learn of them)", q.Pending(), err)
		}
		for _, r := range res {
			got[r.Item] = r
		}
	}
	if len(got) != 6 || got[3].Outcome != butler.ItemFailed || got[3].Reason != "item 3 is broken" || got[1].Outcome != butler.ItemDone {
		t.Errorf("results %+v; want 6, item 3 failed with the worker's reason", got)
	}
	if n := counting.lists.Load(); n != 1 {
		t.Errorf("the run read its jobs %d times; want once", n)
	}
}
