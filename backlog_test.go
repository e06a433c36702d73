package butler_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/plexbutler/butler"
)

// itemsQueue is the loop tests' queue with item queues: each works its
// run's items one at a time, perItem of the bubble's time each. It counts
// the calls of ItemPace, the method by which package engine's queue once
// read a task's pace from River's finished item jobs, on SQLite through
// the store's only writer: the plan must not ask the queue for it.
type itemsQueue struct {
	*testQueue
	perItem   time.Duration
	paceReads atomic.Int32
}

func (q *itemsQueue) ItemQueue(butler.Run) butler.ItemQueue {
	return &oneAtATime{perItem: q.perItem}
}

func (q *itemsQueue) ItemPace(context.Context, butler.TaskName) (time.Duration, bool, error) {
	q.paceReads.Add(1)
	return 0, false, nil
}

// withItems makes the fixture's queue q, around the fixture's own.
func withItems(q *itemsQueue) func(*butler.Config) {
	return func(c *butler.Config) {
		q.testQueue = c.Queue.(*testQueue)
		c.Queue = q
	}
}

// oneAtATime is a run's item queue that works one item per perItem.
type oneAtATime struct {
	perItem time.Duration
	pending []int64
}

func (q *oneAtATime) Add(_ context.Context, items []int64) ([]butler.ItemResult, error) {
	q.pending = append(q.pending, items...)
	return nil, nil
}

func (q *oneAtATime) Pending() int { return len(q.pending) }

func (q *oneAtATime) Wait(ctx context.Context) ([]butler.ItemResult, error) {
	if len(q.pending) == 0 {
		return nil, nil
	}
	t := time.NewTimer(q.perItem) // the item's work takes this long
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	item := q.pending[0]
	q.pending = q.pending[1:]
	return []butler.ItemResult{{Item: item, Outcome: butler.ItemDone, Node: "test", Elapsed: q.perItem}}, nil
}

func (q *oneAtATime) Cancel(context.Context) error {
	q.pending = nil
	return nil
}

// countedItems is an item action with a backlog: each run queues the next
// perRun of its items through the run's item queue and waits for them.
type countedItems struct {
	mu     sync.Mutex
	left   int
	perRun int
	counts int
}

func (a *countedItems) Run(ctx context.Context, r butler.Reporter) error {
	a.mu.Lock()
	n := min(a.perRun, a.left)
	first := int64(a.left)
	a.mu.Unlock()
	q := r.(butler.ItemReporter).Items()
	items := make([]int64, n)
	for i := range items {
		items[i] = first - int64(i)
	}
	if n > 0 {
		if _, err := q.Add(ctx, items); err != nil {
			return err
		}
	}
	for q.Pending() > 0 {
		res, err := q.Wait(ctx)
		if err != nil {
			return err
		}
		a.mu.Lock()
		a.left -= len(res)
		a.mu.Unlock()
	}
	return nil
}

func (a *countedItems) RunItem(context.Context, int64, *slog.Logger) butler.ItemResult {
	return butler.ItemResult{Outcome: butler.ItemDone}
}

func (a *countedItems) Backlog(context.Context) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.counts++
	return a.left, nil
}

func (a *countedItems) backlogCounts() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.counts
}

// itemsOf returns the plan's items of task name.
func itemsOf(t *testing.T, m *butler.Manager, name butler.TaskName) *butler.PlanItems {
	t.Helper()
	p, err := m.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range p.Tasks {
		if e.Task == name {
			return e.Items
		}
	}
	t.Fatalf("no %s in the plan %+v", name, p.Tasks)
	return nil
}

// TestPlan_BacklogAsksTheQueueNothing: a task with items left and no
// measured pace (here disabled, as GenerateMediaIndexFiles is by default)
// has its backlog counted once per 30 s however often the plan is read,
// and the plan never asks the queue for a pace (on SQLite, River's reads
// take the store's only writer).
func TestPlan_BacklogAsksTheQueueNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &countedItems{left: 1000}
		q := &itemsQueue{perItem: time.Second}
		f := start(t, []butler.Task{task("Items", 1, false, a)}, map[string]string{"ButlerTaskItems": "false"}, withItems(q))
		// A plan every second for 105 s (a dashboard open on the plan, or
		// several).
		for s := 0; s < 105; s++ {
			if items := itemsOf(t, f.m, "Items"); items == nil || items.Left != 1000 || items.Estimate != 0 {
				t.Fatalf("plan at %d s: %+v; want 1000 left, no estimate", s, items)
			}
			time.Sleep(time.Second)
			synctest.Wait()
		}
		if n := q.paceReads.Load(); n != 0 {
			t.Errorf("the plans asked the queue for a pace %d times; want never", n)
		}
		// Counted by the first plan, then in the background after 30, 60
		// and 90 s.
		if n := a.backlogCounts(); n != 4 {
			t.Errorf("the backlog was counted %d times in 105 s; want 4, once per 30 s", n)
		}
	})
}

// TestPlan_EstimateIsTheNewestRunsRecordedPace: a run that worked N items
// over T records its pace with its task (N, T); the plan estimates the
// items left at T/N each from that record, at once after the run's end,
// and a later run that works no item leaves it as it was.
func TestPlan_EstimateIsTheNewestRunsRecordedPace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const perItem = 5 * time.Second
		a := &countedItems{left: 100, perRun: 4}
		q := &itemsQueue{perItem: perItem}
		f := start(t, []butler.Task{task("Items", 1, false, a)}, nil, withItems(q))
		ctx := context.Background()
		if items := itemsOf(t, f.m, "Items"); items == nil || items.Left != 100 || items.Estimate != 0 {
			t.Fatalf("plan before any run: %+v; want 100 left, no estimate", items)
		}
		run := func() {
			t.Helper()
			sub := f.m.Subscribe()
			defer sub.Close()
			res, err := f.m.StartTask(ctx, "Items", true)
			if err != nil || res.Outcome != butler.StartStarted {
				t.Fatalf("StartTask: %+v, %v", res, err)
			}
			for {
				ev, err := sub.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if ev.Type == butler.EventEnded && ev.Activity.RunID == res.Run.ID {
					if ev.Activity.Outcome != butler.OutcomeSucceeded {
						t.Fatalf("the run ended %s", ev.Activity.Outcome)
					}
					return
				}
			}
		}
		run() // 4 items, one every 5 s: 20 s
		recs, err := f.store.TaskRecords(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := recs["Items"].ItemPace, (butler.ItemPace{Items: 4, Wall: 4 * perItem}); got != want {
			t.Errorf("recorded pace %+v; want %+v", got, want)
		}
		if items := itemsOf(t, f.m, "Items"); items == nil || items.Left != 96 || items.Estimate != 96*perItem {
			t.Errorf("plan after the run: %+v; want 96 left, estimated 96 × 5 s", items)
		}
		a.mu.Lock()
		a.perRun = 0
		a.mu.Unlock()
		run() // no item
		if items := itemsOf(t, f.m, "Items"); items == nil || items.Left != 96 || items.Estimate != 96*perItem {
			t.Errorf("plan after a run of no item: %+v; want the last pace's estimate, 96 × 5 s", items)
		}
		if n := q.paceReads.Load(); n != 0 {
			t.Errorf("the plans asked the queue for a pace %d times; want never", n)
		}
	})
}
