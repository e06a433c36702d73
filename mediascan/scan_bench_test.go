package mediascan_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/mediascan"
	"github.com/plexbutler/butler/store/sqlite"
)

// BenchmarkScan scans a tree of BUTLER_BENCH_SCAN_FILES files (10,000 by
// default; 100 per directory, as seasons and albums hold them) into a
// SQLite index in a file: the first scan (every file new) and a rescan
// with nothing changed. It reports the time per file of each and the
// largest Go heap seen while scanning.
func BenchmarkScan(b *testing.B) {
	n := 10000
	if v := os.Getenv("BUTLER_BENCH_SCAN_FILES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	root := b.TempDir()
	for i := range n {
		p := filepath.Join(root, fmt.Sprintf("Show %03d", i/1000), fmt.Sprintf("Season %02d", i/100%10), fmt.Sprintf("Episode %05d.mkv", i))
		if i%100 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	lib := butler.Library{Name: "Shows", Kind: butler.LibraryShows, Folders: []string{root}}
	b.ResetTimer()
	var first, again time.Duration
	var peak uint64
	for range b.N {
		db, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "butler.db"))
		if err != nil {
			b.Fatal(err)
		}
		var ms runtime.MemStats
		s := &mediascan.Scanner{Index: db, Progress: func(mediascan.Stats) {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}}
		start := time.Now()
		st, err := s.Scan(b.Context(), lib)
		if err != nil || st.Added != n {
			b.Fatalf("first scan: %v, %v", st, err)
		}
		first += time.Since(start)
		start = time.Now()
		st, err = s.Scan(b.Context(), lib)
		if err != nil || st.Unchanged != n {
			b.Fatalf("rescan: %v, %v", st, err)
		}
		again += time.Since(start)
		db.Close()
	}
	b.ReportMetric(float64(first.Nanoseconds())/float64(b.N*n), "ns/file-first")
	b.ReportMetric(float64(again.Nanoseconds())/float64(b.N*n), "ns/file-rescan")
	b.ReportMetric(float64(peak)/(1<<20), "MiB-heap-peak")
}
