package tasks

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"
)

// prefetchChunk is how much of a file one read-ahead read asks for.
const prefetchChunk = 1 << 20

// prefetcher reads a file into the kernel's page cache ahead of SQLite, in
// a goroutine of its own, so that a full pass over a database that is not
// cached (the nightly case) reads the disk in large sequential requests
// while SQLite works, rather than one page at a time as SQLite asks for
// it. SQLite's b-tree order is not the file's order (an integrity check
// walks a table backwards, a table with deleted rows skips every other
// page), which defeats the kernel's own read-ahead.
//
// It reads through one buffer of prefetchChunk bytes, skips the parts of
// the file already in the page cache (so a cached file costs nothing), and
// runs only when the file fits in half of the memory the kernel reports as
// available: a larger file would evict its own first pages before SQLite
// reached them. It is Linux only; elsewhere it does nothing.
type prefetcher struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// readOrder is the order in which a prefetcher reads a file's chunks.
type readOrder int

const (
	// forward reads from the start to the end: for a copy page by page.
	forward readOrder = iota
	// bothEnds reads a chunk from the start, then one from the end, and so
	// on until they meet: for a b-tree walk, which SQLite's integrity check
	// does backwards (from the file's end, for a table filled in order) and
	// VACUUM forwards.
	bothEnds
)

// chunkOrder returns the offsets of the n chunks of a file in the order o
// reads them.
func chunkOrder(n int64, o readOrder) []int64 {
	idx := make([]int64, 0, n)
	if o == forward {
		for i := range n {
			idx = append(idx, i)
		}
		return idx
	}
	for lo, hi := int64(0), n-1; lo <= hi; lo, hi = lo+1, hi-1 {
		idx = append(idx, lo)
		if hi != lo {
			idx = append(idx, hi)
		}
	}
	return idx
}

// startPrefetch starts reading the file at path into the page cache, its
// chunks in the given order. The caller owns the goroutine: it must call
// stop, which ends it and waits. Failures only lose the speed-up; they are
// logged at debug level.
func startPrefetch(ctx context.Context, path string, order readOrder, log *slog.Logger) *prefetcher {
	ctx, cancel := context.WithCancel(ctx)
	p := &prefetcher{cancel: cancel, done: make(chan struct{})}
	f, err := os.Open(path)
	if err != nil {
		log.Debug("read-ahead not started", "path", path, "err", err)
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		defer f.Close()
		start := time.Now()
		if err := readAhead(ctx, f, order); err != nil {
			if ctx.Err() != nil {
				log.Debug("read-ahead ended before the file's end: the run no longer needs it", "path", path, "took", time.Since(start))
				return
			}
			log.Debug("read-ahead stopped", "path", path, "err", err)
			return
		}
		log.Debug("read-ahead done", "path", path, "took", time.Since(start))
	}()
	return p
}

// stop ends the read-ahead and waits for its goroutine. It may be called
// more than once.
func (p *prefetcher) stop() {
	p.cancel()
	<-p.done
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
