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
// made it 10 GiB. Once the log holds more than walSizeLimit and all of it
// is copied, the checkpointer runs a RESTART checkpoint: it keeps new
// writes waiting, for at most restartWait, while the readers still
// reading snapshots in the log finish (new readers read the database
// file); the next write starts the log over and cuts its file back to
// walSizeLimit. The writes that waited are the price of a log that does
// not grow without bound (tens of ms, once a second while it would).
type checkpointer struct {
	db      *sql.DB // one connection, for checkpoints only
	wal     string  // the log's path
	every   time.Duration
	at      int64      // the log's size, in bytes, from which it checkpoints
	limit   int64      // what the log may hold before it is started over
	page    int64      // the database's page size, a frame's
	busy    sync.Mutex // held by a check or a settle
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
	walSizeLimit = 64 << 20
	restartWait  = 20 * time.Millisecond
)

// startCheckpointer opens the checkpointer's connection to the database
// at path and starts it.
func startCheckpointer(path string, every time.Duration, at, limit int64) (*checkpointer, error) {
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
	c := &checkpointer{db: db, wal: path + "-wal", every: every, at: at, limit: limit, page: page,
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
	// A RESTART copies what came since, holding writes back meanwhile (and
	// for the database's fsync): a second PASSIVE copies that first, and
	// when it was quick, little is left for the RESTART.
	start := time.Now()
	if frames, copied, err = c.passive(ctx); err != nil || frames != copied || time.Since(start) > restartWait {
		return
	}
	c.restart(ctx, restartWait)
}

// settle is for a writer between two of many writes (the pruning of a long
// history): while the log holds more than half of c.limit, it copies the
// log and starts it over if that holds no write back — nothing new to
// copy, no reader in the log. Between two batches there is nothing new, and
// a reader is in the log only now and then: the log starts over long before
// the checkpointer would hold writes back for it. It does nothing while a
// check is under way.
func (c *checkpointer) settle(ctx context.Context) {
	if !c.busy.TryLock() {
		return
	}
	defer c.busy.Unlock()
	if !c.logFileHolds(c.limit / 2) {
		return // nor can the log: most prunes stop here, at a stat
	}
	frames, copied, err := c.passive(ctx)
	if err != nil || int64(frames)*c.page <= c.limit/2 || frames != copied {
		return
	}
	c.restart(ctx, 0)
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
// time it gives up.
func (c *checkpointer) restart(ctx context.Context, wait time.Duration) {
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", wait.Milliseconds())); err != nil {
		return
	}
	var busy, frames, copied int
	_ = conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &frames, &copied)
}

// stop stops the checkpointer and closes its connection.
func (c *checkpointer) stop() error {
	c.cancel()
	<-c.stopped
	return c.db.Close()
}
