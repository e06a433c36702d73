package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/store/sqlite"
)

// runRecorder is an Executor that tells each run it is given.
type runRecorder chan int64

func (r runRecorder) Execute(_ context.Context, runID int64) error {
	r <- runID
	return nil
}

// TestEngine_SQLiteWakesWithoutInsert: River hands the SQLite engine's
// pilot its wake function, and that function alone brings a committed job
// to the workers (their polling is made an hour long): Committed needs no
// second insert. Fails if a River upgrade stops using the driver's pilot
// (the engine would fall back to inserting the job again).
func TestEngine_SQLiteWakesWithoutInsert(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "butler.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eng, err := NewSQLite(ctx, db.SQL(), Config{Node: "test", FetchPollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	eng.pilot.mu.Lock()
	wired := eng.pilot.notify != nil
	eng.pilot.mu.Unlock()
	if !wired {
		t.Fatal("River did not initialise the driver's pilot: Committed would insert every job twice")
	}
	got := make(runRecorder, 1)
	if err := eng.Start(ctx, got); err != nil {
		t.Fatal(err)
	}
	defer eng.Stop(ctx)
	// The first run may be found by the workers' first fetch, at their
	// start; the second only by the wake.
	for i := range 2 {
		r := butler.Run{Task: butler.TaskName(fmt.Sprintf("T%d", i)), Trigger: butler.TriggerStartTask, State: butler.StateQueued,
			Queue: butler.QueueManual, Progress: -1}
		created, err := db.CreateRun(ctx, &r, eng.EnqueueTx)
		if err != nil {
			t.Fatal(err)
		}
		if !eng.pilot.wake(ctx, created.Queue) {
			t.Fatal("wake reported that it could not wake the workers")
		}
		select {
		case id := <-got:
			if id != created.ID {
				t.Fatalf("worked run %d; want %d", id, created.ID)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("run %d was not worked: the wake did not reach the workers", i+1)
		}
	}
}
