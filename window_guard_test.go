package butler_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/schedule"
)

// The server was down when the 02:00-05:00 window of day 1 closed, with one
// of that window's runs still queued (waiting for a slot). It comes back at
// 09:00. As in production (serve starts the queue before Manager.Start, and
// River hands the worker the job left in its table at once), the queue
// offers the run to Execute before Start. The run must end skipped ("window
// closed"), not start: a server down during a window does not catch up
// outside it. It used to start and succeed.
func TestWindow_RestartAfterCloseSkipsTheQueuedRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		db := memStore(t)
		sleepUntil(at(1, 2, 0))
		now := time.Now()
		d1 := schedule.Day{Year: 2000, Month: 1, Day: 1}
		queued := butler.Run{Task: "Behind", Trigger: butler.TriggerWindow, State: butler.StateQueued, Queue: butler.QueueMaintenance,
			Window: d1, Day: d1, CreatedAt: now, ScheduledAt: now, Progress: -1, Reason: "planned when the window opened"}
		if _, err := db.CreateRun(ctx, &queued, nil); err != nil {
			t.Fatal(err)
		}
		// Down from 02:30 to 09:00.
		sleepUntil(at(1, 9, 0))
		p := newProbe(false)
		q := &testQueue{cancels: map[int64]context.CancelFunc{}}
		m, err := butler.NewManager(ctx, butler.Config{Catalog: []butler.Task{task("Behind", 1, false, p)}, Store: db, Queue: q,
			HostZone: "UTC", DataDir: t.TempDir(), HealthProbeEvery: -1})
		if err != nil {
			t.Fatal(err)
		}
		q.m = m
		// River, started first, hands its worker the job it holds.
		done := make(chan error, 1)
		go func() { done <- m.Execute(ctx, queued.ID) }()
		synctest.Wait()
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		<-done
		if s := p.Starts(); len(s) != 0 {
			t.Errorf("the queued run of day 1's window (closed at 05:00) started at %v, outside any window", s)
		}
		if r, _ := db.Run(ctx, queued.ID); r.Outcome != butler.OutcomeSkipped {
			t.Errorf("run of the closed window: %s/%s (%q), want skipped \"window closed\"", r.State, r.Outcome, r.Reason)
		}
		if err := m.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		q.wg.Wait()
	})
}

// The wall clock steps forward two hours at 04:10 (an NTP correction on a
// host without a real-time clock; a resume from suspend does the same to the
// planner's monotonic timers). The window closed at 05:00 by the clock the
// Manager reads; Behind, queued by the window's plan and waiting for the
// only slot, must not start when Long ends at 06:15 (wall), although the
// planner, which sleeps on a timer until 05:00 by the monotonic clock, has
// not skipped it yet. It used to start.
func TestWindow_ClockStepPastCloseSkipsTheQueuedRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var offset atomic.Int64
		jump := func(d time.Duration) { offset.Add(int64(d)) }
		now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		long := newProbe(true)
		behind := newProbe(false)
		f := start(t, []butler.Task{task("Long", 1, false, long), task("Behind", 1, false, behind)},
			map[string]string{butler.SettingMaxConcurrentTasks: "1"}, func(c *butler.Config) { c.NowFunc = now })
		sleepUntil(at(1, 4, 10))
		if r := f.runs("Behind"); len(r) != 1 || r[0].State != butler.StateQueued {
			t.Fatalf("Behind: %+v, want queued behind Long", r)
		}
		jump(2 * time.Hour) // the Manager's clock now reads 06:10
		sleepUntil(at(1, 4, 15))
		close(long.release)
		synctest.Wait()
		r := f.runs("Behind")
		if len(r) != 1 {
			t.Fatalf("Behind: %d runs", len(r))
		}
		if !r[0].StartedAt.IsZero() {
			t.Errorf("Behind's window run started at %v (Manager clock), after its window closed at 05:00; want skipped \"window closed\"",
				r[0].StartedAt.UTC().Format(time.TimeOnly))
		}
	})
}

// While day 2's 02:00-05:00 window is open, the window is moved to 23:00-06:00
// (so 03:00 is now inside the window that opened at 23:00 on day 1 and
// closes at 06:00 on day 2). Behind, queued by day 2's plan and waiting for
// the only slot, waits in the window that holds the instant it was queued,
// by the new hours: the one that closes at 06:00 on day 2, where it is
// skipped ("window closed"). It used to wait on, unskipped at 06:00, and
// start at 07:00 when Long ended, outside every window.
func TestWindow_HoursChangedSkipTheQueuedRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		long := newProbe(true)
		behind := newProbe(false)
		longTask := task("Long", 1, false, long)
		longTask.TimeLimit = 48 * time.Hour
		f := start(t, []butler.Task{longTask, task("Behind", 1, false, behind)},
			map[string]string{butler.SettingMaxConcurrentTasks: "1", butler.SettingTimeZone: "UTC"})
		sleepUntil(at(1, 12, 0))
		sleepUntil(at(2, 3, 0))
		rs := f.runs("Behind")
		if len(rs) == 0 || rs[len(rs)-1].State != butler.StateQueued {
			t.Fatalf("Behind: %+v, want queued behind Long", rs)
		}
		if err := f.m.SetSettings(context.Background(), map[string]string{butler.SettingStartHour: "23", butler.SettingEndHour: "6"}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		sleepUntil(at(2, 7, 0))
		close(long.release)
		synctest.Wait()
		for _, s := range behind.Starts() {
			if s.After(at(2, 5, 59)) && s.Before(at(2, 23, 0)) {
				t.Errorf("Behind started at %v, outside the window (23:00-06:00 after the change)", s)
			}
		}
		if r := f.runs("Behind"); r[len(r)-1].Outcome != butler.OutcomeSkipped || r[len(r)-1].Reason != "window closed" || !r[len(r)-1].EndedAt.Equal(at(2, 6, 0)) {
			t.Errorf("Behind's day-2 run: %s/%s (%q) ended %v, want skipped, window closed, at 06:00", r[len(r)-1].State, r[len(r)-1].Outcome, r[len(r)-1].Reason, r[len(r)-1].EndedAt)
		}
	})
}

// halfRand draws the middle of every interval.
type halfRand struct{}

func (halfRand) Int64N(n int64) int64 { return n / 2 }

// At 03:00, inside day 1's 02:00-05:00 window, the window is moved to
// 10:00-12:00. Random, scheduled by the window's plan for 03:30, belongs to
// the window of day 1, which now runs 10:00-12:00: it must not start at
// 03:30 (it used to), and the task runs once, in the new window.
func TestWindow_HoursChangedSkipTheScheduledRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProbe(false)
		f := start(t, []butler.Task{task("Random", 1, true, p)}, nil, func(c *butler.Config) { c.Rand = halfRand{} })
		sleepUntil(at(1, 3, 0))
		if r := f.runs("Random"); len(r) != 1 || r[0].State != butler.StateScheduled || !r[0].ScheduledAt.Equal(at(1, 3, 30)) {
			t.Fatalf("Random: %+v, want scheduled at 03:30", r)
		}
		if err := f.m.SetSettings(context.Background(), map[string]string{butler.SettingStartHour: "10", butler.SettingEndHour: "12"}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		sleepUntil(at(1, 9, 59))
		if s := p.Starts(); len(s) != 0 {
			t.Errorf("Random started at %v; the window is now 10:00-12:00", s)
		}
		sleepUntil(at(1, 12, 0))
		if s := p.Starts(); len(s) != 1 || s[0].Before(at(1, 10, 0)) || !s[0].Before(at(1, 12, 0)) {
			t.Errorf("Random started at %v; want once, in the new window 10:00-12:00", s)
		}
	})
}

// At 03:00, inside day 1's 02:00-05:00 window, the window is widened to
// 23:00-06:00: 03:00 is inside the new window (the one that opened at 23:00
// on day 0 and closes at 06:00 on day 1), and so is Random's run, scheduled
// for 03:30. The run starts at 03:30, once: the window it was planned in
// is still open. (A rule that read the run's window by its label alone,
// which the new hours open at 23:00 on day 1, skipped it, and the task
// missed the night: the skipped run counted as its run in the open window.)
func TestWindow_WidenedAcrossMidnightStillRunsTonight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProbe(false)
		f := start(t, []butler.Task{task("Random", 1, true, p)}, map[string]string{butler.SettingTimeZone: "UTC"},
			func(c *butler.Config) { c.Rand = halfRand{} })
		sleepUntil(at(1, 3, 0))
		if r := f.runs("Random"); len(r) != 1 || r[0].State != butler.StateScheduled || !r[0].ScheduledAt.Equal(at(1, 3, 30)) {
			t.Fatalf("Random: %+v, want scheduled at 03:30", r)
		}
		if err := f.m.SetSettings(context.Background(), map[string]string{butler.SettingStartHour: "23", butler.SettingEndHour: "6"}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		sleepUntil(at(1, 6, 0))
		if s := p.Starts(); len(s) != 1 || !s[0].Equal(at(1, 3, 30)) {
			for _, r := range f.runs("Random") {
				t.Logf("run %d: %s/%s %q window %v", r.ID, r.State, r.Outcome, r.Reason, r.Window)
			}
			t.Errorf("Random started %v by 06:00; want once, at 03:30, inside the window 23:00-06:00 that was open all along", s)
		}
	})
}

// A daily task succeeded at 19:16 on day 1, outside the 02:00-05:00
// window: its success counts for the next window's day, day 2. The hours
// then become 19:00-21:00 (and the task is enabled for the schedule): under
// them 19:16 on day 1 is inside day 1's window, so the success is day 1's;
// the task is not run again in that window, and day 2's window runs it. It
// used to keep the day counted with the old hours (day 2), ahead of the
// window it then sat in, and skip day 2's window.
func TestWindow_SuccessDayFollowsNewHours(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		p := newProbe(false)
		daily := task("Daily", 1, false, p)
		f := start(t, []butler.Task{daily}, map[string]string{daily.Setting: "false"}) // window 02:00-05:00 UTC; left to explicit starts
		sleepUntil(at(1, 19, 16))
		if res, err := f.m.StartTask(ctx, "Daily", true); err != nil || res.Outcome != butler.StartStarted {
			t.Fatalf("forced start at 19:16: %v, %v", res.Outcome, err)
		}
		synctest.Wait()
		if s := p.Starts(); len(s) != 1 {
			t.Fatalf("the forced start ran the task %d times; want once", len(s))
		}
		if err := f.m.SetSettings(ctx, map[string]string{butler.SettingStartHour: "19", butler.SettingEndHour: "21", daily.Setting: "true"}); err != nil {
			t.Fatal(err)
		}
		sleepUntil(at(1, 21, 0))
		if s := p.Starts(); len(s) != 1 {
			t.Fatalf("day 1's 19:00-21:00 window ran the task again at %v; it had run in it at 19:16", s[1:])
		}
		plan, err := f.m.Plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Tasks) != 1 || plan.Tasks[0].Decision != butler.PlanRuns {
			t.Errorf("the plan for day 2's window: %+v; want Daily to run in it", plan.Tasks)
		}
		sleepUntil(at(2, 19, 0))
		if s := p.Starts(); len(s) != 2 || !s[1].Equal(at(2, 19, 0)) {
			t.Fatalf("the task started at %v; want a second start when day 2's window opened at 19:00", s)
		}
	})
}

// A run that found nothing to work on yet (butler.NothingYet: no library
// configured) ends succeeded but leaves its task due: once there is
// something, a start of the task that is not forced runs it, the same day,
// instead of answering "not due".
func TestExecute_NothingYetLeavesTheTaskDue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		var runs atomic.Int32
		var ready atomic.Bool
		act := butler.ActionFunc(func(context.Context, butler.Reporter) error {
			runs.Add(1)
			if !ready.Load() {
				return &butler.NothingYet{Reason: "no library configured"}
			}
			return nil
		})
		scan := task("Scan", 1, false, act)
		f := start(t, []butler.Task{scan}, map[string]string{scan.Setting: "false"}) // left to explicit starts
		sleepUntil(at(1, 12, 10))
		res, err := f.m.StartTask(ctx, "Scan", false)
		if err != nil || res.Outcome != butler.StartStarted {
			t.Fatalf("first start: %v, %v", res.Outcome, err)
		}
		synctest.Wait()
		if r := f.run(res.Run.ID); r.State != butler.StateFinished || r.Outcome != butler.OutcomeSucceeded || r.Reason != "nothing to work on yet: no library configured" {
			t.Fatalf("the run with nothing to work on: %s/%s %q; want finished/succeeded, saying there was nothing yet", r.State, r.Outcome, r.Reason)
		}
		ready.Store(true)
		sleepUntil(at(1, 12, 20))
		res, err = f.m.StartTask(ctx, "Scan", false)
		if err != nil || res.Outcome != butler.StartStarted {
			t.Fatalf("a start once there is work, the same day: %s (%s), %v; want started", res.Outcome, res.Reason, err)
		}
		synctest.Wait()
		if n := runs.Load(); n != 2 {
			t.Fatalf("the action ran %d times; want 2", n)
		}
		// A real success is the day's.
		res, err = f.m.StartTask(ctx, "Scan", false)
		if err != nil || res.Outcome != butler.StartSkipped {
			t.Fatalf("a start after the day's success: %s (%s), %v; want skipped (not due)", res.Outcome, res.Reason, err)
		}
	})
}
