package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/atomicfile"
	"github.com/plexbutler/butler/internal/sqliteuri"
)

const (
	// backupStampLayout is the UTC time in the names of BackupDatabase's
	// backups: <stem>-YYYYMMDD-HHMMSS.db.
	backupStampLayout = "20060102-150405"
	// asideStampLayout is the UTC time in the names of database files
	// moved aside: <name>.before-restore-<time>, <name>.damaged-<time>.
	asideStampLayout = "20060102T150405Z"
)

func newRestoreCmd(getenv func(string) string, stdout io.Writer) *cobra.Command {
	var flags serveConfig
	var configPath, backupDir string
	cmd := &cobra.Command{
		Use:   "restore [BACKUP]",
		Short: "List the database backups, or put one in place of the database",
		Long: `Without an argument, list the backups of the SQLite database that
butler serve would use, newest first.

With one, restore that backup (a path, or a file name in the backup
directory): check that it is a Butler database that passes PRAGMA
integrity_check and that this Butler can open (not of a newer schema),
copy it beside the database, with the owner and mode of the database it
replaces, and fsync the copy; checkpoint the current database, keep it
(and what is left of its -wal, -shm and -journal files) as
<name>.before-restore-<UTC time> (nothing is deleted), and rename the copy
into place. Stopped at any point, it leaves the current database in
place, and the next restore or server undoes what it had done. It refuses
while a server uses the database: stop the server first.

--data-dir, --database and --config (and BUTLER_DATA_DIR, BUTLER_DATABASE,
BUTLER_CONFIG) find the database as butler serve does. PostgreSQL
databases are restored with pg_restore.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if configPath == "" {
				configPath = getenv("BUTLER_CONFIG")
			}
			cfg, err := resolveConfig(cmd, flags, configPath, getenv)
			if err != nil {
				return err
			}
			if isPostgres(cfg.Database) {
				return usageErr("the database %s is PostgreSQL: butler restore restores SQLite databases only; restore a backup (%s, pg_dump's custom format) with pg_restore, for example pg_restore --clean --if-exists --dbname DATABASE_URL FILE, with every server stopped",
					redact(cfg.Database), filepath.Join(cfg.DataDir, "Backups", "butler-YYYYMMDD-HHMMSS.dump"))
			}
			dir, read := backupDir, true
			if dir == "" {
				dir, read = restoreBackupDir(cmd.Context(), cfg)
			}
			if dir, err = filepath.Abs(dir); err != nil {
				return usageErr("--backup-dir: %v", err)
			}
			p := newPainter(stdout, getenv)
			if len(args) == 0 {
				return listBackupsCmd(cfg, dir, read, stdout, p)
			}
			return restoreBackup(cmd.Context(), cfg, dir, args[0], stdout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&flags.DataDir, "data-dir", "", "the server's data directory (env BUTLER_DATA_DIR; default ./"+defaultDataDir+")")
	f.StringVar(&flags.Database, "database", "", "the database: a SQLite file path or sqlite://PATH (env BUTLER_DATABASE; default <data-dir>/butler.db)")
	f.StringVar(&configPath, "config", "", "the server's YAML config file, for its data_dir and database (env BUTLER_CONFIG)")
	f.StringVar(&backupDir, "backup-dir", "", "where the backups are (default: the ButlerDatabaseBackupPath setting of the config file or the database, else <data-dir>/Backups)")
	return cmd
}

// restoreBackupDir is where BackupDatabase writes cfg's backups: the
// ButlerDatabaseBackupPath the config file fixes, else the one the
// database holds when it can be read, else <data-dir>/Backups.
// read is false when it fell back to <data-dir>/Backups because the
// database file could not be read (backupDirOf).
func restoreBackupDir(ctx context.Context, cfg serveConfig) (dir string, read bool) {
	for _, s := range cfg.file.Settings {
		if v := strings.TrimSpace(s.Value); s.ID == butler.SettingBackupPath && filepath.IsAbs(v) {
			return filepath.Clean(v), true
		}
	}
	return backupDirOf(ctx, cfg)
}

// backupFile is a backup that BackupDatabase wrote.
type backupFile struct {
	path, name string
	time       time.Time // from the name, UTC
	size       int64
}

// backupStem is the name the backups of the database file db start with:
// its file name without the extension, as BackupDatabase names them.
func backupStem(db string) string {
	name := filepath.Base(db)
	if stem := strings.TrimSuffix(name, filepath.Ext(name)); stem != "" {
		return stem
	}
	return name
}

// listBackups returns the backups of the database file db in dir
// ("<stem>-YYYYMMDD-HHMMSS.db"), newest first. A missing dir holds none.
func listBackups(dir, db string) ([]backupFile, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list the backup directory %s: %v", dir, err)
	}
	stem := backupStem(db)
	var out []backupFile
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), stem+"-")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		stamp, ok := strings.CutSuffix(rest, ".db")
		if !ok || len(stamp) != len(backupStampLayout) {
			continue
		}
		t, err := time.Parse(backupStampLayout, stamp)
		if err != nil {
			continue
		}
		b := backupFile{path: filepath.Join(dir, e.Name()), name: e.Name(), time: t}
		if fi, err := e.Info(); err == nil {
			b.size = fi.Size()
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b backupFile) int {
		if c := b.time.Compare(a.time); c != 0 {
			return c
		}
		return strings.Compare(b.name, a.name)
	})
	return out, nil
}

// listBackupsCmd prints the backups of cfg's database in dir.
func listBackupsCmd(cfg serveConfig, dir string, read bool, stdout io.Writer, p painter) error {
	backups, err := listBackups(dir, cfg.Database)
	if err != nil {
		return &exitError{1, err}
	}
	if !read {
		fmt.Fprintf(stdout, "Could not read the backup directory setting (%s) from the database %s, so this is the default directory; if that setting named another directory, give it with --backup-dir.\n", butler.SettingBackupPath, cfg.Database)
	}
	if len(backups) == 0 && !exists(cfg.DataDir) && !exists(cfg.Database) {
		// Most likely run from the wrong directory, or without the
		// server's --data-dir or --config.
		return usageErr("neither the data directory %s nor the database %s exists: give the server's data directory with --data-dir, or its config file with --config (or BUTLER_DATA_DIR, BUTLER_CONFIG)", cfg.DataDir, cfg.Database)
	}
	if len(backups) == 0 {
		_, err := fmt.Fprintf(stdout, "No backups of %s in %s (BackupDatabase writes them there; give another directory with --backup-dir).\n", cfg.Database, dir)
		return err
	}
	fmt.Fprintf(stdout, "Backups of %s in %s, newest first:\n\n", cfg.Database, dir)
	t := &table{header: []string{"BACKUP", "MADE (UTC)", "SIZE"}}
	for _, b := range backups {
		t.add(plain(b.name), plain(b.time.Format("2006-01-02 15:04:05")), plain(formatSize(b.size)))
	}
	if err := t.write(stdout, p); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "\nRestore one, with the server stopped: %s %s\n", restoreCommand(cfg, dir), shellQuote(backups[0].name))
	return err
}

// exists reports whether there is a file or directory at path.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// restoreCommand is the butler restore command line, without the backup,
// that restores into cfg's database from dir, for messages.
func restoreCommand(cfg serveConfig, dir string) string {
	cmd := "butler restore --data-dir " + shellQuote(cfg.DataDir)
	db, err := filepath.Abs(cfg.Database)
	if err != nil {
		db = cfg.Database
	}
	if db != filepath.Join(cfg.DataDir, "butler.db") {
		cmd += " --database " + shellQuote(db)
	}
	if dir != filepath.Join(cfg.DataDir, "Backups") {
		cmd += " --backup-dir " + shellQuote(dir)
	}
	return cmd
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:@%+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// formatSize shows a size in bytes, KiB, MiB or GiB.
func formatSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// findBackup resolves the argument of butler restore: a file name (no
// slash) is looked for in dir, then in the current directory; a path is
// taken as it is.
func findBackup(arg, dir string) (string, error) {
	candidates := []string{arg}
	if !strings.ContainsRune(arg, os.PathSeparator) {
		candidates = []string{filepath.Join(dir, arg), arg}
	}
	for _, c := range candidates {
		fi, err := os.Stat(c)
		if err != nil {
			continue
		}
		if !fi.Mode().IsRegular() {
			return "", usageErr("%s is not a regular file; give a backup file", c)
		}
		return filepath.Abs(c)
	}
	if len(candidates) == 2 {
		return "", usageErr("no backup %s in %s nor in the current directory; run butler restore without an argument to list the backups", arg, dir)
	}
	return "", usageErr("no backup file %s; run butler restore without an argument to list the backups", arg)
}

// restoreBackup puts a copy of the backup arg in place of cfg's database.
// It refuses (exit 2), changing nothing, when the backup is not a sound
// Butler database or a server uses the database.
func restoreBackup(ctx context.Context, cfg serveConfig, dir, arg string, stdout io.Writer) error {
	for _, d := range []string{cfg.DataDir, filepath.Dir(cfg.Database)} {
		if err := refuseRootInOthersDir(d, os.Geteuid()); err != nil {
			return err
		}
	}
	src, err := findBackup(arg, dir)
	if err != nil {
		return err
	}
	if err := checkSQLiteHeader(src); err != nil {
		return &exitError{2, err}
	}
	unlockDir, err := lockDataDirForRestore(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlockDir()
	l, err := lockDatabase(cfg.Database)
	if err != nil {
		var le *lockedError
		if errors.As(err, &le) {
			return &exitError{2, fmt.Errorf("cannot restore: %w; stop the server first (nothing was changed)", err)}
		}
		return &exitError{2, err}
	}
	defer l.unlock()
	if len(l.stopped) > 0 {
		fmt.Fprintln(stdout, "a previous butler restore was stopped part-way: undone, the database is the one it was before it:")
		for _, did := range l.stopped {
			fmt.Fprintf(stdout, "  %s\n", did)
		}
	}
	if same, _ := sameFile(src, l.path); same {
		return usageErr("%s is the database itself; give a backup", src)
	}
	owner, err := restoreOwner(l.path)
	if err != nil {
		return &exitError{1, fmt.Errorf("%v (nothing was changed)", err)}
	}
	// The lock file, when this restore made it (it is ours), is the
	// server's to open too.
	if fi, err := os.Stat(l.path + ".lock"); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == os.Geteuid() {
			if err := owner.give(l.path+".lock", false); err != nil {
				return &exitError{1, fmt.Errorf("%v (nothing was changed)", err)}
			}
		}
	}

	tmp, err := copyForRestore(ctx, src, l.path, owner)
	if err != nil {
		return err
	}
	placed := false
	defer func() {
		if !placed {
			removeQuietly(tmp, tmp+"-journal", tmp+"-wal", tmp+"-shm")
		}
	}()
	size, err := verifyRestoreCopy(ctx, src, tmp)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "checked %s: a Butler database, PRAGMA integrity_check ok, %s\n", src, formatSize(size))
	waiting, err := endWaitingRuns(ctx, src, tmp, time.Now())
	if err != nil {
		return &exitError{1, fmt.Errorf("end the runs that were waiting in the backup: %v (nothing was changed)", err)}
	}
	if waiting > 0 {
		fmt.Fprintf(stdout, "%d runs were waiting (scheduled or queued) when the backup was made: they end skipped in the restored database, not run again at the next start; start a task again if it should run now\n", waiting)
	}

	if note := checkpointForRestore(ctx, l.path); note != "" {
		fmt.Fprintln(stdout, note)
	}
	aside, moved, err := setAside(l.path, "before-restore", time.Now())
	if err != nil {
		return &exitError{1, fmt.Errorf("%v; the backup was not put in place (nothing was changed)", err)}
	}
	for _, m := range moved {
		fmt.Fprintf(stdout, "moved aside: %s -> %s\n", m[0], m[1])
	}
	if len(moved) == 0 {
		fmt.Fprintf(stdout, "no database at %s: nothing to move aside\n", l.path)
	}
	if err := atomicfile.Rename(tmp, l.path); err != nil {
		if _, statErr := os.Lstat(tmp); statErr == nil {
			if aside != "" {
				if _, uerr := undoSetAside(l.path, aside); uerr != nil {
					return &exitError{1, fmt.Errorf("put the copy of the backup in place: %v; and putting the files moved aside back: %v; the database is still in place: run butler restore again", err, uerr)}
				}
			}
			return &exitError{1, fmt.Errorf("put the copy of the backup in place: %v (nothing was changed)", err)}
		}
		placed = true
		return &exitError{1, fmt.Errorf("restored %s to %s but could not make it durable: %v; run sync before anything else", src, l.path, err)}
	}
	placed = true
	fmt.Fprintf(stdout, "restored %s to %s\n", src, l.path)
	if aside != "" {
		fmt.Fprintf(stdout, "the previous database is kept as %s; delete it once the server runs well on the restored one\n", aside)
	}
	return nil
}

// lockDataDirForRestore takes the data directory's lock, when the data
// directory has one, so that a server that locks only its data directory
// is not left with its database replaced under it. It creates nothing.
func lockDataDirForRestore(dir string) (func(), error) {
	path := filepath.Join(dir, "butler.lock")
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, &exitError{2, fmt.Errorf("lock %s: %v", path, err)}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := lockHolder(f)
		f.Close()
		return nil, &exitError{2, fmt.Errorf("cannot restore: data directory %s is in use by a butler serve%s; stop the server first (nothing was changed)", dir, holder)}
	}
	return func() { f.Close() }, nil
}

// refuseRootInOthersDir refuses a restore run as root (euid 0) on a
// directory that another user owns (the server's user, who can write it):
// that user, or a program running as it (a task, a compromised media
// tool), could put a symbolic link where restore creates, links, renames
// or opens a file, and have root write, or give away, a file anywhere. The
// restore must run as that user.
func refuseRootInOthersDir(dir string, euid int) error {
	if euid != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil // a missing directory: the restore says so further on
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	return &exitError{2, fmt.Errorf("cannot restore as root into %s, which belongs to user %d: that user could make root write files elsewhere; run butler restore as that user, for instance: sudo -u '#%d' butler restore ..., or, for the systemd unit's server (DynamicUser), sudo systemd-run --pipe --wait -p DynamicUser=yes -p User=butler -p StateDirectory=butler /usr/local/bin/butler restore --data-dir /var/lib/butler ... (nothing was changed)", dir, st.Uid, st.Uid)}
}

// fileOwner is the owner, group and permission bits of the files restore
// makes in the database's directory: those the server, which may run as
// another user than the one who runs restore (sudo, and a systemd
// DynamicUser), already has.
type fileOwner struct {
	uid, gid int
	perm     fs.FileMode
}

// restoreOwner returns the fileOwner of the restored database: the owner,
// group and permission bits of the database file db it replaces; when
// there is none, the owner and group of its directory, and mode 0600.
func restoreOwner(db string) (fileOwner, error) {
	fi, err := os.Stat(db)
	perm := fs.FileMode(0o600)
	if err == nil {
		perm = fi.Mode().Perm()
	} else if errors.Is(err, fs.ErrNotExist) {
		fi, err = os.Stat(filepath.Dir(db))
	}
	if err != nil {
		return fileOwner{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileOwner{}, fmt.Errorf("cannot tell the owner of %s", fi.Name())
	}
	return fileOwner{uid: int(st.Uid), gid: int(st.Gid), perm: perm}, nil
}

// give gives the file at path o's owner and group, when it has others,
// and, with mode, o's permission bits. A file that does not exist is left
// alone.
func (o fileOwner) give(path string, mode bool) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != o.uid || int(st.Gid) != o.gid) {
		if err := os.Chown(path, o.uid, o.gid); err != nil {
			return fmt.Errorf("give %s the owner of the database (uid %d, gid %d), so that the server can open it: %v; run butler restore as that user, or as root", path, o.uid, o.gid, err)
		}
	}
	if mode && fi.Mode().Perm() != o.perm {
		if err := os.Chmod(path, o.perm); err != nil {
			return err
		}
	}
	return nil
}

// checkSQLiteHeader refuses a file that does not start with SQLite's
// header.
func checkSQLiteHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open the backup: %v", err)
	}
	defer f.Close()
	head := make([]byte, 16)
	if _, err := io.ReadFull(f, head); err != nil || string(head) != "SQLite format 3\x00" {
		return fmt.Errorf("%s is not a SQLite database (it does not start with the SQLite header); give a backup that BackupDatabase wrote", path)
	}
	return nil
}

// sameFile reports whether a and b are the same file.
func sameFile(a, b string) (bool, error) {
	fa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(fa, fb), nil
}

// copyForRestore copies the backup src into a new hidden file beside the
// database file db, owned as owner says, and fsyncs it; it returns the
// copy's path. A backup with a WAL file beside it that holds transactions
// (a database moved aside, say) is copied through SQLite (VACUUM INTO),
// which reads them too; any other is copied byte for byte.
func copyForRestore(ctx context.Context, src, db string, owner fileOwner) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(db), "."+filepath.Base(db)+".restore-*.tmp")
	if err != nil {
		return "", &exitError{1, fmt.Errorf("create the copy beside the database: %v", err)}
	}
	tmp := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		removeQuietly(tmp, tmp+"-journal", tmp+"-wal", tmp+"-shm")
		return "", err
	}
	if err := owner.give(tmp, true); err != nil {
		return fail(&exitError{1, fmt.Errorf("%v (nothing was changed)", err)})
	}
	if fi, err := os.Stat(src + "-wal"); err == nil && fi.Size() > 0 {
		if err := vacuumInto(ctx, src, tmp); err != nil {
			return fail(&exitError{2, fmt.Errorf("%s (with the transactions in its -wal file) cannot be copied: %v; give another backup (nothing was changed)", src, err)})
		}
	} else {
		in, err := os.Open(src)
		if err != nil {
			return fail(&exitError{1, fmt.Errorf("open the backup: %v", err)})
		}
		_, err = io.Copy(f, in)
		in.Close()
		if err != nil {
			return fail(&exitError{1, fmt.Errorf("copy %s to %s: %v (nothing was changed)", src, tmp, err)})
		}
	}
	if err := f.Sync(); err != nil {
		return fail(&exitError{1, fmt.Errorf("sync %s: %v (nothing was changed)", tmp, err)})
	}
	if err := f.Close(); err != nil {
		return fail(&exitError{1, fmt.Errorf("close %s: %v (nothing was changed)", tmp, err)})
	}
	return tmp, nil
}

// endWaitingRuns ends, in the copy tmp of the backup src, the runs that
// were waiting (scheduled or queued) when the backup was made, as skipped,
// and returns how many. They are history now: some ran after the backup
// was made (a backup made by a start-all holds the start-all's other runs,
// queued), some were stopped since, and the server would otherwise run
// them all again at its next start, under the same run ids. The planner
// decides afresh what is due. Runs that were running end interrupted at
// the next start, as after a crash.
func endWaitingRuns(ctx context.Context, src, tmp string, now time.Time) (int64, error) {
	made := "at an unknown time"
	if fi, err := os.Stat(src); err == nil {
		made = fi.ModTime().UTC().Format("2006-01-02 15:04:05") + " UTC"
	}
	// In rollback-journal mode, so that what is written is in the file
	// itself when it closes (the server sets WAL mode again).
	uri, err := sqliteuri.File(tmp, "_pragma=busy_timeout(5000)&_pragma=journal_mode(DELETE)&_pragma=synchronous(FULL)")
	if err != nil {
		return 0, err
	}
	db, err := sql.Open("sqlite", uri)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	res, err := db.ExecContext(ctx, `UPDATE butler_run SET state = 'finished', outcome = 'skipped', reason = ?, ended_at = ?, progress = -1
		WHERE state IN ('scheduled', 'queued')`,
		"restored from a backup made "+made+": the run was waiting then, and was not run after the restore", now.UnixNano())
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	return n, db.Close()
}

// vacuumInto writes the database src, its WAL's transactions included,
// into the empty file dst, from a read-only connection.
func vacuumInto(ctx context.Context, src, dst string) error {
	uri, err := sqliteuri.File(src, "mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", uri)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", dst)
	return err
}

// verifyRestoreCopy checks the copy tmp of the backup src, which is what
// will be put in place: PRAGMA integrity_check, Butler's tables, and that
// neither they nor River's were made by a newer Butler. It returns the
// copy's size.
func verifyRestoreCopy(ctx context.Context, src, tmp string) (int64, error) {
	refuse := func(format string, args ...any) (int64, error) {
		return 0, &exitError{2, fmt.Errorf("%s "+format+"; give another backup (nothing was changed)", append([]any{src}, args...)...)}
	}
	q := url.Values{}
	q.Add("mode", "ro")
	q.Add("_pragma", "busy_timeout(5000)")
	uri, err := sqliteuri.File(tmp, q.Encode())
	if err != nil {
		return 0, &exitError{1, err}
	}
	db, err := sql.Open("sqlite", uri)
	if err != nil {
		return 0, &exitError{1, err}
	}
	// A copy in WAL mode gets empty -wal and -shm files while it is read;
	// they go before it is put in place.
	defer removeQuietly(tmp+"-wal", tmp+"-shm")
	defer db.Close()
	problems, err := integrityCheck(ctx, db)
	switch {
	case err != nil && len(problems) == 0:
		return refuse("is damaged: PRAGMA integrity_check failed: %v", err)
	case err != nil || len(problems) != 1 || problems[0] != "ok":
		first, _, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(problems[0], "*** in database main ***")), "\n")
		return refuse("is damaged: PRAGMA integrity_check found faults, the first: %s", first)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('butler_migration', 'butler_setting', 'butler_run')`).Scan(&n); err != nil {
		return refuse("cannot be read: %v", err)
	}
	if n != 3 {
		return refuse("is a SQLite database but not Butler's (it lacks Butler's tables)")
	}
	// Tables of a newer Butler, which the server would refuse to open, are
	// refused here, before the database is replaced; older ones the server
	// upgrades.
	if _, err := needsUpgrade(ctx, tmp); isNewerSchema(err) {
		return 0, &exitError{2, fmt.Errorf("%s cannot be restored by this Butler: %v (nothing was changed)", src, err)}
	} else if err != nil {
		return refuse("cannot be read: %v", err)
	}
	if err := db.Close(); err != nil {
		return 0, &exitError{1, err}
	}
	fi, err := os.Stat(tmp)
	if err != nil {
		return 0, &exitError{1, err}
	}
	return fi.Size(), nil
}

// integrityCheck runs PRAGMA integrity_check and returns its rows, those
// read before an error included.
func integrityCheck(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return out, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// moveAside renames the database file db and the -journal, -wal and -shm
// files beside it to "<db>.<tag>-<UTC time>" (each side file keeping its
// suffix after that, so that SQLite still finds them together), never
// over an existing file, and fsyncs the directory. It returns the moves
// made, old and new name, the database's first. The side files move
// first: stopped half-way, it leaves the database in place without its
// side files, or no database at all, never a database beside another
// one's WAL or journal.
func moveAside(db, tag string, now time.Time) ([][2]string, error) {
	suffixes := []string{"-journal", "-wal", "-shm", ""}
	var present []string
	for _, s := range suffixes {
		if _, err := os.Lstat(db + s); err == nil {
			present = append(present, s)
		}
	}
	if len(present) == 0 {
		return nil, nil
	}
	base := db + "." + tag + "-" + now.UTC().Format(asideStampLayout)
	target := base
	for i := 2; ; i++ {
		free := true
		for _, s := range suffixes {
			if _, err := os.Lstat(target + s); err == nil {
				free = false
			}
		}
		if free {
			break
		}
		target = fmt.Sprintf("%s-%d", base, i)
	}
	var moved [][2]string
	for _, s := range present {
		if err := os.Rename(db+s, target+s); err != nil {
			return moved, fmt.Errorf("move %s aside: %v", db+s, err)
		}
		moved = append(moved, [2]string{db + s, target + s})
	}
	if err := atomicfile.SyncDir(filepath.Dir(db)); err != nil {
		return moved, err
	}
	// The database first.
	slices.SortStableFunc(moved, func(a, b [2]string) int {
		switch {
		case a[0] == db:
			return -1
		case b[0] == db:
			return 1
		}
		return 0
	})
	return moved, nil
}

// removeQuietly removes the files that exist among paths.
func removeQuietly(paths ...string) {
	for _, p := range paths {
		_ = os.Remove(p)
	}
}
