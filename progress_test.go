package butler_test

import (
	"context"
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
