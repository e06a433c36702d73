package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/pgtest"
	"github.com/plexbutler/butler/internal/sqlstore"
)

// TestCopyRuns: the COPY that inserts a start-all's runs writes every
// column, and a run refused by the partial unique index of the active runs
// (its task has one) fails it, so that its transaction leaves nothing.
func TestCopyRuns(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(0, time.Now().UnixNano())
	busy, err := db.CreateRun(ctx, &butler.Run{Task: "Busy", Trigger: butler.TriggerForce, State: butler.StateRunning, Queue: butler.QueueManual, Progress: -1, ScheduledAt: now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	run := func(id int64, task butler.TaskName) butler.Run {
		return butler.Run{ID: id, UUID: butler.NewUUID(), Task: task, Trigger: butler.TriggerStartAll, State: butler.StateQueued,
			Queue: butler.QueueMaintenance, JobID: 7000 + id, Progress: -1, Reason: "due", CreatedAt: now, ScheduledAt: now}
	}
	copyIn := func(rs ...butler.Run) error {
		conn, err := db.Store.DB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		rows := make([][]any, len(rs))
		for i := range rs {
			rows[i] = sqlstore.RunValues(&rs[i])
		}
		if err := copyRuns(ctx, butler.Tx{Tx: tx, Raw: conn.Raw}, rows); err != nil {
			return err
		}
		return tx.Commit()
	}

	if err := copyIn(run(busy.ID+100, "Free"), run(busy.ID+101, "Busy")); err == nil {
		t.Fatal("a COPY of a run whose task has an active run succeeded")
	} else {
		t.Logf("refused as it should be: %v", err)
	}
	if _, err := db.Run(ctx, busy.ID+100); butler.ErrorCode(err) != butler.ENOTFOUND {
		t.Fatalf("the refused COPY left run %d behind: %v", busy.ID+100, err)
	}

	want := []butler.Run{run(busy.ID+200, "Free"), run(busy.ID+201, "Other")}
	if err := copyIn(want...); err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		got, err := db.Run(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.UUID != w.UUID || got.Task != w.Task || got.Trigger != w.Trigger || got.State != w.State || got.Queue != w.Queue ||
			got.JobID != w.JobID || got.Progress != w.Progress || got.Reason != w.Reason ||
			!got.CreatedAt.Equal(w.CreatedAt) || !got.ScheduledAt.Equal(w.ScheduledAt) {
			t.Errorf("run %d read back as %+v; want %+v", w.ID, got, w)
		}
	}
}
