package readahead

import (
	"bufio"
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readAhead reads f, Chunk at a time in the given order, into a buffer it
// throws away, until the end of the file or until ctx is done: the kernel
// keeps what was read in its page cache. A file larger than half of the
// available memory is left alone. (posix_fadvise's WILLNEED was tried for
// the tasks first: the kernel dropped most of it while SQLite was reading
// the same file, so the pages were read one by one after all.)
func readAhead(ctx context.Context, f *os.File, order Order) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	avail, ok := memAvailable()
	if !ok {
		return nil
	}
	return readAheadUpTo(ctx, f, fi.Size(), avail/2, order)
}

// readAheadUpTo reads the first size bytes of f, unless size is more than
// limit, skipping the chunks already in the page cache.
func readAheadUpTo(ctx context.Context, f *os.File, size, limit int64, order Order) error {
	if size > limit || size <= 0 {
		return nil
	}
	cached := cacheProbe(f, size)
	defer cached.close()
	buf := make([]byte, Chunk)
	for _, i := range chunkOrder((size+Chunk-1)/Chunk, order) {
		if err := ctx.Err(); err != nil {
			return err
		}
		off := i * Chunk
		n := min(Chunk, size-off)
		if cached.resident(off, n) {
			continue
		}
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			if err == io.EOF {
				continue // the file shrank meanwhile
			}
			return err
		}
	}
	return nil
}

// pageProbe tells which parts of a file are in the page cache, with
// mincore(2) on a mapping of the file that is never touched (so nothing is
// read, and the mapping adds nothing to the process's memory).
type pageProbe struct {
	m   []byte // nil when the file could not be mapped: nothing is known
	vec []byte
}

// cacheProbe maps the first size bytes of f for probing. When that fails
// the probe says nothing is cached.
func cacheProbe(f *os.File, size int64) pageProbe {
	m, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return pageProbe{}
	}
	return pageProbe{m: m, vec: make([]byte, Chunk/os.Getpagesize()+1)}
}

// resident reports whether every page of the n bytes at off is in the page
// cache. Linux answers only for files the process may write (or owns);
// for others every page looks absent, and the read-ahead reads them all.
func (p pageProbe) resident(off, n int64) bool {
	if p.m == nil {
		return false
	}
	page := int64(os.Getpagesize())
	start := off / page * page
	end := min(off+n, int64(len(p.m)))
	pages := (end - start + page - 1) / page
	if pages <= 0 || pages > int64(len(p.vec)) {
		return false
	}
	region := p.m[start:end]
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&region[0])), uintptr(len(region)), uintptr(unsafe.Pointer(&p.vec[0])))
	if errno != 0 {
		return false
	}
	for _, v := range p.vec[:pages] {
		if v&1 == 0 {
			return false
		}
	}
	return true
}

// close unmaps the probe's mapping.
func (p pageProbe) close() {
	if p.m != nil {
		_ = unix.Munmap(p.m)
	}
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
