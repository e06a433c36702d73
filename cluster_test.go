package butler_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/store/sqlite"
)

// fakeCluster is butler.Cluster in memory, on the bubble's clock: the
// nodes' heartbeats (each one kept, for the tests to read), their limits,
// and the planner's lease.
type fakeCluster struct {
	db *sqlite.DB // for Leave's check of the node's runs

	// together, when set, holds each call of Nodes, once it has read the
	// records, until as many callers as it counts have read them.
	together *barrier

	mu       sync.Mutex
	nodes    map[string]fakeNode
	beats    map[string][]time.Time
	leader   string
	leaseEnd time.Time
}

type fakeNode struct {
	beat        time.Time
	deadAfter   time.Duration
	incarnation int64
}

func (c *fakeCluster) Heartbeat(ctx context.Context, node string, incarnation int64, deadAfter time.Duration) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, there := c.nodes[node]
	if there && n.incarnation > incarnation {
		return false, butler.ErrSuperseded
	}
	c.nodes[node] = fakeNode{beat: time.Now(), deadAfter: deadAfter, incarnation: incarnation}
	c.beats[node] = append(c.beats[node], time.Now())
	return !there, nil
}

func (c *fakeCluster) ClaimName(ctx context.Context, node string, incarnation int64, silentFor time.Duration) (bool, butler.NodeRecord, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, there := c.nodes[node]
	if there && n.incarnation != incarnation && (n.incarnation > incarnation || time.Since(n.beat) < silentFor) {
		return false, butler.NodeRecord{Heartbeat: n.beat, Incarnation: n.incarnation}, nil
	}
	c.nodes[node] = fakeNode{beat: time.Now(), deadAfter: n.deadAfter, incarnation: incarnation}
	return true, butler.NodeRecord{}, nil
}

func (c *fakeCluster) Leave(ctx context.Context, node string, incarnation int64) error {
	runs, err := c.db.ActiveRuns(ctx)
	if err != nil {
		return err
	}
	for _, r := range runs {
		if r.Node == node && r.State.Working() {
			return nil
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes[node].incarnation <= incarnation {
		delete(c.nodes, node)
	}
	return nil
}

func (c *fakeCluster) Nodes(ctx context.Context) (map[string]butler.NodeRecord, error) {
	c.mu.Lock()
	out := map[string]butler.NodeRecord{}
	for name, n := range c.nodes {
		out[name] = butler.NodeRecord{Heartbeat: n.beat, Incarnation: n.incarnation}
	}
	c.mu.Unlock()
	if c.together != nil {
		c.together.arrive()
	}
	return out, nil
}

func (c *fakeCluster) DeadNodes(ctx context.Context, silentFor time.Duration) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var dead []string
	for name, n := range c.nodes {
		if time.Since(n.beat) > max(silentFor, n.deadAfter) {
			delete(c.nodes, name)
			dead = append(dead, name)
		}
	}
	return dead, nil
}

func (c *fakeCluster) MaxDeadAfter(ctx context.Context) (time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var most time.Duration
	for _, n := range c.nodes {
		most = max(most, n.deadAfter)
	}
	return most, nil
}

func (c *fakeCluster) TryLead(ctx context.Context, node string, lease time.Duration) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader == node || time.Now().After(c.leaseEnd) {
		c.leader, c.leaseEnd = node, time.Now().Add(lease)
	}
	return c.leader == node, nil
}

func (c *fakeCluster) Resign(ctx context.Context, node string, incarnation int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader == node && c.nodes[node].incarnation <= incarnation {
		c.leader = ""
	}
	return nil
}

func (c *fakeCluster) Notify(ctx context.Context, channel, payload string) error { return nil }

func (c *fakeCluster) Listen(ctx context.Context, channels []string, fn func(channel, payload string)) error {
	<-ctx.Done()
	return ctx.Err()
}

// barrier holds its callers until n have arrived; later callers pass.
type barrier struct {
	mu   sync.Mutex
	n    int
	done chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, done: make(chan struct{})} }

func (b *barrier) arrive() {
	b.mu.Lock()
	if b.n--; b.n == 0 {
		close(b.done)
	}
	b.mu.Unlock()
	<-b.done
}

// heartbeats returns node's heartbeats so far.
func (c *fakeCluster) heartbeats(node string) []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.beats[node]...)
}

// clusterStore is a SQLite store with a fakeCluster: a Manager on it is a
// server of a cluster. Its ActiveRuns fails failAfterDead times once
// DeadNodes has found a dead node; its CreateRuns waits while hold is not
// nil, until hold is closed.
type clusterStore struct {
	*sqlite.DB
	*fakeCluster

	failAfterDead atomic.Int32
	armed         atomic.Bool
	failed        atomic.Int32
	hold          chan struct{}
	holding       chan struct{} // closed once a CreateRuns waits
}

func (s *clusterStore) DeadNodes(ctx context.Context, silentFor time.Duration) ([]string, error) {
	dead, err := s.fakeCluster.DeadNodes(ctx, silentFor)
	if len(dead) > 0 && s.failAfterDead.Load() > 0 {
		s.armed.Store(true)
	}
	return dead, err
}

func (s *clusterStore) ActiveRuns(ctx context.Context) ([]butler.Run, error) {
	if s.armed.Load() && s.failAfterDead.Add(-1) >= 0 {
		s.failed.Add(1)
		return nil, errors.New("connection reset by peer")
	}
	return s.DB.ActiveRuns(ctx)
}

func (s *clusterStore) CreateRuns(ctx context.Context, rs []*butler.Run, enqueue butler.EnqueueFunc) ([]butler.Run, []error, error) {
	if s.hold != nil {
		close(s.holding)
		<-s.hold
	}
	return s.DB.CreateRuns(ctx, rs, enqueue)
}

// inCluster returns an option of start that makes the manager the server
// leader of a cluster whose other servers are those of nodes (with their
// last heartbeats), after running before (with the SQLite store) first.
func inCluster(cs **clusterStore, nodes map[string]time.Time, before func(*sqlite.DB)) func(*butler.Config) {
	return func(c *butler.Config) {
		db := c.Store.(*sqlite.DB)
		fc := &fakeCluster{db: db, nodes: map[string]fakeNode{}, beats: map[string][]time.Time{}}
		for name, beat := range nodes {
			fc.nodes[name] = fakeNode{beat: beat}
		}
		if before != nil {
			before(db)
		}
		*cs = &clusterStore{DB: db, fakeCluster: fc}
		c.Store, c.Node = *cs, "leader"
	}
}

// run reads the run id.
func (f *fixture) run(id int64) butler.Run {
	f.t.Helper()
	r, err := f.store.Run(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// runningOn makes a run of task that node runs.
func runningOn(t *testing.T, db *sqlite.DB, task butler.TaskName, node string) butler.Run {
	t.Helper()
	r := queuedRunOf(t, db, task)
	if ok, err := db.StartRun(context.Background(), r.ID, node, time.Now()); err != nil || !ok {
		t.Fatalf("StartRun on %s: %v, %v", node, ok, err)
	}
	return r
}

// The leader ends the runs of a dead server even when the pass that found
// it dead failed midway (its record is gone by then): a run whose server
// has no record is ended on the next passes.
func TestCluster_DeadServersRunsEndedAfterAFailedPass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cs *clusterStore
		var r butler.Run
		f := start(t, []butler.Task{task("Orphan", 1, false, newProbe(true))}, quietWindow,
			inCluster(&cs, map[string]time.Time{"ghost": time.Now().Add(-time.Hour)}, func(db *sqlite.DB) {
				r = runningOn(t, db, "Orphan", "ghost")
			}), func(*butler.Config) { cs.failAfterDead.Store(1) })
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if cs.failed.Load() != 1 {
			t.Fatalf("the read after ghost was found dead failed %d times; want 1 (else this test proves nothing)", cs.failed.Load())
		}
		got := f.run(r.ID)
		if got.State != butler.StateFinished || got.Outcome != butler.OutcomeInterrupted {
			t.Fatalf("ghost's run is %s/%s 10 s after ghost was counted dead; want it ended interrupted", got.State, got.Outcome)
		}
		if want := "server ghost stopped answering while the task ran"; got.Reason != want {
			t.Errorf("reason %q; want %q", got.Reason, want)
		}
	})
}

// A run a stop was asked for, whose server then stopped answering before it
// recorded the end, is ended stopped, for the stop's reason, not
// interrupted: the stop is what the user asked for, and its work has ended
// by the time the server counts dead.
func TestCluster_DeadServersStoppingRunEndedStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cs *clusterStore
		var r butler.Run
		f := start(t, []butler.Task{task("Orphan", 1, false, newProbe(true))}, quietWindow,
			inCluster(&cs, map[string]time.Time{"ghost": time.Now().Add(-time.Hour)}, func(db *sqlite.DB) {
				r = runningOn(t, db, "Orphan", "ghost")
				if ok, err := db.MarkStopping(context.Background(), r.ID, "stopped by request"); err != nil || !ok {
					t.Fatalf("MarkStopping: %v, %v", ok, err)
				}
			}))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		got := f.run(r.ID)
		if got.State != butler.StateFinished || got.Outcome != butler.OutcomeStopped {
			t.Fatalf("ghost's stopping run is %s/%s 10 s after ghost was counted dead; want it ended stopped", got.State, got.Outcome)
		}
		if want := "stopped by request; server ghost stopped answering before it recorded the end"; got.Reason != want {
			t.Errorf("reason %q; want %q", got.Reason, want)
		}
	})
}

// A run recorded on a server with no record (it left the cluster, or was
// counted dead by a leader that died before it ended the run) is ended,
// but only once two passes, a heartbeat apart, have seen it so: a server
// that starts again under its name may take a run just before its first
// heartbeat.
func TestCluster_RunOfUnknownServerEndedOnSecondSight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cs *clusterStore
		var r butler.Run
		f := start(t, []butler.Task{task("Orphan", 1, false, newProbe(true))}, quietWindow,
			inCluster(&cs, nil, func(db *sqlite.DB) { r = runningOn(t, db, "Orphan", "gone") }))
		synctest.Wait()
		if got := f.run(r.ID); got.State != butler.StateRunning {
			t.Fatalf("the run of a server without a record is %s at the first pass; want still running", got.State)
		}
		time.Sleep(2*butler.HeartbeatEvery + time.Millisecond)
		synctest.Wait()
		if got := f.run(r.ID); got.State != butler.StateFinished || got.Outcome != butler.OutcomeInterrupted {
			t.Fatalf("the run of a server without a record is %s/%s after two passes; want ended interrupted", got.State, got.Outcome)
		}
	})
}

// The heartbeats go on while the reaper waits for a task's lock that a
// start holds across a store call that does not answer (another server
// frozen inside its transaction): a healthy leader does not go silent.
func TestCluster_HeartbeatsDoNotWaitForTaskLocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cs *clusterStore
		var r butler.Run
		f := start(t, []butler.Task{task("T", 1, false, newProbe(true)), task("Other", 1, false, newProbe(true))}, quietWindow,
			inCluster(&cs, map[string]time.Time{"ghost": time.Now()}, func(db *sqlite.DB) { r = runningOn(t, db, "Other", "ghost") }),
			func(*butler.Config) { cs.hold, cs.holding = make(chan struct{}), make(chan struct{}) })
		startAt := time.Now()
		started := make(chan error, 1)
		go func() {
			_, err := f.m.StartTask(context.Background(), "T", true)
			started <- err
		}()
		<-cs.holding
		// ghost is counted dead (10 s and more), and the reaper waits for
		// T's lock.
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if got := f.run(r.ID); got.State != butler.StateRunning {
			t.Fatalf("ghost's run is %s while T's lock is held; want it running until the reaper has the locks", got.State)
		}
		last := startAt
		for _, b := range cs.heartbeats("leader") {
			if b.Before(startAt) {
				continue
			}
			if gap := b.Sub(last); gap > butler.HeartbeatEvery {
				t.Errorf("no heartbeat for %s while a start waited; want one every %s", gap, butler.HeartbeatEvery)
			}
			last = b
		}
		if gap := time.Since(last); gap > butler.HeartbeatEvery {
			t.Errorf("no heartbeat for the last %s while a start waited", gap)
		}
		close(cs.hold)
		if err := <-started; err != nil {
			t.Fatal(err)
		}
		time.Sleep(butler.HeartbeatEvery)
		synctest.Wait()
		if got := f.run(r.ID); got.State != butler.StateFinished {
			t.Errorf("ghost's run is %s once the start let go; want it ended", got.State)
		}
	})
}

// releaseQueue is the fixture's queue with item jobs held by servers
// (ItemReleaser): holders, and the jobs released, counted.
type releaseQueue struct {
	butler.Queue

	mu       sync.Mutex
	holders  map[int64]string
	released map[int64]int
}

func (q *releaseQueue) ItemHolders(ctx context.Context) (map[int64]string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := map[int64]string{}
	for id, node := range q.holders {
		out[id] = node
	}
	return out, nil
}

func (q *releaseQueue) ReleaseItem(ctx context.Context, id int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.released[id]++
	return nil
}

// The leader releases the item jobs a dead server held, once each, and
// those of live servers never.
func TestCluster_DeadServersItemJobsReleased(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cs *clusterStore
		rq := &releaseQueue{holders: map[int64]string{7: "ghost", 8: "leader", 9: "alive"}, released: map[int64]int{}}
		start(t, []butler.Task{task("T", 1, false, newProbe(true))}, quietWindow,
			inCluster(&cs, map[string]time.Time{"ghost": time.Now().Add(-time.Hour), "alive": time.Now().Add(time.Hour)}, nil),
			func(c *butler.Config) { rq.Queue = c.Queue; c.Queue = rq })
		time.Sleep(10 * time.Second)
		synctest.Wait()
		rq.mu.Lock()
		defer rq.mu.Unlock()
		if rq.released[7] != 1 || len(rq.released) != 1 {
			t.Errorf("released %v; want job 7 (ghost's) once, and no other", rq.released)
		}
	})
}

// incarnatedQueue is a releaseQueue whose process has an incarnation.
type incarnatedQueue struct {
	*releaseQueue
	incarnation int64
}

func (q incarnatedQueue) Incarnation() int64 { return q.incarnation }

// A server restarted under its name is a new incarnation: the leader
// releases at its first pass the item jobs the server's earlier process
// held (its record is live, written by the later process), and those of
// its own earlier process; never those of the live processes.
func TestCluster_RestartedServersItemJobsReleasedAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cs *clusterStore
		rq := &releaseQueue{holders: map[int64]string{
			7:  "a#100", // a's process before its restart
			8:  "a#200", // a's process now
			9:  "leader#5",
			10: "leader#300", // this process
			11: "b",          // a server without incarnations, live
		}, released: map[int64]int{}}
		start(t, []butler.Task{task("T", 1, false, newProbe(true))}, quietWindow,
			inCluster(&cs, map[string]time.Time{"b": time.Now().Add(time.Hour)}, func(*sqlite.DB) {}),
			func(c *butler.Config) {
				rq.Queue = c.Queue
				c.Queue = incarnatedQueue{rq, 300}
				cs.mu.Lock()
				cs.nodes["a"] = fakeNode{beat: time.Now().Add(time.Hour), incarnation: 200}
				cs.mu.Unlock()
			})
		synctest.Wait() // the first pass, after the leader's first heartbeat
		rq.mu.Lock()
		defer rq.mu.Unlock()
		if rq.released[7] != 1 || rq.released[9] != 1 || len(rq.released) != 2 {
			t.Errorf("released %v at the first pass; want jobs 7 and 9 (the earlier processes'), once each, and no other", rq.released)
		}
	})
}

// A run of a server the leader has just counted dead is not ended at that
// pass: the server may have started again under its name and taken the run
// in the moment before its first heartbeat. If it beats before the next
// pass, the run is its own and stays; a silent one's is ended then.
func TestCluster_RunOfServerCountedDeadSparedIfItBeatsAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cs *clusterStore
		var back, silent butler.Run
		f := start(t, []butler.Task{task("Back", 1, false, newProbe(true)), task("Silent", 1, false, newProbe(true))}, quietWindow,
			inCluster(&cs, map[string]time.Time{"back": time.Now().Add(-time.Hour), "silent": time.Now().Add(-time.Hour)}, func(db *sqlite.DB) {
				back = runningOn(t, db, "Back", "back")
				silent = runningOn(t, db, "Silent", "silent")
			}))
		synctest.Wait()
		if got := f.run(back.ID); got.State != butler.StateRunning {
			t.Fatalf("back's run is %s at the pass that counted back dead; want still running", got.State)
		}
		if _, err := cs.Heartbeat(context.Background(), "back", 0, 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2*butler.HeartbeatEvery + time.Millisecond)
		synctest.Wait()
		if got := f.run(back.ID); got.State != butler.StateRunning {
			t.Errorf("back's run is %s/%s although back beat again; want it running", got.State, got.Outcome)
		}
		if got := f.run(silent.ID); got.State != butler.StateFinished || got.Outcome != butler.OutcomeInterrupted {
			t.Errorf("silent's run is %s/%s two passes after it was counted dead; want ended interrupted", got.State, got.Outcome)
		}
	})
}

// failingBeats is a clusterStore whose heartbeats fail while fail is set
// (a pool with no free connection, a network that times the heartbeat
// out): the rest of the store still answers.
type failingBeats struct {
	*clusterStore
	fail atomic.Bool
}

func (s *failingBeats) Heartbeat(ctx context.Context, node string, incarnation int64, deadAfter time.Duration) (bool, error) {
	if s.fail.Load() {
		return false, errors.New("timeout: failed to acquire a connection")
	}
	return s.clusterStore.Heartbeat(ctx, node, incarnation, deadAfter)
}

// failBeats returns an option of start, after inCluster's, whose store's
// heartbeats fail while its fail is set.
func failBeats(cs **clusterStore, fb **failingBeats) func(*butler.Config) {
	return func(c *butler.Config) {
		*fb = &failingBeats{clusterStore: *cs}
		c.Store = *fb
	}
}

// A server that has not written its heartbeat for FenceAfter, while the
// queue still hands it runs (only its heartbeats fail), starts none: the
// others may count it dead before the run ends, and start the task again.
// The run stays queued, and starts once the heartbeats are written again.
func TestCluster_SilentServerStartsNoRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cs *clusterStore
		var fb *failingBeats
		p := newProbe(true)
		f := start(t, []butler.Task{task("U", 1, false, p)}, quietWindow, inCluster(&cs, nil, nil), failBeats(&cs, &fb))
		synctest.Wait()
		fb.fail.Store(true)
		time.Sleep(butler.FenceAfter + butler.HeartbeatEvery)
		synctest.Wait()

		res, err := f.m.StartTask(context.Background(), "U", true)
		if err != nil || res.Outcome != butler.StartStarted {
			t.Fatalf("StartTask: %+v, %v", res, err)
		}
		synctest.Wait()
		time.Sleep(3 * butler.HeartbeatEvery)
		synctest.Wait()
		if n := len(p.Starts()); n != 0 {
			t.Fatalf("U started %d times on a server silent past FenceAfter; want none", n)
		}
		if r := f.run(res.Run.ID); r.State != butler.StateQueued {
			t.Fatalf("U's run is %s while its server is silent; want it still queued", r.State)
		}

		fb.fail.Store(false)
		time.Sleep(2 * butler.HeartbeatEvery)
		synctest.Wait()
		if n := len(p.Starts()); n != 1 {
			t.Fatalf("U started %d times once the heartbeats were written again; want once", n)
		}
		if r := f.run(res.Run.ID); r.State != butler.StateRunning {
			t.Errorf("U's run is %s once the heartbeats were written again; want running", r.State)
		}
	})
}

// Every failed heartbeat past FenceAfter stops the runs this server holds,
// not only the first: a run a worker registered after the fence (its
// check of the silence raced the fence) does not outlive the silence.
func TestCluster_FenceStopsRunsHeldAfterIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cs *clusterStore
		var fb *failingBeats
		f := start(t, []butler.Task{task("U", 1, false, newProbe(true))}, quietWindow, inCluster(&cs, nil, nil), failBeats(&cs, &fb))
		synctest.Wait()
		fb.fail.Store(true)
		// Past FenceAfter: the server fenced itself, holding no run.
		time.Sleep(butler.FenceAfter + butler.HeartbeatEvery)
		synctest.Wait()

		ctx, release := f.m.HoldRunForTest(4242)
		defer release()
		time.Sleep(butler.HeartbeatEvery)
		synctest.Wait()
		if ctx.Err() == nil {
			t.Fatal("a run held after the fence still works at the next failed heartbeat; want it stopped")
		}
		if got, want := context.Cause(ctx).Error(), "this server lost the database"; got != want {
			t.Errorf("the run was stopped for %q; want %q", got, want)
		}
	})
}

// countingItem is an item action that counts the items it works.
type countingItem struct {
	butler.Action
	worked atomic.Int32
}

func (c *countingItem) RunItem(context.Context, int64, *slog.Logger) butler.ItemResult {
	c.worked.Add(1)
	return butler.ItemResult{Outcome: butler.ItemDone}
}

// A server silent past FenceAfter starts no item's work: the item's job is
// given back to the queue (RetryLater), neither done, failed nor skipped,
// so that a silent server does not skip every item it fetches.
func TestCluster_SilentServerWorksNoItem(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cs *clusterStore
		var fb *failingBeats
		var r butler.Run
		ia := &countingItem{Action: newProbe(true)}
		// The items' run runs on another server, which lives on.
		f := start(t, []butler.Task{task("Items", 1, false, ia)}, quietWindow,
			inCluster(&cs, map[string]time.Time{"other": time.Now().Add(time.Hour)}, func(db *sqlite.DB) {
				r = runningOn(t, db, "Items", "other")
			}), failBeats(&cs, &fb))
		synctest.Wait()
		ctx := context.Background()
		if out := f.m.ExecuteItem(ctx, butler.ItemJob{RunID: r.ID, Task: "Items", Item: 1}); out.Outcome != butler.ItemDone {
			t.Fatalf("item 1 before the silence: %+v; want done (else this test proves nothing)", out)
		}
		fb.fail.Store(true)
		time.Sleep(butler.FenceAfter + butler.HeartbeatEvery)
		synctest.Wait()

		out := f.m.ExecuteItem(ctx, butler.ItemJob{RunID: r.ID, Task: "Items", Item: 2})
		if !out.RetryLater || out.Outcome != "" {
			t.Errorf("item 2 on a server silent past FenceAfter: %+v; want it given back (RetryLater), not a result", out)
		}
		if n := ia.worked.Load(); n != 1 {
			t.Errorf("%d items worked; want 1 (item 2's work must not start)", n)
		}
		fb.fail.Store(false)
	})
}

// A stopped run waits for its items still being worked until every
// server's group guard would have killed their programs: longer than this
// server's own guard lease (51 s with a task's 42 s grace: more than the
// 15 s it once waited), and than any other server's dead-after, which
// each publishes with its heartbeats (a server whose tasks have a longer
// grace holds a longer lease).
func TestCluster_StoppedRunWaitsForItemsPastEveryGuardLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cs *clusterStore
		f := start(t, []butler.Task{task("Graceful", 1, false, graceful{newProbe(true)})}, quietWindow, inCluster(&cs, nil, nil))
		synctest.Wait()
		ownLease := butler.FenceAfter + 42*time.Second + butler.HeartbeatEvery
		if got := f.m.ItemStopWaitForTest(context.Background()); got <= ownLease {
			t.Errorf("a stopped run waits %s for its items; want more than this server's guard lease, %s", got, ownLease)
		}
		const longer = 5 * time.Minute
		cs.mu.Lock()
		cs.nodes["slow"] = fakeNode{beat: time.Now(), deadAfter: longer}
		cs.mu.Unlock()
		if got := f.m.ItemStopWaitForTest(context.Background()); got <= longer {
			t.Errorf("a stopped run waits %s for its items; want more than server slow's dead-after, %s", got, longer)
		}
	})
}

// A second server under this server's name (a later incarnation wrote the
// record): this one's next heartbeat is refused, and it stops its run at
// once (the later one ended it at its start), and starts no other, while
// the record stays the later server's.
func TestCluster_SupersededServerStopsItsRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cs *clusterStore
		rq := &releaseQueue{holders: map[int64]string{}, released: map[int64]int{}}
		p, q := newProbe(true), newProbe(true)
		f := start(t, []butler.Task{task("U", 1, false, p), task("V", 1, false, q)}, quietWindow, inCluster(&cs, nil, nil),
			func(c *butler.Config) { rq.Queue = c.Queue; c.Queue = incarnatedQueue{rq, 300} })
		res, err := f.m.StartTask(context.Background(), "U", true)
		if err != nil || res.Outcome != butler.StartStarted {
			t.Fatalf("StartTask: %+v, %v", res, err)
		}
		synctest.Wait()
		if r := f.run(res.Run.ID); r.State != butler.StateRunning {
			t.Fatalf("U's run is %s; want running", r.State)
		}
		select {
		case <-f.m.Superseded():
			t.Fatal("Superseded is closed before any other process took the name")
		default:
		}
		// The other server of the same name starts and beats.
		if _, err := cs.Heartbeat(context.Background(), "leader", 400, time.Minute); err != nil {
			t.Fatal(err)
		}
		time.Sleep(butler.HeartbeatEvery + time.Millisecond)
		synctest.Wait()
		if r := f.run(res.Run.ID); r.State != butler.StateFinished || !strings.Contains(r.Reason, "a server started later runs under this server's name") {
			t.Errorf("U's run is %s (%q) a heartbeat after this server's was refused; want it stopped, saying why", r.State, r.Reason)
		}
		select {
		case <-f.m.Superseded():
		default:
			t.Error("Superseded is not closed a heartbeat after this server's was refused; want its server told to stop")
		}
		if _, err := f.m.StartTask(context.Background(), "V", true); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * butler.HeartbeatEvery)
		synctest.Wait()
		if n := len(q.Starts()); n != 0 {
			t.Errorf("V started %d times on a superseded server; want none", n)
		}
		nodes, _ := cs.Nodes(context.Background())
		if got := nodes["leader"].Incarnation; got != 400 {
			t.Errorf("the record's incarnation is %d; want 400, the later server's", got)
		}
		// A clean stop of the superseded process leaves the later one's
		// record (and the lease, which goes by the name) alone.
		if err := f.m.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if nodes, _ := cs.Nodes(context.Background()); nodes["leader"].Incarnation != 400 {
			t.Errorf("after the superseded process stopped, the records are %v; want the later server's kept", nodes)
		}
	})
}

// newClusterManager makes (without starting) a Manager named "leader" on
// fc, its queue of incarnation 300.
func newClusterManager(t *testing.T, fc *fakeCluster) (*butler.Manager, error) {
	t.Helper()
	return newClusterManagerOf(t, fc, memStore(t), 300)
}

// newClusterManagerOf makes (without starting) a Manager named "leader" on
// fc and db, its queue of incarnation.
func newClusterManagerOf(t *testing.T, fc *fakeCluster, db *sqlite.DB, incarnation int64) (*butler.Manager, error) {
	t.Helper()
	fc.mu.Lock()
	fc.db = db
	fc.mu.Unlock()
	rq := &releaseQueue{Queue: &testQueue{cancels: map[int64]context.CancelFunc{}}, holders: map[int64]string{}, released: map[int64]int{}}
	m, err := butler.NewManager(context.Background(), butler.Config{
		Catalog: []butler.Task{task("T", 1, false, newProbe(true))}, Store: &clusterStore{DB: db, fakeCluster: fc},
		Queue: incarnatedQueue{rq, incarnation}, Node: "leader", HostZone: "UTC", DataDir: t.TempDir(), HealthProbeEvery: -1,
	})
	return m, err
}

// Two servers given the same name and started at the same moment (both
// find the name free): exactly one starts, the other refuses, once it has
// seen the first one's heartbeat move. Both used to start.
func TestCluster_TwinsStartedTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Both read the cluster's servers before either writes.
		fc := &fakeCluster{nodes: map[string]fakeNode{}, beats: map[string][]time.Time{}, together: newBarrier(2)}
		db := memStore(t)
		type made struct {
			m   *butler.Manager
			err error
		}
		results := make(chan made, 2)
		for _, inc := range []int64{300, 301} {
			go func() {
				m, err := newClusterManagerOf(t, fc, db, inc)
				if err == nil {
					// It starts: its heartbeats begin.
					err = m.Start(context.Background())
				}
				results <- made{m, err}
			}()
		}
		var started []*butler.Manager
		var refused []error
		for range 2 {
			r := <-results
			if r.err != nil {
				refused = append(refused, r.err)
				continue
			}
			started = append(started, r.m)
		}
		for _, m := range started {
			if err := m.Stop(context.Background()); err != nil {
				t.Error(err)
			}
		}
		var taken *butler.NameTakenError
		if len(started) != 1 || len(refused) != 1 || !errors.As(refused[0], &taken) || taken.Node != "leader" {
			t.Fatalf("two servers of one name started together: %d started, refused with %v; want one started, one refused with a NameTakenError", len(started), refused)
		}
	})
}

// keepBeating beats for node, of incarnation, every interval until ctx is
// done, as a live server does (a slow one beats less often).
func keepBeating(ctx context.Context, fc *fakeCluster, node string, incarnation int64, every time.Duration) {
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
			fc.Heartbeat(ctx, node, incarnation, 0)
		}
	}()
}

// A server whose name a live process of another incarnation holds (two
// servers given the same name) refuses to start, saying which; one whose
// name's record is a dead process's (killed, started again at once)
// starts; so does one beside a dead server of an older Butler, while a
// live one of those is refused.
func TestCluster_NameCheckedAtStart(t *testing.T) {
	for _, tc := range []struct {
		name          string
		record        string // the record's node
		incarnation   int64
		beatEvery     time.Duration // 0: a dead process's record
		wantTaken     bool
		wantOlderText bool
	}{
		{"live twin", "leader", 100, butler.HeartbeatEvery, true, false},
		// Its heartbeats slow (a slow database): one in 6 s, still
		// under FenceAfter, so it still works.
		{"live twin beating slowly", "leader", 100, butler.FenceAfter - time.Second, true, false},
		{"dead earlier process", "leader", 100, 0, false, false},
		{"live older Butler", "old", 0, butler.HeartbeatEvery, true, true},
		{"dead older Butler", "old", 0, 0, false, false},
		{"live server of another name", "other", 100, butler.HeartbeatEvery, false, false},
		// A later process (incarnation 400 > 300) has the name: a twin,
		// or the database's clock went back.
		{"later process", "leader", 400, butler.HeartbeatEvery, true, false},
		{"later process, dead", "leader", 400, 0, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				nodes := map[string]fakeNode{tc.record: {beat: time.Now(), incarnation: tc.incarnation}}
				fc := &fakeCluster{nodes: nodes, beats: map[string][]time.Time{}}
				if tc.beatEvery > 0 {
					keepBeating(ctx, fc, tc.record, tc.incarnation, tc.beatEvery)
				}
				_, err := newClusterManager(t, fc)
				var taken *butler.NameTakenError
				switch {
				case tc.wantTaken && !errors.As(err, &taken):
					t.Fatalf("NewManager: %v; want a NameTakenError", err)
				case tc.wantTaken && (taken.Node != tc.record || taken.Older != tc.wantOlderText || taken.Later != (tc.incarnation > 300)):
					t.Errorf("NewManager: %+v; want node %s, older %v, later %v", taken, tc.record, tc.wantOlderText, tc.incarnation > 300)
				case !tc.wantTaken && err != nil:
					t.Fatalf("NewManager: %v; want it made", err)
				}
				cancel()
			})
		})
	}
}

// A frozen process is superseded (a later one of its name beat), then
// resumes and is stopped cleanly before its own next heartbeat (it holds
// no runs, so Stop goes straight to leaveCluster): it must leave the later
// process's record and lease alone.
func TestCluster_SupersededStopBeforeItsBeatLeavesTheRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cs *clusterStore
		rq := &releaseQueue{holders: map[int64]string{}, released: map[int64]int{}}
		p := newProbe(true)
		f := start(t, []butler.Task{task("U", 1, false, p)}, quietWindow, inCluster(&cs, nil, nil),
			func(c *butler.Config) { rq.Queue = c.Queue; c.Queue = incarnatedQueue{rq, 300} })
		time.Sleep(butler.HeartbeatEvery / 2)
		synctest.Wait()
		// The later process (incarnation 400) beats and takes the lease
		// (TryLead goes by the name).
		if _, err := cs.Heartbeat(context.Background(), "leader", 400, time.Minute); err != nil {
			t.Fatal(err)
		}
		if ok, _ := cs.TryLead(context.Background(), "leader", 10*time.Second); !ok {
			t.Fatal("lease")
		}
		// The earlier process is stopped before its next tick.
		if err := f.m.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		nodes, _ := cs.Nodes(context.Background())
		if rec, ok := nodes["leader"]; !ok || rec.Incarnation != 400 {
			t.Errorf("after the superseded process stopped, the records are %v; want the later server's (400) kept", nodes)
		}
		if ok, _ := cs.TryLead(context.Background(), "other", 10*time.Second); ok {
			t.Errorf("another server took the lease the later process of 'leader' held: the superseded process resigned it")
		}
	})
}

// A server stopping (a rolling restart: the Manager stops before the
// engine, and River keeps fetching item jobs meanwhile) gives back the item
// jobs of other servers' runs it fetches, as a silent server does, instead
// of recording them skipped.
func TestCluster_StoppingServerGivesItemJobsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cs *clusterStore
		rq := &releaseQueue{holders: map[int64]string{}, released: map[int64]int{}}
		f := start(t, []butler.Task{task("U", 1, false, newProbe(true))}, quietWindow, inCluster(&cs, nil, nil),
			func(c *butler.Config) { rq.Queue = c.Queue; c.Queue = incarnatedQueue{rq, 300} })
		if err := f.m.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		res := f.m.ExecuteItem(context.Background(), butler.ItemJob{RunID: 12345, Task: "U", Item: 1})
		if !res.RetryLater {
			t.Errorf("ExecuteItem on a stopping server: %+v; want the job given back (RetryLater), not %q", res, res.Outcome)
		}
	})
}

// stopAwareItem is an item action whose item runs until its context is
// done, and then says what the media tasks say: skipped, the run was told
// to stop.
type stopAwareItem struct {
	butler.Action
	started chan struct{}
}

func (s *stopAwareItem) RunItem(ctx context.Context, id int64, _ *slog.Logger) butler.ItemResult {
	close(s.started)
	<-ctx.Done()
	return butler.ItemResult{Item: id, Outcome: butler.ItemSkipped, Reason: "the run was told to stop"}
}

// A server of a cluster that stops (a rolling restart), or fences itself
// (its heartbeats fail), while it works an item of another server's run
// that goes on gives the item's job back (RetryLater), for a server that
// can do it, instead of recording it skipped: that run would have ended
// succeeded with the item undone, "told to stop" though it was not.
func TestCluster_ItemsCutShortByThisServerAreGivenBack(t *testing.T) {
	for _, how := range []string{"stop", "fence"} {
		t.Run(how, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var cs *clusterStore
				var fb *failingBeats
				var r butler.Run
				ia := &stopAwareItem{Action: newProbe(true), started: make(chan struct{})}
				f := start(t, []butler.Task{task("Items", 1, false, ia)}, quietWindow,
					inCluster(&cs, map[string]time.Time{"other": time.Now().Add(time.Hour)}, func(db *sqlite.DB) {
						r = runningOn(t, db, "Items", "other")
					}), failBeats(&cs, &fb))
				synctest.Wait()
				out := make(chan butler.ItemResult, 1)
				go func() {
					out <- f.m.ExecuteItem(context.Background(), butler.ItemJob{RunID: r.ID, Task: "Items", Item: 7})
				}()
				<-ia.started
				switch how {
				case "stop":
					if err := f.m.Stop(context.Background()); err != nil {
						t.Fatal(err)
					}
				case "fence":
					fb.fail.Store(true)
					time.Sleep(butler.FenceAfter + butler.HeartbeatEvery)
				}
				var res butler.ItemResult
				select {
				case res = <-out:
				case <-time.After(time.Minute):
					t.Fatalf("the item's work still runs a minute after this server's %s", how)
				}
				fb.fail.Store(false)
				if got, _ := f.store.Run(context.Background(), r.ID); got.State != butler.StateRunning {
					t.Fatalf("the other server's run is %s; want still running", got.State)
				}
				if !res.RetryLater || res.Outcome != "" {
					t.Errorf("an item of another server's run, cut short by this server's %s: %+v; want it given back (RetryLater), not recorded %q", how, res, res.Outcome)
				}
			})
		})
	}
}

// runReadFails is a store whose reads of a run fail while fail is set.
type runReadFails struct {
	*sqlite.DB
	fail atomic.Bool
}

func (s *runReadFails) Run(ctx context.Context, id int64) (butler.Run, error) {
	if s.fail.Load() {
		return butler.Run{}, errors.New("database is locked")
	}
	return s.DB.Run(ctx, id)
}

// A server that cannot read an item's run (its database hiccups) gives
// the item's job back (RetryLater), for a server that can, rather than an
// error that fails the run, which may be another server's.
func TestItems_RunUnreadableGivesTheItemBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fs *runReadFails
		ia := &countingItem{Action: newProbe(true)}
		f := start(t, []butler.Task{task("Items", 1, false, ia)}, quietWindow, func(c *butler.Config) {
			fs = &runReadFails{DB: c.Store.(*sqlite.DB)}
			c.Store = fs
		})
		fs.fail.Store(true)
		out := f.m.ExecuteItem(context.Background(), butler.ItemJob{RunID: 1, Task: "Items", Item: 1})
		fs.fail.Store(false)
		if !out.RetryLater || out.Outcome != "" || ia.worked.Load() != 0 {
			t.Errorf("an item whose run could not be read: %+v, worked %d times; want it given back, not worked", out, ia.worked.Load())
		}
	})
}

// queuedRunOf makes a queued run of task in db, with no job: the test
// hands it to Execute itself.
func queuedRunOf(t *testing.T, db *sqlite.DB, task butler.TaskName) butler.Run {
	t.Helper()
	r, err := db.CreateRun(context.Background(), &butler.Run{Task: task, Trigger: butler.TriggerStartTask, State: butler.StateQueued,
		Queue: butler.QueueManual, ScheduledAt: time.Now(), Progress: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A server of a cluster hands back a run of a task it does not offer (its
// config differs from the others' for a while), for a server that offers
// it, for HandBackFor; then it ends the run failed, saying why. A single
// server ends it at once.
func TestCluster_RunOfATaskNotOfferedHandedBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cs *clusterStore
		var r butler.Run
		f := start(t, []butler.Task{task("Here", 1, false, newProbe(true))}, quietWindow,
			inCluster(&cs, nil, func(db *sqlite.DB) { r = queuedRunOf(t, db, "Elsewhere") }))
		ctx := context.Background()
		began := time.Now()
		for time.Since(began) < butler.HandBackFor {
			if err := f.m.Execute(ctx, r.ID); !errors.Is(err, butler.ErrRetryLater) {
				t.Fatalf("Execute of a run of a task not offered here, %v after the first: %v; want it handed back (ErrRetryLater)", time.Since(began), err)
			}
			if got := f.run(r.ID); got.State != butler.StateQueued {
				t.Fatalf("handed back, the run is %s/%s; want it still queued", got.State, got.Outcome)
			}
			time.Sleep(time.Second) // the queue offers it again after a second
		}
		if err := f.m.Execute(ctx, r.ID); err != nil {
			t.Fatalf("Execute after %v of hand-backs: %v; want the run ended", butler.HandBackFor, err)
		}
		got := f.run(r.ID)
		if got.State != butler.StateFinished || got.Outcome != butler.OutcomeFailed || !strings.Contains(got.Reason, "no server that offers it took the run") {
			t.Fatalf("after %v of hand-backs the run is %s/%s %q; want finished/failed saying no server took it", butler.HandBackFor, got.State, got.Outcome, got.Reason)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		var r butler.Run
		f := start(t, []butler.Task{task("Here", 1, false, newProbe(true))}, quietWindow,
			func(c *butler.Config) { r = queuedRunOf(t, c.Store.(*sqlite.DB), "Elsewhere") })
		if err := f.m.Execute(context.Background(), r.ID); err != nil {
			t.Fatalf("Execute on a single server: %v; want the run ended at once", err)
		}
		if got := f.run(r.ID); got.State != butler.StateFinished || got.Outcome != butler.OutcomeFailed {
			t.Fatalf("on a single server the run is %s/%s; want finished/failed at once", got.State, got.Outcome)
		}
	})
}
