package tasks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/atomicfile"
)

// PostgresBackup backs up a PostgreSQL database with pg_dump in its custom
// format: into a temporary file, checked with pg_restore --list, then
// renamed into place; the newest Keep backups are kept.
type PostgresBackup struct {
	// URL is the database's connection URL (postgres://...).
	URL string
	// Name names the backup files (<Name>-YYYYMMDD-HHMMSS.dump); default
	// "butler".
	Name string
	// Dir returns the backup directory; it is read at each run. Nil means
	// the server's backup directory setting, as the run's reporter gives
	// it (butler.SettingsReporter).
	Dir func() string
	// Keep is how many backups are kept; default 3.
	Keep int
	// PgDump and PgRestore are the programs; default found on PATH.
	PgDump, PgRestore string
	// Now returns the time; default time.Now.
	Now func() time.Time
}

var (
	_ butler.Action    = (*PostgresBackup)(nil)
	_ butler.Recoverer = (*PostgresBackup)(nil)
	_ butler.Graceful  = (*PostgresBackup)(nil)
)

// toolGrace is how long pg_dump and pg_restore have to end after SIGTERM
// before SIGKILL.
const toolGrace = 2 * time.Second

// StopGrace returns how long a stop may wait for pg_dump or pg_restore
// to end (butler.Graceful).
func (b *PostgresBackup) StopGrace() time.Duration { return toolGrace }

func (b *PostgresBackup) name() string {
	if b.Name == "" {
		return "butler"
	}
	return b.Name
}

// dirIn returns the backup directory: Dir's when Dir is set, otherwise
// the backup directory setting backupPath.
func (b *PostgresBackup) dirIn(backupPath string) string {
	if b.Dir != nil {
		return b.Dir()
	}
	return backupPath
}

// Run makes one backup.
func (b *PostgresBackup) Run(ctx context.Context, r butler.Reporter) error {
	dump, err := lookProgram(b.PgDump, "pg_dump")
	if err != nil {
		return err
	}
	restore, err := lookProgram(b.PgRestore, "pg_restore")
	if err != nil {
		return err
	}
	dir := b.dirIn(runSettings(r).BackupPath())
	if dir == "" {
		return errors.New("no backup directory is set (ButlerDatabaseBackupPath)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("backup directory %s: %w", dir, err)
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	stamp := now().UTC().Format(backupTimeLayout)
	final := filepath.Join(dir, b.name()+"-"+stamp+".dump")
	tmpFile, err := os.CreateTemp(dir, "."+b.name()+"-"+stamp+"-*.tmp")
	if err != nil {
		return fmt.Errorf("backup directory %s: %w", dir, err)
	}
	tmp := tmpFile.Name()
	tmpFile.Close()
	done := false
	defer func() {
		if !done {
			os.Remove(tmp)
		}
	}()

	r.Progress(-1, "running pg_dump")
	// The password never goes on pg_dump's command line, which every user
	// of the host can read (ps, /proc/PID/cmdline): it goes in a passfile
	// only this user can read, removed after the dump.
	dsn, password, err := splitPassword(b.URL)
	if err != nil {
		return err
	}
	env := os.Environ()
	if password != "" {
		passfile, cleanup, err := writePassfile(password)
		if err != nil {
			return err
		}
		defer cleanup()
		env = slices.DeleteFunc(env, func(kv string) bool {
			return strings.HasPrefix(kv, "PGPASSWORD=") || strings.HasPrefix(kv, "PGPASSFILE=")
		})
		env = append(env, "PGPASSFILE="+passfile)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(dump, "--format=custom", "--no-password", "--file="+tmp, "--dbname="+dsn)
	cmd.Env = env
	cmd.Stderr = &limitedBuffer{max: 8 << 10, buf: &stderr}
	if err := runTool(ctx, r, cmd, toolGrace, r.Logger()); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("backup stopped: %w", ctx.Err())
		}
		return fmt.Errorf("pg_dump failed: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	r.Progress(80, "checking the dump")
	stderr.Reset()
	check := exec.Command(restore, "--list", tmp)
	check.Stdout = nil
	check.Stderr = &limitedBuffer{max: 8 << 10, buf: &stderr}
	if err := runTool(ctx, r, check, toolGrace, r.Logger()); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("backup stopped: %w", ctx.Err())
		}
		return fmt.Errorf("the dump does not read back (pg_restore --list): %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	if f, err := os.Open(tmp); err == nil {
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("sync the dump: %w", err)
		}
	}
	if err := atomicfile.Rename(tmp, final); err != nil {
		return fmt.Errorf("rename the dump into place: %w", err)
	}
	done = true
	completed(r) // as for BackupDatabase
	removed, err := b.prune(dir, final)
	fi, _ := os.Stat(final)
	size := int64(0)
	if fi != nil {
		size = fi.Size()
	}
	r.Progress(100, "done")
	r.Summary(fmt.Sprintf("backup %s, %s, %s removed", filepath.Base(final), formatBytes(size), plural(removed, "old backup", "old backups")))
	return err
}

// splitPassword takes the password out of a postgres:// URL (from its user
// information or its password parameter): dsn is the URL without it, and
// without pgxpool's parameters, which pg_dump refuses.
func splitPassword(raw string) (dsn, password string, err error) {
	u, err := url.Parse(withoutPoolParams(raw))
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", "", errors.New("the database URL does not parse as postgres://USER@HOST:PORT/DATABASE")
	}
	q := u.Query()
	if pw, ok := u.User.Password(); ok {
		password = pw
		u.User = url.User(u.User.Username())
	}
	if q.Has("password") {
		password = q.Get("password")
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String(), password, nil
}

// withoutPoolParams is the URL raw without the parameters of pgxpool
// (pool_max_conns, ...), which a single connection would send to the
// server as settings it does not know. A URL that does not parse is
// returned as it is, for the connection to say what is wrong with it.
func withoutPoolParams(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// writePassfile writes a PostgreSQL password file that gives password for
// any server, port, database and user, readable by this user alone, in a
// directory of its own; cleanup removes both.
func writePassfile(password string) (path string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "butler-pgpass-")
	if err != nil {
		return "", nil, fmt.Errorf("a private file for the database password: %w", err)
	}
	cleanup = func() { os.RemoveAll(dir) }
	path = filepath.Join(dir, "pgpass")
	// PostgreSQL's password file: host:port:database:user:password, where
	// a backslash escapes ':' and '\' (PostgreSQL documentation, "The
	// Password File"). It must not be readable by group or others.
	esc := strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(password)
	if err := os.WriteFile(path, []byte("*:*:*:*:"+esc+"\n"), 0o600); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("a private file for the database password: %w", err)
	}
	return path, cleanup, nil
}

// prune keeps the newest Keep dumps of this name.
func (b *PostgresBackup) prune(dir, current string) (int, error) {
	keep := b.Keep
	if keep <= 0 {
		keep = 3
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var names []string
	prefix := b.name() + "-"
	for _, e := range entries {
		n := e.Name()
		stamp, ok := strings.CutSuffix(strings.TrimPrefix(n, prefix), ".dump")
		if !e.Type().IsRegular() || !strings.HasPrefix(n, prefix) || !ok {
			continue
		}
		if _, err := time.Parse(backupTimeLayout, stamp); err == nil {
			names = append(names, n)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	removed := 0
	var errs []error
	for i, n := range names {
		if i < keep || filepath.Join(dir, n) == current {
			continue
		}
		if err := os.Remove(filepath.Join(dir, n)); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// staleDump is how long a partial backup file must have gone unwritten
// before Recover removes it from a directory the servers of a cluster may
// share: another server's backup may be writing its own.
const staleDump = time.Hour

// Recover removes the partial dumps a crashed run left: those unwritten
// for staleDump (another server's running pg_dump writes its own as it
// goes).
func (b *PostgresBackup) Recover(ctx context.Context, s butler.Settings) error {
	dir := b.dirIn(s.BackupPath())
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var errs []error
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasPrefix(n, "."+b.name()+"-") && strings.HasSuffix(n, ".tmp") {
			if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < staleDump {
				continue
			}
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// PostgresOptimize runs VACUUM (ANALYZE) on a PostgreSQL database.
type PostgresOptimize struct {
	URL string
}

var _ butler.Action = (*PostgresOptimize)(nil)

// Run vacuums and analyzes the database.
func (o *PostgresOptimize) Run(ctx context.Context, r butler.Reporter) error {
	conn, err := pgx.Connect(ctx, withoutPoolParams(o.URL))
	if err != nil {
		return fmt.Errorf("connect to the database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var before int64
	if err := conn.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&before); err != nil {
		return fmt.Errorf("database size: %w", err)
	}
	r.Progress(10, "VACUUM (ANALYZE)")
	if _, err := conn.Exec(ctx, `VACUUM (ANALYZE)`); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("optimize stopped: %w", ctx.Err())
		}
		return fmt.Errorf("VACUUM (ANALYZE): %w", err)
	}
	var after int64
	if err := conn.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&after); err != nil {
		return fmt.Errorf("database size: %w", err)
	}
	r.Progress(100, "done")
	r.Summary(fmt.Sprintf("vacuumed and analyzed; database %s (was %s)", formatBytes(after), formatBytes(before)))
	return nil
}

func lookProgram(given, name string) (string, error) {
	if given != "" {
		return given, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s is not installed (not found on PATH); install the PostgreSQL client programs (Debian: postgresql-client)", name)
	}
	return p, nil
}

// limitedBuffer keeps at most max bytes of what is written to it.
type limitedBuffer struct {
	max int
	buf *bytes.Buffer
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		if len(p) > room {
			l.buf.Write(p[:room])
		} else {
			l.buf.Write(p)
		}
	}
	return len(p), nil
}
