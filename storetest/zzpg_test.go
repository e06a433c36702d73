package storetest_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/store/postgres"
	"github.com/plexbutler/butler/storetest"
)

var dbSeq atomic.Int64

func TestPostgresTemp(t *testing.T) {
	admin, err := postgres.Open(t.Context(), "postgres://postgres@127.0.0.1:5432/postgres")
	if err != nil {
		t.Skip(err)
	}
	defer admin.Close()
	storetest.Exercise(t, func(t *testing.T) butler.Store {
		name := fmt.Sprintf("zz_storetest_%d_%d", os.Getpid(), dbSeq.Add(1))
		if _, err := admin.DB.ExecContext(t.Context(), "CREATE DATABASE "+name); err != nil {
			t.Fatal(err)
		}
		db, err := postgres.Open(t.Context(), "postgres://postgres@127.0.0.1:5432/"+name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			db.Close()
			if _, err := admin.DB.ExecContext(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
				t.Errorf("drop %s: %v", name, err)
			}
		})
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		return db
	})
}
