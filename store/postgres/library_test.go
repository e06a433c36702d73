package postgres_test

import (
	"testing"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/pgtest"
	"github.com/plexbutler/butler/storetest"
)

func TestMediaIndex(t *testing.T) {
	pgtest.URL(t)
	storetest.ExerciseMediaIndex(t, func(t *testing.T) butler.MediaIndex { return open(t) })
}
