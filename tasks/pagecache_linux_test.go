package tasks

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// uncachedFile writes a file of size bytes, syncs it and asks the kernel
// to drop it from the page cache; it skips the test when the kernel keeps
// it anyway (some file systems ignore the advice).
func uncachedFile(t *testing.T, size int) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data")
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Skipf("posix_fadvise: %v", err)
	}
	if n := residentPages(t, f, size); n != 0 {
		t.Skipf("%d pages still cached after FADV_DONTNEED; this file system keeps them", n)
	}
	return f
}

// residentPages counts the pages of the first size bytes of f that are in
// the page cache (mincore on a mapping that is never touched).
func residentPages(t *testing.T, f *os.File, size int) int {
	t.Helper()
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	pages := (size + os.Getpagesize() - 1) / os.Getpagesize()
	vec := make([]byte, pages)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

func TestReadAheadCachesTheFile(t *testing.T) {
	for _, order := range []readOrder{forward, bothEnds} {
		size := 3*prefetchChunk + 12345 // not a whole number of chunks
		f := uncachedFile(t, size)
		if err := readAheadUpTo(t.Context(), f, int64(size), int64(size), order); err != nil {
			t.Fatalf("readAheadUpTo(order %d): %v", order, err)
		}
		pages := (size + os.Getpagesize() - 1) / os.Getpagesize()
		if n := residentPages(t, f, size); n != pages {
			t.Errorf("order %d: %d of %d pages cached after the read-ahead, want all", order, n, pages)
		}
	}
}

func TestChunkOrder(t *testing.T) {
	for _, c := range []struct {
		n     int64
		order readOrder
		want  []int64
	}{
		{0, forward, []int64{}},
		{3, forward, []int64{0, 1, 2}},
		{0, bothEnds, []int64{}},
		{1, bothEnds, []int64{0}},
		{4, bothEnds, []int64{0, 3, 1, 2}},
		{5, bothEnds, []int64{0, 4, 1, 3, 2}},
	} {
		if got := chunkOrder(c.n, c.order); !slices.Equal(got, c.want) {
			t.Errorf("chunkOrder(%d, %d) = %v, want %v", c.n, c.order, got, c.want)
		}
	}
}

func TestReadAheadLeavesALargeFileAlone(t *testing.T) {
	size := 2 * prefetchChunk
	f := uncachedFile(t, size)
	if err := readAheadUpTo(t.Context(), f, int64(size), int64(size-1), forward); err != nil {
		t.Fatalf("readAheadUpTo: %v", err)
	}
	if n := residentPages(t, f, size); n != 0 {
		t.Errorf("%d pages cached after the read-ahead of a file over the limit, want none", n)
	}
}

func TestReadAheadStopsWhenCanceled(t *testing.T) {
	size := 4 * prefetchChunk
	f := uncachedFile(t, size)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := readAheadUpTo(ctx, f, int64(size), int64(size), forward); !errors.Is(err, context.Canceled) {
		t.Fatalf("readAheadUpTo with a canceled context: %v, want context.Canceled", err)
	}
	if n := residentPages(t, f, size); n != 0 {
		t.Errorf("%d pages cached after a canceled read-ahead, want none", n)
	}
}

func TestPageProbe(t *testing.T) {
	size := 2 * prefetchChunk
	f := uncachedFile(t, size)
	p := cacheProbe(f, int64(size))
	defer p.close()
	if p.resident(0, prefetchChunk) || p.resident(prefetchChunk, prefetchChunk) {
		t.Fatal("probe says a dropped file is cached")
	}
	// No kernel read-ahead, so that exactly the chunk read is cached.
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_RANDOM); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadAt(make([]byte, prefetchChunk), 0); err != nil {
		t.Fatal(err)
	}
	if !p.resident(0, prefetchChunk) {
		t.Error("probe says the chunk just read is not cached")
	}
	if p.resident(prefetchChunk, prefetchChunk) {
		t.Error("probe says the chunk not read is cached")
	}
	if p.resident(prefetchChunk/2, prefetchChunk) {
		t.Error("probe says a range half in the cache is cached")
	}
	// The probe maps the file but reads none of it.
	if n := residentPages(t, f, size); n != prefetchChunk/os.Getpagesize() {
		t.Errorf("%d pages cached, want the %d read", n, prefetchChunk/os.Getpagesize())
	}
}

func TestMemAvailable(t *testing.T) {
	n, ok := memAvailable()
	if !ok || n <= 0 {
		t.Fatalf("memAvailable() = %d, %v; want a positive size", n, ok)
	}
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		t.Fatal(err)
	}
	if total := int64(si.Totalram) * int64(si.Unit); n > total {
		t.Errorf("memAvailable() = %d, more than the %d bytes of RAM", n, total)
	}
}

func TestPrefetcherStop(t *testing.T) {
	size := 2 * prefetchChunk
	f := uncachedFile(t, size)
	p := startPrefetch(t.Context(), f.Name(), bothEnds, slog.New(slog.DiscardHandler))
	p.stop()
	p.stop() // a second stop returns too
	// A missing file starts nothing, and stop still returns.
	startPrefetch(t.Context(), filepath.Join(t.TempDir(), "missing"), forward, slog.New(slog.DiscardHandler)).stop()
}

func TestWritebackKeepsTheData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := startWriteback(f)
	want := make([]byte, 0, 64<<10)
	for i := range 64 {
		chunk := make([]byte, 1<<10)
		for j := range chunk {
			chunk[j] = byte(i + j)
		}
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
		want = append(want, chunk...)
		w.request()
	}
	w.stop()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("file has %d bytes after write-back requests, want the %d written", len(got), len(want))
	}
}
