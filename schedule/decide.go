package schedule

import (
	"fmt"
	"time"
)

// Rand is the random source of randomized starts; *math/rand/v2.Rand
// satisfies it.
type Rand interface {
	Int64N(n int64) int64
}

// Active says whether a task has a run that is not finished, and which.
type Active int

// The states of a task's unfinished run.
const (
	ActiveNone Active = iota
	ActiveScheduled
	ActiveQueued
	ActiveRunning
)

// TaskState is what a decision needs to know of one task.
type TaskState struct {
	// Enabled says the task's enable setting is on. It governs only the
	// automatic runs: a disabled task is left out of the nightly plan and
	// of start-all, and an explicit start still runs it.
	Enabled    bool
	Interval   int  // days, at least 1
	Randomized bool // starts at a random instant inside the window
	// LastSuccess is the butler day of the task's last successful run; the
	// zero Day means it never succeeded.
	LastSuccess Day
	Active      Active
}

// Due reports whether a task with this interval and last success is due on
// butler day d, and the first day it is due.
func Due(interval int, lastSuccess, d Day) (due bool, from Day) {
	if lastSuccess.IsZero() {
		return true, d
	}
	if interval < 1 {
		interval = 1
	}
	from = lastSuccess.AddDays(interval)
	return d.Sub(lastSuccess) >= interval, from
}

// Verdict is what a decision does with a task.
type Verdict int

// The verdicts of StartAll, StartTask and Plan.
const (
	// Leave: nothing happens (a disabled task in start-all, or a task that
	// already has a run waiting or running).
	Leave Verdict = iota
	// Skip: not due; a skipped run is recorded with the day it is next due.
	Skip
	// Schedule: a run is scheduled at Decision.At, inside the window.
	Schedule
	// Queue: a run is queued now behind other queued runs.
	Queue
	// StartNow: a run starts now in a slot of its own.
	StartNow
	// AlreadyRunning: the task is running (HTTP 202).
	AlreadyRunning
	// AlreadyWaiting: the task has a scheduled or queued run (HTTP 200).
	AlreadyWaiting
)

var verdictNames = [...]string{"leave", "skip", "schedule", "queue", "start", "running", "waiting"}

// String returns the verdict's name.
func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Decision is the outcome of a decision for one task.
type Decision struct {
	Verdict Verdict
	// Day is the butler day the decision was made for.
	Day Day
	// At is the instant a scheduled run starts (Schedule only).
	At time.Time
	// Window is the day of the window a scheduled run belongs to (Schedule
	// only); a run that belongs to a window is skipped when it closes.
	Window Day
	// NextDue is the first day the task is due (Skip only).
	NextDue Day
	// Reason says why, in words for people.
	Reason string
}

// RandomInstant returns a uniformly random instant in [from, to), or from when
// the interval is empty.
func RandomInstant(r Rand, from, to time.Time) time.Time {
	span := to.Sub(from)
	if span <= 0 {
		return from
	}
	return from.Add(time.Duration(r.Int64N(int64(span))))
}

// StartAll decides what POST /butler does with one task at now
// (scheduling.md, "start all tasks").
func StartAll(now time.Time, w Window, t TaskState, r Rand) Decision {
	day := w.Day(now)
	switch {
	case !t.Enabled:
		return Decision{Verdict: Leave, Day: day, Reason: "disabled in the settings"}
	case t.Active != ActiveNone:
		return Decision{Verdict: Leave, Day: day, Reason: "already " + activeWord(t.Active)}
	}
	return startDue(now, w, t, r, day, Queue)
}

// DisabledNote ends the reason of an explicit start of a disabled task: the
// enable setting governs only the nightly plan and start-all, as on a Plex
// server, so the start is decided as for an enabled task.
const DisabledNote = "disabled for the schedule: only an explicit start runs it"

// StartTask decides what POST /butler/{task} does with one task at now
// (scheduling.md, "start one task"), without ?force. A disabled task is
// decided by the same due and window rules as an enabled one; its reason
// ends with DisabledNote.
func StartTask(now time.Time, w Window, t TaskState, r Rand) Decision {
	day := w.Day(now)
	switch {
	case t.Active == ActiveRunning:
		return Decision{Verdict: AlreadyRunning, Day: day, Reason: "already running"}
	case t.Active != ActiveNone:
		return Decision{Verdict: AlreadyWaiting, Day: day, Reason: "already " + activeWord(t.Active)}
	}
	d := startDue(now, w, t, r, day, StartNow)
	if !t.Enabled {
		d.Reason += "; " + DisabledNote
	}
	return d
}

// Force decides what POST /butler/{task}?force=1 does: start now, whatever the
// day, window, randomization or enabled flag, unless already running.
func Force(now time.Time, w Window, t TaskState) Decision {
	day := w.Day(now)
	if t.Active == ActiveRunning {
		return Decision{Verdict: AlreadyRunning, Day: day, Reason: "already running"}
	}
	return Decision{Verdict: StartNow, Day: day, Reason: "forced start"}
}

func startDue(now time.Time, w Window, t TaskState, r Rand, day Day, otherwise Verdict) Decision {
	if due, from := Due(t.Interval, t.LastSuccess, day); !due {
		return Decision{Verdict: Skip, Day: day, NextDue: from, Reason: "not due until " + from.String()}
	}
	wd, inside := w.Inside(now)
	if inside && t.Randomized {
		_, close := w.Bounds(wd)
		return Decision{Verdict: Schedule, Day: day, Window: wd, At: RandomInstant(r, now, close),
			Reason: "scheduled at a random time in the window"}
	}
	reason := "outside the window: starts now"
	if inside {
		reason = "inside the window: starts now"
	}
	return Decision{Verdict: otherwise, Day: day, Reason: reason}
}

// Plan decides what the nightly planner does with one task for the window of
// day d, at now (inside that window). ranInWindow says the task already has a
// run made since the window opened, or was stopped in it; such a task is not
// planned again.
func Plan(now time.Time, w Window, d Day, t TaskState, ranInWindow bool, r Rand) Decision {
	open, close := w.Bounds(d)
	switch {
	case !t.Enabled:
		return Decision{Verdict: Leave, Day: d, Reason: "disabled in the settings"}
	case t.Active != ActiveNone:
		return Decision{Verdict: Leave, Day: d, Reason: "already " + activeWord(t.Active)}
	case ranInWindow:
		return Decision{Verdict: Leave, Day: d, Reason: "already run or stopped in this window"}
	case !now.Before(close):
		return Decision{Verdict: Leave, Day: d, Reason: "the window has closed"}
	}
	if due, from := Due(t.Interval, t.LastSuccess, d); !due {
		return Decision{Verdict: Leave, Day: d, NextDue: from, Reason: "not due until " + from.String()}
	}
	if t.Randomized {
		from := open
		if now.After(from) {
			from = now
		}
		return Decision{Verdict: Schedule, Day: d, Window: d, At: RandomInstant(r, from, close),
			Reason: "planned at a random time in the window"}
	}
	return Decision{Verdict: Queue, Day: d, Window: d, Reason: "planned when the window opened"}
}

func activeWord(a Active) string {
	switch a {
	case ActiveScheduled:
		return "scheduled"
	case ActiveQueued:
		return "queued"
	case ActiveRunning:
		return "running"
	}
	return "idle"
}
