package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/sqlstore"
	"github.com/plexbutler/butler/schedule"
	"github.com/plexbutler/butler/store/sqlite"
	"github.com/plexbutler/butler/storetest"
)

func open(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	t.Run("Memory", func(t *testing.T) {
		storetest.Exercise(t, func(t *testing.T) butler.Store {
			return open(t, ":memory:")
		})
	})
	t.Run("File", func(t *testing.T) {
		storetest.Exercise(t, func(t *testing.T) butler.Store {
			return open(t, filepath.Join(t.TempDir(), "butler.db"))
		})
	})
}

func TestOpenNotADatabase(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"text", []byte("hello this is not sqlite")},
		{"short", []byte("hello")},
		{"short SQLite prefix", []byte("SQLite for")},
		{"binary", bytes.Repeat([]byte{0xff, 0x00}, 4096)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "butler.db")
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := sqlite.Open(t.Context(), path)
			if err == nil {
				db.Close()
				t.Fatalf("Open of a file that is not a database: no error")
			}
			if !strings.Contains(err.Error(), "not a SQLite database") {
				t.Errorf("Open error %q, want it to mention %q", err, "not a SQLite database")
			}
			got, rerr := os.ReadFile(path)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if !bytes.Equal(got, tc.content) {
				t.Errorf("Open changed the file: now %q, was %q", got, tc.content)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("the directory holds %v after a failed Open, want only butler.db", names)
			}
		})
	}
}

// TestOpenEmptyFile: an empty file is refused, not made into a database:
// a database truncated to nothing must not come back as a fresh one.
func TestOpenEmptyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "butler.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(t.Context(), path)
	if err == nil {
		db.Close()
		t.Fatalf("Open of an empty file: no error, want a *DamagedError")
	}
	var de *sqlite.DamagedError
	if !errors.As(err, &de) || de.Path != path || !strings.Contains(err.Error(), "empty") {
		t.Errorf("Open error %v (%T), want a *DamagedError for %s saying it is empty", err, err, path)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("the empty file was changed: %v, %v", fi, err)
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("the directory holds %v after the refusal, want only butler.db", names)
	}
}

// TestOpenDamaged: a database whose header is right but one of whose
// tables is damaged is refused before the migrations, which would not have
// noticed, and the file is left as it was.
func TestOpenDamaged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "butler.db")
	db := open(t, path)
	root := addBallast(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.Check(t.Context(), path); err != nil {
		t.Fatalf("Check of the sound database: %v", err)
	}
	// The table's root page gets a page type that does not exist.
	breakPage(t, path, root)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	d, err := sqlite.Open(t.Context(), path)
	if err == nil {
		d.Close()
		t.Fatalf("Open of a damaged database: no error")
	}
	var de *sqlite.DamagedError
	if !errors.As(err, &de) || de.Path != path || !strings.Contains(err.Error(), "quick_check") {
		t.Errorf("Open error %v (%T), want a *DamagedError for %s naming quick_check", err, err, path)
	}
	if len(lines(err.Error())) != 1 {
		t.Errorf("the error has more than one line:\n%s", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("Open changed the damaged database")
	}
}

// TestCheckLiveWAL: Check passes a sound database that another connection
// is writing, with its WAL not yet checkpointed.
func TestCheckLiveWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "butler.db")
	db := open(t, path)
	if err := db.SaveSettings(t.Context(), map[string]string{"a": "1"}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("no WAL content to check through: %v, %v", fi, err)
	}
	if err := sqlite.Check(t.Context(), path); err != nil {
		t.Errorf("Check of a live database in WAL mode: %v", err)
	}
	if err := sqlite.Check(t.Context(), filepath.Join(t.TempDir(), "absent.db")); err != nil {
		t.Errorf("Check of a missing file: %v, want nil (Open creates it)", err)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func lines(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '\n' })
}

func TestOpenMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "butler.db")
	open(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Open did not create the database: %v", err)
	}
}

type migration struct {
	version   int64
	appliedAt int64
}

func migrations(t *testing.T, db *sqlite.DB) []migration {
	t.Helper()
	rows, err := db.SQL().QueryContext(t.Context(), `SELECT version, applied_at FROM butler_migration ORDER BY version`)
	if err != nil {
		t.Fatalf("read butler_migration: %v", err)
	}
	defer rows.Close()
	var out []migration
	for rows.Next() {
		var m migration
		if err := rows.Scan(&m.version, &m.appliedAt); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "butler.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	before := migrations(t, db)
	if len(before) == 0 {
		t.Fatalf("no migration recorded after Open")
	}
	for i, m := range before {
		if m.version != int64(i+1) {
			t.Errorf("migration %d has version %d, want %d", i, m.version, i+1)
		}
	}
	settings := map[string]string{"ButlerEnabled": "true", "ButlerWindowStart": "2"}
	if err := db.SaveSettings(ctx, settings); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2025, time.March, 14, 2, 0, 0, 123456789, time.UTC)
	day := schedule.Day{Year: 2025, Month: time.March, Day: 14}
	done, err := db.CreateRun(ctx, &butler.Run{Task: "a", Trigger: butler.TriggerWindow, State: butler.StateRunning,
		Window: day, Day: day, Queue: butler.QueueMaintenance, Node: "n", Progress: -1,
		CreatedAt: created, ScheduledAt: created, StartedAt: created}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db.FinishRun(ctx, done.ID, []butler.RunState{butler.StateRunning},
		butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: created.Add(time.Hour), SuccessDay: day, Progress: 100}); err != nil || !ok {
		t.Fatalf("FinishRun = %v, %v", ok, err)
	}
	waiting, err := db.CreateRun(ctx, &butler.Run{Task: "b", Trigger: butler.TriggerStartTask, State: butler.StateScheduled,
		Day: day, Queue: butler.QueueManual, Progress: -1, CreatedAt: created, ScheduledAt: created.Add(time.Hour)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Suppress(ctx, []butler.TaskName{"c"}, day); err != nil {
		t.Fatal(err)
	}
	wantDone, err := db.Run(ctx, done.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = open(t, path)
	if after := migrations(t, db); len(after) != len(before) {
		t.Errorf("migrations after reopening: %v, want %v (not applied again)", after, before)
	} else {
		for i := range after {
			if after[i] != before[i] {
				t.Errorf("migration %d after reopening: %+v, want %+v (not applied again)", i, after[i], before[i])
			}
		}
	}
	got, err := db.Settings(ctx)
	if err != nil || len(got) != len(settings) || got["ButlerEnabled"] != "true" || got["ButlerWindowStart"] != "2" {
		t.Errorf("Settings after reopening = %v, %v; want %v", got, err, settings)
	}
	runs, err := db.Runs(ctx, butler.RunFilter{})
	if err != nil || len(runs) != 2 || runs[0].ID != waiting.ID || runs[1] != wantDone {
		t.Errorf("Runs after reopening = %+v, %v; want runs %d and %+v", runs, err, waiting.ID, wantDone)
	}
	active, err := db.ActiveRuns(ctx)
	if err != nil || len(active) != 1 || active[0].ID != waiting.ID || active[0].State != butler.StateScheduled {
		t.Errorf("ActiveRuns after reopening = %+v, %v; want run %d", active, err, waiting.ID)
	}
	// The active run still blocks a second one.
	if _, err := db.CreateRun(ctx, &butler.Run{Task: "b", Trigger: butler.TriggerWindow, State: butler.StateQueued, CreatedAt: created, ScheduledAt: created}, nil); err != butler.ErrActiveRun {
		t.Errorf("CreateRun of b after reopening: %v, want ErrActiveRun", err)
	}
	recs, err := db.TaskRecords(ctx)
	if err != nil || recs["a"].LastSuccess != day || !recs["a"].LastSuccessAt.Equal(created.Add(time.Hour)) || recs["c"].Suppressed != day {
		t.Errorf("TaskRecords after reopening = %+v, %v", recs, err)
	}
}

func journalMode(t *testing.T, db *sqlite.DB) string {
	t.Helper()
	var mode string
	if err := db.SQL().QueryRowContext(t.Context(), `PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatalf("PRAGMA journal_mode: %v", err)
	}
	return strings.ToLower(mode)
}

func TestWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "butler.db")
	db := open(t, path)
	if mode := journalMode(t, db); mode != "wal" {
		t.Errorf("journal_mode of a file database = %q, want wal", mode)
	}
	if err := db.SaveSettings(t.Context(), map[string]string{"a": "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("no write-ahead log next to the database: %v", err)
	}
	// A reopened database is still in WAL mode.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, path)
	if mode := journalMode(t, db); mode != "wal" {
		t.Errorf("journal_mode after reopening = %q, want wal", mode)
	}
}

func TestForeignKeysAndBusyTimeout(t *testing.T) {
	for _, path := range []string{":memory:", filepath.Join(t.TempDir(), "butler.db")} {
		db := open(t, path)
		var fk, busy int
		if err := db.SQL().QueryRowContext(t.Context(), `PRAGMA foreign_keys`).Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if err := db.SQL().QueryRowContext(t.Context(), `PRAGMA busy_timeout`).Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if fk != 1 || busy < 1000 {
			t.Errorf("%s: foreign_keys = %d, busy_timeout = %d; want 1 and at least 1000", path, fk, busy)
		}
	}
}

// TestTimesExact checks what the suite cannot ask of every store: the SQLite
// store keeps times to the nanosecond.
func TestTimesExact(t *testing.T) {
	db := open(t, ":memory:")
	ctx := t.Context()
	loc := time.FixedZone("UTC+05:45", 5*3600+45*60)
	created := time.Date(2025, time.June, 1, 23, 59, 59, 123456789, loc)
	r, err := db.CreateRun(ctx, &butler.Run{Task: "t", Trigger: butler.TriggerWindow, State: butler.StateQueued,
		Progress: -1, CreatedAt: created, ScheduledAt: created.Add(1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := db.StartRun(ctx, r.ID, "n", created.Add(2)); err != nil || !ok {
		t.Fatalf("StartRun = %v, %v", ok, err)
	}
	if _, ok, err := db.FinishRun(ctx, r.ID, []butler.RunState{butler.StateRunning},
		butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: created.Add(3), SuccessDay: schedule.Day{Year: 2025, Month: time.June, Day: 1}}); err != nil || !ok {
		t.Fatalf("FinishRun = %v, %v", ok, err)
	}
	got, err := db.Run(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want time.Time
	}{
		{"CreatedAt", got.CreatedAt, created},
		{"ScheduledAt", got.ScheduledAt, created.Add(1)},
		{"StartedAt", got.StartedAt, created.Add(2)},
		{"EndedAt", got.EndedAt, created.Add(3)},
	} {
		if !c.got.Equal(c.want) {
			t.Errorf("%s = %v, want exactly %v", c.name, c.got, c.want)
		}
	}
	recs, err := db.TaskRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !recs["t"].LastSuccessAt.Equal(created.Add(3)) {
		t.Errorf("LastSuccessAt = %v, want exactly %v", recs["t"].LastSuccessAt, created.Add(3))
	}
	// Bounds are exact to the nanosecond too.
	for _, c := range []struct {
		since time.Time
		want  bool
	}{{created, true}, {created.Add(1), false}, {created.Add(-1), true}} {
		m, err := db.TasksRunSince(ctx, c.since)
		if err != nil {
			t.Fatal(err)
		}
		if m["t"] != c.want {
			t.Errorf("TasksRunSince(created%+dns) has t = %v, want %v", c.since.Sub(created), m["t"], c.want)
		}
	}
	if n, err := db.PruneRuns(ctx, created.Add(3)); err != nil || n != 0 {
		t.Errorf("PruneRuns(ended) = %d, %v; want 0 (ended exactly then is not before)", n, err)
	}
	if n, err := db.PruneRuns(ctx, created.Add(4)); err != nil || n != 1 {
		t.Errorf("PruneRuns(ended+1ns) = %d, %v; want 1", n, err)
	}
}

// TestMemoryDatabasesArePrivate checks that two ":memory:" stores do not
// share tables, so the suite's stores each start empty.
func TestMemoryDatabasesArePrivate(t *testing.T) {
	a, b := open(t, ":memory:"), open(t, ":memory:")
	if err := a.SaveSettings(t.Context(), map[string]string{"a": "1"}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Settings(t.Context()); err != nil || len(got) != 0 {
		t.Errorf("second memory store Settings = %v, %v; want none", got, err)
	}
}

// TestCanceledContextKeepsMemoryDatabase checks that a canceled context does
// not cost a ":memory:" store its only connection, and so its data.
func TestCanceledContextKeepsMemoryDatabase(t *testing.T) {
	db := open(t, ":memory:")
	if err := db.SaveSettings(t.Context(), map[string]string{"a": "1"}); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		ctx, cancel := context.WithCancel(t.Context())
		go cancel()
		db.SaveSettings(ctx, map[string]string{"b": "2"})
		db.Settings(ctx)
	}
	got, err := db.Settings(t.Context())
	if err != nil || got["a"] != "1" {
		t.Errorf("Settings after canceled calls = %v, %v; want a=1 kept", got, err)
	}
}

// TestUpgradeFromVersion1 opens a database made by the first migration alone,
// with runs in it, as an older Butler left it: the later migrations run once,
// and every old run gets its own UUID.
func TestUpgradeFromVersion1(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "butler.db")
	schema, err := os.ReadFile(filepath.Join("migration", "001_init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	stmts := []string{
		string(schema),
		`CREATE TABLE butler_migration (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`,
		`INSERT INTO butler_migration (version, applied_at) VALUES (1, 1)`,
		`INSERT INTO butler_setting (id, value, updated_at) VALUES ('ButlerEnabled', 'true', 1)`,
	}
	for i := range n {
		state, outcome := "finished", "succeeded"
		if i == n-1 {
			state, outcome = "running", ""
		}
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO butler_run (task, trigger, state, outcome, created_at, scheduled_at, ended_at)
			VALUES ('t%d', 'window', '%s', '%s', %d, %d, %d)`, i%3, state, outcome, 1000+i, 1000+i, 2000+i))
	}
	for _, q := range stmts {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			raw.Close()
			t.Fatalf("make a version 1 database: %v\n%s", err, q)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db := open(t, path)
	ms := migrations(t, db)
	if len(ms) < 2 || ms[0] != (migration{1, 1}) {
		t.Errorf("migrations after the upgrade = %+v; want version 1 kept and the later ones applied", ms)
	}
	runs, err := db.Runs(ctx, butler.RunFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != n {
		t.Fatalf("%d runs after the upgrade, want %d", len(runs), n)
	}
	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for _, r := range runs {
		if !uuidRE.MatchString(r.UUID) {
			t.Errorf("run %d has UUID %q after the upgrade, want a version 4 UUID", r.ID, r.UUID)
		}
		if seen[r.UUID] {
			t.Errorf("run %d shares UUID %q with another run", r.ID, r.UUID)
		}
		seen[r.UUID] = true
		got, err := db.RunByUUID(ctx, r.UUID)
		if err != nil || got.ID != r.ID {
			t.Errorf("RunByUUID(%q) = run %d, %v; want run %d", r.UUID, got.ID, err, r.ID)
		}
	}
	if got, err := db.Settings(ctx); err != nil || got["ButlerEnabled"] != "true" {
		t.Errorf("Settings after the upgrade = %v, %v", got, err)
	}
	if _, err := db.CreateRun(ctx, &butler.Run{Task: "t1", Trigger: butler.TriggerWindow, State: butler.StateQueued,
		CreatedAt: time.Unix(0, 5000), ScheduledAt: time.Unix(0, 5000)}, nil); err != butler.ErrActiveRun {
		t.Errorf("CreateRun of the task with an old running run: %v, want ErrActiveRun", err)
	}
}

// addBallast adds a table of two rows to db and returns its root page.
func addBallast(t *testing.T, db *sqlite.DB) int64 {
	t.Helper()
	if _, err := db.SQL().ExecContext(t.Context(), `CREATE TABLE ballast (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(t.Context(), `INSERT INTO ballast VALUES (randomblob(100)), (randomblob(100))`); err != nil {
		t.Fatal(err)
	}
	var root int64
	if err := db.SQL().QueryRowContext(t.Context(), `SELECT rootpage FROM sqlite_master WHERE name = 'ballast'`).Scan(&root); err != nil {
		t.Fatal(err)
	}
	return root
}

// breakPage gives page n of the (closed) database at path a page type
// that does not exist.
func breakPage(t *testing.T, path string, n int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0x7f, 0x7f, 0x7f, 0x7f}, (n-1)*4096); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenNewerSchemaRefused: a database that a newer Butler migrated is
// refused, unchanged, with its version and this program's in the error.
func TestOpenNewerSchemaRefused(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "butler.db")
	db := open(t, path)
	known := len(migrations(t, db))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `INSERT INTO butler_migration (version, applied_at) VALUES (?, 1)`, known+1); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	_, err = sqlite.Open(ctx, path)
	var newer *sqlstore.NewerSchemaError
	if !errors.As(err, &newer) || newer.Version != known+1 || newer.Known != known {
		t.Fatalf("Open of a newer database: %v; want a NewerSchemaError for version %d (known %d)", err, known+1, known)
	}
	want := fmt.Sprintf("database %s: its schema (version %d) was made by a newer Butler; this one knows up to version %d", path, known+1, known)
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q lacks %q", err, want)
	}
	// NeedsUpgrade, which checks a database before it is opened (or
	// restored), refuses it the same way.
	up, err := sqlite.NeedsUpgrade(ctx, path)
	if !errors.As(err, &newer) || newer.Version != known+1 || newer.Known != known || up {
		t.Fatalf("NeedsUpgrade of a newer database: %v, %v; want a NewerSchemaError for version %d (known %d)", up, err, known+1, known)
	}
}
