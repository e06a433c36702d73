package history_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/bench/historybench/history"
	"github.com/plexbutler/butler/internal/pgtest"
	"github.com/plexbutler/butler/store/postgres"
	"github.com/plexbutler/butler/store/sqlite"
)

const runs = 2000

// check reads the history back through the store, as the server does, and
// checks its shape.
func check(t *testing.T, st history.Stats, store butler.Store, end time.Time) {
	t.Helper()
	ctx := context.Background()
	if st.Runs != runs {
		t.Errorf("Stats.Runs %d, want %d", st.Runs, runs)
	}
	if st.TextBytes != history.DefaultTextBytes {
		t.Errorf("mean text bytes %.1f, want %d", st.TextBytes, history.DefaultTextBytes)
	}
	if st.DatabaseBytes < runs*history.DefaultTextBytes {
		t.Errorf("database %d bytes, want at least %d", st.DatabaseBytes, runs*history.DefaultTextBytes)
	}
	var all []butler.Run
	for before := int64(0); ; {
		page, err := store.Runs(ctx, butler.RunFilter{BeforeID: before, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		before = page[len(page)-1].ID
	}
	if len(all) != runs {
		t.Fatalf("%d runs read back, want %d", len(all), runs)
	}
	tasks := map[butler.TaskName]int{}
	outcomes := map[butler.Outcome]int{}
	triggers := map[butler.Trigger]int{}
	uuids := map[string]bool{}
	start := end.Add(-history.DefaultDays * 24 * time.Hour)
	for i, r := range all {
		tasks[r.Task]++
		outcomes[r.Outcome]++
		triggers[r.Trigger]++
		uuids[r.UUID] = true
		if r.State != butler.StateFinished || r.Day.IsZero() || r.Node != history.Node {
			t.Fatalf("run %d: state %s, day %v, node %q", r.ID, r.State, r.Day, r.Node)
		}
		if r.CreatedAt.Before(start.Add(-time.Second)) || r.CreatedAt.After(end) {
			t.Fatalf("run %d created at %v, outside %v..%v", r.ID, r.CreatedAt, start, end)
		}
		if r.EndedAt.Before(r.CreatedAt) || r.EndedAt.After(end.Add(11*time.Minute)) {
			t.Fatalf("run %d: created %v, ended %v", r.ID, r.CreatedAt, r.EndedAt)
		}
		if (r.Trigger == butler.TriggerWindow) != !r.Window.IsZero() {
			t.Fatalf("run %d: trigger %s, window %v", r.ID, r.Trigger, r.Window)
		}
		if i > 0 && r.CreatedAt.After(all[i-1].CreatedAt) {
			t.Fatalf("run %d created after run %d: ids do not follow time", r.ID, all[i-1].ID)
		}
	}
	if len(uuids) != runs {
		t.Errorf("%d distinct UUIDs, want %d", len(uuids), runs)
	}
	if n := len(history.DefaultTasks()); len(tasks) != n {
		t.Errorf("runs of %d tasks, want %d", len(tasks), n)
	}
	for _, o := range butler.Outcomes() {
		if outcomes[o] == 0 {
			t.Errorf("no run %s: %v", o, outcomes)
		}
	}
	if outcomes[butler.OutcomeSucceeded] < runs*7/10 || triggers[butler.TriggerWindow] < runs*8/10 || len(triggers) != 4 {
		t.Errorf("outcomes %v, triggers %v", outcomes, triggers)
	}
	records, err := store.TaskRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name := range tasks {
		if records[name].LastSuccess.IsZero() {
			t.Errorf("task %s has no last success", name)
		}
	}
	log, err := store.RunLog(ctx, all[0].ID)
	if err != nil || len(log) < 300 {
		t.Errorf("run log %q, %v", log, err)
	}
	settings, err := store.Settings(ctx)
	if err != nil || settings["ButlerTimeZone"] != "UTC" {
		t.Errorf("settings %v, %v", settings, err)
	}
}

func options(end time.Time) history.Options {
	return history.Options{Runs: runs, End: end, Settings: map[string]string{"ButlerTimeZone": "UTC"}, Analyze: true}
}

func TestFillSQLite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "butler.db")
	end := time.Now().Add(-15 * time.Minute)
	st, err := history.Fill(ctx, path, options(end))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, path) // also checks the file (quick_check)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.SQL().QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode %q, %v; want wal", mode, err)
	}
	check(t, st, db, end)
}

func TestFillPostgres(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Schema(t)
	end := time.Now().Add(-15 * time.Minute)
	st, err := history.Fill(ctx, url, options(end))
	if err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check(t, st, db, end)
}

func TestDefaultTasks(t *testing.T) {
	names := history.DefaultTasks()
	if len(names) != history.DefaultSyntheticTasks+len(butler.DefaultCatalog()) {
		t.Fatalf("%d names", len(names))
	}
	if !slices.Contains(names, "BackupDatabase") || names[0] != "HistoryTask001" {
		t.Errorf("names %v", names)
	}
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	if len(slices.Compact(sorted)) != len(names) {
		t.Error("duplicate names")
	}
}
