package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync"
	"time"
)

// A database file's write-ahead log is copied into the database (a
// checkpoint) by a connection of its own, in the background, never by a
// write.
//
// SQLite's default is that the commit that takes the log past 1,000 pages
// copies it: that commit's caller waits for the copy and, with
// synchronous=NORMAL, for two fsyncs — up to a second on a slow disk, for
// whichever API call happened to commit then. So the writer's connection
// has wal_autocheckpoint off, and the checkpointer runs a PASSIVE
// checkpoint, which neither waits for nor blocks the writer and the
// readers, whenever the log has grown past checkpointAt. The last
// connection to close checkpoints what is left and removes the log, as
// before.
//
// A PASSIVE checkpoint copies the log but cannot start it over: the next
// write starts it over only if no reader is then reading a snapshot that
// holds some of its pages, and with reads and writes back to back (the
// server pruning a long history while clients read) there always is one,
// so the log grows by all that is written: pruning a history of 1 GiB
// made it 10 GiB. So the log is started over by a RESTART checkpoint,
// which keeps new writes waiting while the readers still reading
// snapshots in the log finish (new readers read the database file); the
// next write starts the log over and cuts its file back to walSizeLimit.
//
// A RESTART also copies what came since the last copy and then syncs the
// database file: an fsync, which on a busy disk takes tens of ms, with
// every write waiting. So the checkpointer starts the log over only when
// there is nothing left to copy (restartIdle): it copies, holds the
// writer's connection (no write of this process can commit meanwhile),
// and runs the RESTART only if nothing was committed since that copy
// began; then the RESTART takes microseconds. It does so between two
// batches of the pruning (settle), once the log holds more than half of
// walSizeLimit, waiting for no reader; and by itself (check) once the log
// holds more than walSizeLimit, waiting at most restartWait for readers.
// Under writes so steady that nothing is ever quiet for the length of a
// copy, check starts the log over all the same after restartMisses tries:
// a wait of the writes for one copy is the price of a log that does not
// grow without bound.
type checkpointer struct {
	db     *sql.DB // one connection, for checkpoints only
	writer *sql.DB // the writer, held while the log starts over
	wal    string  // the log's path
	every  time.Duration
	at     int64      // the log's size, in bytes, from which it checkpoints
	limit  int64      // what the log may hold before it is started over
	page   int64      // the database's page size, a frame's
	busy   sync.Mutex // held by a check or a settle
	misses int        // checks in a row that found the log too large and could not start it over
	// patient is how many such checks go by before one holds writes back
	// for a copy (restartMisses).
	patient int
	// held, when set (tests), is called by restartIdle once it holds the
	// writer, before it looks whether anything was committed.
	held    func()
	cancel  context.CancelFunc
	stopped chan struct{}
}

// Checkpointing's defaults: the log is looked at every second and copied
// once it holds some 1,000 pages of 4 KiB, SQLite's own threshold.
const (
	checkpointEvery = time.Second
	checkpointAt    = 4 << 20
)

// walSizeLimit is what the log is cut back to when it starts over after a
// checkpoint (journal_size_limit): a burst of writes does not leave a
// large file behind. A log holding more than that is started over by the
// checkpointer (RESTART), which waits at most restartWait for readers.
const (
	walSizeLimit  = 64 << 20
	restartWait   = 20 * time.Millisecond
	restartMisses = 5
)

// startCheckpointer opens the checkpointer's connection to the database
// at path and starts it; writer is the database's writer.
func startCheckpointer(path string, writer *sql.DB, every time.Duration, at, limit int64) (*checkpointer, error) {
	conn, err := newCachingConnector(dsn(path))
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1)
	var page int64
	if err := db.QueryRow("PRAGMA page_size").Scan(&page); err != nil || page <= 0 {
		page = 4096
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{db: db, writer: writer, patient: restartMisses, wal: path + "-wal", every: every, at: at, limit: limit, page: page,
		cancel: cancel, stopped: make(chan struct{})}
	go c.run(ctx)
	return c, nil
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.stopped)
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c.check(ctx)
	}
}

// check checkpoints the log if its file has grown past c.at, and starts
// it over if it holds more than c.limit.
func (c *checkpointer) check(ctx context.Context) {
	c.busy.Lock()
	defer c.busy.Unlock()
	if !c.logFileHolds(c.at) {
		return
	}
	// PASSIVE: what can be copied without waiting for anyone. An error
	// (the database busy with another checkpoint, say) waits for the
	// next tick.
	frames, copied, err := c.passive(ctx)
	// frames is what the log holds since it last started over (its file
	// keeps its size until a write cuts it back to walSizeLimit).
	if err != nil || int64(frames)*c.page <= c.limit || frames != copied {
		return
	}
	if c.restartIdle(ctx, restartWait) {
		c.misses = 0
		return
	}
	if c.misses++; c.misses < c.patient {
		return
	}
	// Never quiet: copy what came since and start over, holding writes
	// back for it.
	c.misses = 0
	if conn, err := c.writer.Conn(ctx); err == nil {
		_ = c.restart(ctx, restartWait) // if readers stay, the next check tries again
		conn.Close()
	}
}

// settle is for a writer between two of many writes (the pruning of a long
// history): once the log holds more than half of c.limit, it copies it and
// starts it over if nothing else was committed meanwhile and no reader is
// in the log (restartIdle, waiting for nobody). Between two batches that
// is most often so: the log starts over long before check would do it. It
// does nothing while a check is under way.
func (c *checkpointer) settle(ctx context.Context) {
	if !c.busy.TryLock() {
		return
	}
	defer c.busy.Unlock()
	// The file keeps its size (up to c.limit) when the log starts over:
	// a small file says the log is small, a large one may hold little,
	// which the PASSIVE copies at little cost and counts.
	if !c.logFileHolds(c.limit / 2) {
		return
	}
	frames, copied, err := c.passive(ctx)
	if err != nil || int64(frames)*c.page <= c.limit/2 || frames != copied {
		return
	}
	c.restartIdle(ctx, 0)
}

// restartIdle copies the log (a PASSIVE checkpoint, holding nothing back),
// then holds the writer and, if nothing was committed since the copy began
// (SQLite's data_version, which changes with any other connection's
// commit), starts the log over with a RESTART that has nothing to copy
// and waits at most wait for the readers in the log. It reports whether
// the log was started over; false means something was committed, or a
// reader stayed in the log (or an error), and a later try may do better.
func (c *checkpointer) restartIdle(ctx context.Context, wait time.Duration) bool {
	before, err := c.dataVersion(ctx)
	if err != nil {
		return false
	}
	if frames, copied, err := c.passive(ctx); err != nil || frames != copied {
		return false
	}
	conn, err := c.writer.Conn(ctx)
	if err != nil {
		return false
	}
	defer conn.Close()
	if c.held != nil {
		c.held()
	}
	if now, err := c.dataVersion(ctx); err != nil || now != before {
		return false
	}
	return c.restart(ctx, wait)
}

// dataVersion is SQLite's data_version on the checkpointer's connection:
// it changes when another connection has committed.
func (c *checkpointer) dataVersion(ctx context.Context) (int64, error) {
	var v int64
	err := c.db.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v)
	return v, err
}

// logFileHolds reports whether the log's file is at least n bytes long.
func (c *checkpointer) logFileHolds(n int64) bool {
	fi, err := os.Stat(c.wal)
	return err == nil && fi.Size() >= n
}

// passive runs a PASSIVE checkpoint and returns the frames in the log and
// the frames copied.
func (c *checkpointer) passive(ctx context.Context) (frames, copied int, err error) {
	var busy int
	err = c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
	return frames, copied, err
}

// restart makes the next write start the log over with a RESTART
// checkpoint, waiting at most wait for the writer and for the readers of
// the log's snapshots (writes wait meanwhile). When they do not finish in
// time it gives up, and reports false.
func (c *checkpointer) restart(ctx context.Context, wait time.Duration) bool {
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return false
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", wait.Milliseconds())); err != nil {
		return false
	}
	var busy, frames, copied int
	err = conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &frames, &copied)
	return err == nil && busy == 0
}

// stop stops the checkpointer and closes its connection.
func (c *checkpointer) stop() error {
	c.cancel()
	<-c.stopped
	return c.db.Close()
}
