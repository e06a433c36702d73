package tasks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	butler "github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/readahead"
	"github.com/plexbutler/butler/internal/sqliteuri"
)

// OptimizeDatabase is the action of the OptimizeDatabase task: it checks a
// SQLite database's integrity and then runs PRAGMA optimize, ANALYZE and,
// when a tenth of the file or more is free pages (VacuumFree), VACUUM on
// it, reclaiming the space of deleted rows.
//
// A run opens a read-write connection of its own to Path (it never creates
// the file) that waits up to LockTimeout for locks held by other
// connections. It
// refuses to touch a database whose PRAGMA integrity_check does not report
// "ok". The size it reports is the database's logical size, page_count ×
// page_size, before and after; after the VACUUM it runs PRAGMA
// wal_checkpoint(TRUNCATE), so that a database in WAL mode shrinks on disk
// too and its WAL file is emptied.
//
// The integrity check and the VACUUM read every page in b-tree order,
// which is not the file's order; so that a database that is not in the page
// cache costs one sequential read rather than a disk request per page, a
// goroutine of the run reads the file ahead into the page cache (Linux,
// when the file fits in half of the available memory).
//
// VACUUM rewrites the whole database and needs free disk space of up to
// twice its size; while it runs, other connections cannot write (the
// server's own writes wait: 3.5 s for a 1 GiB database). So it is skipped
// when little would be reclaimed, as most weeks: the file's free pages
// are then reused by later writes anyway.
type OptimizeDatabase struct {
	// Path is the path of the SQLite database file.
	Path string
	// LockTimeout is how long the run waits for a lock that another
	// connection holds on the database before it fails; 0 means
	// DefaultLockTimeout (5 s).
	LockTimeout time.Duration
}

var _ butler.Action = (*OptimizeDatabase)(nil)

// Run checks and optimizes the database at Path. When ctx is done the
// statement running is interrupted, and SQLite rolls back what it did.
func (o *OptimizeDatabase) Run(ctx context.Context, r butler.Reporter) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("optimization of database %s not started: %w", o.Path, err)
	}
	if o.Path == "" {
		return errors.New("optimize database: no database path set")
	}
	log := r.Logger()
	// SQLite would say only "unable to open database file".
	if _, err := os.Stat(o.Path); err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	dsn, err := sqliteuri.File(o.Path, "mode=rw", busyTimeoutParam(o.LockTimeout))
	if err != nil {
		return fmt.Errorf("optimize database %s: %w", o.Path, err)
	}
	db, err := openSQLite(dsn)
	if err != nil {
		return fmt.Errorf("open database %s: %w", o.Path, err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return o.fail(ctx, "open database", err)
	}
	defer conn.Close()

	// The integrity check and the VACUUM read every page, not in the
	// file's order; reading the file ahead of them makes a database that is
	// not in the page cache cost one sequential read.
	ahead := startPrefetch(ctx, o.Path, readahead.BothEnds, log)
	defer ahead.stop()

	r.Progress(0, "checking integrity")
	problems, err := integrityProblems(ctx, conn)
	if err != nil {
		return o.fail(ctx, "integrity check", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("database %s failed its integrity check, not optimizing it: %s", o.Path, strings.Join(problems, "; "))
	}
	before, err := databaseSize(ctx, conn)
	if err != nil {
		return o.fail(ctx, "measure size", err)
	}

	steps := []struct {
		percent int
		step    string
		sql     string
	}{
		{10, "running PRAGMA optimize", "PRAGMA optimize"},
		{20, "analyzing", "ANALYZE"},
		{40, "vacuuming", "VACUUM"},
	}
	var skipped string // why VACUUM was not run
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return o.fail(ctx, s.sql, err)
		}
		if s.sql == "VACUUM" {
			free, pages, err := freePages(ctx, conn)
			if err != nil {
				return o.fail(ctx, "count free pages", err)
			}
			if free*VacuumFree < pages {
				skipped = fmt.Sprintf("%d of its %d pages free, under a tenth", free, pages)
				log.Info("database not vacuumed: little to reclaim", "path", o.Path, "free_pages", free, "pages", pages)
				continue
			}
		}
		r.Progress(s.percent, s.step)
		if err := execRetryingBusy(ctx, conn, s.sql, max(10*time.Second, lockTimeout(o.LockTimeout))); err != nil {
			return o.fail(ctx, s.sql, err)
		}
	}

	r.Progress(95, "checkpointing")
	var busy, walPages, checkpointed int
	if err := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &walPages, &checkpointed); err != nil {
		return o.fail(ctx, "wal_checkpoint", err)
	}
	if busy != 0 {
		log.Info("WAL checkpoint could not finish, other connections are using the database",
			"path", o.Path, "wal_pages", walPages, "checkpointed", checkpointed)
	}
	after, err := databaseSize(ctx, conn)
	if err != nil {
		return o.fail(ctx, "measure size", err)
	}
	r.Progress(100, "done")
	reclaimed := max(before-after, 0)
	log.Info("database optimized", "path", o.Path, "bytes_before", before, "bytes_after", after)
	if skipped != "" {
		r.Summary(fmt.Sprintf("checked and analysed %s; not vacuumed: %s", formatBytes(after), skipped))
		return nil
	}
	r.Summary(fmt.Sprintf("reclaimed %s (from %s to %s)", formatBytes(reclaimed), formatBytes(before), formatBytes(after)))
	return nil
}

// VacuumFree is the share of a database's pages that must be free for
// OptimizeDatabase to VACUUM it: one in VacuumFree.
const VacuumFree = 10

// freePages returns the database's free pages and all its pages.
func freePages(ctx context.Context, conn *sql.Conn) (free, pages int64, err error) {
	if err := conn.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free); err != nil {
		return 0, 0, err
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		return 0, 0, err
	}
	return free, pages, nil
}

// fail wraps err, from the step what, in an error that names the database
// and, when ctx is done, wraps ctx's error rather than SQLite's
// "interrupted".
func (o *OptimizeDatabase) fail(ctx context.Context, what string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("optimization of database %s cancelled during %s: %w", o.Path, what, ctxErr)
	}
	return fmt.Errorf("optimize database %s: %s: %w", o.Path, what, err)
}

// databaseSize returns the logical size of conn's main database in bytes,
// page_count × page_size.
func databaseSize(ctx context.Context, conn *sql.Conn) (int64, error) {
	var pages, size int64
	if err := conn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		return 0, err
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA page_size").Scan(&size); err != nil {
		return 0, err
	}
	return pages * size, nil
}

// execRetryingBusy runs a statement, trying again while SQLite answers busy
// past its busy timeout's help: a statement that reads and then writes
// (PRAGMA optimize, ANALYZE) fails at once with SQLITE_BUSY_SNAPSHOT when
// another connection wrote in between, and only a new try helps. It gives up
// after about limit, or when ctx is done.
func execRetryingBusy(ctx context.Context, conn *sql.Conn, query string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for wait := 10 * time.Millisecond; ; wait = min(wait*2, 500*time.Millisecond) {
		_, err := conn.ExecContext(ctx, query)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
