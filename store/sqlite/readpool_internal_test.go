package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/plexbutler/butler"
)

// Reads outside a transaction go to the read-only connections, and a read
// made after a write returns sees it.
func TestReadPool_SeesEachWrite(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "butler.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.read == nil || d.Store.Read != d.read {
		t.Fatal("a file database has no read-only pool")
	}
	if _, err := d.read.ExecContext(ctx, `INSERT INTO butler_setting (id, value, updated_at) VALUES ('x', 'y', 0)`); err == nil {
		t.Fatal("the read pool wrote")
	}
	for i := range 200 {
		r := &butler.Run{Task: "T", Trigger: butler.TriggerStartTask, State: butler.StateRunning, Progress: -1}
		created, err := d.CreateRun(ctx, r, nil)
		if err != nil {
			t.Fatal(err)
		}
		active, err := d.ActiveRuns(ctx)
		if err != nil || len(active) != 1 || active[0].ID != created.ID {
			t.Fatalf("round %d: active runs %v, %v; want the run just made", i, active, err)
		}
		got, err := d.Run(ctx, created.ID)
		if err != nil || got.State != butler.StateRunning {
			t.Fatalf("round %d: Run = %+v, %v", i, got, err)
		}
		if _, _, err := d.FinishRun(ctx, created.ID, []butler.RunState{butler.StateRunning}, butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: created.CreatedAt}); err != nil {
			t.Fatal(err)
		}
		if active, err := d.ActiveRuns(ctx); err != nil || len(active) != 0 {
			t.Fatalf("round %d: after the finish, active runs %v, %v; want none", i, active, err)
		}
	}
	mem, err := Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if mem.read != nil || mem.Store.Read != nil {
		t.Fatal("an in-memory database has a read pool (another connection would see another database)")
	}
}
