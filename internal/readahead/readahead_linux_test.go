package readahead

import (
	"context"
	"errors"
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

func TestStartCachesTheFile(t *testing.T) {
	for _, order := range []Order{Forward, BothEnds} {
		size := 3*Chunk + 12345 // not a whole number of chunks
		f := uncachedFile(t, size)
		if err := Start(t.Context(), f.Name(), order).Wait(); err != nil {
			t.Fatalf("order %d: %v", order, err)
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
		order Order
		want  []int64
	}{
		{0, Forward, []int64{}},
		{3, Forward, []int64{0, 1, 2}},
		{0, BothEnds, []int64{}},
		{1, BothEnds, []int64{0}},
		{4, BothEnds, []int64{0, 3, 1, 2}},
		{5, BothEnds, []int64{0, 4, 1, 3, 2}},
	} {
		if got := chunkOrder(c.n, c.order); !slices.Equal(got, c.want) {
			t.Errorf("chunkOrder(%d, %d) = %v, want %v", c.n, c.order, got, c.want)
		}
	}
}

func TestReadAheadLeavesALargeFileAlone(t *testing.T) {
	size := 2 * Chunk
	f := uncachedFile(t, size)
	if err := readAheadUpTo(t.Context(), f, int64(size), int64(size-1), Forward); err != nil {
		t.Fatalf("readAheadUpTo: %v", err)
	}
	if n := residentPages(t, f, size); n != 0 {
		t.Errorf("%d pages cached after the read-ahead of a file over the limit, want none", n)
	}
}

func TestReadAheadStopsWhenCanceled(t *testing.T) {
	size := 4 * Chunk
	f := uncachedFile(t, size)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := readAheadUpTo(ctx, f, int64(size), int64(size), Forward); !errors.Is(err, context.Canceled) {
		t.Fatalf("readAheadUpTo with a canceled context: %v, want context.Canceled", err)
	}
	if n := residentPages(t, f, size); n != 0 {
		t.Errorf("%d pages cached after a canceled read-ahead, want none", n)
	}
}

func TestPageProbe(t *testing.T) {
	size := 2 * Chunk
	f := uncachedFile(t, size)
	p := cacheProbe(f, int64(size))
	defer p.close()
	if p.resident(0, Chunk) || p.resident(Chunk, Chunk) {
		t.Fatal("probe says a dropped file is cached")
	}
	// No kernel read-ahead, so that exactly the chunk read is cached.
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_RANDOM); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadAt(make([]byte, Chunk), 0); err != nil {
		t.Fatal(err)
	}
	if !p.resident(0, Chunk) {
		t.Error("probe says the chunk just read is not cached")
	}
	if p.resident(Chunk, Chunk) {
		t.Error("probe says the chunk not read is cached")
	}
	if n := residentPages(t, f, size); n != Chunk/os.Getpagesize() {
		t.Errorf("%d pages cached, want the %d read", n, Chunk/os.Getpagesize())
	}
}

func TestMemAvailable(t *testing.T) {
	n, ok := memAvailable()
	if !ok || n <= 0 {
		t.Fatalf("memAvailable() = %d, %v; want a positive size", n, ok)
	}
}

func TestStop(t *testing.T) {
	f := uncachedFile(t, 2*Chunk)
	r := Start(t.Context(), f.Name(), BothEnds)
	if err := r.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := r.Stop(); err != nil { // a second Stop returns too
		t.Errorf("second Stop: %v", err)
	}
	// A missing file starts nothing, and Stop says why.
	if err := Start(t.Context(), filepath.Join(t.TempDir(), "missing"), Forward).Stop(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stop of the read-ahead of a missing file: %v, want ErrNotExist", err)
	}
}
