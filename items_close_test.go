package butler_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/engine"
	"github.com/plexbutler/butler/internal/procwatch"
)

// closeCountingEngine is the real engine whose item queues count their
// Close calls.
type closeCountingEngine struct {
	*engine.Engine
	mu     sync.Mutex
	queues []*closeCountingQueue
}

func (e *closeCountingEngine) ItemQueue(r butler.Run) butler.ItemQueue {
	q := &closeCountingQueue{ItemQueue: e.Engine.ItemQueue(r)}
	e.mu.Lock()
	e.queues = append(e.queues, q)
	e.mu.Unlock()
	return q
}

type closeCountingQueue struct {
	butler.ItemQueue
	mu     sync.Mutex
	closes int
}

func (q *closeCountingQueue) Close() error {
	q.mu.Lock()
	q.closes++
	q.mu.Unlock()
	return q.ItemQueue.(io.Closer).Close()
}

// threeItems queues three items through its run's item queue and waits
// for them.
type threeItems struct{}

func (threeItems) Run(ctx context.Context, r butler.Reporter) error {
	q := r.(butler.ItemReporter).Items()
	if _, err := q.Add(ctx, []int64{1, 2, 3}); err != nil {
		return err
	}
	for q.Pending() > 0 {
		if _, err := q.Wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (threeItems) RunItem(context.Context, int64, *slog.Logger) butler.ItemResult {
	return butler.ItemResult{Outcome: butler.ItemDone}
}

// TestItemQueueClosedAtTheRunsEnd: a run's item queue is closed once, when
// the run has ended (package engine's then stops passing on the ends of
// the run's item jobs).
func TestItemQueueClosedAtTheRunsEnd(t *testing.T) {
	ctx := context.Background()
	q := &closeCountingEngine{}
	_, m := stackOn(t, "sqlite", []butler.Task{task("Items", 1, false, threeItems{})}, func(e *engine.Engine) butler.Queue {
		q.Engine = e
		return q
	})
	sub := m.Subscribe()
	defer sub.Close()
	res, err := m.StartTask(ctx, "Items", true)
	if err != nil || res.Outcome != butler.StartStarted {
		t.Fatalf("StartTask: %+v, %v", res, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		ev, err := sub.Next(wctx)
		if err != nil {
			t.Fatalf("waiting for the run's end: %v", err)
		}
		if ev.Type == butler.EventEnded && ev.Activity.RunID == res.Run.ID {
			if ev.Activity.Outcome != butler.OutcomeSucceeded {
				t.Fatalf("the run ended %s", ev.Activity.Outcome)
			}
			break
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queues) != 1 {
		t.Fatalf("%d item queues made; want the run's one", len(q.queues))
	}
	if n := q.queues[0].closes; n != 1 {
		t.Errorf("the run's item queue was closed %d times; want once, at its end", n)
	}
}

// recordingGuard is a GroupGuard that records what it is told.
type recordingGuard struct {
	mu      sync.Mutex
	watched []int
	forgot  []int
}

func (g *recordingGuard) Watch(pgid int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.watched = append(g.watched, pgid)
}

func (g *recordingGuard) Forget(pgid int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.forgot = append(g.forgot, pgid)
}

func (g *recordingGuard) Renew(time.Duration) {}

// watchingItem is an item action that tells its context's group watch of
// a process group, as a program it started would (internal/mediatool).
type watchingItem struct{ butler.Action }

func (watchingItem) RunItem(ctx context.Context, item int64, _ *slog.Logger) butler.ItemResult {
	if w := procwatch.From(ctx); w != nil {
		w(int(item))()
	}
	return butler.ItemResult{Outcome: butler.ItemDone}
}

// The programs an item's work starts are told to the server's group
// guard, which kills them should the server die or be frozen.
func TestExecuteItem_ProgramsWatchedByTheGuard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &recordingGuard{}
		f := start(t, []butler.Task{task("Items", 1, false, watchingItem{newProbe(true)})}, quietWindow,
			func(c *butler.Config) { c.GroupGuard = g })
		ctx := context.Background()
		res, err := f.m.StartTask(ctx, "Items", false)
		if err != nil || res.Outcome != butler.StartStarted {
			t.Fatalf("start: %+v, %v", res, err)
		}
		synctest.Wait()
		out := f.m.ExecuteItem(ctx, butler.ItemJob{RunID: res.Run.ID, Task: "Items", Item: 4242})
		if out.Outcome != butler.ItemDone {
			t.Fatalf("item: %+v", out)
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if !slices.Contains(g.watched, 4242) || !slices.Contains(g.forgot, 4242) {
			t.Errorf("the guard watched %v and forgot %v; want the item's group 4242 in both", g.watched, g.forgot)
		}
	})
}
