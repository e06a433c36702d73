package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/tasks"
)

// testDatabase creates a fresh PostgreSQL database with one small table and
// returns its URL (without a password); it is dropped at the end of the
// test. It skips without BUTLER_TEST_DATABASE_URL.
func testDatabase(t *testing.T) *url.URL {
	t.Helper()
	admin := os.Getenv("BUTLER_TEST_DATABASE_URL")
	if admin == "" {
		t.Skip("BUTLER_TEST_DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres)")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to BUTLER_TEST_DATABASE_URL: %v", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("butler_pgdump_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	db, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, "CREATE TABLE media (id int PRIMARY KEY, title text); INSERT INTO media VALUES (1, 'Alien')"); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestPostgresBackupPasswordNotOnCommandLine backs up a real PostgreSQL
// database whose URL carries a password, through a pg_dump that is a
// wrapper recording its own /proc/PID/cmdline (what ps shows every user)
// and the password file it was given, before running the real pg_dump.
// The password must not be on the command line; it must be in a 0600
// passfile (PGPASSFILE) that is gone after the run. The URL's pool size
// does not break the dump.
func TestPostgresBackupPasswordNotOnCommandLine(t *testing.T) {
	realDump, err := exec.LookPath("pg_dump")
	if err != nil {
		t.Skip("no pg_dump (Debian: postgresql-client)")
	}
	u := testDatabase(t)
	// A pool size in the URL, as docs/cluster.md suggests: pg_dump refuses
	// pgxpool's parameters, so they must not reach it.
	q := u.Query()
	q.Set("pool_max_conns", "4")
	u.RawQuery = q.Encode()
	const password = `s3cret:p@ss\word`
	u.User = url.UserPassword(u.User.Username(), password)
	if u.User.Username() == "" {
		u.User = url.UserPassword("postgres", password)
	}

	dir := t.TempDir()
	record := filepath.Join(dir, "record")
	wrapper := filepath.Join(dir, "pg_dump")
	script := `#!/bin/sh
{
  echo "cmdline:"; tr '\0' '\n' < /proc/$$/cmdline
  echo "PGPASSWORD=${PGPASSWORD:-}"
  echo "PGPASSFILE=${PGPASSFILE:-}"
  if [ -n "${PGPASSFILE:-}" ]; then
    echo "mode=$(stat -c %a "$PGPASSFILE")"
    echo "passfile:"; cat "$PGPASSFILE"
  fi
} > "` + record + `"
exec "` + realDump + `" "$@"
`
	if err := os.WriteFile(wrapper, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGPASSWORD", "from-the-environment") // must not reach pg_dump: the URL's password wins
	backups := filepath.Join(dir, "Backups")
	b := &tasks.PostgresBackup{URL: u.String(), Name: "cluster", Dir: func() string { return backups }, PgDump: wrapper}
	if err := b.Run(context.Background(), newTestReporter(t)); err != nil {
		t.Fatalf("backup: %v", err)
	}
	got, err := os.ReadFile(record)
	if err != nil {
		t.Fatalf("the wrapper did not run: %v", err)
	}
	rec := string(got)
	cmdline, rest, _ := strings.Cut(strings.TrimPrefix(rec, "cmdline:\n"), "PGPASSWORD=")
	for _, secret := range []string{password, url.QueryEscape(password), url.PathEscape(password), "s3cret"} {
		if strings.Contains(cmdline, secret) {
			t.Errorf("pg_dump's command line holds the password (as %q):\n%s", secret, cmdline)
		}
	}
	if !strings.Contains(cmdline, "--dbname=") || !strings.Contains(cmdline, u.Path) {
		t.Errorf("pg_dump's command line does not name the database %s:\n%s", u.Path, cmdline)
	}
	if !strings.HasPrefix(rest, "\n") {
		t.Errorf("pg_dump got PGPASSWORD %q; want none", strings.SplitN(rest, "\n", 2)[0])
	}
	if !strings.Contains(rec, "mode=600\n") {
		t.Errorf("the passfile is not mode 600:\n%s", rec)
	}
	if want := "passfile:\n*:*:*:*:s3cret\\:p@ss\\\\word\n"; !strings.Contains(rec, want) {
		t.Errorf("the passfile does not hold the escaped password; want %q in:\n%s", want, rec)
	}
	_, after, _ := strings.Cut(rec, "PGPASSFILE=")
	passfile := strings.SplitN(after, "\n", 2)[0]
	if passfile == "" {
		t.Fatal("no PGPASSFILE")
	}
	if _, err := os.Stat(passfile); !os.IsNotExist(err) {
		t.Errorf("the passfile %s is still there after the run (%v)", passfile, err)
	}
	if _, err := os.Stat(filepath.Dir(passfile)); !os.IsNotExist(err) {
		t.Errorf("the passfile's directory is still there after the run (%v)", err)
	}
	dumps, _ := filepath.Glob(filepath.Join(backups, "cluster-*.dump"))
	if len(dumps) != 1 {
		t.Fatalf("dumps %v, want one", dumps)
	}
	list, err := exec.Command("pg_restore", "--list", dumps[0]).Output()
	if err != nil || !strings.Contains(string(list), "TABLE public media") {
		t.Errorf("pg_restore --list: %v\n%s", err, list)
	}
}

// TestPostgresBackupPasswordParameter: a password given as the URL's
// password parameter is kept off the command line too, and a URL without a
// password leaves the environment's alone.
func TestPostgresBackupPasswordParameter(t *testing.T) {
	dir := t.TempDir()
	record := filepath.Join(dir, "record")
	fake := filepath.Join(dir, "pg_dump")
	// A pg_dump that records and fails: enough to see its arguments.
	script := "#!/bin/sh\n{ tr '\\0' '\\n' < /proc/$$/cmdline; echo \"PGPASSFILE=${PGPASSFILE:-}\"; echo \"PGPASSWORD=${PGPASSWORD:-}\"; } > \"" + record + "\"\nexit 1\n"
	if err := os.WriteFile(fake, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	b := &tasks.PostgresBackup{URL: "postgres://butler@db.example:5432/butler?sslmode=disable&password=hunter2",
		Dir: func() string { return dir }, PgDump: fake, PgRestore: "/bin/true"}
	if err := b.Run(context.Background(), newTestReporter(t)); err == nil {
		t.Fatal("the failing pg_dump did not fail the backup")
	}
	rec, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(rec), "hunter2") {
		t.Errorf("the password reached pg_dump's command line or environment:\n%s", rec)
	}
	if !strings.Contains(string(rec), "--dbname=postgres://butler@db.example:5432/butler?sslmode=disable\n") {
		t.Errorf("pg_dump's --dbname is not the URL without its password:\n%s", rec)
	}

	t.Setenv("PGPASSWORD", "kept")
	b.URL = "postgres://butler@db.example:5432/butler"
	_ = b.Run(context.Background(), newTestReporter(t))
	rec, _ = os.ReadFile(record)
	if !strings.Contains(string(rec), "PGPASSWORD=kept\n") || !strings.Contains(string(rec), "PGPASSFILE=\n") {
		t.Errorf("without a password in the URL, pg_dump should get the environment as it is:\n%s", rec)
	}
}

// fakePgDump writes a pg_dump into dir that records its pid in dir/pid
// and then sleeps, and returns its path.
func fakePgDump(t *testing.T, dir string) string {
	t.Helper()
	fake := filepath.Join(dir, "pg_dump")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho $$ > "+filepath.Join(dir, "pid.tmp")+"\nmv "+filepath.Join(dir, "pid.tmp")+" "+filepath.Join(dir, "pid")+"\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return fake
}

// waitPid waits for the fake pg_dump in dir to say its pid.
func waitPid(t *testing.T, dir string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "pid")); err == nil {
			var pid int
			if _, err := fmt.Sscan(string(b), &pid); err == nil {
				return pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the fake pg_dump never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPostgresBackupStopEndsPgDump: a stop ends pg_dump (SIGTERM to its
// process group), and the backup returns only once it is gone.
func TestPostgresBackupStopEndsPgDump(t *testing.T) {
	dir := t.TempDir()
	fake := fakePgDump(t, dir)
	b := &tasks.PostgresBackup{URL: "postgres://u@127.0.0.1:1/db", Dir: func() string { return dir }, PgDump: fake, PgRestore: fake}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, newTestReporter(t)) }()
	pid := waitPid(t, dir)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v; want it stopped", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after the stop")
	}
	if !processGone(pid) {
		t.Errorf("pg_dump (pid %d) still runs after the backup returned", pid)
		waitGone(t, pid, 10*time.Second)
	}
}

// TestPostgresBackupPgDumpDiesWithServer: kill -9 of the server running
// the backup takes pg_dump with it (the parent-death signal), so that a
// cluster's other servers, which will run the task again, never overlap
// it.
func TestPostgresBackupPgDumpDiesWithServer(t *testing.T) {
	if dir := os.Getenv("BUTLER_TEST_PGDUMP_SERVER"); dir != "" {
		fake := filepath.Join(dir, "pg_dump")
		b := &tasks.PostgresBackup{URL: "postgres://u@127.0.0.1:1/db", Dir: func() string { return dir }, PgDump: fake, PgRestore: fake}
		_ = b.Run(context.Background(), newTestReporter(t))
		return
	}
	dir := t.TempDir()
	fakePgDump(t, dir)
	cmd := exec.Command(os.Args[0], "-test.run=^TestPostgresBackupPgDumpDiesWithServer$")
	cmd.Env = append(os.Environ(), "BUTLER_TEST_PGDUMP_SERVER="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := waitPid(t, dir)
	_ = cmd.Process.Kill() // kill -9 of the server
	_ = cmd.Wait()
	waitGone(t, pid, 5*time.Second)
}

// TestPostgresBackupRecoverLeavesLiveDumps: at a start, the partial dumps
// a crash left go, but not one written lately: in a backup directory the
// servers of a cluster share, it may be another server's pg_dump at work.
func TestPostgresBackupRecoverLeavesLiveDumps(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".butler-20261201-030000-1.tmp")
	live := filepath.Join(dir, ".butler-20261202-030000-2.tmp")
	for _, p := range []string{stale, live} {
		if err := os.WriteFile(p, []byte("PGDMP"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	b := &tasks.PostgresBackup{URL: "postgres://u@127.0.0.1:1/db", Dir: func() string { return dir }}
	if err := b.Recover(t.Context(), butler.Settings{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale partial dump is still there (%v)", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the partial dump written now was removed: %v", err)
	}
}
