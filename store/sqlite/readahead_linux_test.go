package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/plexbutler/butler/store/sqlite"
)

// TestCheckReadsAhead: Check reads the whole file into the page cache while
// quick_check runs, pages quick_check itself never reads (those of the
// free list) included, so that a cold check reads the disk in large
// sequential requests. Another connection holds the database locked, so
// that quick_check waits while the read-ahead goes on; the lock is let go
// once the whole file is cached, or after a few seconds.
func TestCheckReadsAhead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "butler.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(DELETE)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		`CREATE TABLE kept (b BLOB)`,
		`INSERT INTO kept VALUES (randomblob(100))`,
		`CREATE TABLE ballast (b BLOB)`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 640) INSERT INTO ballast SELECT randomblob(3000) FROM n`,
		`DROP TABLE ballast`, // its pages go to the free list
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var free int
	if err := db.QueryRowContext(t.Context(), `PRAGMA freelist_count`).Scan(&free); err != nil || free < 400 {
		t.Fatalf("free pages: %d, %v; want the dropped table's", free, err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	size := int(fi.Size())
	pages := (size + os.Getpagesize() - 1) / os.Getpagesize()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Skipf("posix_fadvise: %v", err)
	}
	if n := residentPages(t, f, size); n > 16 {
		t.Skipf("%d pages still cached after FADV_DONTNEED; this file system keeps them", n)
	}
	lock, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(t.Context(), `BEGIN EXCLUSIVE`); err != nil {
		t.Fatal(err)
	}

	checked := make(chan error, 1)
	go func() { checked <- sqlite.Check(context.Background(), path) }()
	// quick_check waits for the lock (busy timeout 5 s): poll the page
	// cache meanwhile, for at most 3 s.
	deadline := time.Now().Add(3 * time.Second)
	n := residentPages(t, f, size)
	for n < pages && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling the kernel's page cache
		n = residentPages(t, f, size)
	}
	if _, err := lock.ExecContext(t.Context(), `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if err := <-checked; err != nil {
		t.Fatalf("Check: %v", err)
	}
	if n != pages {
		t.Errorf("%d of the file's %d pages were cached while quick_check waited, want all (%d of them free)", n, pages, free)
	}
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
	vec := make([]byte, (size+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}
