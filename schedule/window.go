// Package schedule is the pure maths of the Butler's maintenance window: when
// a window opens and closes in a time zone (DST included), which butler day an
// instant belongs to, when a task is due, and what a start, a start-all or the
// nightly planner decides for a task. It does no I/O and reads no clock: every
// function takes the instant it reasons about.
package schedule

import (
	"fmt"
	"time"
)

// Day is a calendar date in the window's zone, the name of a butler day.
type Day struct {
	Year  int
	Month time.Month
	Day   int
}

// DayOf returns the calendar date of t in loc.
func DayOf(t time.Time, loc *time.Location) Day {
	y, m, d := t.In(loc).Date()
	return Day{y, m, d}
}

// ParseDay parses a date written as YYYY-MM-DD.
func ParseDay(s string) (Day, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Day{}, fmt.Errorf("parse day %q: want YYYY-MM-DD", s)
	}
	return DayOf(t, time.UTC), nil
}

// String returns the date as YYYY-MM-DD.
func (d Day) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// IsZero reports whether d is the zero Day (no date).
func (d Day) IsZero() bool { return d == Day{} }

// AddDays returns the date n days after d (before it when n < 0).
func (d Day) AddDays(n int) Day {
	return DayOf(time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, time.UTC), time.UTC)
}

// Sub returns the number of days from e to d (d - e).
func (d Day) Sub(e Day) int {
	a := time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC)
	b := time.Date(e.Year, e.Month, e.Day, 12, 0, 0, 0, time.UTC)
	return int(a.Sub(b).Round(24*time.Hour) / (24 * time.Hour))
}

// Before reports whether d is an earlier date than e.
func (d Day) Before(e Day) bool { return d.Sub(e) < 0 }

// Window is the nightly maintenance window: from Start:00 to End:00 in Loc.
// Start > End crosses midnight; Start == End is the whole day. Hours are 0..23.
type Window struct {
	Start, End int
	Loc        *time.Location
}

// Validate reports whether the hours are in 0..23 and the zone is set.
func (w Window) Validate() error {
	if w.Start < 0 || w.Start > 23 {
		return fmt.Errorf("window start hour %d is out of range: want 0..23", w.Start)
	}
	if w.End < 0 || w.End > 23 {
		return fmt.Errorf("window end hour %d is out of range: want 0..23", w.End)
	}
	if w.Loc == nil {
		return fmt.Errorf("window has no time zone")
	}
	return nil
}

// Bounds returns the opening and closing instants of the window that opens on
// day d. The window is half-open: it contains open, not close. On a DST
// transition day it may be an hour shorter or longer, but it is never empty.
func (w Window) Bounds(d Day) (open, close time.Time) {
	open = WallClock(d, w.Start, w.Loc)
	switch {
	case w.Start < w.End:
		close = WallClock(d, w.End, w.Loc)
	case w.Start > w.End:
		close = WallClock(d.AddDays(1), w.End, w.Loc)
	default:
		close = WallClock(d.AddDays(1), w.Start, w.Loc)
	}
	if !close.After(open) {
		// The whole window fell into a spring-forward gap (S=2, E=3 on the
		// night clocks jump from 02:00 to 03:00). A window is never skipped:
		// it lasts its nominal length from its opening.
		close = open.Add(time.Duration((w.End-w.Start+24)%24) * time.Hour)
	}
	return open, close
}

// Opened returns the day of the latest window that opened at or before t:
// the butler day of t as scheduling.md defines it.
func (w Window) Opened(t time.Time) Day {
	d := DayOf(t, w.Loc)
	if open, _ := w.Bounds(d); open.After(t) {
		return d.AddDays(-1)
	}
	return d
}

// Inside reports whether t is inside a window, and which.
func (w Window) Inside(t time.Time) (Day, bool) {
	d := w.Opened(t)
	_, close := w.Bounds(d)
	return d, t.Before(close)
}

// Day returns the butler day that decisions at t are made for: the day of the
// window t is inside, or, outside any window, the day of the next window to
// open. (So at 01:00 before a 02:00 window, "today" is the coming night.)
func (w Window) Day(t time.Time) Day {
	d, inside := w.Inside(t)
	if inside {
		return d
	}
	return d.AddDays(1)
}

// Next returns the next instant after t at which the window opens or closes,
// and whether that instant is an opening.
func (w Window) Next(t time.Time) (at time.Time, opening bool) {
	d, inside := w.Inside(t)
	if inside {
		_, close := w.Bounds(d)
		return close, false
	}
	open, _ := w.Bounds(d.AddDays(1))
	return open, true
}

// WallClock returns the instant at hour:00 on day d in loc. A wall-clock time
// that does not exist (a spring-forward gap) resolves to the first instant
// after the gap; one that exists twice (fall-back) resolves to the earlier
// instant.
func WallClock(d Day, hour int, loc *time.Location) time.Time {
	naive := time.Date(d.Year, d.Month, d.Day, hour, 0, 0, 0, time.UTC)
	// The offsets in force around the wall time; a day either side covers
	// every real transition.
	_, offBefore := naive.Add(-26 * time.Hour).In(loc).Zone()
	_, offAfter := naive.Add(26 * time.Hour).In(loc).Zone()
	var best time.Time
	for _, off := range []int{offBefore, offAfter} {
		c := naive.Add(-time.Duration(off) * time.Second)
		if sameWall(c.In(loc), naive) && (best.IsZero() || c.Before(best)) {
			best = c
		}
	}
	if !best.IsZero() {
		return best.In(loc)
	}
	// A gap: the wall time was skipped. The transition lies between the two
	// candidate instants; find the first instant with the later offset.
	lo := naive.Add(-time.Duration(offAfter) * time.Second)
	hi := naive.Add(-time.Duration(offBefore) * time.Second)
	if hi.Before(lo) {
		lo, hi = hi, lo
	}
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2).Truncate(time.Second)
		if _, off := mid.In(loc).Zone(); off == offAfter {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi.In(loc)
}

func sameWall(t, naive time.Time) bool {
	y, m, d := t.Date()
	ny, nm, nd := naive.Date()
	return y == ny && m == nm && d == nd && t.Hour() == naive.Hour() && t.Minute() == naive.Minute() && t.Second() == naive.Second()
}
