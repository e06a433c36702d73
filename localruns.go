package butler

import (
	"context"
	"sync"
)

// localRuns is the registry of the runs this server's workers hold, from
// the moment a worker takes a run until its end is recorded, and of the
// item jobs they work. Closing it (the server's shutdown) admits no more
// runs or items: a worker that arrives then gives its job back to the
// queue, and the items under way are told to stop (errShutdown). Its
// methods are safe for concurrent use.
type localRuns struct {
	mu     sync.Mutex
	runs   map[int64]*localRun
	items  map[*itemSlot]struct{}
	closed bool
	quit   chan struct{} // closed by close
	active sync.WaitGroup
}

// itemSlot is an item job under way: how to tell its work to stop.
type itemSlot struct {
	cancel context.CancelCauseFunc
}

func newLocalRuns() *localRuns {
	return &localRuns{runs: map[int64]*localRun{}, items: map[*itemSlot]struct{}{}, quit: make(chan struct{})}
}

// enterItem counts an item job's worker in, as enter does, with cancel to
// tell its work to stop (close, stopItems); false once closed. leave
// counts it out.
func (l *localRuns) enterItem(cancel context.CancelCauseFunc) (leave func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, false
	}
	l.active.Add(1)
	slot := &itemSlot{cancel: cancel}
	l.items[slot] = struct{}{}
	return func() {
		l.mu.Lock()
		delete(l.items, slot)
		l.mu.Unlock()
		l.active.Done()
	}, true
}

// stopItems tells every item job under way to stop, for cause, and
// returns how many there were.
func (l *localRuns) stopItems(cause error) int {
	l.mu.Lock()
	slots := make([]*itemSlot, 0, len(l.items))
	for s := range l.items {
		slots = append(slots, s)
	}
	l.mu.Unlock()
	for _, s := range slots {
		s.cancel(cause)
	}
	return len(slots)
}

// enter counts a worker in; false once closed. Each true enter must be
// matched by a leave.
func (l *localRuns) enter() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.active.Add(1)
	return true
}

// leave counts a worker out.
func (l *localRuns) leave() { l.active.Done() }

// add registers a run; false once closed.
func (l *localRuns) add(lr *localRun) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.runs[lr.run.ID] = lr
	return true
}

// remove unregisters run id.
func (l *localRuns) remove(id int64) {
	l.mu.Lock()
	delete(l.runs, id)
	l.mu.Unlock()
}

// get returns run id, or nil.
func (l *localRuns) get(id int64) *localRun {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.runs[id]
}

// all returns every registered run.
func (l *localRuns) all() []*localRun {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*localRun, 0, len(l.runs))
	for _, lr := range l.runs {
		out = append(out, lr)
	}
	return out
}

// isClosed reports whether close was called.
func (l *localRuns) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// done is closed once close is called: retries that keep a run's end
// alive give up then.
func (l *localRuns) done() <-chan struct{} { return l.quit }

// close admits no more runs or items, tells the items under way to stop
// (errShutdown), and returns the runs registered. It may be called more
// than once.
func (l *localRuns) close() []*localRun {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.quit)
	}
	l.mu.Unlock()
	l.stopItems(errShutdown)
	return l.all()
}

// wait waits for every worker that entered to leave.
func (l *localRuns) wait() { l.active.Wait() }
