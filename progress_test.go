package butler_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/plexbutler/butler"
)

// burst reports two progresses at once, then waits to be released.
type burst struct{ release chan struct{} }

func (b burst) Run(ctx context.Context, r butler.Reporter) error {
	r.Progress(10, "first")
	r.Progress(20, "last of the burst")
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// The last progress of a burst reaches the store (which other servers
// read) once the throttle allows, and the subscribers likewise: neither
// keeps the first of the burst for good.
func TestProgress_LastOfABurstIsSavedAndPublished(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := burst{release: make(chan struct{})}
		f := start(t, []butler.Task{task("Job", 1, false, b)}, quietWindow)
		sub := f.m.Subscribe()
		defer sub.Close()
		if _, err := f.m.StartTask(ctx, "Job", false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		time.Sleep(time.Second)
		synctest.Wait()
		runs := f.runs("Job")
		if len(runs) != 1 || runs[0].Progress != 20 || runs[0].Step != "last of the burst" {
			t.Fatalf("stored run a second after the burst: %+v, want its last progress", runs)
		}
		var last butler.Activity
		for {
			nctx, cancel := context.WithTimeout(ctx, time.Millisecond)
			ev, err := sub.Next(nctx)
			cancel()
			if err != nil {
				break
			}
			if ev.Type == butler.EventUpdated {
				last = ev.Activity
			}
		}
		if last.Progress != 20 || last.Step != "last of the burst" {
			t.Fatalf("last update published: %+v, want the last progress of the burst", last)
		}
		close(b.release)
	})
}

// countingStore counts the progress saves that reach the store.
type countingStore struct {
	butler.Store
	saves *atomic.Int32
}

func (s countingStore) SaveProgress(ctx context.Context, id int64, progress int, step string) error {
	s.saves.Add(1)
	return s.Store.SaveProgress(ctx, id, progress, step)
}

// A run shorter than a second writes its progress once, with its end; a
// longer one has it saved a second in.
func TestProgress_ShortRunSavesItWithItsEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		var saves atomic.Int32
		quick := butler.ActionFunc(func(_ context.Context, r butler.Reporter) error {
			r.Progress(50, "half")
			time.Sleep(900 * time.Millisecond)
			r.Progress(90, "nearly")
			return nil
		})
		b := burst{release: make(chan struct{})}
		f := start(t, []butler.Task{task("Quick", 1, false, quick), task("Slow", 1, false, b)}, quietWindow,
			func(c *butler.Config) { c.Store = countingStore{Store: c.Store, saves: &saves} })
		if _, err := f.m.StartTask(ctx, "Quick", false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		time.Sleep(time.Second)
		synctest.Wait()
		runs := f.runs("Quick")
		if len(runs) != 1 || runs[0].State != butler.StateFinished || runs[0].Progress != 100 || runs[0].Step != "nearly" {
			t.Fatalf("quick run: %+v; want it finished (100) with its last step", runs)
		}
		if n := saves.Load(); n != 0 {
			t.Fatalf("a run of 0.9 s saved its progress %d times before its end; want none", n)
		}
		if _, err := f.m.StartTask(ctx, "Slow", false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := saves.Load(); n != 0 {
			t.Fatalf("progress saved %d times at once; want it a second in", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if runs := f.runs("Slow"); saves.Load() != 1 || len(runs) != 1 || runs[0].Progress != 20 {
			t.Fatalf("a second into a long run: %d saves, %+v; want one, with its progress", saves.Load(), runs)
		}
		close(b.release)
	})
}
