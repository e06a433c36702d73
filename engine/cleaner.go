package engine

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/plexbutler/butler/internal/batchpace"
)

// How long River keeps the jobs it finished, by how they ended. The
// Butler's history is its own runs table; a finished job is kept a day for
// the unique keys of the runs and items it carried (a run is never queued
// twice in a day), a discarded one a week for whoever looks into it.
const (
	completedRetention = 24 * time.Hour
	cancelledRetention = 24 * time.Hour
	discardedRetention = 7 * 24 * time.Hour
)

// cleanEvery is how often the SQLite engine deletes River's expired jobs
// (River's own cleaner: every 30 s).
const cleanEvery = 30 * time.Second

// cleanTarget is how long one batch of the cleaning aims to hold SQLite's
// only writer connection, as for the history's pruning; cleanRest is the
// least rest between two batches.
const (
	cleanTarget = 5 * time.Millisecond
	cleanRest   = 5 * time.Millisecond
	cleanLeast  = 50
	cleanMost   = 1000
)

// cleanSQL deletes a batch of the jobs in one finished state that River
// finished before a time. It reads River's index on (state, finalized_at)
// in its order, so a batch costs its own rows whatever the table holds.
// River's own cleaner deletes up to 10,000 jobs at a time ordered by id,
// which sorts every expired job first (on SQLite: 356 ms for a batch, with
// every write of the server waiting, at 56,000 expired item jobs); on
// SQLite the engine turns it off and runs this instead (jobCleaner).
const cleanSQL = `DELETE FROM river_job WHERE id IN (
	SELECT id FROM river_job WHERE state = ?1 AND finalized_at < ?2 LIMIT ?3)`

// sqliteTime is how River's SQLite driver writes times: compared as text,
// so the format must be exactly this.
const sqliteTime = "2006-01-02 15:04:05.000"

// jobCleaner deletes River's expired jobs on SQLite in batches sized to
// take cleanTarget, resting between them, so that no other write of the
// server waits long for it.
type jobCleaner struct {
	db     *sql.DB
	logger *slog.Logger
	now    func() time.Time
	batch  int64 // the next batch's size; only the cleaner's goroutine uses it
}

// run cleans every cleanEvery until ctx is done.
func (c *jobCleaner) run(ctx context.Context) {
	tick := time.NewTicker(cleanEvery)
	defer tick.Stop()
	for {
		if n, err := c.clean(ctx); err != nil {
			if ctx.Err() == nil {
				c.logger.WarnContext(ctx, "engine: delete expired jobs", slog.Int("deleted", n), slog.String("error", err.Error()))
			}
		} else if n > 0 {
			c.logger.DebugContext(ctx, "engine: deleted expired jobs", slog.Int("deleted", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// clean deletes every job that has expired now, a batch at a time, and
// returns how many it deleted.
func (c *jobCleaner) clean(ctx context.Context) (int, error) {
	now := c.now()
	total := 0
	for _, s := range []struct {
		state     string
		retention time.Duration
	}{
		{"completed", completedRetention},
		{"cancelled", cancelledRetention},
		{"discarded", discardedRetention},
	} {
		horizon := now.Add(-s.retention).UTC().Format(sqliteTime)
		for {
			n, full, took, err := c.batchOf(ctx, s.state, horizon)
			total += int(n)
			if err != nil {
				return total, fmt.Errorf("%s jobs: %w", s.state, err)
			}
			if !full {
				break // none of them left
			}
			if err := rest(ctx, max(took, cleanRest)); err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// batchOf deletes one batch of the state's jobs finished before horizon:
// how many it deleted, whether the batch was full (more may be left), and
// how long it took. A full batch sizes the next one to its pace.
func (c *jobCleaner) batchOf(ctx context.Context, state, horizon string) (n int64, full bool, took time.Duration, err error) {
	batch := c.batch
	if batch <= 0 {
		batch = cleanLeast
	}
	start := time.Now()
	res, err := c.db.ExecContext(ctx, cleanSQL, state, horizon, batch)
	took = time.Since(start)
	if err != nil {
		return 0, false, took, err
	}
	if n, err = res.RowsAffected(); err != nil {
		return 0, false, took, err
	}
	full = n == batch
	if full {
		c.batch = batchpace.Next(n, batch, cleanLeast, cleanMost, took, cleanTarget)
	}
	return n, full, took, nil
}

// rest waits d, or until ctx is done.
func rest(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
