package tasks

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/plexbutler/butler/internal/readahead"
)

// The read-ahead itself is tested in package readahead.

func TestPrefetcherStop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, make([]byte, 2*readahead.Chunk), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startPrefetch(t.Context(), path, readahead.BothEnds, slog.New(slog.DiscardHandler))
	p.stop()
	p.stop() // a second stop returns too
	// A missing file starts nothing, and stop still returns.
	startPrefetch(t.Context(), filepath.Join(t.TempDir(), "missing"), readahead.Forward, slog.New(slog.DiscardHandler)).stop()
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
