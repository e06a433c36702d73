package butler

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// TestGate_ForgetManyLetsTheNextRunIn: a waiting run behind the places of
// runs expected before it gets its slot as soon as the last of those
// places is forgotten (a stop-all forgets them all in one call), without
// waiting for any place to expire.
func TestGate_ForgetManyLetsTheNextRunIn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(1, time.Now)
		early := []gateKey{{at: 1, id: 1}, {at: 1, id: 2}, {at: 2, id: 3}}
		for _, k := range early {
			g.expect(k)
		}
		start := time.Now()
		granted := make(chan time.Time, 1)
		go func() {
			if err := g.acquire(context.Background(), gateKey{at: 3, id: 4}); err != nil {
				t.Error(err)
				return
			}
			granted <- time.Now()
		}()
		synctest.Wait()
		select {
		case <-granted:
			t.Fatal("a run was let in ahead of three runs expected before it")
		default:
		}
		g.forget(early[0], early[1])
		synctest.Wait()
		select {
		case <-granted:
			t.Fatal("a run was let in while a run expected before it still had its place")
		default:
		}
		g.forget(early[2])
		synctest.Wait()
		select {
		case at := <-granted:
			if waited := at.Sub(start); waited != 0 {
				t.Fatalf("the run waited %v after the places before it were forgotten; want no wait", waited)
			}
		default:
			t.Fatal("the run was not let in once every place before it was forgotten")
		}
		g.release()
	})
}

// TestGate_RunStartedElsewhereIsNotWaitedFor: a run this server queued
// and another server started (the leader queues a window's runs, any
// server takes them) loses its place at once (forgetRun, by id alone):
// the run queued after it is let in without waiting for the place to
// expire.
func TestGate_RunStartedElsewhereIsNotWaitedFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(1, time.Now)
		g.expect(gateKey{at: 1, id: 7})
		start := time.Now()
		granted := make(chan time.Time, 1)
		go func() {
			if err := g.acquire(context.Background(), gateKey{at: 2, id: 8}); err != nil {
				t.Error(err)
				return
			}
			granted <- time.Now()
		}()
		synctest.Wait()
		g.forgetRun(99) // another run: nothing changes
		synctest.Wait()
		select {
		case <-granted:
			t.Fatal("a run was let in ahead of a run expected before it")
		default:
		}
		g.forgetRun(7)
		synctest.Wait()
		select {
		case at := <-granted:
			if waited := at.Sub(start); waited != 0 {
				t.Fatalf("the run waited %v; want no wait once the run before it started elsewhere", waited)
			}
		default:
			t.Fatal("the run was not let in once the run before it started elsewhere")
		}
		g.release()
	})
}
