// Package engine carries the Butler's queued runs on River: each queued run
// is one River job of kind "butler_run" in the run's queue (maintenance or
// manual), worked by the Manager's Execute; the items of a run of an item
// task are River jobs of kind "butler_item" in the queue "items", worked by
// the Manager's ExecuteItem on any server (items.go). River gives the
// queue, the workers, cancellation on any node, leader election and crash
// rescue; the Butler's own tables keep the schedule and the history.
package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivershared/baseservice"
	"github.com/riverqueue/river/rivershared/riverpilot"
	"github.com/riverqueue/river/rivertype"

	"github.com/plexbutler/butler"
)

// Args are a River job's arguments: the run it carries.
type Args struct {
	RunID int64  `json:"run_id" river:"unique"`
	Task  string `json:"task"`
	// Nonce tells apart the jobs of a run that was queued again because the
	// server holding its first job died.
	Nonce int64 `json:"nonce,omitempty" river:"unique"`
}

// Kind returns the River job kind.
func (Args) Kind() string { return "butler_run" }

// InsertOpts returns the job's options: its queue, a tag with the task
// name, and uniqueness per run among active jobs. (One active run per task
// is the Butler's runs table's rule, not River's: River's per-task
// uniqueness would refuse a restart while its completer has not yet
// finalised the stopped job.)
func (a Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		// River's tags need three or more word characters or dashes.
		Tags: []string{"task-" + a.Task},
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateScheduled, rivertype.JobStateRetryable,
		}},
	}
}

// Executor runs a queued run; *butler.Manager implements it.
type Executor interface {
	Execute(ctx context.Context, runID int64) error
}

// MaxMaintenanceWorkers is how many maintenance jobs a node takes at once;
// the Manager's gate lets ButlerMaxConcurrentTasks of them work (the setting
// changes at run time, River's worker count does not).
const MaxMaintenanceWorkers = 16

// riverClient is what the engine uses of a River client, whatever its
// driver's transaction type.
type riverClient interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	InsertMany(ctx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	JobCancel(ctx context.Context, jobID int64) (*rivertype.JobRow, error)
	JobGet(ctx context.Context, id int64) (*rivertype.JobRow, error)
	Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func())
}

// Engine is the River client of one node. It implements butler.Queue and
// butler.TxQueue.
type Engine struct {
	client riverClient
	txJobs txJobs     // inserts and cancels jobs in the store's transactions
	db     *sql.DB    // SQLite only
	pilot  *wakePilot // SQLite only
	logger *slog.Logger
	worker *worker
	items  *itemWorker
	// itemPoll is how often a run waiting for its item jobs reads them.
	itemPoll time.Duration
	// ends tells runs of the ends of the item jobs this server worked,
	// from River's events, which endsDone's goroutine reads until
	// endsStop.
	ends     itemEnds
	endsStop func()
	endsDone chan struct{}
	// cleaner deletes River's expired jobs on SQLite (River's own cleaner
	// is off there); its goroutine runs from Start until cleanStop, and
	// closes cleanDone.
	// incarnation tells this process from the server's earlier ones.
	incarnation int64
	cleaner     *jobCleaner
	cleanStop   context.CancelFunc
	cleanDone   chan struct{}
	started     bool
}

var (
	_ butler.Queue    = (*Engine)(nil)
	_ butler.TxQueue  = (*Engine)(nil)
	_ butler.Requeuer = (*Engine)(nil)

	_ butler.ItemReleaser = (*Engine)(nil)

	_ butler.ItemQueuer = (*Engine)(nil)
	_ butler.Incarnated = (*Engine)(nil)
)

type worker struct {
	river.WorkerDefaults[Args]
	exec   Executor
	logger *slog.Logger
}

func (w *worker) Work(ctx context.Context, job *river.Job[Args]) error {
	err := w.exec.Execute(ctx, job.Args.RunID)
	if errors.Is(err, butler.ErrRequeue) {
		// Offered again at once, without using up an attempt.
		return river.JobSnooze(0)
	}
	if errors.Is(err, butler.ErrRetryLater) {
		// Not started: the store failed before, or this server is
		// silent (it has not written its heartbeat for
		// butler.FenceAfter). Offered again shortly, here or elsewhere,
		// without using up an attempt.
		w.logger.WarnContext(ctx, "engine: execute run", slog.Int64("run", job.Args.RunID), slog.String("error", err.Error()))
		return river.JobSnooze(retryLater)
	}
	if err != nil {
		w.logger.ErrorContext(ctx, "engine: execute run", slog.Int64("run", job.Args.RunID), slog.String("error", err.Error()))
		return river.JobCancel(err) // never retried: a run executes at most once
	}
	return nil
}

// retryLater is how long a run whose Execute failed before its start
// waits before it is offered again.
const retryLater = time.Second

// Config configures an Engine.
type Config struct {
	// Node names the server; its River client ID, shown as a job's
	// attempted-by, is butler.HolderID(Node, the engine's incarnation).
	Node   string
	Logger *slog.Logger
	// FetchPollInterval is how often the workers look for jobs they were
	// not told of; 0 for River's default (1 s). Tests make it long, to
	// learn whether they are told.
	FetchPollInterval time.Duration
	// ItemWorkers is how many item jobs this server works at once
	// (butler.ItemQueue); 0 means half the CPUs, at least one.
	ItemWorkers int
	// ItemPoll is how often a run waiting for its item jobs reads them, to
	// learn of those other servers ended (River tells this server's ends
	// at once); 0 means 1 s.
	ItemPoll time.Duration
}

// DefaultItemPoll is Config.ItemPoll's default.
const DefaultItemPoll = time.Second

// localDriver is River's SQLite driver reporting that it has no listener.
// riversqlite emulates LISTEN/NOTIFY by polling an outbox table every 50 ms,
// which is how a job inserted by one process reaches another. A SQLite
// Butler is one process (the data directory is locked), and without a
// listener River hands a job inserted by this client straight to its own
// producer: a start reaches its task in a millisecond instead of up to
// 50 ms, and the idle outbox polling goes away. Stops of local runs cancel
// the run's context directly and do not need River's notifications.
//
// Nor does it notify: with nobody listening, River's insert and cancel
// notifications would only be rows written to the outbox table, one more
// write for every start.
type localDriver struct {
	*riversqlite.Driver
	pilot *wakePilot
}

func (localDriver) SupportsListener() bool     { return false }
func (localDriver) SupportsListenNotify() bool { return false }

// PluginInit is part of River's plugin interface for drivers; with
// PluginPilot it makes River use the driver's pilot.
func (localDriver) PluginInit(*baseservice.Archetype) {}

// PluginPilot returns the driver's pilot (wakePilot).
func (d localDriver) PluginPilot() riverpilot.Pilot { return d.pilot }

// wakePilot is River's standard pilot, keeping the function River gives
// every pilot to wake its own producers when a job inserted in a
// transaction has been committed (PilotInitParams.NotifyNonTxJobInsert:
// "used in special cases like poll-only clients to improve latency between
// job insert and when a job is worked"). Engine.Committed calls it instead
// of inserting the job a second time, which costs a write.
//
// River marks its pilot and plugin interfaces as internal, without a
// promise of stability. Should a River upgrade stop calling PluginPilot,
// PilotInit never runs, wake reports false and Committed falls back to the
// second insert; TestEngine_SQLiteWakesWithoutInsert fails so that the
// upgrade is noticed.
type wakePilot struct {
	riverpilot.StandardPilot
	mu     sync.Mutex
	notify func(ctx context.Context, res []*rivertype.JobInsertResult)
}

// PilotInit keeps River's wake function.
func (p *wakePilot) PilotInit(a *baseservice.Archetype, params *riverpilot.PilotInitParams) {
	p.StandardPilot.PilotInit(a, params)
	p.mu.Lock()
	p.notify = params.NotifyNonTxJobInsert
	p.mu.Unlock()
}

// wake tells this client's producer of queue that a committed job is
// available there, and reports whether it could.
func (p *wakePilot) wake(ctx context.Context, queue string) bool {
	p.mu.Lock()
	notify := p.notify
	p.mu.Unlock()
	if notify == nil {
		return false
	}
	notify(ctx, []*rivertype.JobInsertResult{{Job: &rivertype.JobRow{Queue: queue}}})
	return true
}

// NewSQLite migrates River's tables in db (a SQLite pool with one
// connection) and returns an engine on it, for a single Butler process.
//
// A database whose River tables a newer Butler migrated is refused
// (NewerSchemaError) before River's tables are touched.
func NewSQLite(ctx context.Context, db *sql.DB, cfg Config) (*Engine, error) {
	known, has, err := SQLiteSchema(ctx, db)
	if err != nil {
		return nil, err
	}
	if err := notNewer(known, has); err != nil {
		return nil, err
	}
	drv := localDriver{Driver: riversqlite.New(db), pilot: &wakePilot{}}
	migrator, err := rivermigrate.New(drv, &rivermigrate.Config{Logger: quiet(cfg.Logger)})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("engine: migrate River's tables: %w", err)
	}
	e, workers, err := newEngine(cfg)
	if err != nil {
		return nil, err
	}
	e.db = db
	e.pilot = drv.pilot
	e.cleaner = &jobCleaner{db: db, logger: e.logger, now: time.Now}
	rc := e.riverConfig(cfg, workers)
	// River's cleaner deletes 10,000 jobs at a time on SQLite's only
	// writer; the engine's own cleaner deletes them in short batches
	// (cleaner.go). -1 everywhere turns River's off.
	rc.CompletedJobRetentionPeriod = -1
	rc.CancelledJobRetentionPeriod = -1
	rc.DiscardedJobRetentionPeriod = -1
	client, err := river.NewClient(drv, rc)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e.client, e.txJobs = client, sqlTxJobs{client}
	return e, nil
}

// newEngine returns an engine without its client, and the workers to give it.
func newEngine(cfg Config) (*Engine, *river.Workers, error) {
	e := &Engine{logger: cfg.Logger, itemPoll: cfg.ItemPoll}
	if e.logger == nil {
		e.logger = slog.New(slog.DiscardHandler)
	}
	if e.itemPoll <= 0 {
		e.itemPoll = DefaultItemPoll
	}
	e.worker = &worker{logger: e.logger}
	e.items = &itemWorker{ends: &e.ends, logger: e.logger}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, e.worker); err != nil {
		return nil, nil, fmt.Errorf("engine: %w", err)
	}
	if err := river.AddWorkerSafely(workers, e.items); err != nil {
		return nil, nil, fmt.Errorf("engine: %w", err)
	}
	return e, workers, nil
}

// riverConfig is the River configuration of every Butler node.
func (e *Engine) riverConfig(cfg Config, workers *river.Workers) *river.Config {
	return &river.Config{
		ID: cfg.Node,
		Queues: map[string]river.QueueConfig{
			butler.QueueMaintenance: {MaxWorkers: MaxMaintenanceWorkers},
			butler.QueueManual:      {MaxWorkers: 64},
			// Item jobs come many at once: a longer cooldown fetches
			// more of them at a time (one server's items a second:
			// 155-164 with 2 ms, 147-151 with 1 ms).
			QueueItems: {MaxWorkers: itemWorkers(cfg), FetchCooldown: 2 * time.Millisecond},
		},
		Workers: workers,
		// River waits FetchCooldown (100 ms by default) between fetches;
		// a start should reach its task in milliseconds, and runs come
		// one at a time, so the runs' queues take the shortest cooldown
		// River allows (2 ms held short runs one after another to 440 a
		// second, 1 ms lets 530 through).
		FetchCooldown:               time.Millisecond,
		FetchPollInterval:           cfg.FetchPollInterval,
		JobTimeout:                  -1, // the Butler applies each task's own limit
		MaxAttempts:                 1,  // a run executes at most once, even after a crash
		RescueStuckJobsAfter:        5 * time.Minute,
		CompletedJobRetentionPeriod: completedRetention,
		CancelledJobRetentionPeriod: cancelledRetention,
		DiscardedJobRetentionPeriod: discardedRetention,
		Logger:                      quiet(cfg.Logger),
	}
}

// itemWorkers is Config.ItemWorkers or its default.
func itemWorkers(cfg Config) int {
	if cfg.ItemWorkers > 0 {
		return cfg.ItemWorkers
	}
	return defaultItemWorkers()
}

// MigratePostgres brings River's tables in the pool's database up to date,
// and refuses (NewerSchemaError) tables a newer Butler migrated.
func MigratePostgres(ctx context.Context, pool *pgxpool.Pool) error {
	known, has, err := postgresSchema(ctx, pool)
	if err != nil {
		return err
	}
	if err := notNewer(known, has); err != nil {
		return err
	}
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("engine: migrate River's tables: %w", err)
	}
	return nil
}

// NewPostgres returns an engine on PostgreSQL for one server of a cluster
// (River's tables must be migrated: MigratePostgres). River's LISTEN/NOTIFY
// carries new jobs and cancellations between the servers. db is the
// store's database/sql handle on the same database: jobs are inserted in the
// store's transactions through it (River's database/sql driver, an
// insert-only client), and worked through pool.
//
// The engine's process gets an incarnation (Incarnation) from the
// database's clock: River knows it as butler.HolderID(cfg.Node,
// incarnation), so that the jobs an earlier process of the same server
// held are told apart from its own.
func NewPostgres(ctx context.Context, pool *pgxpool.Pool, db *sql.DB, cfg Config) (*Engine, error) {
	e, workers, err := newEngine(cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.QueryRow(ctx, incarnationSQL).Scan(&e.incarnation); err != nil {
		return nil, fmt.Errorf("engine: read the database's clock: %w", err)
	}
	rc := e.riverConfig(cfg, workers)
	rc.ID = butler.HolderID(cfg.Node, e.incarnation)
	// A job stranded by a dead server is ended by the Butler's leader within
	// seconds; River's own rescue is the backstop.
	rc.RescueStuckJobsAfter = time.Minute
	client, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	// River sends at most one insert notification per queue per
	// FetchCooldown (100 ms by default): a start sooner after the last one
	// would wait for the workers' next poll (1 s). The same cooldown as the
	// workers'.
	inserter, err := river.NewClient(riverdatabasesql.New(db), &river.Config{Logger: quiet(cfg.Logger), FetchCooldown: rc.FetchCooldown})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e.client, e.txJobs = client, pgxTxJobs{c: client, sql: sqlTxJobs{inserter}}
	return e, nil
}

// incarnationSQL is a PostgreSQL engine's incarnation: the database's
// clock in microseconds, the one clock of the cluster, so that a server's
// later process has the larger number whatever the servers' clocks say.
const incarnationSQL = `SELECT (extract(epoch from clock_timestamp()) * 1000000)::bigint`

// Incarnation is this process's incarnation (butler.Incarnated): on
// PostgreSQL the database's clock when the engine was made, in
// microseconds; 0 on SQLite, whose one server needs none.
func (e *Engine) Incarnation() int64 { return e.incarnation }

// quiet passes River's warnings and errors on and drops its chatter.
func quiet(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(levelHandler{min: slog.LevelWarn, Handler: l.Handler()})
}

type levelHandler struct {
	min slog.Level
	slog.Handler
}

func (h levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return levelHandler{h.min, h.Handler.WithAttrs(a)}
}

func (h levelHandler) WithGroup(n string) slog.Handler {
	return levelHandler{h.min, h.Handler.WithGroup(n)}
}

// recoverSQL is RecoverSingleNode's statement. It ends the running jobs
// and the item jobs still waiting: those belong to runs of the dead
// process too (every run it held ends interrupted at this start), and
// left, they would hold their items against the next run (item jobs are
// unique by item). It reads only the unfinished jobs, through the index
// on state that River's fetch uses: the unary + keeps SQLite from reading
// kind's index instead, which lists every item job River keeps (finished
// ones a day long).
const recoverSQL = `UPDATE river_job SET state = 'cancelled', finalized_at = datetime('now', 'subsec')
	WHERE state IN ('running', 'available', 'pending', 'scheduled', 'retryable')
	  AND (state = 'running' OR +kind = 'butler_item')`

// RecoverSingleNode ends River jobs left running by a process that died,
// and the item jobs it left waiting. It
// is for a single-node SQLite server at start, before Start: then no job can
// really be running, and River (which has no heartbeat) would otherwise keep
// them running until its rescuer's timeout.
//
// River has no API to end a running job that no client holds (JobCancel
// leaves it to the holder, JobDelete refuses running jobs), so this one
// statement (recoverSQL) writes River's table; TestEngine_RecoverSingleNode
// fails if River's schema no longer fits it, and
// TestRecoverSQL_ReadsOnlyUnfinishedJobs if River's indexes no longer
// serve it.
func (e *Engine) RecoverSingleNode(ctx context.Context) (int, error) {
	if e.db == nil {
		return 0, errors.New("engine: RecoverSingleNode is for a single SQLite server; a cluster's leader ends a dead server's jobs")
	}
	res, err := e.db.ExecContext(ctx, recoverSQL)
	if err != nil {
		return 0, fmt.Errorf("engine: end orphaned jobs: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// Start starts working jobs with exec.
//
// The executor is given here rather than to the constructor because the
// two depend on each other: the Manager (the executor) queues its runs in
// the engine, and the engine hands the jobs back to it. So the engine is
// made first, the Manager on it, and the engine started with the Manager.
// River calls no worker before its client starts, so the worker never
// sees a missing executor; Start refuses a nil one.
func (e *Engine) Start(ctx context.Context, exec Executor) error {
	if exec == nil {
		return errors.New("engine: Start needs an executor")
	}
	e.worker.exec = exec
	e.items.exec, _ = exec.(ItemExecutor)
	ends, stop := e.client.Subscribe(itemEndKinds...)
	if err := e.client.Start(ctx); err != nil {
		stop()
		return fmt.Errorf("engine: start: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.ends.run(ends)
	}()
	e.endsStop, e.endsDone = stop, done
	if e.cleaner != nil {
		cctx, cancel := context.WithCancel(ctx)
		cdone := make(chan struct{})
		go func() {
			defer close(cdone)
			e.cleaner.run(cctx)
		}()
		e.cleanStop, e.cleanDone = cancel, cdone
	}
	e.started = true
	return nil
}

// Stop stops fetching jobs and waits for running ones until ctx is done.
func (e *Engine) Stop(ctx context.Context) error {
	if !e.started {
		return nil
	}
	e.started = false
	if e.cleanStop != nil {
		e.cleanStop()
		<-e.cleanDone
		e.cleanStop, e.cleanDone = nil, nil
	}
	err := e.client.Stop(ctx)
	e.endsStop()
	<-e.endsDone
	return err
}

// EnqueueTx inserts the jobs of queued runs within tx, the store's
// transaction that creates or queues the runs (butler.TxQueue), in one
// statement (River's InsertManyTx), and returns their ids in order.
func (e *Engine) EnqueueTx(ctx context.Context, tx butler.Tx, rs []butler.Run) ([]int64, error) {
	params := make([]river.InsertManyParams, len(rs))
	for i, r := range rs {
		a := Args{RunID: r.ID, Task: string(r.Task)}
		opts := a.InsertOpts()
		opts.Queue = r.Queue
		params[i] = river.InsertManyParams{Args: a, InsertOpts: &opts}
	}
	res, err := e.txJobs.InsertManyTx(ctx, tx, params)
	if err != nil {
		if len(rs) == 1 {
			return nil, fmt.Errorf("engine: insert job of run %d: %w", rs[0].ID, err)
		}
		return nil, fmt.Errorf("engine: insert the jobs of %d runs: %w", len(rs), err)
	}
	// Matched by run, not by position: River does not promise its results'
	// order.
	byRun := make(map[int64]int64, len(res))
	for _, x := range res {
		var a Args
		if err := json.Unmarshal(x.Job.EncodedArgs, &a); err != nil {
			return nil, fmt.Errorf("engine: read an inserted job's arguments: %w", err)
		}
		byRun[a.RunID] = x.Job.ID
	}
	ids := make([]int64, len(rs))
	for i, r := range rs {
		id, ok := byRun[r.ID]
		if !ok {
			return nil, fmt.Errorf("engine: no job was inserted for run %d", r.ID)
		}
		ids[i] = id
	}
	return ids, nil
}

// Committed wakes this server's workers for a job inserted in a
// transaction that has committed (butler.TxQueue). On SQLite, River wakes
// its workers by itself only for inserts made outside a transaction (its
// driver has no listener): the engine wakes them with the function River
// gives its pilot (wakePilot). Without it, the job is inserted again:
// River's uniqueness by run returns the same job, and the insert wakes the
// workers. (Should the job have been worked and completed in between, the
// new job finds its run no longer queued and does nothing.) On PostgreSQL
// the insert's notification went out with the commit: nothing to do.
func (e *Engine) Committed(ctx context.Context, r butler.Run) {
	if e.db == nil {
		return
	}
	if e.pilot.wake(ctx, r.Queue) {
		return
	}
	if _, err := e.Enqueue(ctx, r); err != nil {
		e.logger.WarnContext(ctx, "engine: wake the workers for a new job; they find it at their next poll",
			slog.Int64("run", r.ID), slog.String("error", err.Error()))
	}
}

// Enqueue inserts the job of a queued run.
func (e *Engine) Enqueue(ctx context.Context, r butler.Run) (int64, error) {
	a := Args{RunID: r.ID, Task: string(r.Task)}
	opts := a.InsertOpts()
	opts.Queue = r.Queue
	res, err := e.client.Insert(ctx, a, &opts)
	if err != nil {
		return 0, fmt.Errorf("engine: insert job of run %d: %w", r.ID, err)
	}
	return res.Job.ID, nil
}

// Holders returns the holder (butler.HolderID: the server and its
// process) working each running job of a run, by job id.
func (e *Engine) Holders(ctx context.Context) (map[int64]string, error) {
	return e.holders(ctx, Args{}.Kind())
}

// ItemHolders returns the holder (butler.HolderID) working each running
// item job, by job id (butler.ItemReleaser).
func (e *Engine) ItemHolders(ctx context.Context) (map[int64]string, error) {
	return e.holders(ctx, ItemArgs{}.Kind())
}

// ReleaseItem cancels the item job that a server that died held
// (butler.ItemReleaser): River's rescuer ends it cancelled once it has
// been running for RescueStuckJobsAfter, and the run waiting for it counts
// its item skipped, left for a later run. (A running job's cancellation
// is left to its holder, and River's rescuer would never end an item job
// otherwise: the jobs have no time limit of River's.)
func (e *Engine) ReleaseItem(ctx context.Context, jobID int64) error {
	if _, err := e.client.JobCancel(ctx, jobID); err != nil && !errors.Is(err, river.ErrNotFound) {
		return fmt.Errorf("engine: release item job %d: %w", jobID, err)
	}
	return nil
}

// holders returns the holder working each running job of kind, by job
// id.
func (e *Engine) holders(ctx context.Context, kind string) (map[int64]string, error) {
	out := map[int64]string{}
	params := river.NewJobListParams().Kinds(kind).States(rivertype.JobStateRunning).First(holdersPage)
	for {
		res, err := e.client.JobList(ctx, params)
		if err != nil {
			return nil, fmt.Errorf("engine: list running jobs: %w", err)
		}
		for _, j := range res.Jobs {
			if len(j.AttemptedBy) > 0 {
				out[j.ID] = j.AttemptedBy[len(j.AttemptedBy)-1]
			}
		}
		if len(res.Jobs) < holdersPage {
			return out, nil
		}
		params = params.After(res.LastCursor)
	}
}

// holdersPage is how many running jobs one of Holders' reads lists.
const holdersPage = 1000

// Requeue makes a new job for a queued run whose job is stranded on a dead
// server.
func (e *Engine) Requeue(ctx context.Context, r butler.Run) (int64, error) {
	a := Args{RunID: r.ID, Task: string(r.Task), Nonce: time.Now().UnixNano()}
	opts := a.InsertOpts()
	opts.Queue = r.Queue
	res, err := e.client.Insert(ctx, a, &opts)
	if err != nil {
		return 0, fmt.Errorf("engine: requeue run %d: %w", r.ID, err)
	}
	return res.Job.ID, nil
}

// CancelTx takes jobs out of the queue within tx, the store's transaction
// that ends their runs (butler.TxQueue): it happens if, and when, the
// runs' ends commit. The jobs that wait are deleted, cancelJobsMost to a
// statement (River's JobDeleteManyTx, which leaves running jobs alone);
// the others are cancelled one by one (JobCancelTx: a running job's
// context is cancelled wherever it runs). A job that no longer exists is
// not an error.
func (e *Engine) CancelTx(ctx context.Context, tx butler.Tx, jobIDs []int64) error {
	// In the order of their ids, as River takes the rows of the jobs it
	// fetches and deletes: two transactions that take the same rows in
	// opposite orders deadlock.
	jobIDs = slices.Sorted(slices.Values(jobIDs))
	deleted := make(map[int64]bool, len(jobIDs))
	for start := 0; start < len(jobIDs); start += cancelJobsMost {
		chunk := jobIDs[start:min(start+cancelJobsMost, len(jobIDs))]
		res, err := e.txJobs.JobDeleteManyTx(ctx, tx, river.NewJobDeleteManyParams().IDs(chunk...).First(len(chunk)))
		if err != nil {
			return fmt.Errorf("engine: delete %d waiting jobs: %w", len(chunk), err)
		}
		for _, j := range res.Jobs {
			deleted[j.ID] = true
		}
	}
	for _, id := range jobIDs {
		if deleted[id] {
			continue
		}
		if _, err := e.txJobs.JobCancelTx(ctx, tx, id); err != nil && !errors.Is(err, river.ErrNotFound) {
			return fmt.Errorf("engine: cancel job %d: %w", id, err)
		}
	}
	return nil
}

// cancelJobsMost is how many jobs one statement of CancelTx deletes.
const cancelJobsMost = 1000

// Cancel cancels a job; a job that no longer exists is not an error.
func (e *Engine) Cancel(ctx context.Context, jobID int64) error {
	_, err := e.client.JobCancel(ctx, jobID)
	if errors.Is(err, river.ErrNotFound) {
		return nil
	}
	return err
}
