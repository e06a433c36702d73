package sqlite

import (
	"context"
	"database/sql"
	"os"
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
type checkpointer struct {
	db      *sql.DB // one connection, for checkpoints only
	wal     string  // the log's path
	every   time.Duration
	at      int64 // the log's size, in bytes, from which it checkpoints
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
// large file behind.
const walSizeLimit = 64 << 20

// startCheckpointer opens the checkpointer's connection to the database
// at path and starts it.
func startCheckpointer(path string, every time.Duration, at int64) (*checkpointer, error) {
	conn, err := newCachingConnector(dsn(path))
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{db: db, wal: path + "-wal", every: every, at: at, cancel: cancel, stopped: make(chan struct{})}
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
		if fi, err := os.Stat(c.wal); err != nil || fi.Size() < c.at {
			continue
		}
		// PASSIVE: what can be copied without waiting for anyone. An error
		// (the database busy with another checkpoint, say) waits for the
		// next tick.
		var busy, frames, copied int
		_ = c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
	}
}

// stop stops the checkpointer and closes its connection.
func (c *checkpointer) stop() error {
	c.cancel()
	<-c.stopped
	return c.db.Close()
}
