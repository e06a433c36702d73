package tasks

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/plexbutler/butler/internal/readahead"
)

// prefetcher reads a file into the kernel's page cache ahead of SQLite
// while a task's run works on it (package readahead says how and why); the
// run owns it and must call stop, which logs how it ended at debug level.
type prefetcher struct {
	r     *readahead.Reader
	path  string
	log   *slog.Logger
	start time.Time
}

// startPrefetch starts reading the file at path into the page cache, its
// chunks in the given order.
func startPrefetch(ctx context.Context, path string, order readahead.Order, log *slog.Logger) *prefetcher {
	return &prefetcher{r: readahead.Start(ctx, path, order), path: path, log: log, start: time.Now()}
}

// stop ends the read-ahead and waits for it. Failures only lose the
// speed-up. It may be called more than once.
func (p *prefetcher) stop() {
	if err := p.r.Stop(); err != nil {
		p.log.Debug("read-ahead stopped", "path", p.path, "err", err)
		return
	}
	p.log.Debug("read-ahead ended", "path", p.path, "took", time.Since(p.start))
}

// writeback starts the kernel writing a file's dirty pages to disk while
// the file is still being written, so that the final fsync has little left
// to wait for: a backup copy is written with SQLite's synchronous=OFF and
// made durable by one fsync of ours before its rename, and without this
// the kernel would hold its dirty pages until that fsync (or for up to
// 30 s), leaving the disk idle while SQLite copies and checks.
//
// Requests go to a goroutine of its own, since starting write-back can
// block while the disk is busy; kick never blocks.
type writeback struct {
	f    *os.File
	kick chan struct{}
	wg   sync.WaitGroup
}

// startWriteback starts the write-back goroutine for f, which stays open
// and owned by the caller. The caller must call stop before closing f.
func startWriteback(f *os.File) *writeback {
	w := &writeback{f: f, kick: make(chan struct{}, 1)}
	w.wg.Go(func() {
		for range w.kick {
			startFileWriteback(w.f)
		}
	})
	return w
}

// request asks for write-back of what is dirty now; a request already
// waiting covers it.
func (w *writeback) request() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// stop ends the goroutine and waits for it. It must be called once.
func (w *writeback) stop() {
	close(w.kick)
	w.wg.Wait()
}
