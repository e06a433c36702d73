package tasks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"modernc.org/sqlite"

	butler "github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/atomicfile"
	"github.com/plexbutler/butler/internal/readahead"
	"github.com/plexbutler/butler/internal/sqliteuri"
)

const (
	// defaultBackupKeep is how many backups BackupDatabase keeps when its
	// Keep is not set.
	defaultBackupKeep = 3
	// backupStepPages is how many pages one step of the online backup
	// copies; the context is checked and progress reported between steps.
	backupStepPages = 128
	// writebackEveryPages is how many pages of the copy are written between
	// two requests to start writing them to disk.
	writebackEveryPages = 8192
	// maxBackupRestarts is how often a backup of a database that is not in
	// WAL mode may start over, because another connection wrote to it
	// between two steps, before the rest is copied in one step that holds
	// the read lock throughout.
	maxBackupRestarts = 3
	// maxBackupBusyRetries is how often a step that found the source
	// locked for longer than the busy timeout is tried again.
	maxBackupBusyRetries = 3
	// sqliteBusy and sqliteLocked are SQLite's primary result codes for a
	// lock held by another connection.
	sqliteBusy   = 5
	sqliteLocked = 6
	// backupTimeLayout is the timestamp in backup names, in UTC.
	backupTimeLayout = "20060102-150405"
)

// BackupDatabase is the action of the BackupDatabase task: it makes a
// consistent copy of a live SQLite database with SQLite's online backup API
// and keeps the newest few copies.
//
// A run opens a read-only connection of its own to Source, copies it page
// by page into a hidden temporary file in the backup directory
// (".<name>-<timestamp>-<random>.tmp"), switches the copy to rollback
// journal mode so that it is one self-contained file, checks it with PRAGMA
// integrity_check, fsyncs it and renames it to "<name>-YYYYMMDD-HHMMSS.db"
// (then fsyncs the directory), where <name> is Source's file name without its extension and the
// timestamp is Now in UTC. It then removes all but the newest Keep backups
// of this source (as told by the timestamps in their names; the backup just
// written is always kept) and any temporary files of this source that an
// earlier, interrupted run left behind. Runs of one BackupDatabase must not
// overlap.
//
// The copy is written without a journal and without SQLite's syncs (a copy
// that fails is thrown away, and the one fsync before the rename makes a
// good one durable); the kernel is asked to start writing it to disk as it
// is written, so that the disk works while SQLite copies and checks. While
// the copy runs, the source file is read ahead into the page cache by a
// goroutine of the run, in large sequential reads, when it fits in half of
// the available memory and is not cached yet (Linux).
//
// When Source is in WAL mode the copy is taken from one read snapshot, so
// writers carry on unhindered (checkpoints cannot pass the snapshot, so the
// WAL file grows until the copy is done). Otherwise a write by another connection
// between two steps makes SQLite start the copy over; after a few restarts
// the rest is copied in a single step, during which writers wait. A step
// that finds the source locked for longer than LockTimeout is tried
// again, a few times.
//
// A zero BackupDatabase is not usable: Source must be set.
type BackupDatabase struct {
	// Source is the path of the SQLite database file to back up.
	Source string
	// Dir returns the backup directory. It is called once at the start of
	// each run. Nil means the server's backup directory setting
	// (butler.SettingBackupPath, which can change between runs, as the
	// run's reporter gives it: butler.SettingsReporter), with Subdir below
	// it. The directory is created, with permissions 0700, when it does
	// not exist.
	Dir func() string
	// Subdir is a folder below the server's backup directory, when Dir is
	// nil ("" for the directory itself).
	Subdir string
	// Keep is how many backups of Source to keep, the one just written
	// included; 0 or less means 3.
	Keep int
	// Now returns the current time, which names the backup; nil means
	// time.Now.
	Now func() time.Time
	// LockTimeout is how long the run waits for a lock that another
	// connection holds on Source before it fails; 0 means
	// DefaultLockTimeout (5 s).
	LockTimeout time.Duration
	// SharedDir says the backup directory may be shared with other
	// servers (a cluster's): Recover then removes only the partial files
	// unwritten for an hour, as another server's backup may be writing
	// one. False: those a crash left are removed at the next start.
	SharedDir bool
}

var _ butler.Action = (*BackupDatabase)(nil)

// backupConn is what BackupDatabase needs of a modernc.org/sqlite driver
// connection.
type backupConn interface {
	NewBackup(dstURI string) (*sqlite.Backup, error)
}

// Run backs up Source into the backup directory and prunes old backups.
// Nothing is left in the backup directory when it fails before the rename
// into place, including when ctx is done.
func (b *BackupDatabase) Run(ctx context.Context, r butler.Reporter) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("backup of database %s not started: %w", b.Source, err)
	}
	if b.Source == "" {
		return errors.New("backup database: no source database set")
	}
	dir := b.DirIn(runSettings(r).BackupPath())
	if dir == "" {
		return fmt.Errorf("backup database %s: no backup directory set (ButlerDatabaseBackupPath)", b.Source)
	}
	keep := b.Keep
	if keep <= 0 {
		keep = defaultBackupKeep
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	log := r.Logger()
	base := backupBaseName(b.Source)
	stamp := now().UTC().Format(backupTimeLayout)

	// The source is opened and checked before anything is written, so that
	// a missing or damaged source leaves the backup directory alone.
	src, err := openBackupSource(ctx, b.Source, lockTimeout(b.LockTimeout), log)
	if err != nil {
		return err
	}
	defer src.close(log)

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create backup directory: %w", err)
	}
	// f stays open until the end: write-back is started through it while
	// SQLite writes the copy, and the copy is fsynced through it.
	f, err := os.CreateTemp(dir, "."+base+"-"+stamp+"-*.tmp")
	if err != nil {
		return fmt.Errorf("create temporary backup file in backup directory %s: %w", dir, err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if err := f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			log.Warn("close temporary backup file", "path", tmp, "err", err)
		}
		if !renamed {
			removeSQLiteFiles(tmp, log)
		}
	}()

	wb := startWriteback(f)
	pages, err := src.copyTo(ctx, r, tmp, wb, log)
	// The source is no longer needed: let go of its read snapshot now
	// rather than during the checks of the copy.
	src.close(log)
	if err != nil {
		wb.stop()
		return err
	}
	// The disk writes what is left of the copy while SQLite checks it.
	wb.request()
	wb.stop()

	r.Progress(100, "checking the backup's integrity")
	if err := finishBackupFile(ctx, b.Source, tmp, f); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("backup of database %s cancelled while checking the copy: %w", b.Source, ctxErr)
		}
		return err
	}

	finalName := base + "-" + stamp + ".db"
	final := filepath.Join(dir, finalName)
	if _, err := os.Lstat(final); err == nil {
		log.Warn("replacing a backup made in the same second", "backup", final)
	}
	if err := atomicfile.Rename(tmp, final); err != nil {
		if _, statErr := os.Lstat(tmp); statErr == nil {
			return fmt.Errorf("move backup into place: %w", err)
		}
		// The rename happened; only syncing the directory failed.
		renamed = true
		return fmt.Errorf("backup %s written but not made durable: %w", final, err)
	}
	renamed = true
	// The backup is made: a stop from now on stops nothing of it, and the
	// run is recorded as what it is (CompletionReporter).
	completed(r)
	var size int64
	if fi, err := os.Stat(final); err == nil {
		size = fi.Size()
	}
	log.Info("database backed up", "source", b.Source, "backup", final, "pages", pages, "bytes", size)

	r.Progress(100, "removing old backups")
	removed, temps, pruneErr := pruneBackups(dir, base, finalName, keep, log)
	summary := fmt.Sprintf("backup %s, %s, %s removed", finalName, formatBytes(size), plural(removed, "old backup", "old backups"))
	if temps > 0 {
		summary += fmt.Sprintf(", %s removed", plural(temps, "stale temporary file", "stale temporary files"))
	}
	if pruneErr != nil {
		summary += "; removing old backups failed"
	}
	r.Summary(summary)
	if pruneErr != nil {
		return fmt.Errorf("backup %s written, but removing old backups failed: %w", final, pruneErr)
	}
	return nil
}

// backupBaseName is the name backups of source start with: source's file
// name without its extension ("butler" for "/x/butler.db").
func backupBaseName(source string) string {
	name := filepath.Base(source)
	if stem := strings.TrimSuffix(name, filepath.Ext(name)); stem != "" {
		return stem
	}
	return name
}

// backupSource is an open, checked connection to the database being backed
// up.
type backupSource struct {
	path     string
	db       *sql.DB
	conn     *sql.Conn
	snapshot bool // a read transaction is open on conn
	closed   bool
	ahead    *prefetcher
}

// openBackupSource opens a read-only connection to the SQLite database at
// path and checks that it is one. When the database is in WAL mode it also
// opens a read transaction, so that the backup copies one snapshot however
// much other connections write meanwhile.
func openBackupSource(ctx context.Context, path string, lock time.Duration, log *slog.Logger) (*backupSource, error) {
	// SQLite would say only "unable to open database file".
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open source database: %w", err)
	}
	dsn, err := sqliteuri.File(path, "mode=ro", busyTimeoutParam(lock))
	if err != nil {
		return nil, fmt.Errorf("backup database %s: %w", path, err)
	}
	db, err := openSQLite(dsn)
	if err != nil {
		return nil, fmt.Errorf("open source database %s: %w", path, err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open source database %s: %w", path, err)
	}
	s := &backupSource{path: path, db: db, conn: conn}
	fail := func(format string, err error) (*backupSource, error) {
		s.close(nil)
		return nil, fmt.Errorf(format, path, err)
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		if isBusy(err) {
			return fail("source database %s is locked by another connection (waited "+lock.String()+"); nothing was written: %w", err)
		}
		return fail("source %s is not a readable SQLite database: %w", err)
	}
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fail("read journal mode of source database %s: %w", err)
	}
	if strings.EqualFold(mode, "wal") {
		if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
			return fail("begin read transaction on source database %s: %w", err)
		}
		s.snapshot = true
		if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
			return fail("begin read transaction on source database %s: %w", err)
		}
	}
	// The copy reads every page of the file, in order.
	s.ahead = startPrefetch(ctx, path, readahead.Forward, log)
	return s, nil
}

// close ends the read transaction, if any, and closes the connection. It
// may be called more than once.
func (s *backupSource) close(log *slog.Logger) {
	if s.closed {
		return
	}
	s.closed = true
	if s.ahead != nil {
		s.ahead.stop()
	}
	if s.snapshot {
		if _, err := s.conn.ExecContext(context.Background(), "ROLLBACK"); err != nil && log != nil {
			log.Warn("end read transaction on source database", "path", s.path, "err", err)
		}
	}
	if err := errors.Join(s.conn.Close(), s.db.Close()); err != nil && log != nil {
		log.Warn("close source database", "path", s.path, "err", err)
	}
}

// copyTo copies the source database into the (empty) file tmp with the
// online backup API, backupStepPages at a time, reporting progress after
// each step and stopping when ctx is done. It returns the number of pages
// copied.
//
// The copy is written without a journal and without syncs (a failed copy
// is thrown away, and finishBackupFile fsyncs a good one before it is
// renamed into place); wb is asked to start writing it to disk every
// writebackEvery bytes.
func (s *backupSource) copyTo(ctx context.Context, r butler.Reporter, tmp string, wb *writeback, log *slog.Logger) (int, error) {
	dst, err := sqliteuri.File(tmp, "_pragma=journal_mode(OFF)", "_pragma=synchronous(OFF)")
	if err != nil {
		return 0, fmt.Errorf("backup database %s: %w", s.path, err)
	}
	var pages int
	err = s.conn.Raw(func(dc any) error {
		bc, ok := dc.(backupConn)
		if !ok {
			return fmt.Errorf("backup database %s: driver connection %T has no online backup", s.path, dc)
		}
		bk, err := bc.NewBackup(dst)
		if err != nil {
			return fmt.Errorf("start backup of %s into %s: %w", s.path, tmp, err)
		}
		finished := false
		defer func() {
			if !finished {
				_ = bk.Finish() // abandoning the copy; its error adds nothing
			}
		}()
		restarts, busyRetries, prevCopied, flushed := 0, 0, 0, 0
		for {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("backup of database %s cancelled after %d pages: %w", s.path, prevCopied, err)
			}
			n := int32(backupStepPages)
			if restarts > maxBackupRestarts {
				n = -1 // copy the rest in one step, holding the lock
			}
			more, err := bk.Step(n)
			if isBusy(err) && busyRetries < maxBackupBusyRetries {
				busyRetries++
				log.Info("source database locked by another connection, trying again",
					"path", s.path, "retries", busyRetries, "err", err)
				continue
			}
			if err != nil {
				return fmt.Errorf("copy pages of %s into %s: %w", s.path, tmp, err)
			}
			total := bk.PageCount()
			copied := total - bk.Remaining()
			if !more {
				copied = total
			}
			// A step that did not get further than the one before started
			// the copy over: the source changed in between.
			if more && copied <= prevCopied {
				restarts++
				log.Info("source database changed during the backup, copy started over",
					"path", s.path, "restarts", restarts)
			}
			prevCopied = copied
			if copied < flushed {
				flushed = 0 // started over
			}
			if copied-flushed >= writebackEveryPages {
				wb.request()
				flushed = copied
			}
			r.Progress(percentOf(copied, total), fmt.Sprintf("copying pages %d/%d", copied, total))
			if !more {
				pages = total
				break
			}
		}
		finished = true
		if err := bk.Finish(); err != nil {
			return fmt.Errorf("finish backup of %s into %s: %w", s.path, tmp, err)
		}
		return nil
	})
	return pages, err
}

// isBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED: a
// lock held by another connection, which may be gone when tried again.
func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff // the primary code of an extended one
	return code == sqliteBusy || code == sqliteLocked
}

// percentOf returns done as a percentage of total, 100 when total is 0.
func percentOf(done, total int) int {
	if total <= 0 {
		return 100
	}
	return int(int64(done) * 100 / int64(total))
}

// finishBackupFile makes the copy of source at tmp a self-contained
// rollback-journal database, checks its integrity and fsyncs it through f,
// an open descriptor of tmp. SQLite does not sync here (synchronous=OFF):
// the one fsync at the end covers the whole file.
func finishBackupFile(ctx context.Context, source, tmp string, f *os.File) error {
	dsn, err := sqliteuri.File(tmp, "mode=rw", busyTimeoutParam(0), "_pragma=synchronous(OFF)")
	if err != nil {
		return fmt.Errorf("check backup %s: %w", tmp, err)
	}
	db, err := openSQLite(dsn)
	if err != nil {
		return fmt.Errorf("open backup %s: %w", tmp, err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open backup %s: %w", tmp, err)
	}
	defer conn.Close()
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode=DELETE").Scan(&mode); err != nil {
		return fmt.Errorf("set journal mode of backup %s: %w", tmp, err)
	}
	problems, err := integrityProblems(ctx, conn)
	if err != nil {
		return fmt.Errorf("integrity check of backup %s: %w", tmp, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("the copy of %s failed its integrity check (the source may be damaged), discarded: %s",
			source, strings.Join(problems, "; "))
	}
	if err := errors.Join(conn.Close(), db.Close()); err != nil {
		return fmt.Errorf("close backup %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync backup %s: %w", tmp, err)
	}
	return nil
}

// sqliteSideSuffixes returns the suffixes of the files SQLite keeps beside
// a database file.
func sqliteSideSuffixes() []string { return []string{"-journal", "-wal", "-shm"} }

// removeSQLiteFiles removes the database file path and any journal, WAL or
// shared-memory file beside it, logging what it cannot remove.
func removeSQLiteFiles(path string, log *slog.Logger) {
	paths := []string{path}
	for _, s := range sqliteSideSuffixes() {
		paths = append(paths, path+s)
	}
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			log.Warn("remove temporary backup file", "path", p, "err", err)
		}
	}
}

// parseBackupName reports whether name is the name of a backup of the
// database whose backups are named after base, and its timestamp.
func parseBackupName(name, base string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(name, base+"-")
	if !ok {
		return time.Time{}, false
	}
	stamp, ok := strings.CutSuffix(rest, ".db")
	if !ok || len(stamp) != len(backupTimeLayout) {
		return time.Time{}, false
	}
	t, err := time.Parse(backupTimeLayout, stamp)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// isBackupTemp reports whether name is a temporary file of a backup of the
// database whose backups are named after base
// (".<base>-<timestamp>-<digits>.tmp"), or a SQLite side file of one.
func isBackupTemp(name, base string) bool {
	rest, ok := strings.CutPrefix(name, "."+base+"-")
	if !ok {
		return false
	}
	for _, s := range sqliteSideSuffixes() {
		if r, ok := strings.CutSuffix(rest, s); ok {
			rest = r
			break
		}
	}
	rest, ok = strings.CutSuffix(rest, ".tmp")
	n := len(backupTimeLayout)
	if !ok || len(rest) < n+2 || rest[n] != '-' {
		return false
	}
	if _, err := time.Parse(backupTimeLayout, rest[:n]); err != nil {
		return false
	}
	for _, c := range rest[n+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// pruneBackups removes from dir all but the newest keep backups named
// after base, never the one named current, and all temporary backup files
// named after base. It returns how many backups and temporary files it
// removed.
func pruneBackups(dir, base, current string, keep int, log *slog.Logger) (backups, temps int, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("list backup directory: %w", err)
	}
	type backup struct {
		name string
		t    time.Time
	}
	var old []backup
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == current {
			continue
		}
		if t, ok := parseBackupName(e.Name(), base); ok {
			old = append(old, backup{e.Name(), t})
			continue
		}
		if isBackupTemp(e.Name(), base) {
			p := filepath.Join(dir, e.Name())
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove stale temporary file: %w", err))
				continue
			}
			log.Info("removed stale temporary backup file", "path", p)
			temps++
		}
	}
	sort.Slice(old, func(i, j int) bool {
		if !old[i].t.Equal(old[j].t) {
			return old[i].t.After(old[j].t)
		}
		return old[i].name > old[j].name
	})
	if keep-1 < len(old) {
		for _, o := range old[max(keep-1, 0):] {
			p := filepath.Join(dir, o.name)
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove old backup: %w", err))
				continue
			}
			log.Info("removed old backup", "path", p)
			backups++
		}
	}
	return backups, temps, errors.Join(errs...)
}

var _ butler.Recoverer = (*BackupDatabase)(nil)

// Recover removes the partial files that a backup of this source left when
// its process died mid-copy (with SharedDir, only those unwritten for an
// hour). The Manager calls it once at start, before any run's action; a
// missing backup directory is not an error.
func (b *BackupDatabase) Recover(ctx context.Context, s butler.Settings) error {
	dir := b.DirIn(s.BackupPath())
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("recover backups in %s: %w", dir, err)
	}
	base := backupBaseName(b.Source)
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() || !isBackupTemp(e.Name(), base) {
			continue
		}
		if b.SharedDir {
			if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < staleDump {
				continue // perhaps another server's backup, being written
			}
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DirIn returns the backup directory of b when the server's backup
// directory setting is backupPath: Dir's when Dir is set, otherwise
// backupPath with Subdir below it; "" when there is none.
func (b *BackupDatabase) DirIn(backupPath string) string {
	switch {
	case b.Dir != nil:
		return b.Dir()
	case backupPath == "":
		return ""
	}
	return filepath.Join(backupPath, b.Subdir)
}

// runSettings returns the settings of the run r reports for, or zero
// settings (no backup directory...) when its reporter has none.
func runSettings(r butler.Reporter) butler.Settings {
	if sr, ok := r.(butler.SettingsReporter); ok {
		return sr.Settings()
	}
	return butler.Settings{}
}
