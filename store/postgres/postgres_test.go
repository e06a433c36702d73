package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/pgtest"
	"github.com/plexbutler/butler/store/postgres"
	"github.com/plexbutler/butler/storetest"
)

func open(t *testing.T) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestStore(t *testing.T) {
	pgtest.URL(t)
	storetest.Exercise(t, func(t *testing.T) butler.Store { return open(t) })
}

// The pool's size is DefaultMaxConns unless the URL says otherwise.
func TestOpen_PoolSize(t *testing.T) {
	url := pgtest.Schema(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	for _, c := range []struct {
		url  string
		want int32
	}{{url, postgres.DefaultMaxConns}, {url + sep + "pool_max_conns=3", 3}} {
		db, err := postgres.Open(context.Background(), c.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := db.Pool().Config().MaxConns; got != c.want {
			t.Errorf("%s: a pool of %d connections, want %d", c.url, got, c.want)
		}
		db.Close()
	}
}

func TestMigrate_ConcurrentServers(t *testing.T) {
	url := pgtest.Schema(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			db, err := postgres.Open(context.Background(), url)
			if err != nil {
				t.Error(err)
				return
			}
			defer db.Close()
			if err := db.Migrate(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestLease(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	if ok, err := db.TryLead(ctx, "a", now, now.Add(10*time.Second)); !ok || err != nil {
		t.Fatalf("a takes the free lease: %v %v", ok, err)
	}
	if ok, _ := db.TryLead(ctx, "b", now.Add(5*time.Second), now.Add(15*time.Second)); ok {
		t.Fatal("b took a lease a holds")
	}
	if ok, _ := db.TryLead(ctx, "a", now.Add(5*time.Second), now.Add(15*time.Second)); !ok {
		t.Fatal("a could not renew")
	}
	if ok, _ := db.TryLead(ctx, "b", now.Add(16*time.Second), now.Add(26*time.Second)); !ok {
		t.Fatal("b could not take an expired lease")
	}
	if err := db.Resign(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := db.TryLead(ctx, "a", now.Add(17*time.Second), now.Add(27*time.Second)); !ok {
		t.Fatal("a could not take a resigned lease")
	}
}

func TestHeartbeats(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	db.Heartbeat(ctx, "a", now)
	db.Heartbeat(ctx, "b", now.Add(-20*time.Second))
	dead, err := db.DeadNodes(ctx, now.Add(-10*time.Second))
	if err != nil || len(dead) != 1 || dead[0] != "b" {
		t.Fatalf("dead %v %v, want [b]", dead, err)
	}
	if dead, _ := db.DeadNodes(ctx, now.Add(-10*time.Second)); len(dead) != 0 {
		t.Fatalf("b reported dead twice: %v", dead)
	}
	nodes, _ := db.Nodes(ctx)
	if len(nodes) != 1 {
		t.Fatalf("nodes %v", nodes)
	}
}

func TestNotify(t *testing.T) {
	db := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.Listen(ctx, []string{"butler_test"}, func(ch, payload string) {
			if ch != "" {
				got <- payload
			}
		})
	}()
	// LISTEN may not be in place yet: send until one arrives.
	deadline := time.After(10 * time.Second)
	for {
		if err := db.Notify(ctx, "butler_test", "hello"); err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-got:
			if p != "hello" {
				t.Fatalf("payload %q", p)
			}
			cancel()
			<-done
			return
		case <-deadline:
			t.Fatal("no notification arrived")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
