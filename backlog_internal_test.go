package butler

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// heldBacklog counts its calls; the calls after the first wait for release
// and return the next value of left.
type heldBacklog struct {
	mu      sync.Mutex
	calls   int
	left    int
	release chan struct{}
}

func (h *heldBacklog) Run(context.Context, Reporter) error { return nil }

func (h *heldBacklog) Backlog(ctx context.Context) (int, error) {
	h.mu.Lock()
	h.calls++
	first := h.calls == 1
	h.mu.Unlock()
	if !first {
		select {
		case <-h.release:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.left += 10
	return h.left, nil
}

func (h *heldBacklog) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

// TestBacklogs_StaleCountsAreCountedInTheBackground: a plan counts a
// task's backlog itself the first time; later, a count older than
// backlogTTL is shown while it is counted again in the background (a plan
// never waits for it: in the bubble, a plan that waited would deadlock).
func TestBacklogs_StaleCountsAreCountedInTheBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &heldBacklog{release: make(chan struct{})}
		task := &Task{Name: "Items", Action: h}
		var b backlogs
		b.start(t.Context())
		defer b.stop()
		t0 := time.Now()
		left := func(now time.Time) int {
			t.Helper()
			items := b.of(t.Context(), task, 0, now)
			if items == nil {
				t.Fatal("no backlog")
			}
			return items.Left
		}
		if n := left(t0); n != 10 || h.count() != 1 {
			t.Fatalf("first plan: %d left, %d counts; want 10, counted once, by the plan", n, h.count())
		}
		if n := left(t0.Add(backlogTTL / 2)); n != 10 || h.count() != 1 {
			t.Fatalf("plan within the TTL: %d left, %d counts; want 10, not counted again", n, h.count())
		}
		stale := t0.Add(backlogTTL + time.Second)
		if n := left(stale); n != 10 {
			t.Fatalf("plan after the TTL: %d left; want the last count, 10, at once", n)
		}
		if n := left(stale); n != 10 {
			t.Fatalf("plan while it is counted: %d left; want 10", n)
		}
		synctest.Wait()
		if h.count() != 2 {
			t.Fatalf("%d counts; want one more, in the background, however many plans asked", h.count())
		}
		close(h.release)
		synctest.Wait()
		if n := left(stale.Add(time.Second)); n != 20 || h.count() != 2 {
			t.Errorf("plan after the background count: %d left, %d counts; want 20, 2", n, h.count())
		}
	})
}

// countUnderWay returns backlogs that counted task's backlog (10) at t0
// and are counting it again in the background, held until h.release is
// closed. Call it in a synctest bubble.
func countUnderWay(t *testing.T) (b *backlogs, h *heldBacklog, task *Task, t0 time.Time) {
	h = &heldBacklog{release: make(chan struct{})}
	task = &Task{Name: "Items", Action: h}
	b = &backlogs{}
	b.start(t.Context())
	t0 = time.Now()
	b.of(t.Context(), task, 0, t0)
	b.of(t.Context(), task, 0, t0.Add(backlogTTL+time.Second))
	synctest.Wait()
	return b, h, task, t0
}

// TestBacklogs_ForgetDropsACountUnderWay: a count begun before a run of
// the task ended is not kept; the next plan counts afresh.
func TestBacklogs_ForgetDropsACountUnderWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, h, task, t0 := countUnderWay(t)
		defer b.stop()
		b.forget(task.Name)
		close(h.release) // it ends with 20, counted before the run ended
		synctest.Wait()
		items := b.of(t.Context(), task, 0, t0.Add(backlogTTL+2*time.Second))
		if items == nil || items.Left != 30 || h.count() != 3 {
			t.Errorf("plan after the run ended: %+v, %d counts; want a count of its own (30), 3 counts", items, h.count())
		}
	})
}

// TestBacklogs_StopEndsTheCountsUnderWay: stop cancels and waits for the
// background counts; plans then count for themselves.
func TestBacklogs_StopEndsTheCountsUnderWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, h, task, t0 := countUnderWay(t)
		b.stop() // would wait forever for the held count, were it not cancelled
		close(h.release)
		items := b.of(t.Context(), task, 0, t0.Add(backlogTTL+2*time.Second))
		if items == nil || items.Left != 20 || h.count() != 3 {
			t.Errorf("plan after stop: %+v, %d counts; want the plan's own count (20), 3 counts", items, h.count())
		}
	})
}

// TestBacklogs_NoEstimateIsCountedOncePerTTL: a count without an
// estimate (the task's record has no pace: its items have never been
// measured, as for a task that is disabled or has not run since an
// upgrade) is shown for backlogTTL like any other, however often the plan
// is read; the estimate follows the pace each plan passes, without a
// count.
func TestBacklogs_NoEstimateIsCountedOncePerTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &heldBacklog{release: make(chan struct{})}
		close(h.release)
		task := &Task{Name: "Items", Action: h}
		var b backlogs
		b.start(t.Context())
		defer b.stop()
		t0 := time.Now()
		// A plan every second for three TTLs and a half.
		for s := 0; s < 105; s++ {
			items := b.of(t.Context(), task, 0, t0.Add(time.Duration(s)*time.Second))
			if items == nil || items.Estimate != 0 {
				t.Fatalf("plan at %d s: %+v; want a count, no estimate", s, items)
			}
			synctest.Wait()
		}
		// Counted at 0 s, then again after 30, 60 and 90 s.
		if n := h.count(); n != 4 {
			t.Fatalf("%d counts in 105 s of plans every second; want 4, one per backlogTTL", n)
		}
		// Once a run has measured a pace, the next plan shows the estimate
		// of the last count at once.
		items := b.of(t.Context(), task, 2*time.Second, t0.Add(105*time.Second))
		if items == nil || items.Left != 40 || items.Estimate != 80*time.Second || h.count() != 4 {
			t.Errorf("plan with a pace of 2 s an item: %+v, %d counts; want 40 left, estimated 80 s, not counted again", items, h.count())
		}
	})
}

// scriptedItems is an item queue whose Add returns item 1 skipped (held
// by another run), and whose Waits each take a second of the bubble's
// time and return the next of results.
type scriptedItems struct {
	results [][]ItemResult
	closed  bool
}

func (q *scriptedItems) Add(context.Context, []int64) ([]ItemResult, error) {
	return []ItemResult{{Item: 1, Outcome: ItemSkipped, Held: true}}, nil
}

func (q *scriptedItems) Pending() int { return len(q.results) }

func (q *scriptedItems) Wait(context.Context) ([]ItemResult, error) {
	time.Sleep(time.Second) // the items' work
	res := q.results[0]
	q.results = q.results[1:]
	return res, nil
}

func (q *scriptedItems) Cancel(context.Context) error { return nil }

func (q *scriptedItems) Close() error {
	q.closed = true
	return nil
}

// TestPacedQueue_MeasuresWorkedItems: a run's pace counts the items worked
// (done or failed), not those skipped or in error, over the time from its
// first Add to the last worked item's result.
func TestPacedQueue_MeasuresWorkedItems(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := &scriptedItems{results: [][]ItemResult{
			{{Item: 2, Outcome: ItemDone}, {Item: 3, Outcome: ItemFailed}},
			{{Item: 4, Outcome: ItemSkipped}},
			{{Item: 5, Outcome: ItemDone}},
			{{Item: 6, Outcome: ItemError}, {Item: 7, Outcome: ItemSkipped}},
		}}
		q := &pacedQueue{ItemQueue: in, now: time.Now}
		ctx := t.Context()
		if p := q.pace(); p != (ItemPace{}) {
			t.Fatalf("pace before any item: %+v; want none", p)
		}
		time.Sleep(time.Minute) // before the first Add: not the items' time
		if _, err := q.Add(ctx, []int64{1, 2, 3, 4, 5, 6, 7}); err != nil {
			t.Fatal(err)
		}
		for q.Pending() > 0 {
			if _, err := q.Wait(ctx); err != nil {
				t.Fatal(err)
			}
		}
		// Worked: 2, 3 (at 1 s) and 5 (at 3 s); the last Wait, at 4 s,
		// brought none.
		if p, want := q.pace(), (ItemPace{Items: 3, Wall: 3 * time.Second}); p != want {
			t.Errorf("pace %+v; want %+v", p, want)
		}
		if p := q.pace().PerItem(); p != time.Second {
			t.Errorf("PerItem = %v; want 1 s", p)
		}
		if err := q.Close(); err != nil || !in.closed {
			t.Errorf("Close = %v, closed %v; want the queue it wraps closed", err, in.closed)
		}
	})
}

// TestPacedQueue_CountsTheItemsAResultCovered: a result that covered
// several items of its task's backlog (a markers search recording its
// season block: ItemResult.Covered) counts as those items in the pace; a
// result without the field (an older server's, decoded from its job's
// output) counts as one.
func TestPacedQueue_CountsTheItemsAResultCovered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var old ItemResult
		if err := json.Unmarshal([]byte(`{"item":4,"outcome":"done","node":"a","elapsed":1000000}`), &old); err != nil {
			t.Fatal(err)
		}
		in := &scriptedItems{results: [][]ItemResult{
			{{Item: 2, Outcome: ItemDone, Covered: 10}, {Item: 3, Outcome: ItemFailed, Covered: 5}},
			{old, {Item: 5, Outcome: ItemSkipped, Covered: 10}},
		}}
		q := &pacedQueue{ItemQueue: in, now: time.Now}
		ctx := t.Context()
		if _, err := q.Add(ctx, []int64{1, 2, 3, 4, 5}); err != nil {
			t.Fatal(err)
		}
		for q.Pending() > 0 {
			if _, err := q.Wait(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if p, want := q.pace(), (ItemPace{Items: 16, Wall: 2 * time.Second}); p != want {
			t.Errorf("pace %+v; want %+v: 10 and 5 covered, and the old result's one item", p, want)
		}
	})
}

// TestPacedQueue_LeavesOutTheWorkersPauses: the time the item workers
// waited for nobody to be busy (ItemResult.Paused) is left out of the
// run's wall time, in the share it took of their time, however many
// worked at once: two workers that paused 6 s each of an 8 s run, each
// working 1 s before and 1 s after, make a pace of 2 s for their 4 items.
func TestPacedQueue_LeavesOutTheWorkersPauses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := &pausedItems{}
		q := &pacedQueue{ItemQueue: in, now: time.Now}
		ctx := t.Context()
		if _, err := q.Add(ctx, []int64{1, 2, 3, 4}); err != nil {
			t.Fatal(err)
		}
		for q.Pending() > 0 {
			if _, err := q.Wait(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if p, want := q.pace(), (ItemPace{Items: 4, Wall: 2 * time.Second}); p != want {
			t.Errorf("pace %+v; want %+v: the 8 s of the run less its 6 s paused", p, want)
		}
	})
}

// pausedItems is the item queue of two workers: each works an item for
// 1 s, then waits 6 s for nobody to be busy and works its next for 1 s.
type pausedItems struct{ waits int }

func (q *pausedItems) Add(context.Context, []int64) ([]ItemResult, error) { return nil, nil }

func (q *pausedItems) Pending() int { return 2 - q.waits }

func (q *pausedItems) Wait(context.Context) ([]ItemResult, error) {
	q.waits++
	if q.waits == 1 {
		time.Sleep(time.Second)
		return []ItemResult{{Item: 1, Outcome: ItemDone, Elapsed: time.Second}, {Item: 2, Outcome: ItemDone, Elapsed: time.Second}}, nil
	}
	time.Sleep(7 * time.Second)
	return []ItemResult{{Item: 3, Outcome: ItemDone, Elapsed: time.Second, Paused: 6 * time.Second},
		{Item: 4, Outcome: ItemFailed, Elapsed: time.Second, Paused: 6 * time.Second}}, nil
}

func (q *pausedItems) Cancel(context.Context) error { return nil }
