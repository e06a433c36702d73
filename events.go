package butler

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// EventType is what happened to a running run.
type EventType string

// The events of a run, as Plex's ActivityNotification names them.
const (
	EventStarted EventType = "started"
	EventUpdated EventType = "updated"
	EventEnded   EventType = "ended"
	// EventUpdate says a newer version of the server is available
	// (CheckForUpdates); it carries an Update, not an Activity.
	EventUpdate EventType = "update"
)

// Update is a newer release that CheckForUpdates found.
type Update struct {
	Version  string
	NotesURL string
}

// Activity is a running run as Plex shows it: one per run that is running.
type Activity struct {
	UUID     string
	RunID    int64
	Task     TaskName
	Title    string // the task's title
	Step     string // the current step
	Progress int    // 0..100, or -1 when unknown
	Trigger  Trigger
	Node     string
	Started  time.Time
	// Stopping says the run was told to stop and its work has not stopped
	// yet.
	Stopping bool
	// Paused says why the run waits for nobody to be busy (see
	// BusyProbe); "" when it does not.
	Paused string
	// Outcome is set on the ended event.
	Outcome Outcome
}

// Event is one notification: about a run, or (EventUpdate) a new release.
type Event struct {
	Type     EventType
	Activity Activity
	Update   *Update
}

// AnnounceUpdate tells every subscriber (on every server of a cluster) that
// a newer version is available.
func (m *Manager) AnnounceUpdate(u Update) {
	m.logger.Warn("butler: a newer version is available", slog.String("version", u.Version), slog.String("notes_url", u.NotesURL))
	m.publish(Event{Type: EventUpdate, Update: &u})
}

// ErrSlowSubscriber ends a subscription whose reader fell too far behind.
var ErrSlowSubscriber = errors.New("butler: subscriber too slow; its events were dropped")

// maxPending bounds a subscriber's queue. Updates of one run replace each
// other while they wait, so the queue holds at most one per run; starts and
// ends past the bound end the subscription.
const maxPending = 1024

// Subscriber receives the manager's events. A slow subscriber never slows a
// task: its waiting updates are merged (and counted as dropped) and, when it
// falls further behind, it is closed with ErrSlowSubscriber.
type Subscriber struct {
	hub     *hub
	mu      sync.Mutex
	queue   []Event
	notify  chan struct{}
	err     error
	dropped atomic.Int64
}

// Next returns the next event, waiting for one until ctx is done or the
// subscription ends (then the error says why).
func (s *Subscriber) Next(ctx context.Context) (Event, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			ev := s.queue[0]
			s.queue[0] = Event{}
			s.queue = s.queue[1:]
			s.mu.Unlock()
			return ev, nil
		}
		err := s.err
		s.mu.Unlock()
		if err != nil {
			return Event{}, err
		}
		select {
		case <-s.notify:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Dropped returns how many updates were merged away because the reader was
// behind.
func (s *Subscriber) Dropped() int64 { return s.dropped.Load() }

// Close ends the subscription. It may be called more than once.
func (s *Subscriber) Close() {
	s.hub.remove(s)
	s.end(errClosed)
}

var errClosed = errors.New("butler: subscription closed")

// ErrStopped ends every subscription when the Manager stops, after the
// events of the runs it stopped: a notification stream ends with the server
// instead of holding its shutdown.
var ErrStopped = errors.New("butler: the server is stopping")

func (s *Subscriber) end(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// deliver queues ev without blocking; it reports false when the subscriber
// must be dropped.
func (s *Subscriber) deliver(ev Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return true
	}
	if ev.Type == EventUpdated {
		for i := range s.queue {
			if s.queue[i].Type == EventUpdated && s.queue[i].Activity.RunID == ev.Activity.RunID {
				s.queue[i] = ev
				s.dropped.Add(1)
				return true
			}
		}
	}
	if len(s.queue) >= maxPending {
		s.dropped.Add(int64(len(s.queue)))
		s.queue = nil
		s.err = ErrSlowSubscriber
	} else {
		s.queue = append(s.queue, ev)
	}
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return s.err == nil
}

// hub fans events out to subscribers.
type hub struct {
	mu      sync.Mutex
	subs    map[*Subscriber]struct{}
	closed  bool         // by close: no subscriber is added
	dropped atomic.Int64 // updates dropped by subscribers that left
}

func (h *hub) add() *Subscriber {
	s := &Subscriber{hub: h, notify: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.end(ErrStopped)
		return s
	}
	if h.subs == nil {
		h.subs = map[*Subscriber]struct{}{}
	}
	h.subs[s] = struct{}{}
	return s
}

// close ends every subscription with ErrStopped, each after the events
// already queued for it, and every later one at once.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	subs := h.subs
	h.subs = nil
	h.mu.Unlock()
	for s := range subs {
		h.dropped.Add(s.dropped.Load())
		s.end(ErrStopped)
	}
}

func (h *hub) remove(s *Subscriber) {
	h.mu.Lock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		h.dropped.Add(s.dropped.Load())
	}
	h.mu.Unlock()
}

func (h *hub) publish(ev Event) {
	h.mu.Lock()
	subs := make([]*Subscriber, 0, len(h.subs))
	for s := range h.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	for _, s := range subs {
		if !s.deliver(ev) {
			h.remove(s)
			s.end(ErrSlowSubscriber)
		}
	}
}

func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Subscribe returns a subscription to every run event of this node. Close it
// when done.
func (m *Manager) Subscribe() *Subscriber { return m.hub.add() }

// EventStats returns the number of subscribers and the updates dropped for
// slow ones so far.
func (m *Manager) EventStats() (subscribers int, dropped int64) {
	m.hub.mu.Lock()
	dropped = m.hub.dropped.Load()
	for s := range m.hub.subs {
		dropped += s.dropped.Load()
	}
	subscribers = len(m.hub.subs)
	m.hub.mu.Unlock()
	return subscribers, dropped
}

// Activities returns one Activity per running run, oldest first: this
// server's with live progress, and in a cluster the other servers' with the
// progress they stored (at most a second old).
func (m *Manager) Activities(ctx context.Context) ([]Activity, error) {
	out := m.localActivities()
	if m.cluster == nil {
		return out, nil
	}
	runs, err := m.store.ActiveRuns(ctx)
	if err != nil {
		return out, err
	}
	for _, r := range runs {
		if !r.State.Working() || r.Node == m.node {
			continue
		}
		out = append(out, Activity{UUID: r.UUID, RunID: r.ID, Task: r.Task, Title: m.title(r.Task), Step: r.Step,
			Progress: r.Progress, Trigger: r.Trigger, Node: r.Node, Started: r.StartedAt, Stopping: r.State == StateStopping})
	}
	sortActivities(out)
	return out, nil
}

func (m *Manager) localActivities() []Activity {
	locals := m.runs.all()
	out := make([]Activity, 0, len(locals))
	for _, lr := range locals {
		if a, ok := lr.activity(); ok {
			out = append(out, a)
		}
	}
	sortActivities(out)
	return out
}

// sortActivities orders activities by run id.
func sortActivities(a []Activity) {
	slices.SortFunc(a, func(x, y Activity) int { return cmp.Compare(x.RunID, y.RunID) })
}
