package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/storetest"
)

func TestMediaIndex(t *testing.T) {
	t.Run("Memory", func(t *testing.T) {
		storetest.ExerciseMediaIndex(t, func(t *testing.T) butler.MediaIndex { return open(t, ":memory:") })
	})
	t.Run("File", func(t *testing.T) {
		storetest.ExerciseMediaIndex(t, func(t *testing.T) butler.MediaIndex {
			return open(t, filepath.Join(t.TempDir(), "butler.db"))
		})
	})
}
