package engine_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/engine"
	"github.com/plexbutler/butler/internal/pgtest"
	"github.com/plexbutler/butler/store/postgres"
	"github.com/plexbutler/butler/store/sqlite"
)

// executor records the runs it is given; the first n calls ask for a requeue.
type executor struct {
	calls   atomic.Int32
	requeue int32
	got     chan int64
}

func (e *executor) Execute(ctx context.Context, runID int64) error {
	if e.calls.Add(1) <= e.requeue {
		return butler.ErrRequeue
	}
	e.got <- runID
	return nil
}

func openSQLite(t *testing.T) (*sqlite.DB, *engine.Engine) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "butler.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	eng, err := engine.NewSQLite(context.Background(), db.SQL(), engine.Config{Node: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return db, eng
}

// openPostgres opens a fresh schema of the test database, with Butler's
// and River's tables; it is closed at the test's end.
func openPostgres(t testing.TB) *postgres.DB {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, func(ctx context.Context) error { return engine.MigratePostgres(ctx, db.Pool()) }); err != nil {
		t.Fatal(err)
	}
	return db
}

func waitRun(t *testing.T, ch <-chan int64) int64 {
	t.Helper()
	select {
	case id := <-ch:
		return id
	case <-time.After(15 * time.Second):
		t.Fatal("the job was not worked")
		return 0
	}
}

func TestEngine_RequeuedJobIsWorkedAgain(t *testing.T) {
	_, eng := openSQLite(t)
	ex := &executor{requeue: 1, got: make(chan int64, 1)}
	ctx := context.Background()
	if err := eng.Start(ctx, ex); err != nil {
		t.Fatal(err)
	}
	defer eng.Stop(ctx)
	if _, err := eng.Enqueue(ctx, butler.Run{ID: 7, Task: "T", Queue: butler.QueueManual}); err != nil {
		t.Fatal(err)
	}
	if id := waitRun(t, ex.got); id != 7 || ex.calls.Load() != 2 {
		t.Fatalf("worked run %d after %d calls, want run 7 on the second", id, ex.calls.Load())
	}
}

func TestEngine_EnqueueTwiceMakesOneJob(t *testing.T) {
	_, eng := openSQLite(t)
	ctx := context.Background()
	r := butler.Run{ID: 9, Task: "T", Queue: butler.QueueMaintenance}
	a, err := eng.Enqueue(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := eng.Enqueue(ctx, r)
	if err != nil || a != b {
		t.Fatalf("second enqueue made job %d (%v), want the same job %d", b, err, a)
	}
	if c, _ := eng.Requeue(ctx, r); c == a {
		t.Fatal("Requeue reused the job")
	}
}

func TestEngine_RecoverSingleNode(t *testing.T) {
	db, eng := openSQLite(t)
	ctx := context.Background()
	id, err := eng.Enqueue(ctx, butler.Run{ID: 3, Task: "T", Queue: butler.QueueManual})
	if err != nil {
		t.Fatal(err)
	}
	// What a process killed while working the job leaves.
	if _, err := db.SQL().ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = datetime('now'), attempted_by = json_array('dead') WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	if holders, err := eng.Holders(ctx); err != nil || holders[id] != "dead" {
		t.Fatalf("Holders = %v %v, want job %d held by the dead node", holders, err, id)
	}
	n, err := eng.RecoverSingleNode(ctx)
	if err != nil || n != 1 {
		t.Fatalf("RecoverSingleNode = %d, %v; want 1", n, err)
	}
	var state string
	db.SQL().QueryRowContext(ctx, `SELECT state FROM river_job WHERE id = ?`, id).Scan(&state)
	if state != "cancelled" {
		t.Fatalf("orphaned job is %s, want cancelled", state)
	}
	if holders, _ := eng.Holders(ctx); holders[id] != "" {
		t.Fatal("Holders still reports it running")
	}
}

func TestEngine_PostgresCancelAcrossClients(t *testing.T) {
	ctx := context.Background()
	db := openPostgres(t)
	worker, err := engine.NewPostgres(ctx, db.Pool(), db.Store.DB, engine.Config{Node: "b"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := engine.NewPostgres(ctx, db.Pool(), db.Store.DB, engine.Config{Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{}, 1)
	cancelled := make(chan struct{}, 1)
	ex := execFunc(func(ctx context.Context, id int64) error {
		started <- struct{}{}
		<-ctx.Done()
		cancelled <- struct{}{}
		return nil
	})
	if err := worker.Start(ctx, ex); err != nil {
		t.Fatal(err)
	}
	defer worker.Stop(ctx)
	id, err := other.Enqueue(ctx, butler.Run{ID: 1, Task: "T", Queue: butler.QueueManual})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(15 * time.Second):
		t.Fatal("the job inserted through client a was not worked by client b")
	}
	if holders, err := other.Holders(ctx); err != nil || holders[id] != butler.HolderID("b", worker.Incarnation()) {
		t.Errorf("Holders = %v %v, want job %d held by b's process (b#%d)", holders, err, id, worker.Incarnation())
	}
	if err := other.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cancelled:
	case <-time.After(15 * time.Second):
		t.Fatal("a cancel through client a did not reach the job on client b")
	}
}

type execFunc func(ctx context.Context, id int64) error

func (f execFunc) Execute(ctx context.Context, id int64) error { return f(ctx, id) }

// watchRaw returns tx with its Raw counting its calls in *calls.
func watchRaw(tx butler.Tx, calls *int) butler.Tx {
	if raw := tx.Raw; raw != nil {
		tx.Raw = func(f func(driverConn any) error) error {
			*calls++
			return raw(f)
		}
	}
	return tx
}

// throughRaw fails the test unless the engine wrote through the
// transaction's driver connection (calls) exactly when native: on
// PostgreSQL, River's pgx driver on the store's own connection.
func throughRaw(t *testing.T, what string, native bool, calls int) {
	t.Helper()
	if native != (calls > 0) {
		t.Fatalf("%s: the engine used the transaction's driver connection %d times; want it used: %v", what, calls, native)
	}
}

// enqueueTxTest creates a queued run through store s with the engine's
// EnqueueTx, checks the job is worked (by worker), and that a rolled-back
// creation leaves no job behind. native: the engine must insert through
// the transaction's driver connection.
func enqueueTxTest(t *testing.T, s butler.Store, inserter, worker *engine.Engine, native bool, countJobs func() int) {
	t.Helper()
	ctx := context.Background()
	ex := &executor{got: make(chan int64, 3)}
	if err := worker.Start(ctx, ex); err != nil {
		t.Fatal(err)
	}
	defer worker.Stop(ctx)
	// Three runs and their jobs in one transaction: one insert of the jobs.
	var rs []*butler.Run
	for _, task := range []butler.TaskName{"T1", "T2", "T3"} {
		rs = append(rs, &butler.Run{Task: task, Trigger: butler.TriggerStartAll, State: butler.StateQueued, Queue: butler.QueueManual, Progress: -1})
	}
	rawCalls := 0
	created, errs, err := s.CreateRuns(ctx, rs, func(ctx context.Context, tx butler.Tx, rs []butler.Run) ([]int64, error) {
		return inserter.EnqueueTx(ctx, watchRaw(tx, &rawCalls), rs)
	})
	if err != nil {
		t.Fatal(err)
	}
	throughRaw(t, "EnqueueTx", native, rawCalls)
	want := map[int64]bool{}
	jobs := map[int64]bool{}
	for i, c := range created {
		if errs[i] != nil || c.JobID == 0 || jobs[c.JobID] {
			t.Fatalf("run %d: %+v, %v; want it created with a job of its own", i, c, errs[i])
		}
		want[c.ID], jobs[c.JobID] = true, true
	}
	for range len(want) {
		id := waitRun(t, ex.got)
		if !want[id] {
			t.Fatalf("worked run %d, which is not one of %v or was worked twice", id, want)
		}
		delete(want, id)
	}
	before := countJobs()
	// The job is inserted, then the run's transaction fails: no job stays.
	failing := func(ctx context.Context, tx butler.Tx, rs []butler.Run) ([]int64, error) {
		if _, err := inserter.EnqueueTx(ctx, tx, rs); err != nil {
			return nil, err
		}
		return nil, errors.New("the run's transaction fails after the insert")
	}
	r2 := butler.Run{Task: "U", Trigger: butler.TriggerStartTask, State: butler.StateQueued, Queue: butler.QueueManual, Progress: -1}
	if _, err := s.CreateRun(ctx, &r2, failing); err == nil {
		t.Fatal("CreateRun succeeded")
	}
	if after := countJobs(); after != before {
		t.Fatalf("jobs %d before, %d after a rolled-back creation; want no new job", before, after)
	}
}

func TestEngine_EnqueueTxSQLite(t *testing.T) {
	db, eng := openSQLite(t)
	enqueueTxTest(t, db, eng, eng, false, func() int {
		var n int
		if err := db.SQL().QueryRow(`SELECT count(*) FROM river_job`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	})
}

func TestEngine_EnqueueTxPostgres(t *testing.T) {
	db := openPostgres(t)
	ctx := context.Background()
	// Inserted through one server's engine, worked by another's.
	inserter, err := engine.NewPostgres(ctx, db.Pool(), db.Store.DB, engine.Config{Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	worker, err := engine.NewPostgres(ctx, db.Pool(), db.Store.DB, engine.Config{Node: "b"})
	if err != nil {
		t.Fatal(err)
	}
	enqueueTxTest(t, db, inserter, worker, true, func() int {
		var n int
		if err := db.Store.DB.QueryRow(`SELECT count(*) FROM river_job`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	})
}

// On PostgreSQL the workers are told of each job a start inserts, however
// soon after the previous one: with polling made rare, starts 5 ms apart
// are all worked (the inserting client's notification limit was 100 ms).
func TestEngine_PostgresStartsInQuickSuccessionAreNotified(t *testing.T) {
	ctx := context.Background()
	db := openPostgres(t)
	eng, err := engine.NewPostgres(ctx, db.Pool(), db.Store.DB, engine.Config{Node: "a", FetchPollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ex := &executor{got: make(chan int64, 5)}
	if err := eng.Start(ctx, ex); err != nil {
		t.Fatal(err)
	}
	defer eng.Stop(ctx)
	want := map[int64]bool{}
	for i := range 3 {
		r := butler.Run{Task: butler.TaskName(fmt.Sprintf("T%d", i)), Trigger: butler.TriggerStartTask, State: butler.StateQueued,
			Queue: butler.QueueManual, Progress: -1}
		created, err := db.CreateRun(ctx, &r, eng.EnqueueTx)
		if err != nil {
			t.Fatal(err)
		}
		eng.Committed(ctx, created)
		want[created.ID] = true
		time.Sleep(5 * time.Millisecond) // the point: starts in quick succession
	}
	var got []int64
	for range len(want) { // not range want: deleting unvisited keys shortens a map's range
		id := waitRun(t, ex.got)
		got = append(got, id)
		delete(want, id)
	}
	if len(want) != 0 {
		t.Fatalf("runs %v never worked (worked: %v)", want, got)
	}
}

// cancelTxTest: FinishRuns with the engine's CancelTx ends the runs and
// takes their jobs out of the queue in one transaction (a waiting job is
// deleted; a running one is told to cancel: River records the attempt in
// its metadata); when the transaction is undone nothing changes. job
// reads a job's state and whether a cancel was attempted (found false:
// no such job); setRunning makes a job running as a worker's fetch does.
//
// native: the engine must write through the transaction's driver
// connection.
func cancelTxTest(t *testing.T, s butler.Store, eng *engine.Engine, native bool, job func(id int64) (state string, cancelAttempted, found bool), setRunning func(id int64)) {
	t.Helper()
	ctx := context.Background()
	var rs []*butler.Run
	for _, task := range []butler.TaskName{"T1", "T2"} {
		rs = append(rs, &butler.Run{Task: task, Trigger: butler.TriggerStartAll, State: butler.StateQueued, Queue: butler.QueueManual, Progress: -1})
	}
	created, _, err := s.CreateRuns(ctx, rs, eng.EnqueueTx) // the engine is not started: the jobs wait
	if err != nil {
		t.Fatal(err)
	}
	waiting, running := created[0].JobID, created[1].JobID
	setRunning(running) // fetched, its run waiting for a slot
	ids := []int64{created[0].ID, created[1].ID}
	rawCalls := 0
	cancel := func(ctx context.Context, tx butler.Tx, ended []butler.Run) error {
		jobs := make([]int64, len(ended))
		for i, r := range ended {
			jobs[i] = r.JobID
		}
		return eng.CancelTx(ctx, watchRaw(tx, &rawCalls), append(jobs, 987654)) // an unknown job is no error
	}
	check := func(when string, id int64, wantState string, wantAttempt, wantFound bool) {
		t.Helper()
		st, attempted, found := job(id)
		if found != wantFound || (found && (st != wantState || attempted != wantAttempt)) {
			t.Fatalf("%s: job %d found %v, %s, cancel attempted %v; want found %v, %s, cancel attempted %v",
				when, id, found, st, attempted, wantFound, wantState, wantAttempt)
		}
	}
	errLater := errors.New("a later step failed")
	_, err = s.FinishRuns(ctx, ids, []butler.RunState{butler.StateQueued}, butler.Finish{Outcome: butler.OutcomeSkipped, Progress: -1},
		func(ctx context.Context, tx butler.Tx, ended []butler.Run) error {
			if err := cancel(ctx, tx, ended); err != nil {
				return err
			}
			return errLater
		})
	if !errors.Is(err, errLater) {
		t.Fatalf("FinishRuns: %v; want the later step's error", err)
	}
	check("after an undone cancel", waiting, "available", false, true)
	check("after an undone cancel", running, "running", false, true)
	ended, err := s.FinishRuns(ctx, ids, []butler.RunState{butler.StateQueued}, butler.Finish{Outcome: butler.OutcomeSkipped, Progress: -1}, cancel)
	if err != nil || len(ended) != 2 {
		t.Fatalf("FinishRuns: %d ended, %v", len(ended), err)
	}
	check("after the cancel", waiting, "", false, false)
	check("after the cancel", running, "running", true, true)
	throughRaw(t, "CancelTx", native, rawCalls)
}

// riverJob returns cancelTxTest's reads and writes of River's table in
// db, with the statements of its database.
func riverJob(t *testing.T, db *sql.DB, state, running string) (func(id int64) (string, bool, bool), func(id int64)) {
	return func(id int64) (string, bool, bool) {
			var st string
			var attempted bool
			err := db.QueryRow(state, id).Scan(&st, &attempted)
			if errors.Is(err, sql.ErrNoRows) {
				return "", false, false
			}
			if err != nil {
				t.Fatal(err)
			}
			return st, attempted, true
		}, func(id int64) {
			if _, err := db.Exec(running, id); err != nil {
				t.Fatal(err)
			}
		}
}

func TestEngine_CancelTxSQLite(t *testing.T) {
	db, eng := openSQLite(t)
	job, setRunning := riverJob(t, db.SQL(),
		`SELECT state, json_extract(metadata, '$.cancel_attempted_at') IS NOT NULL FROM river_job WHERE id = ?`,
		`UPDATE river_job SET state = 'running', attempt = 1, attempted_at = datetime('now', 'subsec') WHERE id = ?`)
	cancelTxTest(t, db, eng, false, job, setRunning)
}

func TestEngine_CancelTxPostgres(t *testing.T) {
	db := openPostgres(t)
	ctx := context.Background()
	eng, err := engine.NewPostgres(ctx, db.Pool(), db.Store.DB, engine.Config{Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	job, setRunning := riverJob(t, db.Store.DB,
		`SELECT state, metadata ? 'cancel_attempted_at' FROM river_job WHERE id = $1`,
		`UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() WHERE id = $1`)
	cancelTxTest(t, db, eng, true, job, setRunning)
}

// failFirstRead is the SQLite store whose first read of a run by id fails
// (an I/O error; a connection reset on PostgreSQL).
type failFirstRead struct {
	*sqlite.DB
	failed atomic.Bool
}

func (s *failFirstRead) Run(ctx context.Context, id int64) (butler.Run, error) {
	if s.failed.CompareAndSwap(false, true) {
		return butler.Run{}, errors.New("disk I/O error")
	}
	return s.DB.Run(ctx, id)
}

// startManager makes a Manager of cfg on eng (in UTC, without a health
// probe), starts the engine with it, then the Manager; both are stopped at
// the test's end.
func startManager(t *testing.T, eng *engine.Engine, cfg butler.Config) *butler.Manager {
	t.Helper()
	ctx := context.Background()
	cfg.Queue, cfg.HostZone, cfg.DataDir, cfg.HealthProbeEvery = eng, "UTC", t.TempDir(), -1
	m, err := butler.NewManager(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx, m); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Stop(context.Background()) })
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	return m
}

// signalAction tells ran each time it runs.
type signalAction struct{ ran chan struct{} }

func (a signalAction) Run(ctx context.Context, _ butler.Reporter) error {
	a.ran <- struct{}{}
	return nil
}

// A run whose Execute fails before the run is started (its read fails) is
// offered again shortly, not dropped: it runs, once.
func TestEngine_FailureBeforeStartIsRetried(t *testing.T) {
	db, eng := openSQLite(t)
	store := &failFirstRead{DB: db}
	act := signalAction{ran: make(chan struct{}, 2)}
	ctx := context.Background()
	m := startManager(t, eng, butler.Config{
		Catalog: []butler.Task{{Name: "T", Title: "T", Interval: 1, EnabledDefault: true, Setting: "ButlerTaskT", Action: act}},
		Store:   store,
	})
	res, err := m.StartTask(ctx, "T", false)
	if err != nil || res.Outcome != butler.StartStarted {
		t.Fatalf("StartTask: %+v, %v", res, err)
	}
	select {
	case <-act.ran:
	case <-time.After(15 * time.Second):
		r, _ := db.Run(ctx, res.Run.ID)
		t.Fatalf("the run never ran after its first read failed (failed: %v); it is %s", store.failed.Load(), r.State)
	}
	if !store.failed.Load() {
		t.Fatal("the first read did not fail: this test proves nothing")
	}
}

// An item job left running by a server that died is ended (cancelled:
// its item skipped, for a later run) once the leader releases it; River
// alone never would (its jobs have no time limit of River's).
func TestEngine_ReleasedItemJobEnds(t *testing.T) {
	db := openPostgres(t)
	ctx := context.Background()
	eng, err := engine.NewPostgres(ctx, db.Pool(), db.Store.DB, engine.Config{Node: "alive"})
	if err != nil {
		t.Fatal(err)
	}
	q := eng.ItemQueue(butler.Run{ID: 1, Task: "DeepMediaAnalysis"})
	if _, err := q.Add(ctx, []int64{42}); err != nil {
		t.Fatal(err)
	}
	// Worked by server "dead", which died five minutes ago.
	tag, err := db.Pool().Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1,
		attempted_at = now() - interval '5 minutes', attempted_by = ARRAY['dead']::text[] WHERE kind = 'butler_item'`)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("make the job stuck: %v, %d rows", err, tag.RowsAffected())
	}
	holders, err := eng.ItemHolders(ctx)
	if err != nil || len(holders) != 1 {
		t.Fatalf("ItemHolders = %v, %v; want the stuck job, held by dead", holders, err)
	}
	for id, node := range holders {
		if node != "dead" {
			t.Fatalf("job %d held by %q; want dead", id, node)
		}
		if err := eng.ReleaseItem(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := eng.Start(ctx, &executor{got: make(chan int64, 1)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Stop(context.Background()) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		var state string
		if err := db.Pool().QueryRow(ctx, `SELECT state::text FROM river_job WHERE kind = 'butler_item'`).Scan(&state); err != nil {
			t.Fatal(err)
		}
		if state == "cancelled" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the released item job is %s 30 s after the engine started; want cancelled", state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A server of a cluster killed and started again under its name before the
// others count it dead (systemd restarts it in seconds): the queued runs
// whose jobs its earlier process held (fetched, waiting for a slot) run,
// and those jobs are cancelled. River's rescuer never ends a job without a
// time limit, and the server's record is live again, written by the later
// process; only the incarnation in River's holder ID tells the two apart.
// Both forms of an earlier process are covered: one with an incarnation,
// and one that ran a Butler without them (its holder ID is the name).
func TestEngine_QueuedRunsOfRestartedServerRun(t *testing.T) {
	db := openPostgres(t)
	ctx := context.Background()
	old, err := engine.NewPostgres(ctx, db.Pool(), db.Store.DB, engine.Config{Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	// The state a kill -9 of a leaves: runs queued, their jobs fetched by a.
	var runs []butler.Run
	var jobs []int64
	for i, holder := range []string{butler.HolderID("a", old.Incarnation()), "a"} {
		r, err := db.CreateRun(ctx, &butler.Run{Task: butler.TaskName(fmt.Sprint("T", i)), Trigger: butler.TriggerStartTask, State: butler.StateQueued,
			Queue: butler.QueueManual, ScheduledAt: time.Now(), Progress: -1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		job, err := old.Enqueue(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.SetRunJob(ctx, r.ID, job); err != nil {
			t.Fatal(err)
		}
		tag, err := db.Pool().Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now(),
			attempted_by = ARRAY[$2]::text[] WHERE id = $1`, job, holder)
		if err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("make job %d held by %s: %v", job, holder, err)
		}
		runs, jobs = append(runs, r), append(jobs, job)
	}

	// a starts again under its name.
	eng, err := engine.NewPostgres(ctx, db.Pool(), db.Store.DB, engine.Config{Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if eng.Incarnation() <= old.Incarnation() {
		t.Fatalf("incarnation %d after %d; want a larger one", eng.Incarnation(), old.Incarnation())
	}
	act := signalAction{ran: make(chan struct{}, 4)}
	var catalog []butler.Task
	for i := range runs {
		name := butler.TaskName(fmt.Sprint("T", i))
		catalog = append(catalog, butler.Task{Name: name, Title: string(name), Interval: 1, EnabledDefault: true, Setting: "ButlerTask" + string(name), Action: act})
	}
	startManager(t, eng, butler.Config{Catalog: catalog, Store: db, Node: "a"})
	for range runs {
		select {
		case <-act.ran:
		case <-time.After(30 * time.Second):
			for _, r := range runs {
				cur, _ := db.Run(ctx, r.ID)
				t.Logf("run %d: %s, job %d", r.ID, cur.State, cur.JobID)
			}
			t.Fatal("a queued run held by a's earlier process did not run within 30 s of a's start")
		}
	}
	// The old jobs are cancelled just after the runs are queued again (a
	// run may be worked before its old job's cancellation is written).
	deadline := time.Now().Add(10 * time.Second)
	for _, job := range jobs {
		for {
			var cancelled bool
			err := db.Pool().QueryRow(ctx, `SELECT metadata ? 'cancel_attempted_at' FROM river_job WHERE id = $1`, job).Scan(&cancelled)
			if err == nil && cancelled {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("the earlier process's job %d: cancel attempted %v (%v) 10 s on; want it cancelled, for River's rescuer to end", job, cancelled, err)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
