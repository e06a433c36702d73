package tasks

import (
	"context"
	"os"
	"testing"

	"github.com/plexbutler/butler/markers"
)

// CountFolderReads makes RefreshLocalMedia count the folders it reads,
// by folder, until t ends.
func CountFolderReads(t testing.TB) map[string]int {
	reads := map[string]int{}
	t.Cleanup(func() { readFolder = os.ReadDir })
	readFolder = func(dir string) ([]os.DirEntry, error) {
		reads[dir]++
		return os.ReadDir(dir)
	}
	return reads
}

// SearchMarkersWith makes g search a season with find rather than its
// Finder (find stands for Finder.Intros or Finder.Credits).
func SearchMarkersWith(g *GenerateMarkers, find func(ctx context.Context, eps []markers.Episode) ([]markers.Result, error)) {
	g.find = find
}
