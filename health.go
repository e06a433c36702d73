package butler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/plexbutler/butler/schedule"
)

// Health says whether the store can write: /healthz answers 503 with
// Reason while it cannot.
type Health struct {
	// OK is false while the store's writes fail (disk full, read-only
	// file, database unreachable).
	OK bool
	// Reason is the last write error while not OK.
	Reason string
	// Since is when writes began to fail (while not OK).
	Since time.Time
	// WriteFailures counts every failed write since the server started.
	WriteFailures int64
}

// health tracks whether the store can write. Every write the manager makes
// feeds it (watchedStore), and so does a probe that writes on its own
// (healthProbe), so that it turns bad while nothing else writes and turns
// good again as soon as a write succeeds.
type health struct {
	mu       sync.Mutex
	failing  bool
	reason   string
	since    time.Time
	failures int64
	logger   *slog.Logger
	now      func() time.Time // the Manager's clock
	probe    healthProbe      // writes now and then; started by the Manager
}

// observe records the outcome of one write.
func (h *health) observe(err error) {
	if err != nil && (errors.Is(err, ErrActiveRun) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return // an answer, not a failure to write
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		if h.failing {
			h.logger.Info("butler: the store can write again", slog.Duration("after", h.now().Sub(h.since)))
		}
		h.failing, h.reason = false, ""
		return
	}
	h.failures++
	if !h.failing {
		h.failing, h.since = true, h.now()
		h.logger.Error("butler: the store cannot write", slog.String("error", err.Error()))
	}
	h.reason = err.Error()
}

func (h *health) get() Health {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Health{OK: !h.failing, Reason: h.reason, Since: h.since, WriteFailures: h.failures}
}

// Health says whether the store can write.
func (m *Manager) Health() Health { return m.health.get() }

// HealthChecker is implemented by stores that can make a small write on
// demand (the SQLite and PostgreSQL stores): the health probe uses it.
type HealthChecker interface {
	// CheckWrite makes one small durable write.
	CheckWrite(ctx context.Context) error
	// LastCheckedWrite returns when CheckWrite last wrote, by any process
	// (the zero time when never). At the start of a single server it is
	// the last sign of life of its previous process.
	LastCheckedWrite(ctx context.Context) (time.Time, error)
}

// Health probe timing: how often the probe writes while the store is
// healthy (by default), and while it is not.
const (
	probeEvery        = 10 * time.Second
	probeEveryFailing = time.Second
)

// healthProbe writes to the store now and then, so that health knows
// whether it can write even when nothing else does. It has an owned
// lifecycle: Start starts its goroutine, Stop ends it and waits.
type healthProbe struct {
	store  HealthChecker
	health *health
	every  time.Duration // while healthy
	cancel context.CancelFunc
	done   chan struct{}
}

// Start starts the probe; it writes once at once.
func (p *healthProbe) Start(ctx context.Context) {
	ctx, p.cancel = context.WithCancel(ctx)
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		for {
			p.health.observe(p.store.CheckWrite(ctx))
			wait := p.every
			if !p.health.get().OK {
				wait = probeEveryFailing
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
}

// Stop ends the probe and waits for it; it may be called without Start.
func (p *healthProbe) Stop() {
	if p.cancel == nil {
		return
	}
	p.cancel()
	<-p.done
}

// watchedStore is the manager's store with every write observed by health.
type watchedStore struct {
	Store
	h *health
}

func (s watchedStore) SaveSettings(ctx context.Context, v map[string]string) error {
	err := s.Store.SaveSettings(ctx, v)
	s.h.observe(err)
	return err
}

func (s watchedStore) CreateRun(ctx context.Context, r *Run, enqueue EnqueueFunc) (Run, error) {
	run, err := s.Store.CreateRun(ctx, r, enqueue)
	s.h.observe(err)
	return run, err
}

func (s watchedStore) CreateRuns(ctx context.Context, rs []*Run, enqueue EnqueueFunc) ([]Run, []error, error) {
	runs, errs, err := s.Store.CreateRuns(ctx, rs, enqueue)
	s.h.observe(err)
	return runs, errs, err
}

func (s watchedStore) QueueRun(ctx context.Context, id int64, at time.Time, enqueue EnqueueFunc) (Run, bool, error) {
	r, ok, err := s.Store.QueueRun(ctx, id, at, enqueue)
	s.h.observe(err)
	return r, ok, err
}

func (s watchedStore) SetRunJob(ctx context.Context, id, jobID int64) error {
	err := s.Store.SetRunJob(ctx, id, jobID)
	s.h.observe(err)
	return err
}

func (s watchedStore) StartRun(ctx context.Context, id int64, node string, at time.Time) (bool, error) {
	ok, err := s.Store.StartRun(ctx, id, node, at)
	s.h.observe(err)
	return ok, err
}

func (s watchedStore) UnstartRun(ctx context.Context, id int64, node string, at time.Time) (bool, error) {
	ok, err := s.Store.UnstartRun(ctx, id, node, at)
	s.h.observe(err)
	return ok, err
}

func (s watchedStore) MarkStopping(ctx context.Context, id int64, reason string) (bool, error) {
	ok, err := s.Store.MarkStopping(ctx, id, reason)
	s.h.observe(err)
	return ok, err
}

func (s watchedStore) SetRunProcess(ctx context.Context, id int64, p ProcessGroup) error {
	err := s.Store.SetRunProcess(ctx, id, p)
	s.h.observe(err)
	return err
}

func (s watchedStore) SaveProgress(ctx context.Context, id int64, progress int, step string) error {
	err := s.Store.SaveProgress(ctx, id, progress, step)
	s.h.observe(err)
	return err
}

func (s watchedStore) FinishRuns(ctx context.Context, ids []int64, from []RunState, f Finish, inTx RunsTxFunc) ([]Run, error) {
	rs, err := s.Store.FinishRuns(ctx, ids, from, f, inTx)
	s.h.observe(err)
	return rs, err
}

func (s watchedStore) FinishRun(ctx context.Context, id int64, from []RunState, f Finish) (Run, bool, error) {
	r, ok, err := s.Store.FinishRun(ctx, id, from, f)
	s.h.observe(err)
	return r, ok, err
}

func (s watchedStore) Suppress(ctx context.Context, tasks []TaskName, d schedule.Day) error {
	err := s.Store.Suppress(ctx, tasks, d)
	s.h.observe(err)
	return err
}

func (s watchedStore) PruneRuns(ctx context.Context, before time.Time) (int, error) {
	n, err := s.Store.PruneRuns(ctx, before)
	s.h.observe(err)
	return n, err
}
