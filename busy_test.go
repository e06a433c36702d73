package butler_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/plexbutler/butler"
)

// switchProbe is busy while busy is set.
type switchProbe struct{ busy atomic.Bool }

func (p *switchProbe) Busy(context.Context) (bool, string, error) {
	if p.busy.Load() {
		return true, "Plex: 1 session playing", nil
	}
	return false, "", nil
}

// pausing is an action that waits for nobody to be busy before each of its
// three items, and counts the items done; with hold, its first item lasts
// until hold is closed.
type pausing struct {
	done atomic.Int32
	hold chan struct{}
}

func (a *pausing) Run(ctx context.Context, r butler.Reporter) error {
	for i := range 3 {
		if err := r.(butler.Pauser).WaitIdle(ctx); err != nil {
			return err
		}
		if i == 0 && a.hold != nil {
			<-a.hold
		}
		a.done.Add(1)
	}
	return nil
}

// TestPause_ResumesWhenIdleAndStopsWhenTheWindowCloses: a run paused while
// someone watches shows it (activity, plan), goes on once nobody does, and
// a run still paused when the window closes is stopped by the close like
// any other, its items left for the next window.
func TestPause_ResumesWhenIdleAndStopsWhenTheWindowCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		probe := &switchProbe{}
		probe.busy.Store(true)
		first, second := &pausing{}, &pausing{hold: make(chan struct{})}
		atEnd := task("Second", 1, false, second)
		atEnd.StopAtWindowEnd = true
		f := start(t, []butler.Task{task("First", 1, false, first), atEnd}, map[string]string{butler.SettingMaxConcurrentTasks: "2"}, func(c *butler.Config) {
			c.Busy, c.BusyEvery = probe, 10*time.Second
		})
		sleepUntil(at(1, 2, 1))
		acts, err := f.m.Activities(context.Background())
		if err != nil || len(acts) != 2 {
			t.Fatalf("activities %+v %v; want both runs", acts, err)
		}
		for _, a := range acts {
			if a.Paused != "Plex: 1 session playing" || !strings.HasPrefix(a.Step, butler.PausedStep) {
				t.Errorf("%s: paused %q, step %q; want paused for Plex's session", a.Task, a.Paused, a.Step)
			}
		}
		plan, err := f.m.Plan(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range plan.Tasks {
			if e.Decision != butler.PlanRunning || !strings.HasPrefix(e.Reason, "paused while Plex: 1 session playing; running since 02:00") {
				t.Errorf("plan of %s: %s %q; want running, paused with the reason", e.Task, e.Decision, e.Reason)
			}
		}
		if first.done.Load() != 0 || second.done.Load() != 0 {
			t.Fatalf("items done while busy: %d, %d", first.done.Load(), second.done.Load())
		}

		// Nobody watching at 03:00: both go on within one interval; First
		// ends, Second is on its long first item.
		sleepUntil(at(1, 3, 0))
		probe.busy.Store(false)
		sleepUntil(at(1, 3, 0).Add(10 * time.Second))
		if r := f.runs("First"); r[0].Outcome != butler.OutcomeSucceeded || first.done.Load() != 3 {
			t.Fatalf("First once idle: %+v, %d items; want succeeded, 3 items", r[0], first.done.Load())
		}
		if acts, _ := f.m.Activities(context.Background()); len(acts) != 1 || acts[0].Paused != "" || strings.HasPrefix(acts[0].Step, butler.PausedStep) {
			t.Fatalf("activities once idle: %+v; want Second alone, no longer paused", acts)
		}

		// Watching again when Second's first item ends: it pauses before its
		// second, and is still paused when the window closes, which stops it.
		probe.busy.Store(true)
		sleepUntil(at(1, 3, 1))
		close(second.hold)
		sleepUntil(at(1, 3, 2))
		if acts, _ := f.m.Activities(context.Background()); len(acts) != 1 || acts[0].Paused == "" {
			t.Fatalf("activities: %+v; want Second paused again", acts)
		}
		sleepUntil(at(1, 5, 0))
		if r := f.runs("Second"); r[0].Outcome != butler.OutcomeStopped || r[0].Reason != "the window closed" || second.done.Load() != 1 {
			t.Fatalf("Second at the close: %+v, %d items; want stopped by the close after its first item", r[0], second.done.Load())
		}
	})
}
