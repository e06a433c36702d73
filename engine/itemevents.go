package engine

import (
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/plexbutler/butler"
)

// itemEndKinds are the River events that may tell an item job's end.
var itemEndKinds = []river.EventKind{river.EventKindJobCompleted, river.EventKindJobCancelled, river.EventKindJobFailed}

// toldBuffer is how many ends a run's listener keeps until its run takes
// them; one more is dropped and the run reads its jobs instead.
const toldBuffer = 1024

// itemEnds hands the ends of the item jobs this server worked to the item
// queues of the runs they belong to: a run learns at once that an item it
// queued ended here, without reading its jobs (itemQueue.Wait reads them
// every poll interval for the items other servers work). The item worker
// tells each end as its work returns (tell); River's events tell them again
// once River has recorded them (deliver), and also tell the ends no worker
// saw (a job cancelled while it waited). A run takes an end once.
type itemEnds struct {
	mu    sync.Mutex
	byRun map[int64]*itemListener
}

// itemEnd is the end of one item job: its id and the item's result.
type itemEnd struct {
	job int64
	res butler.ItemResult
}

// itemListener receives the ends of one run's item jobs.
type itemListener struct {
	told chan itemEnd
	// dropped is set when an end did not fit in told: the run must read
	// its jobs to learn it.
	dropped atomic.Bool
}

// listen returns a listener for the ends of run's item jobs. A run has one
// listener at a time; forget removes it.
func (h *itemEnds) listen(run int64) *itemListener {
	l := &itemListener{told: make(chan itemEnd, toldBuffer)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byRun == nil {
		h.byRun = map[int64]*itemListener{}
	}
	if old := h.byRun[run]; old != nil {
		old.dropped.Store(true) // replaced: it hears nothing more
	}
	h.byRun[run] = l
	return l
}

// forget removes run's listener l, if it is still run's.
func (h *itemEnds) forget(run int64, l *itemListener) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byRun[run] == l {
		delete(h.byRun, run)
	}
}

// deliver passes the end of an event's job on to its run's listener, if
// the job is an item job that has ended and its run listens.
func (h *itemEnds) deliver(job *rivertype.JobRow) {
	if job == nil || job.Kind != (ItemArgs{}).Kind() || !ended(job.State) {
		return
	}
	var a ItemArgs
	if json.Unmarshal(job.EncodedArgs, &a) != nil {
		return
	}
	h.tell(a.RunID, itemEnd{job: job.ID, res: itemResultOf(job, a.Item)})
}

// tell passes an item job's end on to the listener of its run, if it
// listens.
func (h *itemEnds) tell(run int64, end itemEnd) {
	h.mu.Lock()
	l := h.byRun[run]
	h.mu.Unlock()
	if l == nil {
		return
	}
	select {
	case l.told <- end:
	default:
		l.dropped.Store(true)
	}
}

// run delivers the events of ch until it is closed.
func (h *itemEnds) run(ch <-chan *river.Event) {
	for ev := range ch {
		h.deliver(ev.Job)
	}
}

// ended reports whether a job in state s has ended for good.
func ended(s rivertype.JobState) bool {
	switch s {
	case rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateDiscarded:
		return true
	}
	return false
}
