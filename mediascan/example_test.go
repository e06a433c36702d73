package mediascan_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/mediascan"
	"github.com/plexbutler/butler/store/sqlite"
)

// A library scanned twice: the second scan finds a file removed and one
// added.
func ExampleScanner_Scan() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "library")
	defer os.RemoveAll(dir)
	for _, name := range []string{"Alien (1979).mkv", "Brazil (1985).mp4", "notes.txt"} {
		os.WriteFile(filepath.Join(dir, name), []byte("..."), 0o644)
	}
	db, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	s := &mediascan.Scanner{Index: db}
	lib := butler.Library{Name: "Movies", Kind: butler.LibraryMovies, Folders: []string{dir}}

	st, _ := s.Scan(ctx, lib)
	fmt.Println(st)
	os.Remove(filepath.Join(dir, "Alien (1979).mkv"))
	os.WriteFile(filepath.Join(dir, "Cube (1997).avi"), []byte("..."), 0o644)
	st, _ = s.Scan(ctx, lib)
	fmt.Println(st)
	// Output:
	// 2 files: 2 added, 0 changed, 0 back, 0 gone, 0 unchanged
	// 2 files: 1 added, 0 changed, 0 back, 1 gone, 1 unchanged
}
