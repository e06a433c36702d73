package butler

import (
	"slices"
	"sync"
)

// taskLocks serialises the decisions about each task on this server —
// start, stop, remove, plan — one lock per task, so that work on one task
// never waits for another. Nothing slow happens under a task's lock: a stop
// records and signals under it, and waits for the work to end after
// releasing it. Across servers, the store's one-active-run-per-task rule
// and its conditional state changes keep decisions safe.
type taskLocks struct {
	mu    sync.Mutex
	locks map[TaskName]*sync.Mutex
}

func (l *taskLocks) get(name TaskName) *sync.Mutex {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.locks == nil {
		l.locks = map[TaskName]*sync.Mutex{}
	}
	mu, ok := l.locks[name]
	if !ok {
		mu = &sync.Mutex{}
		l.locks[name] = mu
	}
	return mu
}

// lock locks one task and returns its unlock.
func (l *taskLocks) lock(name TaskName) (unlock func()) {
	mu := l.get(name)
	mu.Lock()
	return mu.Unlock
}

// lockAll locks every named task, in name order whatever the order given
// (so that two callers never deadlock), and returns the unlock of them all.
func (l *taskLocks) lockAll(names []TaskName) (unlock func()) {
	names = slices.Clone(names)
	slices.Sort(names)
	names = slices.Compact(names)
	held := make([]*sync.Mutex, 0, len(names))
	for _, n := range names {
		mu := l.get(n)
		mu.Lock()
		held = append(held, mu)
	}
	return func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i].Unlock()
		}
	}
}
