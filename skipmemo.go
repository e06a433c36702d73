package butler

import (
	"sync"

	"github.com/plexbutler/butler/schedule"
)

// skipMemo remembers the skipped run that each task's last start (of each
// kind: start-all, a start of the task) which found it not due recorded. A
// start of the same kind that finds it not due again, on the same butler
// day and for the same reason ("not due until ..."), answers with that run
// instead of recording another: a client that starts a task
// every minute, or a storm of start-alls, does not grow the history by a
// run per call. (Each server keeps its own memo, from its start: a cluster
// records at most one such run per task, day, reason and server.)
type skipMemo struct {
	mu   sync.Mutex
	last map[memoKey]Run
}

// memoKey is a task and the kind of start.
type memoKey struct {
	task    TaskName
	trigger Trigger
}

// find returns the skipped run recorded for task on day for reason, by a
// start of the same kind (trigger).
func (s *skipMemo) find(task TaskName, day schedule.Day, reason string, trigger Trigger) (Run, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.last[memoKey{task, trigger}]
	if !ok || r.Day != day || r.Reason != reason {
		return Run{}, false
	}
	return r, true
}

// remember records r, a skipped run just recorded, as its task's last.
func (s *skipMemo) remember(r Run) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = map[memoKey]Run{}
	}
	s.last[memoKey{r.Task, r.Trigger}] = r
}
