package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/config"
	"github.com/plexbutler/butler/store/sqlite"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// asideRE matches the names of the files moved aside in a data directory.
var asideRE = regexp.MustCompile(`^butler\.db\.(before-restore|damaged)-\d{8}T\d{6}Z(-\d+)?(-wal|-shm|-journal)?$`)

// markerSetting is the setting the tests write to tell databases apart.
const markerSetting = butler.SettingRunRetentionDays

// setMarker writes the marker setting into the Butler database at path
// (created when missing), with no server running.
func setMarker(t *testing.T, path, value string) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	if err := db.SaveSettings(context.Background(), map[string]string{markerSetting: value}); err != nil {
		t.Fatal(err)
	}
}

// marker reads the marker setting of the Butler database at path.
func marker(t *testing.T, path string) string {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	s, err := db.Settings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s[markerSetting]
}

// serverMarker asks the server at base (http://host:port) for the marker
// setting.
func serverMarker(t *testing.T, base, token string) string {
	t.Helper()
	resp, body := do(t, "GET", base+"/:/prefs/get?id="+markerSetting, token)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /:/prefs/get?id=%s: %d %s", markerSetting, resp.StatusCode, body)
	}
	m := regexp.MustCompile(`value="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no value in %s", body)
	}
	return m[1]
}

// corruptTable adds a small table to the Butler database at path, with no
// server running, and then damages its root page: the header stays right,
// Butler's own tables stay readable, and PRAGMA quick_check fails.
func corruptTable(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE ballast (b BLOB)`,
		`INSERT INTO ballast VALUES (randomblob(100)), (randomblob(100))`,
		`PRAGMA wal_checkpoint(TRUNCATE)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var root, pageSize int64
	if err := db.QueryRow(`SELECT rootpage FROM sqlite_master WHERE name = 'ballast'`).Scan(&root); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`PRAGMA page_size`).Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{0x7f, 0x7f, 0x7f, 0x7f}, (root-1)*pageSize); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// names returns the names in dir, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

// asideFiles returns the files moved aside in dir, by suffix ("" for the
// database, "-wal", "-shm").
func asideFiles(t *testing.T, dir, tag string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range names(t, dir) {
		m := asideRE.FindStringSubmatch(n)
		if m != nil && m[1] == tag {
			out[m[3]] = filepath.Join(dir, n)
		}
	}
	return out
}

// noTemporaryFiles fails the test if dir holds a hidden file, such as a
// restore's copy.
func noTemporaryFiles(t *testing.T, dir string) {
	t.Helper()
	for _, n := range names(t, dir) {
		if strings.HasPrefix(n, ".") {
			t.Errorf("%s holds the temporary file %s", dir, n)
		}
	}
}

// TestRestoreList: without an argument, restore lists the backups of the
// database, newest first, with their time and size, and nothing else.
func TestRestoreList(t *testing.T) {
	dataDir := newDataDir(t)
	backups := filepath.Join(dataDir, "Backups")
	if err := os.MkdirAll(backups, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, size := range map[string]int{
		"butler-20261101-010000.db": 1000, "butler-20261103-030000.db": 3 << 20, "butler-20261102-020000.db": 2 << 10,
		// Not backups of butler.db:
		"other-20261104-010000.db": 10, "butler-latest.db": 10, ".butler-20261105-010000-123.tmp": 10, "butler-20261106-010000.dump": 10,
	} {
		if err := os.WriteFile(filepath.Join(backups, name), make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr := runCmd(t, nil, "restore", "--data-dir", dataDir)
	if code != 0 {
		t.Fatalf("restore: exit code %d; stderr:\n%s", code, stderr)
	}
	t.Logf("restore printed:\n%s", stdout)
	want := []string{
		"butler-20261103-030000.db  2026-11-03 03:00:00  3.0 MiB",
		"butler-20261102-020000.db  2026-11-02 02:00:00  2.0 KiB",
		"butler-20261101-010000.db  2026-11-01 01:00:00  1000 B",
	}
	at := -1
	for _, w := range want {
		i := strings.Index(stdout, w)
		if i < 0 || i < at {
			t.Errorf("the list does not have %q after the previous line:\n%s", w, stdout)
		}
		at = i
	}
	for _, not := range []string{"other-", "butler-latest", ".tmp", ".dump"} {
		if strings.Contains(stdout, not) {
			t.Errorf("the list shows %q, which is not a backup of butler.db:\n%s", not, stdout)
		}
	}
	mustContain(t, "stdout", stdout, "butler restore --data-dir "+dataDir+" butler-20261103-030000.db")

	// Another backup directory, and a database of another name.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "state-20261201-000000.db"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "state.db")
	code, stdout, stderr = runCmd(t, nil, "restore", "--data-dir", dataDir, "--database", db, "--backup-dir", other)
	if code != 0 {
		t.Fatalf("restore --backup-dir: exit code %d; stderr:\n%s", code, stderr)
	}
	mustContain(t, "stdout", stdout, "state-20261201-000000.db  2026-12-01 00:00:00  1 B")
	mustContain(t, "stdout", stdout, "--database "+db+" --backup-dir "+other+" state-20261201-000000.db")

	// The backup directory the config file fixes (ButlerDatabaseBackupPath).
	fixedDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(fixedDir, "butler-20261130-000000.db"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "butler.yaml")
	if err := os.WriteFile(cfgPath, []byte("data_dir: "+dataDir+"\nsettings:\n  ButlerDatabaseBackupPath: "+fixedDir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCmd(t, nil, "restore", "--config", cfgPath)
	if code != 0 {
		t.Fatalf("restore --config: exit code %d; stderr:\n%s", code, stderr)
	}
	mustContain(t, "stdout", stdout, "butler-20261130-000000.db  2026-11-30 00:00:00  1 B")
	if strings.Contains(stdout, "butler-20261103-030000.db") {
		t.Errorf("with ButlerDatabaseBackupPath fixed, restore listed <data-dir>/Backups:\n%s", stdout)
	}

	code, stdout, _ = runCmd(t, nil, "restore", "--data-dir", dataDir, "--backup-dir", filepath.Join(other, "none"))
	if code != 0 || !strings.Contains(stdout, "No backups of") {
		t.Errorf("restore with an empty backup directory: exit %d, %q; want 0 and no backups", code, stdout)
	}

	// Neither the data directory nor the database: a forgotten --data-dir
	// or --config, said as such.
	gone := filepath.Join(t.TempDir(), "butler-data")
	code, _, stderr = runCmd(t, nil, "restore", "--data-dir", gone)
	if code != 2 {
		t.Errorf("restore of a data directory that does not exist: exit %d, want 2", code)
	}
	mustContain(t, "stderr", stderr, "neither the data directory "+gone+" nor the database "+filepath.Join(gone, "butler.db")+" exists: give the server's data directory with --data-dir, or its config file with --config")
}

// TestDamagedAdviceUnreadBackupDir: when the backup directory setting
// cannot be read from the damaged database, the advice says so, says that
// it looked in the default directory, and how to point restore at the
// configured one; when it can be read, it names that directory's newest
// backup. butler restore's list says the same.
func TestDamagedAdviceUnreadBackupDir(t *testing.T) {
	dataDir := newDataDir(t)
	dbPath := filepath.Join(dataDir, "butler.db")
	defaults := filepath.Join(dataDir, "Backups")
	custom := t.TempDir()
	if err := os.MkdirAll(defaults, 0o700); err != nil {
		t.Fatal(err)
	}
	setMarker(t, dbPath, "17")
	db, err := sqlite.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SaveSettings(context.Background(), map[string]string{butler.SettingBackupPath: custom}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	copyFile(t, dbPath, filepath.Join(defaults, "butler-20261101-010000.db"))
	copyFile(t, dbPath, filepath.Join(custom, "butler-20261102-020000.db"))
	cfg := serveConfig{DataDir: dataDir, Database: dbPath, file: &config.File{}}

	// Damaged, the setting still readable: the configured directory.
	corruptTable(t, dbPath)
	got := damagedAdvice(context.Background(), cfg)
	mustContain(t, "the advice", got, "To restore the newest backup, "+filepath.Join(custom, "butler-20261102-020000.db"))
	mustContain(t, "the advice", got, "--backup-dir "+custom+" butler-20261102-020000.db")
	if strings.Contains(got, "could not read") {
		t.Errorf("the advice says the setting could not be read:\n%s", got)
	}

	// Its header overwritten: the default directory, saying why.
	f, err := os.OpenFile(dbPath, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 16), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got = damagedAdvice(context.Background(), cfg)
	t.Logf("advice: %s", got)
	for _, want := range []string{
		"could not read the backup directory setting (ButlerDatabaseBackupPath) from the damaged database",
		"looked in the default directory, " + defaults,
		"point restore at it with --backup-dir (butler restore --data-dir " + dataDir + " --backup-dir DIR lists them)",
		"To restore the newest backup there, " + filepath.Join(defaults, "butler-20261101-010000.db"),
	} {
		mustContain(t, "the advice", got, want)
	}
	code, stdout, stderr := runCmd(t, nil, "restore", "--data-dir", dataDir)
	if code != 0 {
		t.Fatalf("restore: exit code %d; stderr:\n%s", code, stderr)
	}
	mustContain(t, "restore's list", stdout, "Could not read the backup directory setting (ButlerDatabaseBackupPath) from the database "+dbPath)
	mustContain(t, "restore's list", stdout, "give it with --backup-dir")
	if code, stdout, _ := runCmd(t, nil, "restore", "--data-dir", dataDir, "--backup-dir", custom); code != 0 || strings.Contains(stdout, "Could not read") {
		t.Errorf("restore --backup-dir: exit %d, and says the setting could not be read:\n%s", code, stdout)
	}
}

// TestProcessRestore: a backup written by a real server's BackupDatabase is
// refused while the server runs, then restored once it is gone; the
// database it replaces is kept, with what its WAL held; the server starts
// on the restored database; and the kept database, or a database with its
// WAL, can be restored in its turn.
func TestProcessRestore(t *testing.T) {
	butlerBinary(t) // skip early in -short mode
	dataDir := newDataDir(t)
	dbPath := filepath.Join(dataDir, "butler.db")
	setMarker(t, dbPath, "41")
	const token = "restore-token-123"
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", token}
	p := startProc(t, args...)

	// A backup, by the server itself.
	resp, _ := do(t, "POST", p.url("/butler/BackupDatabase?force=1"), token)
	if resp.StatusCode != 200 {
		t.Fatalf("POST /butler/BackupDatabase?force=1: %d", resp.StatusCode)
	}
	backups := filepath.Join(dataDir, "Backups")
	var backup string
	deadline := time.Now().Add(30 * time.Second)
	for backup == "" {
		if _, finals := backupFiles(t, backups); len(finals) > 0 {
			backup = finals[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no backup in %s after 30s; output:\n%s", backups, p.stderr)
		}
		time.Sleep(20 * time.Millisecond) // waiting on another process
	}
	// Then a change the backup does not have.
	if resp, body := do(t, "PUT", p.url("/:/prefs?"+markerSetting+"=42"), token); resp.StatusCode != 200 {
		t.Fatalf("PUT /:/prefs: %d %s", resp.StatusCode, body)
	}

	// Refused while the server runs: by the data directory's lock, and by
	// the database's own when the server runs from another data directory.
	r := runBinary(t, "", nil, "restore", "--data-dir", dataDir, backup)
	wantRefusal(t, r, "cannot restore", "stop the server first", "nothing was changed", fmt.Sprintf("pid %d", p.cmd.Process.Pid))
	if err := p.cmd.Process.Kill(); err != nil { // leaves the WAL behind
		t.Fatal(err)
	}
	<-p.done
	other := startProc(t, "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "other"), "--token", token, "--database", dbPath)
	r = runBinary(t, "", nil, "restore", "--data-dir", dataDir, backup)
	wantRefusal(t, r, "cannot restore: database "+dbPath+" is in use", fmt.Sprintf("pid %d", other.cmd.Process.Pid), "nothing was changed")
	if err := other.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-other.done
	if got := asideFiles(t, dataDir, "before-restore"); len(got) > 0 {
		t.Fatalf("a refused restore moved files aside: %v", got)
	}
	noTemporaryFiles(t, dataDir)

	before := map[string][]byte{}
	for _, s := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(dbPath + s)
		if err != nil {
			t.Fatalf("after kill -9 the server left no %s: %v", dbPath+s, err)
		}
		before[s] = b
	}
	if len(before["-wal"]) == 0 {
		t.Fatalf("the WAL is empty: the change is not in it")
	}

	r = runBinary(t, "", nil, "restore", "--data-dir", dataDir, backup)
	if r.code != 0 {
		t.Fatalf("restore: exit code %d; output:\n%s", r.code, r.out)
	}
	t.Logf("restore printed:\n%s", r.out)
	mustContain(t, "output", r.out, "restored "+filepath.Join(backups, backup)+" to "+dbPath)
	// The previous database is kept, its WAL checkpointed into it first:
	// one file, with the change.
	aside := asideFiles(t, dataDir, "before-restore")
	if len(aside) != 1 || aside[""] == "" {
		t.Fatalf("the files moved aside are %v; want the database alone, its WAL checkpointed into it", aside)
	}
	mustContain(t, "output", r.out, "checkpointed "+dbPath)
	mustContain(t, "output", r.out, "moved aside: "+dbPath+" -> "+aside[""])
	if got := markerOfCopy(t, aside[""]); got != "42" {
		t.Errorf("the database moved aside has %s=%s, want 42 (the change that was in its WAL)", markerSetting, got)
	}
	keptAside := readFile(t, aside[""])
	for _, s := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Stat(dbPath + s); err == nil {
			t.Errorf("%s is still beside the restored database", dbPath+s)
		}
	}
	noTemporaryFiles(t, dataDir)

	p = startProc(t, args...)
	if got := serverMarker(t, p.url(""), token); got != "41" {
		t.Errorf("after the restore the server has %s=%s, want the backup's 41", markerSetting, got)
	}
	if code := p.terminate(t, 15*time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM; output:\n%s", code, p.stderr)
	}
	// The backup was made while its own run was running: the server ended
	// that run at its start, as after a crash.
	checkNoRunsRunning(t, dbPath)

	// The database moved aside, restored by path: the change comes back.
	r = runBinary(t, "", nil, "restore", "--data-dir", dataDir, aside[""])
	if r.code != 0 {
		t.Fatalf("restore of %s: exit code %d; output:\n%s", aside[""], r.code, r.out)
	}
	if got := marker(t, dbPath); got != "42" {
		t.Errorf("after restoring the database moved aside: %s=%s, want 42", markerSetting, got)
	}
	if !bytes.Equal(readFile(t, aside[""]), keptAside) {
		t.Errorf("restoring from %s changed it", aside[""])
	}
	noTemporaryFiles(t, dataDir)

	// The files the killed server left, copied elsewhere with their WAL and
	// restored by path: the copy goes through SQLite, the change in the
	// WAL comes back, and the WAL is left as it was.
	crashed := filepath.Join(t.TempDir(), "crashed.db")
	for s, b := range before {
		if err := os.WriteFile(crashed+s, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r = runBinary(t, "", nil, "restore", "--data-dir", dataDir, crashed)
	if r.code != 0 {
		t.Fatalf("restore of %s: exit code %d; output:\n%s", crashed, r.code, r.out)
	}
	if got := marker(t, dbPath); got != "42" {
		t.Errorf("after restoring %s: %s=%s, want 42 (the change in its WAL)", crashed, markerSetting, got)
	}
	if !bytes.Equal(readFile(t, crashed+"-wal"), before["-wal"]) {
		t.Errorf("restoring from %s changed its WAL", crashed)
	}
	noTemporaryFiles(t, dataDir)
}

// markerOfCopy reads the marker setting of a copy of the database file
// path, with its -wal file if it has one, leaving the files as they are.
func markerOfCopy(t *testing.T, path string) string {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "copy.db")
	for _, s := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + s)
		if s != "" && os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cp+s, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return marker(t, cp)
}

// TestRestoreRefusals: a backup that is damaged, not SQLite, not Butler's,
// missing or the database itself is refused, exit code 2, and nothing is
// changed; so is a PostgreSQL database.
func TestRestoreRefusals(t *testing.T) {
	dataDir := newDataDir(t)
	dbPath := filepath.Join(dataDir, "butler.db")
	tmp := t.TempDir()

	damaged := filepath.Join(tmp, "damaged.db")
	seedQuietWindow(t, damaged)
	corruptTable(t, damaged)
	garbage := filepath.Join(tmp, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not sqlite "), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(tmp, "foreign.db")
	fdb, err := sql.Open("sqlite", "file:"+foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fdb.Exec(`CREATE TABLE media (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	fdb.Close()
	// Backups made by a newer Butler: of Butler's tables, and of River's.
	known := schemaVersion(t, dbPath)
	newer := filepath.Join(tmp, "butler-20261101-010000.db")
	seedQuietWindow(t, newer)
	execSQL(t, newer, `INSERT INTO butler_migration (version, applied_at) VALUES (?, 0)`, known+1)
	riverKnown := newestRiverVersion(t)
	newerRiver := filepath.Join(tmp, "butler-20261102-010000.db")
	seedQuietWindow(t, newerRiver)
	execSQL(t, newerRiver, `CREATE TABLE IF NOT EXISTS river_migration (line TEXT NOT NULL, version INTEGER NOT NULL, created_at INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (line, version))`)
	execSQL(t, newerRiver, `INSERT INTO river_migration (line, version) VALUES ('main', ?)`, riverKnown+1)

	before := readFile(t, dbPath)
	listing := withoutLocks(names(t, dataDir))
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"damaged", []string{damaged}, []string{damaged, "is damaged", "integrity_check"}},
		{"not SQLite", []string{garbage}, []string{garbage, "not a SQLite database"}},
		{"not Butler's", []string{foreign}, []string{foreign, "not Butler's"}},
		{"a newer schema", []string{newer}, []string{newer, fmt.Sprintf("its schema (version %d) was made by a newer Butler; this one knows up to version %d", known+1, known), "nothing was changed"}},
		{"a newer River schema", []string{newerRiver}, []string{newerRiver, fmt.Sprintf("River schema version %d) were migrated by a newer Butler; this one knows up to version %d", riverKnown+1, riverKnown), "nothing was changed"}},
		{"missing", []string{"butler-20260101-000000.db"}, []string{"no backup butler-20260101-000000.db in " + filepath.Join(dataDir, "Backups")}},
		{"the database itself", []string{dbPath}, []string{"is the database itself"}},
		{"PostgreSQL", []string{"--database", "postgres://u:secret@db/butler", "x.dump"}, []string{"pg_restore", "postgres://u:xxxxx@db/butler"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, nil, append([]string{"restore", "--data-dir", dataDir}, c.args...)...)
			if code != 2 {
				t.Errorf("exit code %d, want 2; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if len(lines(stderr)) != 1 {
				t.Errorf("stderr has %d lines, want one:\n%s", len(lines(stderr)), stderr)
			}
			for _, w := range c.want {
				mustContain(t, "stderr", stderr, w)
			}
			if strings.Contains(stderr, "secret") {
				t.Errorf("stderr shows the password:\n%s", stderr)
			}
			if !bytes.Equal(readFile(t, dbPath), before) {
				t.Errorf("the database was changed")
			}
			if got := withoutLocks(names(t, dataDir)); !slices.Equal(got, listing) {
				t.Errorf("the data directory holds %v, was %v", got, listing)
			}
		})
	}
}

// execSQL runs one statement on the SQLite database at path, with no
// server running.
func execSQL(t *testing.T, path, query string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// newestRiverVersion is the newest version of River's tables this program
// knows.
func newestRiverVersion(t *testing.T) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err := rivermigrate.New(riversqlite.New(db), nil)
	if err != nil {
		t.Fatal(err)
	}
	all := m.AllVersions()
	return all[len(all)-1].Version
}

// withoutLocks drops the lock files from a directory listing.
func withoutLocks(names []string) []string {
	return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return strings.HasSuffix(n, ".lock") })
}

// TestEndWaitingRuns: a restored copy's scheduled and queued runs end
// skipped, saying why; its running and finished runs are left as they
// are (the next start ends a running one interrupted).
func TestEndWaitingRuns(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "butler.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	states := map[butler.TaskName]butler.RunState{
		"Scheduled": butler.StateScheduled, "Queued": butler.StateQueued, "Running": butler.StateRunning, "Finished": butler.StateFinished,
	}
	for task, state := range states {
		r := &butler.Run{Task: task, Trigger: butler.TriggerStartAll, State: state, CreatedAt: now, ScheduledAt: now, Progress: -1}
		if state == butler.StateFinished {
			r.Outcome, r.EndedAt = butler.OutcomeSucceeded, now
		}
		if _, err := db.CreateRun(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	src := filepath.Join(t.TempDir(), "butler-20261201-000000.db")
	if err := os.WriteFile(src, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := endWaitingRuns(ctx, src, path, now)
	if err != nil || n != 2 {
		t.Fatalf("endWaitingRuns = %d, %v; want 2", n, err)
	}
	if _, err := os.Stat(path + "-journal"); err == nil {
		t.Error("a -journal file is left beside the copy")
	}
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	runs, err := db.Runs(ctx, butler.RunFilter{Limit: 10})
	if err != nil || len(runs) != 4 {
		t.Fatalf("runs %v, %v", runs, err)
	}
	for _, r := range runs {
		switch r.Task {
		case "Scheduled", "Queued":
			if r.State != butler.StateFinished || r.Outcome != butler.OutcomeSkipped || !strings.Contains(r.Reason, "restored from a backup made ") || r.EndedAt.IsZero() {
				t.Errorf("%s: %s/%s %q; want finished/skipped, restored from a backup", r.Task, r.State, r.Outcome, r.Reason)
			}
		case "Running":
			if r.State != butler.StateRunning {
				t.Errorf("Running: %s; want it left running", r.State)
			}
		case "Finished":
			if r.Outcome != butler.OutcomeSucceeded {
				t.Errorf("Finished: %s; want it left succeeded", r.Outcome)
			}
		}
	}
}

// schemaVersion reads the newest migration recorded in the database at
// path.
func schemaVersion(t *testing.T, path string) int {
	t.Helper()
	return migrationVersion(t, path, `SELECT max(version) FROM butler_migration`)
}

// migrationVersion reads the version query gives in the database at path.
func migrationVersion(t *testing.T, path, query string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow(query).Scan(&v); err != nil {
		t.Fatalf("%s in %s: %v", query, path, err)
	}
	return v
}

// TestProcessUpgradeBacksUpFirst: a database of an older schema is copied
// into the backup directory, as a backup `butler restore` lists, before
// the server migrates it; a database of a newer schema than the program's
// is refused (exit 2), unchanged. The same for River's tables.
func TestProcessUpgradeBacksUpFirst(t *testing.T) {
	butlerBinary(t) // skip early in -short mode
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dataDir, "butler.db")
	schema, err := os.ReadFile(filepath.Join("..", "..", "store", "sqlite", "migration", "001_init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{string(schema),
		`CREATE TABLE butler_migration (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`,
		`INSERT INTO butler_migration (version, applied_at) VALUES (1, 1)`,
		fmt.Sprintf(`INSERT INTO butler_setting (id, value, updated_at) VALUES ('%s', '17', 1)`, markerSetting),
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("make a version 1 database: %v", err)
		}
	}
	raw.Close()

	p := startProc(t, "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", "upgrade-token-123")
	mustContain(t, "server log", p.stderr.String(), "backed up the database before upgrading its schema")
	if code := p.terminate(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, p.stderr)
	}
	backups, err := listBackups(filepath.Join(dataDir, "Backups"), dbPath)
	if err != nil || len(backups) != 1 {
		t.Fatalf("backups after the upgrade: %v %v; want one", backups, err)
	}
	if v := schemaVersion(t, backups[0].path); v != 1 {
		t.Errorf("the backup has schema version %d; want 1, the database as it was", v)
	}
	bdb, err := sql.Open("sqlite", "file:"+backups[0].path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	err = bdb.QueryRow(`SELECT value FROM butler_setting WHERE id = ?`, markerSetting).Scan(&got)
	bdb.Close()
	if err != nil || got != "17" {
		t.Errorf("the backup's marker setting is %q (%v); want 17", got, err)
	}
	upgraded := schemaVersion(t, dbPath)
	if upgraded <= 1 {
		t.Fatalf("the database has schema version %d after the server ran; want it upgraded", upgraded)
	}
	// Started again: nothing to upgrade, no new backup.
	p = startProc(t, "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", "upgrade-token-123")
	if code := p.terminate(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, p.stderr)
	}
	if backups, _ := listBackups(filepath.Join(dataDir, "Backups"), dbPath); len(backups) != 1 {
		t.Errorf("%d backups after a start with nothing to upgrade; want still 1", len(backups))
	}

	// A newer program's database.
	raw, err = sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO butler_migration (version, applied_at) VALUES (?, 1)`, upgraded+1); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	r := runBinary(t, "", nil, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", "upgrade-token-123")
	wantRefusal(t, r, fmt.Sprintf("its schema (version %d) was made by a newer Butler; this one knows up to version %d", upgraded+1, upgraded), "run the newer Butler")
	if v := schemaVersion(t, dbPath); v != upgraded+1 {
		t.Errorf("the refused database has schema version %d; want it unchanged (%d)", v, upgraded+1)
	}

	// River's tables (the job queue's) count too: older ones are backed
	// up before they are migrated, newer ones are refused, unchanged. (The
	// backup above goes first: a backup is named by the second, and one
	// of the same second is never replaced.)
	if err := os.Remove(backups[0].path); err != nil {
		t.Fatal(err)
	}
	raw, err = sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`DELETE FROM butler_migration WHERE version = ?`, upgraded+1); err != nil {
		t.Fatal(err)
	}
	migrator, err := rivermigrate.New(riversqlite.New(raw), nil)
	if err != nil {
		t.Fatal(err)
	}
	all := migrator.AllVersions()
	river := all[len(all)-1].Version
	if _, err := migrator.Migrate(context.Background(), rivermigrate.DirectionDown, &rivermigrate.MigrateOpts{TargetVersion: river - 1}); err != nil {
		t.Fatalf("take River's tables back to version %d: %v", river-1, err)
	}
	raw.Close()
	p = startProc(t, "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", "upgrade-token-123")
	mustContain(t, "server log", p.stderr.String(), "backed up the database before upgrading its schema")
	if code := p.terminate(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, p.stderr)
	}
	backups, _ = listBackups(filepath.Join(dataDir, "Backups"), dbPath)
	if len(backups) != 1 {
		t.Fatalf("%d backups after an upgrade of River's tables; want 1", len(backups))
	}
	if v := riverVersion(t, dbPath); v != river {
		t.Fatalf("River's tables have version %d after the server ran; want %d", v, river)
	}
	raw, err = sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO river_migration (line, version) VALUES ('main', ?)`, river+1); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	r = runBinary(t, "", nil, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", "upgrade-token-123")
	wantRefusal(t, r, fmt.Sprintf("River schema version %d) were migrated by a newer Butler; this one knows up to version %d", river+1, river), "run the newer Butler")
	if v := riverVersion(t, dbPath); v != river+1 {
		t.Errorf("the refused database's River tables have version %d; want them unchanged (%d)", v, river+1)
	}
	if v := schemaVersion(t, dbPath); v != upgraded {
		t.Errorf("the refused database has schema version %d; want it unchanged (%d)", v, upgraded)
	}
}

// riverVersion reads the newest migration of River's tables recorded in
// the database at path.
func riverVersion(t *testing.T, path string) int {
	t.Helper()
	return migrationVersion(t, path, `SELECT max(version) FROM river_migration WHERE line = 'main'`)
}

// TestRestoreKeepsOwner: on the data directory of a server that runs as
// its own user (the systemd unit's DynamicUser), restore run as root is
// refused, exit 2, nothing changed: that user could point a name restore
// uses (the lock file, the database, its copy) at a file of root's and
// have root write or give it away. Run as that user, restore gives the
// restored database, and the lock file it makes, the owner, group and
// mode of the database it replaces, or the owner and group of the data
// directory when there was none: the server can still open them.
func TestRestoreKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the data directory to another user")
	}
	const uid, gid = 4242, 4243 // the server's user and group
	for _, c := range []struct {
		name     string
		database bool
		perm     os.FileMode
	}{
		{"replacing a database", true, 0o640},
		{"no database", false, 0o600},
	} {
		t.Run(c.name, func(t *testing.T) {
			base, own := binaryForOthers(t)
			dataDir := filepath.Join(base, "data")
			if err := os.Rename(newDataDir(t), dataDir); err != nil {
				t.Fatal(err)
			}
			dbPath := filepath.Join(dataDir, "butler.db")
			name := databaseToBackup(t, dataDir)
			if c.database {
				setMarker(t, dbPath, "41")
				if err := os.Chmod(dbPath, c.perm); err != nil {
					t.Fatal(err)
				}
			}
			chownTree(t, dataDir, uid, gid)
			before := names(t, dataDir)

			// As root: refused, nothing changed.
			code, stdout, stderr := runCmd(t, nil, "restore", "--data-dir", dataDir, name)
			if code != 2 || !strings.Contains(stderr, "belongs to user 4242") || !strings.Contains(stderr, "nothing was changed") {
				t.Fatalf("restore as root: exit code %d, want 2 saying why\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if after := names(t, dataDir); !slices.Equal(after, before) {
				t.Fatalf("restore as root changed the data directory: %v, was %v", after, before)
			}

			// As the server's user: restored, its files the server's.
			cmd := exec.Command(own, "restore", "--data-dir", dataDir, name)
			cmd.Dir = base
			cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + base}
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("restore as the server's user: %v\n%s", err, out)
			}
			for _, n := range names(t, dataDir) {
				fi, err := os.Lstat(filepath.Join(dataDir, n))
				if err != nil {
					t.Fatal(err)
				}
				st := fi.Sys().(*syscall.Stat_t)
				if st.Uid != uid || st.Gid != gid {
					t.Errorf("%s belongs to %d:%d after the restore; want the server's %d:%d", n, st.Uid, st.Gid, uid, gid)
				}
				if n == "butler.db" && fi.Mode().Perm() != c.perm {
					t.Errorf("the restored database has mode %04o; want %04o", fi.Mode().Perm(), c.perm)
				}
			}
		})
	}
}

// databaseToBackup moves the data directory's database into its backup
// directory, as a nightly backup, and returns the backup's name.
func databaseToBackup(t *testing.T, dataDir string) string {
	t.Helper()
	backups := filepath.Join(dataDir, "Backups")
	if err := os.MkdirAll(backups, 0o700); err != nil {
		t.Fatal(err)
	}
	const name = "butler-20261101-010000.db"
	if err := os.Rename(filepath.Join(dataDir, "butler.db"), filepath.Join(backups, name)); err != nil {
		t.Fatal(err)
	}
	return name
}

// chownTree gives dir and everything in it to uid and gid, links
// themselves rather than what they point at.
func chownTree(t *testing.T, dir string, uid, gid int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRestoreAsRootLeavesALinkedLockAlone: a lock file that the server's
// user replaced by a symbolic link to a file of root's: restore as root
// refuses before it opens anything, and the file keeps its owner.
func TestRestoreAsRootLeavesALinkedLockAlone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	const uid, gid = 4242, 4243
	dataDir := newDataDir(t)
	dbPath := filepath.Join(dataDir, "butler.db")
	name := databaseToBackup(t, dataDir)
	setMarker(t, dbPath, "41")
	victim := filepath.Join(t.TempDir(), "shadow") // root's, as /etc/shadow
	if err := os.WriteFile(victim, []byte("root:x:0:0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(dbPath + ".lock")
	if err := os.Symlink(victim, dbPath+".lock"); err != nil {
		t.Fatal(err)
	}
	chownTree(t, dataDir, uid, gid)
	code, stdout, stderr := runCmd(t, nil, "restore", "--data-dir", dataDir, name)
	if code != 2 {
		t.Errorf("restore as root: exit code %d, want 2\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	fi, err := os.Stat(victim)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 || st.Gid != 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("root's file, which the lock file's link points at, is now %d:%d mode %04o", st.Uid, st.Gid, fi.Mode().Perm())
	}
}

// TestLockDatabase_RefusesALinkedLockFile: the lock file is never opened
// through a symbolic link (nor created where one points).
func TestLockDatabase_RefusesALinkedLockFile(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "butler.db")
	target := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.Symlink(target, db+".lock"); err != nil {
		t.Fatal(err)
	}
	l, err := lockDatabase(db)
	if err == nil {
		l.unlock()
		t.Fatal("lockDatabase took a lock file that is a symbolic link")
	}
	if !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("error %q does not say the lock file is a symbolic link", err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file was made where the link points: %v", err)
	}
}

// The environment of a test process started as a WAL holder (holdWAL).
const (
	walHolderEnv = "BUTLER_TEST_HOLD_WAL"        // the database
	walReaderEnv = "BUTLER_TEST_HOLD_WAL_READER" // "1": keep a read transaction open
)

// holdWAL is a test process that sets the marker setting of the Butler
// database at path to 42, so that the change is in its -wal file, says
// "holding" and waits to be killed; it never closes the database, which
// would checkpoint the WAL. With reader, it also keeps a read transaction
// open, as another program reading the database would, so that no
// checkpoint can empty the WAL.
func holdWAL(path string, reader bool) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err == nil {
		db.SetMaxOpenConns(2)
		_, err = db.Exec(`UPDATE butler_setting SET value = '42' WHERE id = ?`, markerSetting)
	}
	if err == nil && reader {
		var tx *sql.Tx
		if tx, err = db.Begin(); err == nil {
			var n int
			err = tx.QueryRow(`SELECT count(*) FROM butler_setting`).Scan(&n)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hold the WAL:", err)
		os.Exit(1)
	}
	fmt.Println("holding")
	select {}
}

// startWALHolder starts a process that changes the marker setting of the
// database at path to 42 in its WAL, and keeps it there (holdWAL); with
// reader, it also keeps a read transaction open. It returns a function
// that kills it with SIGKILL, so that it leaves the WAL as it is.
func startWALHolder(t *testing.T, path string, reader bool) (kill func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), walHolderEnv+"="+path)
	if reader {
		cmd.Env = append(cmd.Env, walReaderEnv+"=1")
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	kill = func() {
		if !killed {
			killed = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(kill)
	line := make([]byte, len("holding\n"))
	if _, err := io.ReadFull(out, line); err != nil || string(line) != "holding\n" {
		t.Fatalf("the WAL holder did not start: %q %v", line, err)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the WAL holder left no WAL: %v", err)
	}
	return kill
}

// TestRestoreKilled: butler restore killed (SIGKILL, injected by strace)
// just before each of its system calls that link, unlink or rename one of
// the database's names (the file, its -wal and -shm), in turn, leaves the
// old database in its place: never no database, and never one without the
// transactions of its -wal file. The next server, or the next restore,
// undoes what it left (the side files it took away come back, its second
// name of the database and its copy of the backup go), and nothing of the
// old database is lost. A database whose WAL holds transactions (a server
// killed) is checkpointed first; one that another program reads, which
// keeps the checkpoint from emptying the WAL, keeps its WAL with it.
func TestRestoreKilled(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("needs strace to kill the restore at a chosen system call")
	}
	bin := butlerBinary(t)
	const (
		links   = "link,linkat"
		unlinks = "unlink,unlinkat"
		renames = "rename,renameat,renameat2"
	)
	type point struct {
		calls, suffix string // the when-th of calls on the database's name with suffix
		when          int
		// mustKill: the restore makes that call. (strace counts the calls
		// of each thread apart, so the second one may not be counted as
		// such: that point may also let the restore end.)
		mustKill bool
	}
	sqliteClose := []point{{unlinks, "-shm", 1, true}, {unlinks, "-wal", 1, true}} // the checkpoint's end
	replace := []point{{links, "", 1, true}, {renames, "", 1, true}, {renames, "", 2, false}}
	sides := []point{{links, "-wal", 1, true}, {links, "-shm", 1, true}, {unlinks, "-wal", 1, true}, {unlinks, "-shm", 1, true}}
	for _, c := range []struct {
		name string
		// wal: the database has transactions in its -wal file; reader: a
		// program reads it, so that no checkpoint can empty the WAL.
		wal, reader bool
		points      []point
	}{
		{name: "closed cleanly", points: replace},
		{name: "with a WAL", wal: true, points: append(slices.Clone(sqliteClose), replace...)},
		{name: "with a WAL being read", wal: true, reader: true, points: append(slices.Clone(sides), replace...)},
	} {
		t.Run(c.name, func(t *testing.T) {
			for i, p := range c.points {
				what := fmt.Sprintf("call %d of %s on %s", p.when, p.calls, "butler.db"+p.suffix)
				killed := restoreKilledAt(t, bin, strace, what, i%2 == 1, c.wal, c.reader,
					"-P", "PATH"+p.suffix, "-e", "trace="+p.calls, "-e", fmt.Sprintf("inject=%s:signal=KILL:when=%d", p.calls, p.when))
				if p.mustKill && !killed {
					t.Errorf("the restore was not killed before %s: it makes no such call", what)
				}
			}
		})
	}
}

// restoreKilledAt runs TestRestoreKilled's restore under strace with the
// options opts (PATH in them stands for the database's path), which kill
// it just before what, and checks what it leaves. A killed restore is
// undone by the next restore, or with serve by the next server. It
// reports whether the restore was killed; when it was not, it checks the
// restore's result.
func restoreKilledAt(t *testing.T, bin, strace, what string, serve, wal, reader bool, opts ...string) (killed bool) {
	t.Helper()
	dataDir := newDataDir(t)
	dbPath := filepath.Join(dataDir, "butler.db")
	real, err := filepath.EvalSymlinks(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	setMarker(t, dbPath, "41")
	const token = "restore-killed-token"
	const name = "butler-20261101-010000.db"
	if err := os.Mkdir(filepath.Join(dataDir, "Backups"), 0o700); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dataDir, "Backups", name)
	seedQuietWindow(t, backup)
	setMarker(t, backup, "30")
	old := "41"
	kill := func() {}
	if wal {
		kill = startWALHolder(t, dbPath, reader)
		old = "42"
		if !reader {
			kill()
		}
	}
	before, err := os.Stat(dbPath)
	if err != nil {
		t.Fatal(err)
	}

	args := []string{"-f", "-qq", "-o", "/dev/null"}
	for _, o := range opts {
		args = append(args, strings.ReplaceAll(o, "PATH", real))
	}
	args = append(args, bin, "restore", "--data-dir", dataDir, name)
	out, err := exec.Command(strace, args...).CombinedOutput()
	kill() // what the program reading the database leaves: its WAL
	if err == nil {
		// Not killed: restored, the old database kept aside with all it
		// held, and nothing of it left beside the restored one.
		t.Logf("restore, not killed before %s:\n%s", what, out)
		if got := marker(t, dbPath); got != "30" {
			t.Errorf("after the restore %s=%s, want the backup's 30", markerSetting, got)
		}
		checkKeptAside(t, dataDir, old)
		noTemporaryFiles(t, dataDir)
		return false
	}
	t.Logf("restore, killed before %s (%v):\n%s", what, err, out)
	after, err := os.Stat(dbPath)
	if err != nil {
		t.Fatalf("killed before %s: no database at %s: %v", what, dbPath, err)
	}
	if !os.SameFile(before, after) {
		t.Fatalf("killed before %s: %s is not the database it was", what, dbPath)
	}

	if serve {
		p := startProc(t, "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", token)
		if got := serverMarker(t, p.url(""), token); got != old {
			t.Errorf("killed before %s: the next server has %s=%s, want the old database's %s", what, markerSetting, got, old)
		}
		if code := p.terminate(t, 15*time.Second); code != 0 {
			t.Errorf("exit code %d after SIGTERM; output:\n%s", code, p.stderr)
		}
		t.Logf("the next server's log:\n%s", p.stderr)
		mustContain(t, "server log", p.stderr.String(), "a butler restore was stopped part-way")
		if got := asideFiles(t, dataDir, "before-restore"); len(got) > 0 {
			t.Errorf("killed before %s: after the next server's start the killed restore's files are still there: %v", what, got)
		}
	} else {
		r := runBinary(t, "", nil, "restore", "--data-dir", dataDir, name)
		t.Logf("the next restore:\n%s", r.out)
		if r.code != 0 {
			t.Fatalf("killed before %s: the next restore: exit code %d", what, r.code)
		}
		mustContain(t, "output", r.out, "a previous butler restore was stopped part-way: undone")
		if got := marker(t, dbPath); got != "30" {
			t.Errorf("killed before %s: after the next restore %s=%s, want the backup's 30", what, markerSetting, got)
		}
		checkKeptAside(t, dataDir, old)
	}
	noTemporaryFiles(t, dataDir)
	var st syscall.Stat_t
	if err := syscall.Stat(dbPath, &st); err != nil || st.Nlink != 1 {
		t.Errorf("killed before %s: %s has %d names (%v), want 1", what, dbPath, st.Nlink, err)
	}
	return true
}

// checkKeptAside checks, after a restore into dataDir, that the database
// it replaced, with the marker setting old, is kept aside, alone, and
// that no side file of it is left beside the restored database.
func checkKeptAside(t *testing.T, dataDir, old string) {
	t.Helper()
	var mains []string
	for _, n := range names(t, dataDir) {
		if m := asideRE.FindStringSubmatch(n); m != nil && m[3] == "" {
			mains = append(mains, n)
		}
	}
	if len(mains) != 1 {
		t.Fatalf("the data directory holds %v moved aside; want one database, the one the restore replaced", mains)
	}
	if got := markerOfCopy(t, filepath.Join(dataDir, mains[0])); got != old {
		t.Errorf("the database moved aside, %s, has %s=%s, want the old database's %s", mains[0], markerSetting, got, old)
	}
	for _, s := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Stat(filepath.Join(dataDir, "butler.db"+s)); err == nil {
			t.Errorf("butler.db%s is beside the restored database", s)
		}
	}
}
