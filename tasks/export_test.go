package tasks

import (
	"os"
	"testing"
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
