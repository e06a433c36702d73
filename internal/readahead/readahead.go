// Package readahead reads a file into the kernel's page cache ahead of
// SQLite, in a goroutine of its own, so that a full pass over a database
// that is not cached (an integrity check at start) reads the disk in large
// sequential requests while SQLite works, rather than one page at a time
// as SQLite asks for it. SQLite's b-tree order is not the file's order (a
// check walks a table filled in order backwards, from the file's end),
// which defeats the kernel's own read-ahead.
//
// It reads through one buffer of Chunk bytes, skips the parts of the file
// already in the page cache (so a cached file costs next to nothing), and
// runs only when the file fits in half of the memory the kernel reports as
// available: a larger file would evict its own first pages before SQLite
// reached them. It is Linux only; elsewhere it does nothing. (It is the
// technique of the BackupDatabase and OptimizeDatabase tasks.)
package readahead

import (
	"context"
	"os"
)

// Chunk is how much of a file one read asks for.
const Chunk = 1 << 20

// Order is the order in which a file's chunks are read.
type Order int

const (
	// Forward reads from the start to the end: for a copy page by page.
	Forward Order = iota
	// BothEnds reads a chunk from the start, then one from the end, and so
	// on until they meet: for a b-tree walk, which SQLite's checks do
	// backwards for a table filled in order.
	BothEnds
)

// chunkOrder returns the indexes of the n chunks of a file in the order o
// reads them.
func chunkOrder(n int64, o Order) []int64 {
	idx := make([]int64, 0, n)
	if o == Forward {
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

// Reader is a read-ahead under way.
type Reader struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Start starts reading the file at path into the page cache, its chunks in
// the given order. The caller must call Stop. Failures only lose the
// speed-up: Stop returns them, for a debug log at most.
func Start(ctx context.Context, path string, order Order) *Reader {
	ctx, cancel := context.WithCancel(ctx)
	r := &Reader{cancel: cancel, done: make(chan struct{})}
	f, err := os.Open(path)
	if err != nil {
		r.err = err
		close(r.done)
		return r
	}
	go func() {
		defer close(r.done)
		defer f.Close()
		if err := readAhead(ctx, f, order); err != nil && ctx.Err() == nil {
			r.err = err
		}
	}()
	return r
}

// Wait waits for the read-ahead to reach the file's end (or to fail) and
// returns its error.
func (r *Reader) Wait() error {
	<-r.done
	return r.err
}

// Stop ends the read-ahead, waits for its goroutine and returns its error
// (none when it was stopped before the end). It may be called more than
// once.
func (r *Reader) Stop() error {
	r.cancel()
	<-r.done
	return r.err
}
