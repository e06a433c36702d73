package butler

import (
	"context"
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
			items := b.of(t.Context(), task, nil, now)
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
	b.of(t.Context(), task, nil, t0)
	b.of(t.Context(), task, nil, t0.Add(backlogTTL+time.Second))
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
		items := b.of(t.Context(), task, nil, t0.Add(backlogTTL+2*time.Second))
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
		items := b.of(t.Context(), task, nil, t0.Add(backlogTTL+2*time.Second))
		if items == nil || items.Left != 20 || h.count() != 3 {
			t.Errorf("plan after stop: %+v, %d counts; want the plan's own count (20), 3 counts", items, h.count())
		}
	})
}

// paceLater is a queue that measures no pace until measured is set, as
// River before it has recorded a run's item jobs.
type paceLater struct {
	Queue
	measured sync.Map // task name → true
}

func (q *paceLater) ItemPace(_ context.Context, task TaskName) (time.Duration, bool, error) {
	if _, ok := q.measured.Load(task); ok {
		return time.Second, true, nil
	}
	return 0, false, nil
}

// TestBacklogs_NoEstimateIsCountedAgainSoon: a count without an estimate,
// from a queue that measures one, is shown for backlogNoPaceTTL, not
// backlogTTL: right after a run ended its queue may not have recorded the
// run's items yet.
func TestBacklogs_NoEstimateIsCountedAgainSoon(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &heldBacklog{release: make(chan struct{})}
		close(h.release)
		task := &Task{Name: "Items", Action: h}
		q := &paceLater{}
		var b backlogs
		b.start(t.Context())
		defer b.stop()
		t0 := time.Now()
		if items := b.of(t.Context(), task, q, t0); items == nil || items.Left != 10 || items.Estimate != 0 {
			t.Fatalf("first plan: %+v; want 10 left, no estimate yet", items)
		}
		q.measured.Store(task.Name, true)
		if items := b.of(t.Context(), task, q, t0.Add(backlogNoPaceTTL/2)); items == nil || items.Estimate != 0 || h.count() != 1 {
			t.Fatalf("plan within the short TTL: %+v, %d counts; want the first count, not counted again", items, h.count())
		}
		b.of(t.Context(), task, q, t0.Add(backlogNoPaceTTL+time.Millisecond)) // counts again in the background
		synctest.Wait()
		if items := b.of(t.Context(), task, q, t0.Add(backlogNoPaceTTL+2*time.Millisecond)); items == nil || items.Left != 20 || items.Estimate != 20*time.Second {
			t.Fatalf("plan after the short TTL: %+v; want 20 left, estimated 20 s", items)
		}
		// With an estimate, the count is shown for backlogTTL.
		if items := b.of(t.Context(), task, q, t0.Add(backlogTTL)); items == nil || h.count() != 2 {
			t.Fatalf("plan within backlogTTL of an estimated count: %+v, %d counts; want 2 counts", items, h.count())
		}
	})
}
