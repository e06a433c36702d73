package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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

// TestLease: the lease is held, renewed, taken when expired and when
// resigned, on the database's clock: a lease's expiry is moved into the
// past in the table, as the passing of time would.
func TestLease(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	expire := func() {
		t.Helper()
		if _, err := db.Pool().Exec(ctx, `UPDATE butler_leader SET expires_at = expires_at - 60000000000`); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := db.TryLead(ctx, "a", 10*time.Second); !ok || err != nil {
		t.Fatalf("a takes the free lease: %v %v", ok, err)
	}
	if ok, _ := db.TryLead(ctx, "b", 10*time.Second); ok {
		t.Fatal("b took a lease a holds")
	}
	if ok, _ := db.TryLead(ctx, "a", 10*time.Second); !ok {
		t.Fatal("a could not renew")
	}
	expire()
	if ok, _ := db.TryLead(ctx, "b", 10*time.Second); !ok {
		t.Fatal("b could not take an expired lease")
	}
	if ok, _ := db.TryLead(ctx, "a", 10*time.Second); ok {
		t.Fatal("a took the lease back from b")
	}
	if err := db.Resign(ctx, "b", 0); err != nil {
		t.Fatal(err)
	}
	if ok, _ := db.TryLead(ctx, "a", 10*time.Second); !ok {
		t.Fatal("a could not take a resigned lease")
	}
	// The expiry is the database's clock plus the lease.
	var left int64
	if err := db.Pool().QueryRow(ctx, `SELECT expires_at - (extract(epoch from clock_timestamp()) * 1000000000)::bigint FROM butler_leader`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left <= 0 || left > int64(10*time.Second) {
		t.Fatalf("the lease ends %v from the database's now; want within the 10 s lease", time.Duration(left))
	}
}

// TestHeartbeats: a node is dead when its last heartbeat, on the
// database's clock, is older than asked, or than its own limit when longer; a heartbeat's age is moved in the
// table, as the passing of time would.
func TestHeartbeats(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	for _, n := range []string{"a", "b"} {
		if joined, err := db.Heartbeat(ctx, n, 0, 0); err != nil || !joined {
			t.Fatalf("first heartbeat of %s: joined %v, %v; want joined", n, joined, err)
		}
		if joined, err := db.Heartbeat(ctx, n, 0, 0); err != nil || joined {
			t.Fatalf("second heartbeat of %s: joined %v, %v; want not", n, joined, err)
		}
	}
	if dead, err := db.DeadNodes(ctx, 10*time.Second); err != nil || len(dead) != 0 {
		t.Fatalf("dead %v %v right after the heartbeats, want none", dead, err)
	}
	if _, err := db.Pool().Exec(ctx, `UPDATE butler_node SET heartbeat_at = heartbeat_at - 20000000000 WHERE name = 'b'`); err != nil {
		t.Fatal(err)
	}
	dead, err := db.DeadNodes(ctx, 10*time.Second)
	if err != nil || len(dead) != 1 || dead[0] != "b" {
		t.Fatalf("dead %v %v, want [b]", dead, err)
	}
	if dead, _ := db.DeadNodes(ctx, 10*time.Second); len(dead) != 0 {
		t.Fatalf("b reported dead twice: %v", dead)
	}
	// b beats again after it was counted dead: it joins anew, and knows it.
	if joined, err := db.Heartbeat(ctx, "b", 0, 0); err != nil || !joined {
		t.Fatalf("b's heartbeat after it was counted dead: joined %v, %v; want joined", joined, err)
	}
	if dead, _ := db.DeadNodes(ctx, 10*time.Second); len(dead) != 0 {
		t.Fatalf("dead %v after b beat again", dead)
	}
	nodes, _ := db.Nodes(ctx)
	if len(nodes) != 2 {
		t.Fatalf("nodes %v; want a and b, back", nodes)
	}

	// A node whose commands take long to end (a long grace) says so: it
	// is dead only after its own limit, when that is the longer.
	if _, err := db.Heartbeat(ctx, "a", 0, time.Minute); err != nil {
		t.Fatal(err)
	}
	if most, err := db.MaxDeadAfter(ctx); err != nil || most != time.Minute {
		t.Fatalf("the longest limit the nodes gave: %s, %v; want a's minute", most, err)
	}
	if _, err := db.Pool().Exec(ctx, `UPDATE butler_node SET heartbeat_at = heartbeat_at - 30000000000`); err != nil {
		t.Fatal(err)
	}
	if dead, err := db.DeadNodes(ctx, 10*time.Second); err != nil || len(dead) != 1 || dead[0] != "b" {
		t.Fatalf("30 s after the beats, dead %v %v; want [b] (a's own limit is a minute)", dead, err)
	}
	if _, err := db.Pool().Exec(ctx, `UPDATE butler_node SET heartbeat_at = heartbeat_at - 31000000000 WHERE name = 'a'`); err != nil {
		t.Fatal(err)
	}
	if dead, err := db.DeadNodes(ctx, 10*time.Second); err != nil || len(dead) != 1 || dead[0] != "a" {
		t.Fatalf("61 s after a's beat, dead %v %v; want [a]", dead, err)
	}
	if most, err := db.MaxDeadAfter(ctx); err != nil || most != 0 {
		t.Fatalf("the longest limit with no node left: %s, %v; want 0", most, err)
	}
}

// TestHeartbeats_Incarnations: a node's record keeps the incarnation of
// the process that beat last; a process of an earlier incarnation than the
// record's is refused (ErrSuperseded) and changes nothing.
func TestHeartbeats_Incarnations(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	if _, err := db.Heartbeat(ctx, "a", 100, 0); err != nil {
		t.Fatal(err)
	}
	// a restarted: its new process beats.
	if joined, err := db.Heartbeat(ctx, "a", 200, 0); err != nil || joined {
		t.Fatalf("the later process's beat: joined %v, %v; want an update", joined, err)
	}
	if _, err := db.Heartbeat(ctx, "a", 100, 0); !errors.Is(err, butler.ErrSuperseded) {
		t.Fatalf("the earlier process's beat: %v; want ErrSuperseded", err)
	}
	nodes, err := db.Nodes(ctx)
	if err != nil || nodes["a"].Incarnation != 200 {
		t.Fatalf("nodes %v (%v); want a of incarnation 200", nodes, err)
	}
	if _, err := db.Heartbeat(ctx, "a", 200, 0); err != nil {
		t.Fatalf("the later process beats on: %v", err)
	}
	// The earlier process stops cleanly: the record and the lease, which
	// go by the name, are the later one's and stay.
	if ok, err := db.TryLead(ctx, "a", 10*time.Second); err != nil || !ok {
		t.Fatalf("TryLead: %v %v", ok, err)
	}
	if err := db.Resign(ctx, "a", 100); err != nil {
		t.Fatal(err)
	}
	if err := db.Leave(ctx, "a", 100); err != nil {
		t.Fatal(err)
	}
	if nodes, _ := db.Nodes(ctx); nodes["a"].Incarnation != 200 {
		t.Errorf("after the earlier process left, nodes %v; want a's record of 200 kept", nodes)
	}
	if ok, err := db.TryLead(ctx, "b", 10*time.Second); err != nil || ok {
		t.Errorf("b took the lease (%v, %v) after a's earlier process resigned; want it still a's", ok, err)
	}
	// The later one leaves: gone.
	if err := db.Leave(ctx, "a", 200); err != nil {
		t.Fatal(err)
	}
	if nodes, _ := db.Nodes(ctx); len(nodes) != 0 {
		t.Errorf("after the later process left, nodes %v; want none", nodes)
	}
}

// TestClaimName: a process takes its name when it has no record, when the
// record is its own, or an earlier incarnation's whose heartbeat has stood
// still for the time given; a record beaten more recently, or a later
// incarnation's, is left as it is and returned. Of processes claiming a
// free name at once, exactly one gets it.
func TestClaimName(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	claim := func(node string, inc int64, silentFor time.Duration) (bool, butler.NodeRecord) {
		t.Helper()
		ok, rec, err := db.ClaimName(ctx, node, inc, silentFor)
		if err != nil {
			t.Fatal(err)
		}
		return ok, rec
	}
	if ok, _ := claim("a", 100, time.Hour); !ok {
		t.Fatal("a free name was not claimed")
	}
	if ok, _ := claim("a", 100, time.Hour); !ok {
		t.Fatal("a process's own record was not claimed again")
	}
	// Beaten within the hour: a later process is refused and told whose
	// the record is.
	ok, rec := claim("a", 200, time.Hour)
	if ok || rec.Incarnation != 100 || rec.Heartbeat.IsZero() {
		t.Fatalf("claim over a live record: %v %+v; want refused, the record of 100 returned", ok, rec)
	}
	// Still for longer than 0: the later process takes it.
	if ok, rec := claim("a", 200, 0); !ok {
		t.Fatalf("claim over a record that stood still long enough: refused, %+v", rec)
	}
	// An earlier incarnation than the record's never gets it.
	if ok, rec := claim("a", 150, 0); ok || rec.Incarnation != 200 {
		t.Fatalf("claim by an earlier incarnation: %v %+v; want refused, the record of 200 returned", ok, rec)
	}
	// A heartbeat's record is claimed the same way.
	if _, err := db.Heartbeat(ctx, "b", 100, time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, _ := claim("b", 200, time.Hour); ok {
		t.Fatal("claim over a record beaten just now succeeded")
	}
	nodes, err := db.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if nodes["a"].Incarnation != 200 || nodes["b"].Incarnation != 100 {
		t.Errorf("records after the claims: %v; want a of 200, b of 100", nodes)
	}
	if d, err := db.MaxDeadAfter(ctx); err != nil || d != time.Minute {
		t.Errorf("MaxDeadAfter %v (%v); want b's minute", d, err)
	}

	// Eight processes claim a free name at once.
	var wg sync.WaitGroup
	var won atomic.Int32
	for i := range 8 {
		wg.Go(func() {
			ok, _, err := db.ClaimName(ctx, "twin", int64(1000+i), time.Hour)
			if err != nil {
				t.Error(err)
			}
			if ok {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if n := won.Load(); n != 1 {
		t.Errorf("%d of 8 processes claiming one free name at once got it; want 1", n)
	}
}

// TestLeaveKeepsANodeWithActiveRuns: a server that leaves with a run still
// recorded as running on it (its end could not be written) stays listed,
// so that the others count it dead once it is silent and end the run;
// without such runs it leaves.
func TestLeaveKeepsANodeWithActiveRuns(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	if _, err := db.Heartbeat(ctx, "n1", 0, 0); err != nil {
		t.Fatal(err)
	}
	r, err := db.CreateRun(ctx, &butler.Run{Task: "T", Trigger: butler.TriggerStartTask, State: butler.StateQueued,
		Queue: butler.QueueManual, ScheduledAt: time.Now(), Progress: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := db.StartRun(ctx, r.ID, "n1", time.Now()); err != nil || !ok {
		t.Fatalf("StartRun: %v, %v", ok, err)
	}
	if err := db.Leave(ctx, "n1", 0); err != nil {
		t.Fatal(err)
	}
	if nodes, _ := db.Nodes(ctx); len(nodes) != 1 {
		t.Fatalf("nodes after n1 left with a running run: %v; want n1 still listed", nodes)
	}
	if _, ok, err := db.FinishRun(ctx, r.ID, []butler.RunState{butler.StateRunning}, butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: time.Now()}); err != nil || !ok {
		t.Fatalf("FinishRun: %v, %v", ok, err)
	}
	if err := db.Leave(ctx, "n1", 0); err != nil {
		t.Fatal(err)
	}
	if nodes, _ := db.Nodes(ctx); len(nodes) != 0 {
		t.Fatalf("nodes after n1 left with no active run: %v; want none", nodes)
	}
}

// TestIdleInTransactionLimit: the server's sessions end a transaction left
// idle past IdleInTransaction (a server frozen inside one), unless the URL
// sets the limit.
func TestIdleInTransactionLimit(t *testing.T) {
	db := open(t)
	var got string
	if err := db.Pool().QueryRow(context.Background(), `SHOW idle_in_transaction_session_timeout`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if want := postgres.IdleInTransaction.String(); got != want {
		t.Errorf("idle_in_transaction_session_timeout = %q; want %q", got, want)
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

// A heartbeat does not wait for a connection of the pool: one whose every
// connection is taken (by the API's calls, River's workers) still lets it
// through at once, so that the server is not counted silent for it.
func TestHeartbeat_OwnConnection(t *testing.T) {
	url := pgtest.Schema(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	db, err := postgres.Open(context.Background(), url+sep+"pool_max_conns=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	conn, err := db.Pool().Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	ctx, cancel := context.WithTimeout(context.Background(), butler.HeartbeatEvery)
	defer cancel()
	if _, err := db.Heartbeat(ctx, "a", 0, 0); err != nil {
		t.Fatalf("a heartbeat while the pool's one connection is taken: %v; want it written", err)
	}
}

// TestOpen_RefusedWithoutAHeartbeatConnection: a server needs a connection
// for its heartbeats beside its pool; when the database has none left for
// it (a role limited to one connection, the pool taking it), Open fails and
// says which, rather than letting a server start that could never write a
// heartbeat (it would stay fenced, refusing every run).
func TestOpen_RefusedWithoutAHeartbeatConnection(t *testing.T) {
	base := pgtest.Schema(t)
	ctx := context.Background()
	role := fmt.Sprintf("butler_lim_%08x", rand.Uint32())
	admin, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	u, _ := url.Parse(base)
	schema := u.Query().Get("search_path")
	for _, s := range []string{"CREATE ROLE " + role + " LOGIN CONNECTION LIMIT 1", "GRANT ALL ON SCHEMA " + schema + " TO " + role} {
		if _, err := admin.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		admin.Exec(context.Background(), "DROP OWNED BY "+role+" CASCADE")
		admin.Exec(context.Background(), "DROP ROLE "+role)
	}()
	u.User = url.User(role)
	q := u.Query()
	q.Set("pool_max_conns", "1")
	u.RawQuery = q.Encode()

	db, err := postgres.Open(ctx, u.String())
	if err == nil {
		db.Close()
		t.Fatal("Open accepted a server with no connection left for its heartbeats")
	}
	if !strings.Contains(err.Error(), "the heartbeats' own connection") {
		t.Errorf("Open: %v; want it to name the heartbeats' connection", err)
	}
}
