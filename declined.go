package butler

import (
	"sync"
	"time"
)

// HandBackFor is how long a server of a cluster hands back the queued runs
// of a task it does not offer, so that a server that offers it takes them:
// in a cluster whose servers' config files differ for a while (a rolling
// change of the config), a run started through one server may be fetched
// by another. After HandBackFor of its own hand-backs, the server that
// still finds the run ends it failed, saying so: no server that offers
// the task took it. A single server ends such a run at once. (The queue
// offers a run handed back again after a second or a few, to whichever
// server asks first: five minutes are dozens of offers.)
const HandBackFor = 5 * time.Minute

// handBacks remembers when this server first handed back each queued run
// of a task it does not offer (Execute).
type handBacks struct {
	mu    sync.Mutex
	first map[int64]time.Time
}

// since records that run id is handed back at now, and returns how long
// ago this server first handed it back. Entries older than twice
// HandBackFor are dropped: the run was taken elsewhere, or ended.
func (h *handBacks) since(id int64, now time.Time) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.first == nil {
		h.first = map[int64]time.Time{}
	}
	for k, at := range h.first {
		if now.Sub(at) > 2*HandBackFor {
			delete(h.first, k)
		}
	}
	at, ok := h.first[id]
	if !ok {
		h.first[id], at = now, now
	}
	return now.Sub(at)
}

// forget drops run id.
func (h *handBacks) forget(id int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.first, id)
}
