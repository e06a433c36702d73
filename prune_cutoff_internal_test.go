package butler

import (
	"testing"
	"time"

	"github.com/plexbutler/butler/schedule"
)

// TestPruneCutoff: the pruning keeps every run made in the window open at
// now, even when the window is longer than the retention.
func TestPruneCutoff(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	// Clocks go back at 02:00 BST on 2026-10-25: the window that opens at
	// 02:00 on the 24th (01:00 UTC) closes at 02:00 GMT on the 25th (02:00
	// UTC), 25 hours later.
	allDay := schedule.Window{Start: 2, End: 2, Loc: london}
	night := schedule.Window{Start: 2, End: 5, Loc: london}
	open := time.Date(2026, 10, 24, 1, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name      string
		now       time.Time
		retention time.Duration
		w         schedule.Window
		want      time.Time
	}{
		{"25-hour window, past the retention", open.Add(24*time.Hour + 30*time.Minute), day, allDay, open},
		{"25-hour window, within the retention", open.Add(12 * time.Hour), day, allDay, open.Add(12*time.Hour - day)},
		{"3-hour window", time.Date(2026, 11, 2, 3, 0, 0, 0, time.UTC), day, night, time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)},
		{"outside any window", time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC), 7 * day, night, time.Date(2026, 10, 26, 12, 0, 0, 0, time.UTC)},
	} {
		if got := pruneCutoff(c.now, c.retention, c.w); !got.Equal(c.want) {
			t.Errorf("%s: pruneCutoff = %v, want %v", c.name, got, c.want)
		}
	}
	if o, cl := allDay.Bounds(schedule.Day{Year: 2026, Month: 10, Day: 24}); !o.Equal(open) || cl.Sub(o) != 25*time.Hour {
		t.Fatalf("the window of the 24th: %v to %v; the test expects 01:00 UTC and 25 hours", o, cl)
	}
}
