package butler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/plexbutler/butler/schedule"
)

// Queue is the job engine that carries queued runs to a worker: River in
// production (package engine). Every method is safe for concurrent use.
type Queue interface {
	// Enqueue makes a queue job for a queued run, in the run's queue, and
	// returns its id. Enqueuing the same run twice makes one job.
	Enqueue(ctx context.Context, r Run) (jobID int64, err error)
	// Cancel cancels a job: a waiting job leaves the queue; a running job's
	// context is cancelled wherever it runs.
	Cancel(ctx context.Context, jobID int64) error
}

// TxQueue is implemented by a queue whose jobs live in the store's
// database (package engine): it inserts a run's job in the store's own
// transaction, so that a run and its job are created, or not, together.
type TxQueue interface {
	// EnqueueTx inserts the jobs of queued runs rs within tx, in one
	// statement where the database allows, and returns their ids in the
	// order of rs.
	EnqueueTx(ctx context.Context, tx Tx, rs []Run) (jobIDs []int64, err error)
	// Committed is called once the transaction that inserted r's job has
	// committed (a queue whose workers learn of new jobs only from its own
	// inserts wakes them then). When one transaction queued several runs
	// it is called once for each queue they are in, with one of them.
	Committed(ctx context.Context, r Run)
	// CancelTx cancels jobs within tx, the store's transaction that ends
	// their runs, as Queue.Cancel does; a job that no longer exists is not
	// an error.
	CancelTx(ctx context.Context, tx Tx, jobIDs []int64) error
}

// Requeuer is implemented by a queue that can tell which server holds a job
// and queue a run again under a new job (package engine). In a cluster the
// leader uses it for queued runs held by a server that died.
type Requeuer interface {
	// Holders returns the holder (HolderID: the server and its process)
	// working each running job of a run, by job id (a job fetched by a
	// server waits there for a slot while it runs in River's eyes).
	Holders(ctx context.Context) (map[int64]string, error)
	Requeue(ctx context.Context, r Run) (jobID int64, err error)
}

// ItemReleaser is implemented by a queue whose item jobs a server holds
// while it works them (package engine): the leader releases those that a
// server that died held, so that the runs waiting for them do not wait
// until their time limit.
type ItemReleaser interface {
	// ItemHolders returns the holder (HolderID) working each running item
	// job, by job id.
	ItemHolders(ctx context.Context) (map[int64]string, error)
	// ReleaseItem ends the item job of a server that died, in time: the
	// run waiting for it counts its item skipped, left for a later run.
	ReleaseItem(ctx context.Context, jobID int64) error
}

// Recoverer is implemented by actions that must tidy up after a crash (a
// backup removes the partial file it left). The manager calls Recover once
// at start, with the server's settings (where the backup directory is),
// before any run's action begins: a run the queue hands a worker before
// Start waits for it (Execute).
type Recoverer interface {
	Recover(ctx context.Context, s Settings) error
}

// Observer is told of every run that ends, whatever its outcome (package
// metrics counts them). RunEnded must not block.
type Observer interface {
	RunEnded(r Run)
}

// Config configures a Manager. Catalog, Store and Queue are required.
type Config struct {
	// Catalog lists the tasks; entries with an Action are offered.
	Catalog []Task
	// DataDir gives the default backup path; HostZone the default zone
	// ("" for UTC).
	DataDir  string
	HostZone string
	Logger   *slog.Logger
	// Node names this server in the run history; default "local".
	Node string
	// NowFunc returns the current time; default time.Now.
	NowFunc func() time.Time
	// Observer, when set, is told of every run that ends.
	Observer Observer
	// FixedSettings are settings a config file fixes (by id), and FixedBy
	// names that file: the API cannot change them (see FixSettings).
	FixedSettings map[string]string
	FixedBy       string
	Queue         Queue
	// Rand draws random start instants; default a source seeded at random.
	Rand  schedule.Rand
	Store Store
	// StopWait is how long a stop request waits for the run's work to stop
	// before it answers that the run is stopping; default 2 s. The stop is
	// durable before the answer either way, and the run ends finished once
	// its work has stopped, however long that takes.
	StopWait time.Duration
	// HealthProbeEvery is how often the manager writes to the store to
	// learn whether it can (Health); default 10 s, negative for never (then
	// only the manager's own writes tell).
	HealthProbeEvery time.Duration
	// Reaper ends the process groups a previous process of this server left
	// behind (package tasks: GroupReaper); nil reaps nothing.
	Reaper Reaper
	// GroupGuard, when set, is told of the process groups the runs'
	// actions start and end, to kill those left should the server die.
	GroupGuard GroupGuard
	// Busy, when set, tells whether people are busy (watching): item work
	// pauses between items meanwhile (see BusyProbe). BusyEvery is how
	// often it is asked; default DefaultBusyEvery.
	Busy      BusyProbe
	BusyEvery time.Duration
}

// Manager is the Butler: it decides, starts, stops and plans runs of the
// catalog's tasks under the scheduling rules. Start it with Start; stop it
// with Stop. Its methods are safe for concurrent use.
type Manager struct {
	catalog []Task // offered tasks, in catalog order
	byName  map[TaskName]*Task
	known   map[TaskName]bool
	defs    []SettingDef
	defByID map[string]SettingDef

	logger   *slog.Logger
	node     string
	now      func() time.Time
	observer Observer
	queue    Queue
	rnd      schedule.Rand
	store    Store
	stopWait time.Duration
	reaper   Reaper
	guard    GroupGuard // nil without one

	health     *health    // whether the store can write
	locks      taskLocks  // serialises decisions per task
	settingsMu sync.Mutex // serialises settings changes

	mu       sync.Mutex // guards settings
	settings Settings
	runs     *localRuns // the runs this server's workers hold

	gate    *gate
	hub     hub
	wake    chan struct{}
	cluster *clusterState // nil on a single server
	planner plannerLoop

	// recovered is closed once Start has had the Recoverers tidy up after
	// the previous process: a run's action waits for it (Execute).
	recovered chan struct{}

	skips    skipMemo  // the last skipped start of each task
	backlogs backlogs  // the item tasks' backlogs, for the plan
	busy     *busyGate // nil without a busy probe
}

// plannerLoop is the planner's goroutine (Manager.loop) and its state.
type plannerLoop struct {
	cancel    context.CancelFunc
	done      chan struct{}
	lastPrune time.Time // only the loop's goroutine uses it
}

// NewManager validates cfg and returns a Manager with its stored settings
// loaded. It returns an error when cfg lacks a required field or the store
// cannot be read.
func NewManager(ctx context.Context, cfg Config) (*Manager, error) {
	if cfg.Store == nil || cfg.Queue == nil {
		return nil, errors.New("butler: Config needs a Store and a Queue")
	}
	m := &Manager{
		byName:    map[TaskName]*Task{},
		known:     map[TaskName]bool{},
		defByID:   map[string]SettingDef{},
		logger:    cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		node:      cmp.Or(cfg.Node, "local"),
		now:       cfg.NowFunc,
		observer:  cfg.Observer,
		queue:     cfg.Queue,
		rnd:       cfg.Rand,
		store:     cfg.Store,
		stopWait:  cmp.Or(cfg.StopWait, 2*time.Second),
		reaper:    cfg.Reaper,
		guard:     cfg.GroupGuard,
		runs:      newLocalRuns(),
		wake:      make(chan struct{}, 1),
		recovered: make(chan struct{}),
	}
	if m.now == nil {
		m.now = time.Now
	}
	m.health = &health{logger: m.logger, now: m.now}
	if cfg.Busy != nil {
		m.busy = &busyGate{probe: cfg.Busy, every: cmp.Or(cfg.BusyEvery, DefaultBusyEvery), logger: m.logger}
	}
	m.store = watchedStore{Store: cfg.Store, h: m.health}
	if hc, ok := cfg.Store.(HealthChecker); ok && cfg.HealthProbeEvery >= 0 {
		m.health.probe = healthProbe{store: hc, health: m.health, every: cmp.Or(cfg.HealthProbeEvery, probeEvery)}
	}
	if m.rnd == nil {
		m.rnd = globalRand{}
	}
	for _, t := range cfg.Catalog {
		m.known[t.Name] = true
		if t.Action == nil {
			continue
		}
		if t.Interval < 1 {
			return nil, fmt.Errorf("butler: task %s has interval %d; want at least 1 day", t.Name, t.Interval)
		}
		if t.TimeLimit <= 0 {
			t.TimeLimit = DefaultTimeLimit
		}
		m.catalog = append(m.catalog, t)
	}
	for i := range m.catalog {
		m.byName[m.catalog[i].Name] = &m.catalog[i]
	}
	defs, err := FixSettings(SettingDefs(m.catalog, cfg.DataDir, cmp.Or(cfg.HostZone, "UTC")), cfg.FixedSettings, cfg.FixedBy)
	if err != nil {
		return nil, fmt.Errorf("butler: %w", err)
	}
	m.defs = defs
	for _, d := range m.defs {
		m.defByID[d.ID] = d
	}
	stored, err := m.store.Settings(ctx)
	if err != nil {
		return nil, fmt.Errorf("butler: read settings: %w", err)
	}
	s, problems := buildSettings(m.defs, stored)
	for _, p := range problems {
		m.logger.WarnContext(ctx, "butler: setting", slog.String("problem", p.Error()))
	}
	m.settings = s
	m.gate = newGate(s.MaxConcurrent(), m.now)
	if c, ok := cfg.Store.(Cluster); ok {
		m.cluster = &clusterState{store: c, outbox: make(chan Event, 256), reap: make(chan struct{}, 1), taken: make(chan struct{})}
		if q, ok := cfg.Queue.(Incarnated); ok {
			m.cluster.incarnation = q.Incarnation()
		}
		if err := m.checkName(ctx); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// globalRand draws from math/rand/v2's top-level source, which is seeded at
// random and safe for concurrent use.
type globalRand struct{}

func (globalRand) Int64N(n int64) int64 { return rand.Int64N(n) }

// Tasks returns the offered tasks in catalog order.
func (m *Manager) Tasks() []Task { return append([]Task(nil), m.catalog...) }

// Task returns an offered task by name; ENOTFOUND when there is none.
func (m *Manager) Task(name TaskName) (Task, error) {
	t, ok := m.byName[name]
	if !ok {
		return Task{}, m.notFound(name)
	}
	return *t, nil
}

func (m *Manager) notFound(name TaskName) error {
	if m.known[name] {
		return Errorf(ENOTFOUND, "task %s does nothing on this server; GET /butler lists the tasks it offers", name)
	}
	return Errorf(ENOTFOUND, "no task named %q; task names are case-sensitive, GET /butler lists them", name)
}

// Settings returns the current settings.
func (m *Manager) Settings() Settings {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.settings
}

// SettingDefs returns the definitions of every setting, in listing order.
func (m *Manager) SettingDefs() []SettingDef { return append([]SettingDef(nil), m.defs...) }

// SetSettings validates every value and stores them all, or none: an unknown
// id or an invalid value is an EINVALID error that names it. Accepted changes
// take effect at once (the planner re-plans).
func (m *Manager) SetSettings(ctx context.Context, raw map[string]string) error {
	if len(raw) == 0 {
		return nil
	}
	canon := make(map[string]string, len(raw))
	var problems []string
	for id, v := range raw {
		d, ok := m.defByID[id]
		if !ok {
			problems = append(problems, fmt.Sprintf("unknown setting %q; GET /:/prefs lists them", id))
			continue
		}
		c, err := d.Canonical(v)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		canon[id] = c
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return Errorf(EINVALID, "nothing was changed: %s", strings.Join(problems, "; "))
	}
	if err := fixedConflict(m.defByID, canon); err != nil {
		return err
	}
	m.settingsMu.Lock()
	defer m.settingsMu.Unlock()
	if err := m.store.SaveSettings(ctx, canon); err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	m.mu.Lock()
	values := m.settings.Values()
	for k, v := range canon {
		values[k] = v
	}
	s, _ := buildSettings(m.defs, values)
	s.gen = m.settings.gen + 1
	m.settings = s
	m.mu.Unlock()
	m.gate.setLimit(s.MaxConcurrent())
	m.logger.InfoContext(ctx, "butler: settings changed", slog.Int("count", len(canon)))
	if m.cluster != nil {
		if err := m.cluster.store.Notify(ctx, channelSettings, ""); err != nil {
			m.logger.WarnContext(ctx, "butler: tell the other servers of the settings", slog.String("error", err.Error()))
		}
	}
	m.poke()
	return nil
}

// finish ends a run in one of the states from and tells the observer; it
// reports false when the run was in none of them.
func (m *Manager) finish(ctx context.Context, r Run, from []RunState, f Finish) (Run, bool, error) {
	ended, ok, err := m.store.FinishRun(ctx, r.ID, from, f)
	if err != nil || !ok {
		return Run{}, ok, err
	}
	m.observe(ended)
	return ended, true, nil
}

func (m *Manager) observe(r Run) {
	if m.observer != nil {
		m.observer.RunEnded(r)
	}
}

// poke wakes the planner loop.
func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Start recovers what a previous process left (runs that were running end
// interrupted, unless a worker of this process runs them already; queued
// runs are queued again; actions tidy up) and starts the planner loop. The
// loop runs until Stop.
func (m *Manager) Start(ctx context.Context) error {
	if m.cluster != nil {
		// The first heartbeat, and the guard's first lease, before the
		// recovery below (which may wait for what a previous process
		// left to end): the queue may hand this server runs already.
		// Silence is counted from now until it is written.
		m.cluster.setLastBeat(m.now())
		m.clusterTick(ctx)
	}
	for _, t := range m.catalog {
		if r, ok := t.Action.(Recoverer); ok {
			if err := r.Recover(ctx, m.Settings()); err != nil {
				m.logger.WarnContext(ctx, "butler: recover task", slog.String("task", string(t.Name)), slog.String("error", err.Error()))
			}
		}
	}
	// The runs the queue handed the workers meanwhile may begin.
	close(m.recovered)
	active, err := m.store.ActiveRuns(ctx)
	if err != nil {
		return fmt.Errorf("butler: read active runs: %w", err)
	}
	// A single server's previous process wrote the health probe's row last
	// (in a cluster any server may have).
	var lastAlive time.Time
	if hc := m.health.probe.store; hc != nil && m.cluster == nil {
		lastAlive, _ = hc.LastCheckedWrite(ctx)
	}
	for _, r := range active {
		switch r.State {
		case StateRunning, StateStopping:
			if m.cluster != nil && r.Node != m.node {
				continue // another server's; the leader ends it if that server is dead
			}
			if m.localRun(r.ID) != nil {
				// This process's own: the queue handed it to a worker here
				// before this recovery (River starts first, and takes the
				// runs left queued at once). A worker registers its run
				// before recording it running, so none is missed.
				continue
			}
			if err := m.recoverRun(ctx, r, lastAlive); err != nil {
				return err
			}
		case StateQueued:
			m.enqueue(ctx, r)
		}
	}
	if m.cluster != nil {
		bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		m.cluster.cancel = cancel
		m.startCluster(bgCtx)
	}
	if m.health.probe.store != nil {
		m.health.probe.Start(context.WithoutCancel(ctx))
	}
	m.backlogs.start(ctx)
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.planner.cancel = cancel
	m.planner.done = make(chan struct{})
	go func() {
		defer close(m.planner.done)
		m.loop(loopCtx)
	}()
	return nil
}

// recoverRun ends a run that a previous process of this server left
// running or stopping: what is left of its process group is killed first
// (up to the task's grace), so that nothing of it runs on when the task may
// start again; then the run ends interrupted. It ended when its processes
// did: now when some were left, else by the time the previous process
// would have written its next sign of life after the last one (lastAlive;
// zero when unknown) — not when the server happened to start again, which
// may be days later.
func (m *Manager) recoverRun(ctx context.Context, r Run, lastAlive time.Time) error {
	reason := "the server stopped while the task ran"
	found := false
	if !r.Process.IsZero() && m.reaper != nil {
		var err error
		found, err = m.reaper.Reap(ctx, r.Process, m.grace(r.Task))
		if err != nil {
			return fmt.Errorf("butler: end the processes run %d left (process group %d): %w", r.ID, r.Process.PGID, err)
		}
		if found {
			reason += "; the processes it left were killed at the next start"
			m.logger.WarnContext(ctx, "butler: killed the processes of a run the previous process left behind",
				slog.Int64("run", r.ID), slog.String("task", string(r.Task)), slog.Int("pgid", r.Process.PGID))
		}
	}
	now := m.now()
	ended := now
	if every := m.health.probe.every; !found && !lastAlive.IsZero() {
		// The previous process wrote a sign of life every `every`: it
		// died, and the guard killed its processes, before the next one
		// was due.
		// A run that started after that bound shows the probe was not
		// writing (a full disk): its end is unknown, and now is recorded.
		if bound := lastAlive.Add(every); bound.Before(now) && !r.StartedAt.After(bound) {
			ended = bound
			reason += fmt.Sprintf("; found at the next start, it is recorded ended %s after the server's last sign of life (it wrote one every %s)", every, every)
		}
	}
	if _, _, err := m.finish(ctx, r, []RunState{StateRunning, StateStopping}, Finish{
		Outcome: OutcomeInterrupted, Reason: reason, EndedAt: ended, Progress: r.Progress, Step: r.Step,
	}); err != nil {
		return fmt.Errorf("butler: end interrupted run %d: %w", r.ID, err)
	}
	m.logger.InfoContext(ctx, "butler: run interrupted by the previous stop", slog.Int64("run", r.ID), slog.String("task", string(r.Task)))
	return nil
}

// grace is how long the task's action takes to stop once told to, at most
// (Graceful); zero when it does not say.
func (m *Manager) grace(name TaskName) time.Duration {
	if t, ok := m.byName[name]; ok {
		if g, ok := t.Action.(Graceful); ok {
			return g.StopGrace()
		}
	}
	return 0
}

// MaxStopGrace is the longest grace of any offered task (Graceful): how
// long a shutdown may have to wait for running tasks to stop, beyond the
// time it takes to tell them.
func (m *Manager) MaxStopGrace() time.Duration {
	var g time.Duration
	for _, t := range m.catalog {
		g = max(g, m.grace(t.Name))
	}
	return g
}

// Stop stops the planner loop and every local run (they end interrupted),
// waiting for them until ctx is done. Queued runs stay queued for the next
// start. Stop may be called twice, or without Start.
func (m *Manager) Stop(ctx context.Context) error {
	locals := m.runs.close()
	if m.planner.cancel != nil {
		m.planner.cancel()
		select {
		case <-m.planner.done:
		case <-ctx.Done():
		}
	}
	for _, lr := range locals {
		lr.stop(errShutdown)
	}
	m.backlogs.stop()
	done := make(chan struct{})
	go func() {
		m.runs.wait()
		// The stopped runs' events are out: the streams can end.
		m.hub.close()
		if m.cluster != nil && m.cluster.cancel != nil {
			m.leaveCluster(ctx)
			m.cluster.cancel()
			m.cluster.bg.Wait()
		}
		m.health.probe.Stop()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("butler: stop: runs still going: %w", ctx.Err())
	}
}
