package tasks

import (
	"bufio"
	"context"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// readAhead reads f from the start, prefetchChunk at a time, into a buffer
// it throws away, until the end of the file or until ctx is done: the
// kernel keeps what was read in its page cache. A file larger than half of
// the available memory is left alone. (posix_fadvise's WILLNEED was tried
// first: the kernel dropped most of it while SQLite was reading the same
// file, so the pages were read one by one after all.)
func readAhead(ctx context.Context, f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	avail, ok := memAvailable()
	if !ok {
		return nil
	}
	return readAheadUpTo(ctx, f, fi.Size(), avail/2)
}

// readAheadUpTo reads the first size bytes of f, unless size is more than
// limit.
func readAheadUpTo(ctx context.Context, f *os.File, size, limit int64) error {
	if size > limit {
		return nil
	}
	buf := make([]byte, prefetchChunk)
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := f.ReadAt(buf, off)
		off += int64(n)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// memAvailable returns MemAvailable from /proc/meminfo in bytes: the
// kernel's estimate of the memory available without swapping, page cache
// that can be dropped included.
func memAvailable() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:")
		if !ok {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, false
		}
		return kib << 10, true
	}
	return 0, false
}

// startFileWriteback starts writing f's dirty pages to disk without waiting
// for them (sync_file_range with SYNC_FILE_RANGE_WRITE). It is a hint: the
// fsync that follows is what makes the data durable, so an error is ignored.
func startFileWriteback(f *os.File) {
	_ = unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
}
