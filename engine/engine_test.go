package engine_test

import (
	"context"
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
	if holder, running, err := eng.Holder(ctx, id); err != nil || !running || holder != "dead" {
		t.Fatalf("Holder = %q %v %v, want the dead node", holder, running, err)
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
	if _, running, _ := eng.Holder(ctx, id); running {
		t.Fatal("Holder still reports it running")
	}
}

func TestEngine_PostgresCancelAcrossClients(t *testing.T) {
	url := pgtest.Schema(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, func(ctx context.Context) error { return engine.MigratePostgres(ctx, db.Pool()) }); err != nil {
		t.Fatal(err)
	}
	worker, err := engine.NewPostgres(db.Pool(), engine.Config{Node: "b"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := engine.NewPostgres(db.Pool(), engine.Config{Node: "a"})
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
	if holder, running, err := other.Holder(ctx, id); err != nil || !running || holder != "b" {
		t.Fatalf("Holder = %q %v %v, want b", holder, running, err)
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
