package sqliteuri_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/plexbutler/butler/internal/sqliteuri"
	_ "modernc.org/sqlite"
)

func TestFile(t *testing.T) {
	got, err := sqliteuri.File("/a b/c?d#e%f.db", "mode=ro", "_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	if want := "file:///a%20b/c%3Fd%23e%25f.db?mode=ro&_pragma=busy_timeout(5000)"; got != want {
		t.Errorf("File = %q, want %q", got, want)
	}
	if got, _ := sqliteuri.File("/x.db"); got != "file:///x.db" {
		t.Errorf("File without parameters = %q", got)
	}
}

// SQLite opens the file the path names, whatever its characters: not the
// part before a '#' or '?', nor a name with its %XX sequences decoded.
func TestFile_OpensThatFile(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"srv#1", "a?b", "50%41", "100%", "sp ace"} {
		t.Run(name, func(t *testing.T) {
			sub := filepath.Join(dir, name)
			if err := os.Mkdir(sub, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(sub, "x.db")
			uri, err := sqliteuri.File(path, "_pragma=journal_mode(WAL)")
			if err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite", uri)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`CREATE TABLE t (x)`); err != nil {
				t.Fatalf("create a table through %s: %v", uri, err)
			}
			db.Close()
			if _, err := os.Stat(path); err != nil {
				t.Errorf("the database is not where the path says: %v", err)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if !e.IsDir() {
					t.Errorf("a file %q appeared beside the directories", e.Name())
				}
			}
		})
	}
}
