package butler_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/sqlstore"
	"github.com/plexbutler/butler/store/sqlite"
)

// pruneSpy is the manager's store, with every PruneRuns call recorded. The
// first call waits until the test closes ready.
type pruneSpy struct {
	butler.Store
	ready chan struct{}
	done  chan struct{} // closed when a call returns 0
	m     *butler.Manager
	// between is called before the i-th call (from 0) goes to the store.
	between func(i int)
	// busy names a task the test itself may start during the pruning: its
	// lock, held by that start, says nothing about the planner's.
	busy butler.TaskName

	mu    sync.Mutex
	calls []pruneCall
}

type pruneCall struct {
	n      int
	err    error
	at     time.Time
	locked []butler.TaskName // task locks held during the call
}

func (s *pruneSpy) PruneRuns(ctx context.Context, before time.Time) (int, error) {
	<-s.ready
	s.mu.Lock()
	i := len(s.calls)
	s.mu.Unlock()
	if s.between != nil {
		s.between(i)
	}
	var locked []butler.TaskName
	for _, t := range s.m.Tasks() {
		if t.Name != s.busy && butler.TaskLockedForTest(s.m, t.Name) {
			locked = append(locked, t.Name)
		}
	}
	n, err := s.Store.PruneRuns(ctx, before)
	s.mu.Lock()
	s.calls = append(s.calls, pruneCall{n: n, err: err, at: time.Now(), locked: locked})
	s.mu.Unlock()
	if n == 0 && err == nil {
		close(s.done)
	}
	return n, err
}

func (s *pruneSpy) Calls() []pruneCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pruneCall(nil), s.calls...)
}

// withHistory inserts runs finished ended ago (each a minute apart, the
// last ended ago before now) into the fixture's SQLite store, and wraps the
// store in spy.
func withHistory(t *testing.T, spy *pruneSpy, runs []struct {
	n   int
	ago time.Duration
}) func(*butler.Config) {
	return func(c *butler.Config) {
		db := c.Store.(*sqlite.DB)
		for _, r := range runs {
			end := time.Now().Add(-r.ago).UnixNano()
			if _, err := db.SQL().ExecContext(t.Context(), `WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i + 1 < ?1)
				INSERT INTO butler_run (uuid, task, trigger, state, outcome, created_at, scheduled_at, started_at, ended_at, log)
				SELECT printf('%d-%d', ?2, i), 'Job', 'window', 'finished', 'succeeded', ?2 - i * 60000000000 - 1000, ?2 - i * 60000000000 - 1000,
					?2 - i * 60000000000 - 1000, ?2 - i * 60000000000, printf('%.600c', 'x')
				FROM g`, r.n, end); err != nil {
				t.Fatal(err)
			}
		}
		spy.Store = c.Store
		c.Store = spy
	}
}

func countRuns(t *testing.T, f *fixture) int {
	t.Helper()
	var n int
	if err := f.store.SQL().QueryRowContext(t.Context(), `SELECT count(*) FROM butler_run`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A history of five batches and a bit past the retention is pruned one
// batch per call, with no task lock held, and other calls are answered
// between the batches.
func TestPlanner_PrunesLargeHistoryInBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		batch := sqlstore.DefaultPruneBatch
		expired := 5*batch + 7
		spy := &pruneSpy{ready: make(chan struct{}), done: make(chan struct{}), busy: "Other"}
		answered := make(chan struct{})
		var answeredBefore []bool
		spy.between = func(i int) {
			switch i {
			case 1:
				// Asked while the pruning goes on: answered before the
				// batch after next.
				go func() {
					if _, err := spy.m.Statuses(context.Background()); err != nil {
						t.Error(err)
					}
					if _, err := spy.m.StartTask(context.Background(), "Other", true); err != nil {
						t.Error(err)
					}
					close(answered)
				}()
			case 2, 3:
				select {
				case <-answered:
					answeredBefore = append(answeredBefore, true)
				default:
					answeredBefore = append(answeredBefore, false)
				}
			}
		}
		f := start(t, []butler.Task{task("Job", 1, false, newProbe(false)), task("Other", 1, false, newProbe(false))},
			map[string]string{butler.SettingRunRetentionDays: "30"},
			withHistory(t, spy, []struct {
				n   int
				ago time.Duration
			}{{expired, 40 * 24 * time.Hour}, {25, 24 * time.Hour}}))
		spy.m = f.m
		close(spy.ready)
		select {
		case <-spy.done:
		case <-time.After(time.Hour):
			t.Fatalf("the pruning did not end within an hour: %d calls", len(spy.Calls()))
		}
		synctest.Wait()

		calls := spy.Calls()
		want := []int{batch, batch, batch, batch, batch, 7, 0}
		if len(calls) != len(want) {
			t.Fatalf("%d calls of PruneRuns, want %d: %+v", len(calls), len(want), calls)
		}
		for i, c := range calls {
			if c.n != want[i] || c.err != nil {
				t.Errorf("call %d deleted %d runs (%v), want %d", i, c.n, c.err, want[i])
			}
			if len(c.locked) > 0 {
				t.Errorf("call %d was made while the locks of %v were held", i, c.locked)
			}
			if i > 0 && c.at.Sub(calls[i-1].at) <= 0 {
				t.Errorf("call %d came %v after the one before: the planner did not rest between batches", i, c.at.Sub(calls[i-1].at))
			}
		}
		if len(answeredBefore) != 2 || !answeredBefore[1] {
			t.Errorf("calls made during batch 2 answered before batches 3 and 4: %v; want the status and the start between batches", answeredBefore)
		}
		// The recent runs and Other's forced run are left.
		if n := countRuns(t, f); n != 25+1 {
			t.Errorf("%d runs left, want the 25 recent ones and Other's", n)
		}
	})
}

// A long pruning gives way to the planner: the window opens on the dot
// while the history is pruned, and the pruning goes on afterwards.
func TestPlanner_PruneGivesWayToTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		batch := sqlstore.DefaultPruneBatch
		spy := &pruneSpy{ready: make(chan struct{}), done: make(chan struct{})}
		job := newProbe(false)
		f := start(t, []butler.Task{task("Job", 1, false, job)}, map[string]string{butler.SettingRunRetentionDays: "30"},
			withHistory(t, spy, []struct {
				n   int
				ago time.Duration
			}{{20 * batch, 40 * 24 * time.Hour}}))
		spy.m = f.m
		// The pruning starts 10 ms before the window opens (02:00); twenty
		// batches with their rests take longer than that.
		sleepUntil(at(1, 2, 0).Add(-10 * time.Millisecond))
		close(spy.ready)
		select {
		case <-spy.done:
		case <-time.After(time.Hour):
			t.Fatalf("the pruning did not end within an hour: %d calls", len(spy.Calls()))
		}
		synctest.Wait()
		if s := job.Starts(); len(s) != 1 || !s[0].Equal(at(1, 2, 0)) {
			t.Fatalf("Job started at %v, want once at 02:00 on the dot", s)
		}
		calls := spy.Calls()
		var before, after int
		for _, c := range calls {
			if c.at.Before(at(1, 2, 0)) {
				before += c.n
			} else {
				after += c.n
			}
		}
		if before == 0 || after == 0 || before+after != 20*batch {
			t.Errorf("deleted %d runs before 02:00 and %d after, want some before, the rest after, %d in all", before, after, 20*batch)
		}
		if n := countRuns(t, f); n != 1 {
			t.Errorf("%d runs left, want Job's of 02:00", n)
		}
	})
}
