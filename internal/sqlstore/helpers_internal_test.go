package sqlstore

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/schedule"
)

// TestNanos: instants are stored as Unix nanoseconds, the zero time as 0,
// and read back equal.
func TestNanos(t *testing.T) {
	if nanos(time.Time{}) != 0 || !fromNanos(0).IsZero() {
		t.Fatalf("the zero time: nanos %d, back %v", nanos(time.Time{}), fromNanos(0))
	}
	for _, tm := range []time.Time{
		time.Date(2026, 11, 30, 2, 0, 0, 123456789, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), // before the epoch
		time.Date(2026, 3, 29, 2, 30, 0, 0, time.FixedZone("CEST", 2*3600)),
	} {
		if back := fromNanos(nanos(tm)); !back.Equal(tm) {
			t.Errorf("%v read back as %v", tm, back)
		}
	}
}

// TestDays: butler days are stored as their text, "" for none, and a
// value that is not a day reads as none.
func TestDays(t *testing.T) {
	d, err := schedule.ParseDay("2026-11-30")
	if err != nil {
		t.Fatal(err)
	}
	if s := dayString(d); s != "2026-11-30" || parseDay(s) != d {
		t.Fatalf("day %v stored as %q, read back as %v", d, s, parseDay(s))
	}
	if dayString(schedule.Day{}) != "" || !parseDay("").IsZero() || !parseDay("30/11/2026").IsZero() {
		t.Fatalf("no day: stored %q, read back %v and %v", dayString(schedule.Day{}), parseDay(""), parseDay("30/11/2026"))
	}
}

// TestRunsQuery: each field of a filter adds its condition and argument,
// in one order; the limit is 50 when none is given; the page is newest
// first; an upper bound on the creation time is also one on the id.
func TestRunsQuery(t *testing.T) {
	d := &Store{}
	q, args := d.runsQuery(butler.RunFilter{})
	if strings.Contains(q, "WHERE") || !strings.HasSuffix(q, " ORDER BY id DESC LIMIT ?") || !reflect.DeepEqual(args, []any{50}) {
		t.Fatalf("empty filter: %q %v", q, args)
	}
	since := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
	before := since.Add(time.Hour)
	q, args = d.runsQuery(butler.RunFilter{Task: butler.TaskBackupDatabase, Outcome: butler.OutcomeFailed,
		Since: since, Before: before, BeforeID: 42, Limit: 7})
	wantWhere := " FROM butler_run WHERE task = ? AND outcome = ? AND id IN (SELECT id FROM butler_run WHERE created_at >= ?)" +
		" AND id <= (SELECT max(id + 0) FROM butler_run WHERE created_at < ? AND created_at >=\n\t\t\t(SELECT created_at FROM butler_run WHERE created_at < ? ORDER BY created_at DESC LIMIT 1) - ?) AND created_at + 0 < ?" +
		" AND id < ? ORDER BY id DESC LIMIT ?"
	if !strings.HasSuffix(q, wantWhere) {
		t.Errorf("query %q\nwant it to end %q", q, wantWhere)
	}
	b := before.UnixNano()
	wantArgs := []any{"BackupDatabase", "failed", since.UnixNano(), b, b, int64(createdSkew), b, int64(42), 7}
	if !reflect.DeepEqual(args, wantArgs) {
		t.Errorf("args %#v, want %#v", args, wantArgs)
	}
	if got, want := strings.Count(q, "?"), len(args); got != want {
		t.Errorf("%d placeholders for %d arguments", got, want)
	}
}

// TestRunsQuery_Hints: SQLite is told the index of an outcome, or of a
// task and an outcome, but with a lower bound on the creation time;
// PostgreSQL never.
func TestRunsQuery_Hints(t *testing.T) {
	sqlite, postgres := &Store{}, &Store{Dialect: Dialect{NoIndexedBy: true}}
	since := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		d    *Store
		f    butler.RunFilter
		want string
	}{
		{sqlite, butler.RunFilter{}, ""},
		{sqlite, butler.RunFilter{Task: "t"}, ""},
		{sqlite, butler.RunFilter{Outcome: butler.OutcomeFailed}, "butler_run_outcome"},
		{sqlite, butler.RunFilter{Outcome: butler.OutcomeFailed, Before: since, BeforeID: 9}, "butler_run_outcome"},
		{sqlite, butler.RunFilter{Task: "t", Outcome: butler.OutcomeFailed}, "butler_run_task_outcome"},
		{sqlite, butler.RunFilter{Outcome: butler.OutcomeFailed, Since: since}, ""},
		{postgres, butler.RunFilter{Outcome: butler.OutcomeFailed}, ""},
		{postgres, butler.RunFilter{Task: "t", Outcome: butler.OutcomeFailed}, ""},
	} {
		q, _ := tc.d.runsQuery(tc.f)
		_, after, hinted := strings.Cut(q, " FROM butler_run INDEXED BY ")
		got, _, _ := strings.Cut(after, " ")
		if hinted != (tc.want != "") || got != tc.want {
			t.Errorf("%+v (NoIndexedBy %v): %q, want the index %q", tc.f, tc.d.Dialect.NoIndexedBy, q, tc.want)
		}
	}
}

// TestFinishRunSQL: one placeholder per state to finish from, after the
// ten of the values, then two for the node; the statement returns the run
// it ended.
func TestFinishRunSQL(t *testing.T) {
	for n := 1; n <= 4; n++ {
		q := finishRunSQL(n)
		if got := strings.Count(q, "?"); got != 12+n {
			t.Errorf("finishRunSQL(%d) has %d placeholders, want %d", n, got, 12+n)
		}
		if got, want := strings.Count(q, "?"), len(finishArgs(butler.Finish{}, []int64{1}, make([]butler.RunState, n))); got != want {
			t.Errorf("finishRunSQL(%d) has %d placeholders for %d arguments", n, got, want)
		}
		if !strings.HasSuffix(q, "state IN ("+strings.TrimSuffix(strings.Repeat("?, ", n), ", ")+") AND (? = '' OR node = ?) RETURNING "+runColumns) {
			t.Errorf("finishRunSQL(%d) = %q", n, q)
		}
	}
}

// TestAnalysisRoundTrip: a media analysis is stored as JSON and read back
// whole; a body that is not one is an error that says so.
func TestAnalysisRoundTrip(t *testing.T) {
	a := butler.MediaAnalysis{
		Container: "matroska,webm", Duration: 2*time.Hour + 3*time.Millisecond, BitRate: 12_000_000, Title: "A film",
		Streams: []butler.MediaStream{
			{Index: 0, Type: "video", Codec: "hevc", Profile: "Main 10", Default: true},
			{Index: 1, Type: "audio", Codec: "aac", Language: "eng", Title: "Stereo"},
		},
		Chapters: []butler.MediaChapter{{Start: 0, End: time.Minute, Title: "Opening"}, {Start: time.Minute, End: 2 * time.Hour}},
	}
	body, err := encodeAnalysis(a)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeAnalysis(body)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, a) {
		t.Errorf("read back %+v\nwant %+v", back, a)
	}
	if _, err := decodeAnalysis("{not json"); err == nil || !strings.Contains(err.Error(), "decode stored media analysis") {
		t.Errorf("a damaged body: %v", err)
	}
	empty, err := encodeAnalysis(butler.MediaAnalysis{})
	if err != nil || slices.Contains([]string{"", "null"}, empty) {
		t.Errorf("an empty analysis is stored as %q, %v", empty, err)
	}
}

// TestPageSize: a page of media items is 1000 unless a size is given.
func TestPageSize(t *testing.T) {
	for n, want := range map[int]int{0: defaultMediaPage, -5: defaultMediaPage, 1: 1, 250: 250} {
		if got := pageSize(n); got != want {
			t.Errorf("pageSize(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestNextPruneBatch: a batch is sized to take PruneTarget at the last
// one's pace, grows at most twofold, and stays between the least and the
// most.
func TestNextPruneBatch(t *testing.T) {
	for _, tc := range []struct {
		n, batch, most int64
		took           time.Duration
		want           int64
	}{
		{1000, 1000, 1000, 5 * PruneTarget, 200},         // five times too slow
		{200, 200, 1000, PruneTarget, 200},               // on target
		{400, 400, 1000, 2 * PruneTarget, 200},           // twice too slow
		{150, 150, 1000, PruneTarget / 5, 300},           // fast: at most twice
		{1000, 1000, 1000, 0, 1000},                      // no time at all: the most
		{600, 600, 1000, time.Millisecond, 1000},         // never above the most
		{100, 100, 1000, 2 * time.Second, minPruneBatch}, // never below the least
		{3, 100, 1000, time.Second, minPruneBatch},       // the last runs of a pass
		{5, 5, 5, time.Second, 5},                        // a most below the least
	} {
		if got := nextPruneBatch(tc.n, tc.batch, tc.most, tc.took); got != tc.want {
			t.Errorf("after %d of %d runs (most %d) in %v: next batch %d, want %d", tc.n, tc.batch, tc.most, tc.took, got, tc.want)
		}
	}
}
