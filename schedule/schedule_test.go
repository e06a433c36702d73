package schedule_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/plexbutler/butler/schedule"
)

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return loc
}

func day(y int, m time.Month, d int) schedule.Day { return schedule.Day{Year: y, Month: m, Day: d} }

// fixedRand returns the largest or smallest value, so that random instants
// land on the edges of their interval.
type fixedRand struct{ max bool }

func (f fixedRand) Int64N(n int64) int64 {
	if f.max {
		return n - 1
	}
	return 0
}

func TestWorkedExamples(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	w := schedule.Window{Start: 2, End: 5, Loc: berlin}
	at := func(d, h, m, s, ns int) time.Time { return time.Date(2026, time.June, d, h, m, s, ns, berlin) }
	backup := schedule.TaskState{Enabled: true, Interval: 3, LastSuccess: day(2026, time.June, 10)}
	randomized := backup
	randomized.Randomized = true

	t.Run("Day11NotDue", func(t *testing.T) {
		d := schedule.StartTask(at(11, 3, 0, 0, 0), w, backup, fixedRand{})
		if d.Verdict != schedule.Skip || d.NextDue != day(2026, time.June, 13) {
			t.Fatalf("got %v next due %v, want skip until 2026-06-13", d.Verdict, d.NextDue)
		}
		if d.Reason != "not due until 2026-06-13" {
			t.Fatalf("reason %q", d.Reason)
		}
	})
	t.Run("Day13OutsideStartsNow", func(t *testing.T) {
		d := schedule.StartTask(at(13, 1, 0, 0, 0), w, backup, fixedRand{})
		if d.Verdict != schedule.StartNow {
			t.Fatalf("got %v (%s), want start now", d.Verdict, d.Reason)
		}
		// Start-all queues it instead of giving it its own slot.
		if d := schedule.StartAll(at(13, 1, 0, 0, 0), w, backup, fixedRand{}); d.Verdict != schedule.Queue {
			t.Fatalf("start-all: got %v, want queue", d.Verdict)
		}
	})
	t.Run("Day13InsideRandomizedScheduled", func(t *testing.T) {
		now := at(13, 3, 0, 0, 0)
		for _, r := range []fixedRand{{false}, {true}} {
			d := schedule.StartTask(now, w, randomized, r)
			if d.Verdict != schedule.Schedule {
				t.Fatalf("got %v, want schedule", d.Verdict)
			}
			if d.At.Before(now) || !d.At.Before(at(13, 5, 0, 0, 0)) {
				t.Fatalf("scheduled at %v, want in [03:00, 05:00)", d.At)
			}
			if d.Window != day(2026, time.June, 13) {
				t.Fatalf("belongs to window %v, want day 13", d.Window)
			}
		}
		if d := schedule.StartTask(now, w, randomized, fixedRand{true}); !d.At.Equal(at(13, 5, 0, 0, 0).Add(-1)) {
			t.Fatalf("largest draw gives %v, want 1ns before 05:00", d.At)
		}
	})
	t.Run("Day13LastMillisecond", func(t *testing.T) {
		now := at(13, 4, 59, 59, 999_000_000)
		for _, r := range []fixedRand{{false}, {true}} {
			d := schedule.StartTask(now, w, randomized, r)
			if d.Verdict != schedule.Schedule || d.At.Before(now) || !d.At.Before(at(13, 5, 0, 0, 0)) {
				t.Fatalf("got %v at %v, want schedule in [04:59:59.999, 05:00)", d.Verdict, d.At)
			}
		}
	})
	t.Run("CrossingMidnight", func(t *testing.T) {
		w := schedule.Window{Start: 23, End: 4, Loc: berlin}
		if d, inside := w.Inside(at(14, 1, 0, 0, 0)); !inside || d != day(2026, time.June, 13) {
			t.Fatalf("01:00 on 14: inside=%v day %v, want inside day 13", inside, d)
		}
		if got := w.Opened(at(14, 1, 0, 0, 0)); got != day(2026, time.June, 13) {
			t.Fatalf("butler day at 01:00 on 14 = %v, want 13", got)
		}
		if _, inside := w.Inside(at(14, 4, 0, 0, 0)); inside {
			t.Fatalf("04:00 on 14 is inside, want outside")
		}
		if d, inside := w.Inside(at(14, 23, 0, 0, 0)); !inside || d != day(2026, time.June, 14) {
			t.Fatalf("23:00 on 14: inside=%v day %v, want the window of day 14", inside, d)
		}
		if next, opening := w.Next(at(14, 4, 0, 0, 0)); !opening || !next.Equal(at(14, 23, 0, 0, 0)) {
			t.Fatalf("next event after 04:00 = %v opening=%v", next, opening)
		}
	})
	t.Run("SpringForward", func(t *testing.T) {
		open, close := w.Bounds(day(2026, time.March, 29))
		if want := time.Date(2026, time.March, 29, 1, 0, 0, 0, time.UTC); !open.Equal(want) {
			t.Fatalf("opens at %v, want 03:00 CEST (%v)", open, want)
		}
		if open.In(berlin).Hour() != 3 || close.Sub(open) != 2*time.Hour {
			t.Fatalf("window %v..%v, want 03:00 CEST lasting 2h", open, close)
		}
	})
	t.Run("FallBack", func(t *testing.T) {
		open, close := w.Bounds(day(2026, time.October, 25))
		if want := time.Date(2026, time.October, 25, 0, 0, 0, 0, time.UTC); !open.Equal(want) {
			t.Fatalf("opens at %v, want the first 02:00 (CEST) %v", open, want)
		}
		if _, off := open.Zone(); off != 2*3600 {
			t.Fatalf("opening offset %d, want CEST", off)
		}
		if close.Sub(open) != 4*time.Hour {
			t.Fatalf("window lasts %v, want 4h", close.Sub(open))
		}
	})
	t.Run("AlwaysOpen", func(t *testing.T) {
		w := schedule.Window{Start: 4, End: 4, Loc: berlin}
		for h := range 24 {
			now := at(20, h, 30, 0, 0)
			d, inside := w.Inside(now)
			want := day(2026, time.June, 20)
			if h < 4 {
				want = day(2026, time.June, 19)
			}
			if !inside || d != want {
				t.Fatalf("%02d:30: inside=%v day %v, want inside day %v", h, inside, d, want)
			}
		}
		open, close := w.Bounds(day(2026, time.June, 20))
		if open.In(berlin).Hour() != 4 || close.Sub(open) != 24*time.Hour {
			t.Fatalf("window %v..%v, want 04:00 for 24h", open, close)
		}
	})
}

func TestWallClock(t *testing.T) {
	for _, tc := range []struct {
		zone string
		d    schedule.Day
		hour int
		want time.Time // UTC
	}{
		{"Europe/Berlin", day(2026, time.June, 1), 2, time.Date(2026, time.June, 1, 0, 0, 0, 0, time.UTC)},
		{"Europe/Berlin", day(2026, time.March, 29), 2, time.Date(2026, time.March, 29, 1, 0, 0, 0, time.UTC)},
		{"Europe/Berlin", day(2026, time.October, 25), 2, time.Date(2026, time.October, 25, 0, 0, 0, 0, time.UTC)},
		{"America/New_York", day(2026, time.March, 8), 2, time.Date(2026, time.March, 8, 7, 0, 0, 0, time.UTC)},
		{"America/New_York", day(2026, time.November, 1), 1, time.Date(2026, time.November, 1, 5, 0, 0, 0, time.UTC)},
		// Lord Howe moves by 30 minutes: 02:00 -> 02:30 on the first Sunday of October.
		{"Australia/Lord_Howe", day(2026, time.October, 4), 2, time.Date(2026, time.October, 3, 15, 30, 0, 0, time.UTC)},
		{"UTC", day(2026, time.June, 1), 23, time.Date(2026, time.June, 1, 23, 0, 0, 0, time.UTC)},
		// Samoa skipped 30 December 2011 entirely.
		{"Pacific/Apia", day(2011, time.December, 30), 3, time.Date(2011, time.December, 30, 10, 0, 0, 0, time.UTC)},
	} {
		got := schedule.WallClock(tc.d, tc.hour, mustLoc(t, tc.zone))
		if !got.Equal(tc.want) {
			t.Errorf("%s %v %02d:00 = %v (%v), want %v", tc.zone, tc.d, tc.hour, got.UTC(), got, tc.want)
		}
	}
}

func TestDue(t *testing.T) {
	for _, tc := range []struct {
		interval    int
		last, d     schedule.Day
		due         bool
		from        schedule.Day
		description string
	}{
		{3, schedule.Day{}, day(2026, 1, 1), true, day(2026, 1, 1), "never succeeded"},
		{3, day(2026, 1, 10), day(2026, 1, 12), false, day(2026, 1, 13), "two days later"},
		{3, day(2026, 1, 10), day(2026, 1, 13), true, day(2026, 1, 13), "three days later"},
		{7, day(2026, 2, 26), day(2026, 3, 5), true, day(2026, 3, 5), "across February"},
		{1, day(2026, 12, 31), day(2027, 1, 1), true, day(2027, 1, 1), "across the year"},
		{1, day(2026, 1, 1), day(2026, 1, 1), false, day(2026, 1, 2), "same day"},
	} {
		due, from := schedule.Due(tc.interval, tc.last, tc.d)
		if due != tc.due || from != tc.from {
			t.Errorf("%s: Due(%d, %v, %v) = %v, %v; want %v, %v", tc.description, tc.interval, tc.last, tc.d, due, from, tc.due, tc.from)
		}
	}
}

func TestStartTables(t *testing.T) {
	loc := mustLoc(t, "Europe/Berlin")
	w := schedule.Window{Start: 2, End: 5, Loc: loc}
	inside := time.Date(2026, time.June, 13, 3, 0, 0, 0, loc)
	outside := time.Date(2026, time.June, 13, 12, 0, 0, 0, loc)
	due := schedule.TaskState{Enabled: true, Interval: 1}
	with := func(f func(*schedule.TaskState)) schedule.TaskState { s := due; f(&s); return s }

	for _, tc := range []struct {
		name     string
		now      time.Time
		state    schedule.TaskState
		startAll schedule.Verdict
		startOne schedule.Verdict
		force    schedule.Verdict
	}{
		{"Running", inside, with(func(s *schedule.TaskState) { s.Active = schedule.ActiveRunning }), schedule.Leave, schedule.AlreadyRunning, schedule.AlreadyRunning},
		{"Scheduled", inside, with(func(s *schedule.TaskState) { s.Active = schedule.ActiveScheduled }), schedule.Leave, schedule.AlreadyWaiting, schedule.StartNow},
		{"Queued", outside, with(func(s *schedule.TaskState) { s.Active = schedule.ActiveQueued }), schedule.Leave, schedule.AlreadyWaiting, schedule.StartNow},
		// The enable setting governs the schedule only: an explicit start of
		// a disabled task follows the rules of an enabled one.
		{"Disabled", inside, with(func(s *schedule.TaskState) { s.Enabled = false }), schedule.Leave, schedule.StartNow, schedule.StartNow},
		{"DisabledOutside", outside, with(func(s *schedule.TaskState) { s.Enabled = false }), schedule.Leave, schedule.StartNow, schedule.StartNow},
		{"DisabledNotDue", inside, with(func(s *schedule.TaskState) { s.Enabled = false; s.LastSuccess = day(2026, 6, 13) }), schedule.Leave, schedule.Skip, schedule.StartNow},
		{"DisabledRandomizedInside", inside, with(func(s *schedule.TaskState) { s.Enabled = false; s.Randomized = true }), schedule.Leave, schedule.Schedule, schedule.StartNow},
		{"DisabledRandomizedOutside", outside, with(func(s *schedule.TaskState) { s.Enabled = false; s.Randomized = true }), schedule.Leave, schedule.StartNow, schedule.StartNow},
		{"DisabledAndWaiting", inside, with(func(s *schedule.TaskState) { s.Enabled = false; s.Active = schedule.ActiveQueued }), schedule.Leave, schedule.AlreadyWaiting, schedule.StartNow},
		{"DisabledAndRunning", inside, with(func(s *schedule.TaskState) { s.Enabled = false; s.Active = schedule.ActiveRunning }), schedule.Leave, schedule.AlreadyRunning, schedule.AlreadyRunning},
		{"NotDue", inside, with(func(s *schedule.TaskState) { s.LastSuccess = day(2026, 6, 13) }), schedule.Skip, schedule.Skip, schedule.StartNow},
		{"RandomizedInside", inside, with(func(s *schedule.TaskState) { s.Randomized = true }), schedule.Schedule, schedule.Schedule, schedule.StartNow},
		{"RandomizedOutside", outside, with(func(s *schedule.TaskState) { s.Randomized = true }), schedule.Queue, schedule.StartNow, schedule.StartNow},
		{"FixedInside", inside, due, schedule.Queue, schedule.StartNow, schedule.StartNow},
		{"FixedOutside", outside, due, schedule.Queue, schedule.StartNow, schedule.StartNow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fixedRand{}
			if got := schedule.StartAll(tc.now, w, tc.state, r).Verdict; got != tc.startAll {
				t.Errorf("StartAll = %v, want %v", got, tc.startAll)
			}
			if got := schedule.StartTask(tc.now, w, tc.state, r).Verdict; got != tc.startOne {
				t.Errorf("StartTask = %v, want %v", got, tc.startOne)
			}
			if got := schedule.Force(tc.now, w, tc.state).Verdict; got != tc.force {
				t.Errorf("Force = %v, want %v", got, tc.force)
			}
		})
	}
}

// TestStartTask_DisabledReason: an explicit start of a disabled task says
// why the task would not have run by itself, after the reason of the rule
// that decided it; an enabled task's reason says nothing of it.
func TestStartTask_DisabledReason(t *testing.T) {
	loc := mustLoc(t, "Europe/Berlin")
	w := schedule.Window{Start: 2, End: 5, Loc: loc}
	inside := time.Date(2026, time.June, 13, 3, 0, 0, 0, loc)
	outside := time.Date(2026, time.June, 13, 12, 0, 0, 0, loc)
	for _, tc := range []struct {
		name  string
		now   time.Time
		state schedule.TaskState
		want  string
	}{
		{"Inside", inside, schedule.TaskState{Interval: 1}, "inside the window: starts now; " + schedule.DisabledNote},
		{"Outside", outside, schedule.TaskState{Interval: 1}, "outside the window: starts now; " + schedule.DisabledNote},
		{"NotDue", inside, schedule.TaskState{Interval: 3, LastSuccess: day(2026, 6, 12)}, "not due until 2026-06-15; " + schedule.DisabledNote},
		{"Randomized", inside, schedule.TaskState{Interval: 1, Randomized: true}, "scheduled at a random time in the window; " + schedule.DisabledNote},
		{"Enabled", inside, schedule.TaskState{Enabled: true, Interval: 1}, "inside the window: starts now"},
	} {
		if got := schedule.StartTask(tc.now, w, tc.state, fixedRand{}).Reason; got != tc.want {
			t.Errorf("%s: reason %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := schedule.StartAll(inside, w, schedule.TaskState{Interval: 1}, fixedRand{}); got.Verdict != schedule.Leave || got.Reason != "disabled in the settings" {
		t.Errorf("start-all of a disabled task: %v %q, want leave, disabled in the settings", got.Verdict, got.Reason)
	}
}

func TestPlan(t *testing.T) {
	loc := mustLoc(t, "Europe/Berlin")
	w := schedule.Window{Start: 2, End: 5, Loc: loc}
	d := day(2026, time.June, 13)
	open, close := w.Bounds(d)
	due := schedule.TaskState{Enabled: true, Interval: 3, LastSuccess: day(2026, 6, 10)}
	randomized := due
	randomized.Randomized = true

	if got := schedule.Plan(open, w, d, due, false, fixedRand{}); got.Verdict != schedule.Queue || got.Window != d {
		t.Fatalf("fixed due task: %v window %v, want queue in window %v", got.Verdict, got.Window, d)
	}
	late := open.Add(90 * time.Minute)
	for _, r := range []fixedRand{{false}, {true}} {
		got := schedule.Plan(late, w, d, randomized, false, r)
		if got.Verdict != schedule.Schedule || got.At.Before(late) || !got.At.Before(close) {
			t.Fatalf("randomized planned at %v: %v at %v, want in [%v, %v)", late, got.Verdict, got.At, late, close)
		}
	}
	notDue := due
	notDue.LastSuccess = day(2026, 6, 12)
	for name, tc := range map[string]struct {
		state schedule.TaskState
		ran   bool
		now   time.Time
	}{
		"NotDue":     {notDue, false, open},
		"Disabled":   {schedule.TaskState{Interval: 1}, false, open},
		"Active":     {schedule.TaskState{Enabled: true, Interval: 1, Active: schedule.ActiveQueued}, false, open},
		"RanAlready": {due, true, open},
		"Closed":     {due, false, close},
	} {
		if got := schedule.Plan(tc.now, w, d, tc.state, tc.ran, fixedRand{}); got.Verdict != schedule.Leave {
			t.Errorf("%s: %v, want leave", name, got.Verdict)
		}
	}
}

// FuzzWindow checks the invariants of the window maths in every zone we try:
// a window opens before it closes, lasts 23 to 25 hours at most, contains its
// opening and not its closing, and a random start lies inside it.
func FuzzWindow(f *testing.F) {
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago", "Pacific/Apia"}
	f.Add(int64(1_790_000_000), uint8(2), uint8(5), uint8(1), uint64(7))
	f.Add(int64(1_774_746_000), uint8(23), uint8(4), uint8(0), uint64(1))
	f.Fuzz(func(t *testing.T, unix int64, s, e, z uint8, seed uint64) {
		if unix < 0 || unix > 4_000_000_000 {
			return
		}
		loc := mustLoc(t, zones[int(z)%len(zones)])
		w := schedule.Window{Start: int(s % 24), End: int(e % 24), Loc: loc}
		now := time.Unix(unix, 0)
		d, inside := w.Inside(now)
		open, close := w.Bounds(d)
		if !open.Before(close) || close.Sub(open) > 25*time.Hour {
			t.Fatalf("window of %v in %v: %v..%v", d, loc, open, close)
		}
		if open.After(now) {
			t.Fatalf("window %v opens at %v, after now %v", d, open, now)
		}
		if inside != now.Before(close) {
			t.Fatalf("inside=%v but now %v, close %v", inside, now, close)
		}
		next, opening := w.Next(now)
		if !next.After(now) || opening == inside {
			t.Fatalf("next event %v (opening=%v) at %v inside=%v", next, opening, now, inside)
		}
		if inside {
			at := schedule.RandomInstant(rand.New(rand.NewPCG(seed, seed)), now, close)
			if at.Before(now) || !at.Before(close) {
				t.Fatalf("random start %v outside [%v, %v)", at, now, close)
			}
		}
		// A window never opens twice on one day, and the next one opens later.
		nextOpen, _ := w.Bounds(d.AddDays(1))
		if !nextOpen.After(open) || nextOpen.Before(close) && w.Start != w.End {
			t.Fatalf("next window %v opens at %v, this one %v..%v", d.AddDays(1), nextOpen, open, close)
		}
	})
}

func TestBounds_WindowInsideGap(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	w := schedule.Window{Start: 2, End: 3, Loc: berlin}
	open, close := w.Bounds(day(2026, time.March, 29))
	if open.In(berlin).Hour() != 3 || close.Sub(open) != time.Hour {
		t.Fatalf("window %v..%v, want 03:00 CEST lasting its nominal hour", open, close)
	}
}
