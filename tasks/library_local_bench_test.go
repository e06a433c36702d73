package tasks_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/store/sqlite"
	"github.com/plexbutler/butler/tasks"
)

// BenchmarkSidecarsFlatFolder times a RefreshLocalMedia run over one
// folder of n films, each with one subtitle ("m00042.mkv",
// "m00042.en.srt"), their sidecars already recorded (as on every run
// but the first): the folder's listing, each film's sidecars found in it
// and compared with those recorded, nothing written. The index is SQLite
// in memory, the default page of 500 items. Untimed: writing the files,
// the scan and a first run.
//
//	go test -run '^$' -bench SidecarsFlatFolder -benchtime 3x ./tasks
func BenchmarkSidecarsFlatFolder(b *testing.B) {
	for _, n := range []int{1000, 4000, 16000} {
		b.Run("items="+strconv.Itoa(n), func(b *testing.B) {
			root := b.TempDir()
			for i := range n {
				for _, name := range []string{fmt.Sprintf("m%05d.mkv", i), fmt.Sprintf("m%05d.en.srt", i)} {
					if err := os.WriteFile(filepath.Join(root, name), nil, 0o644); err != nil {
						b.Fatal(err)
					}
				}
			}
			idx, err := sqlite.Open(b.Context(), ":memory:")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { idx.Close() })
			libs := []butler.Library{{Name: "Movies", Kind: butler.LibraryMovies, Folders: []string{root}}}
			r := &testReporter{logger: slog.New(slog.DiscardHandler)}
			if err := (&tasks.RefreshLibraries{Index: idx, Libraries: libs}).Run(b.Context(), r); err != nil {
				b.Fatal(err)
			}
			act := &tasks.RefreshLocalMedia{Index: idx, Libraries: libs}
			if err := act.Run(b.Context(), r); err != nil {
				b.Fatal(err)
			}
			want := fmt.Sprintf("Movies: %d items, %d with sidecars (%d subtitles, 0 posters, 0 art files, 0 .nfo files), 0 updated", n, n, n)
			b.ResetTimer()
			for range b.N {
				if err := act.Run(b.Context(), r); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if s := r.summary(); s != want {
				b.Fatalf("summary %q; want %q", s, want)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/item")
		})
	}
}
