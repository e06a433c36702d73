package butler

import (
	"context"
	"slices"
	"sync"
)

// taskLocks serialises the decisions about each task on this server —
// start, stop, remove, plan — one lock per task, so that work on one task
// never waits for another. Nothing slow happens under a task's lock: a stop
// records and signals under it, and waits for the work to end after
// releasing it. Across servers, the store's one-active-run-per-task rule
// and its conditional state changes keep decisions safe.
//
// A task's lock is a channel of one slot rather than a mutex, so that a
// wait for it can give up (lockAllCtx) and, in tests, counts as blocked for
// testing/synctest.
type taskLocks struct {
	mu    sync.Mutex
	locks map[TaskName]chan struct{}
}

func (l *taskLocks) get(name TaskName) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.locks == nil {
		l.locks = map[TaskName]chan struct{}{}
	}
	ch, ok := l.locks[name]
	if !ok {
		ch = make(chan struct{}, 1)
		l.locks[name] = ch
	}
	return ch
}

// lock locks one task and returns its unlock.
func (l *taskLocks) lock(name TaskName) (unlock func()) {
	ch := l.get(name)
	ch <- struct{}{}
	return func() { <-ch }
}

// lockAll locks every named task, in name order whatever the order given
// (so that two callers never deadlock), and returns the unlock of them all.
func (l *taskLocks) lockAll(names []TaskName) (unlock func()) {
	unlock, _ = l.lockAllCtx(context.Background(), names)
	return unlock
}

// lockAllCtx is lockAll that gives up when ctx ends first: it then holds
// none of the locks, and returns ctx's error.
func (l *taskLocks) lockAllCtx(ctx context.Context, names []TaskName) (unlock func(), err error) {
	names = slices.Clone(names)
	slices.Sort(names)
	names = slices.Compact(names)
	held := make([]chan struct{}, 0, len(names))
	unlock = func() {
		for i := len(held) - 1; i >= 0; i-- {
			<-held[i]
		}
	}
	for _, n := range names {
		ch := l.get(n)
		select {
		case ch <- struct{}{}:
			held = append(held, ch)
		case <-ctx.Done():
			unlock()
			return nil, ctx.Err()
		}
	}
	return unlock, nil
}
