package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/metrics"
)

// source is a metrics.Source with fixed answers.
type source struct {
	counts    map[butler.RunState]int
	countsErr error
	subs      int
	dropped   int64
	health    butler.Health
}

func (s *source) RunCounts(context.Context) (map[butler.RunState]int, error) {
	return s.counts, s.countsErr
}
func (s *source) EventStats() (int, int64) { return s.subs, s.dropped }
func (s *source) Health() butler.Health    { return s.health }

var _ metrics.Source = (*source)(nil)

// scrape returns what the handler serves, as its lines.
func scrape(t *testing.T, m *metrics.Metrics) map[string]bool {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: %d", rec.Code)
	}
	body, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(body), "\n") {
		lines[l] = true
	}
	return lines
}

func wantLines(t *testing.T, lines map[string]bool, want ...string) {
	t.Helper()
	for _, w := range want {
		if !lines[w] {
			t.Errorf("the scrape lacks the line %q", w)
		}
	}
}

func TestRunEnded(t *testing.T) {
	m := metrics.New()
	start := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
	for _, r := range []butler.Run{
		{Task: butler.TaskBackupDatabase, Outcome: butler.OutcomeSucceeded, StartedAt: start, EndedAt: start.Add(2 * time.Second)},
		{Task: butler.TaskBackupDatabase, Outcome: butler.OutcomeSucceeded, StartedAt: start, EndedAt: start.Add(3 * time.Second)},
		{Task: butler.TaskBackupDatabase, Outcome: butler.OutcomeFailed, StartedAt: start, EndedAt: start.Add(500 * time.Millisecond)},
		// Never started (skipped): counted, no duration.
		{Task: butler.TaskOptimizeDatabase, Outcome: butler.OutcomeSkipped, EndedAt: start},
	} {
		m.RunEnded(r)
	}
	lines := scrape(t, m)
	wantLines(t, lines,
		`butler_runs_total{outcome="succeeded",task="BackupDatabase"} 2`,
		`butler_runs_total{outcome="failed",task="BackupDatabase"} 1`,
		`butler_runs_total{outcome="skipped",task="OptimizeDatabase"} 1`,
		`butler_run_duration_seconds_count{task="BackupDatabase"} 3`,
		`butler_run_duration_seconds_sum{task="BackupDatabase"} 5.5`,
		`butler_run_duration_seconds_bucket{task="BackupDatabase",le="1"} 1`,
		`butler_run_duration_seconds_bucket{task="BackupDatabase",le="10"} 3`,
	)
	for l := range lines {
		if strings.HasPrefix(l, `butler_run_duration_seconds_count{task="OptimizeDatabase"}`) {
			t.Errorf("a run that never started has a duration: %q", l)
		}
	}
}

// TestGauges: the gauges read the source at each scrape.
func TestGauges(t *testing.T) {
	m := metrics.New()
	src := &source{
		counts: map[butler.RunState]int{butler.StateRunning: 1, butler.StateQueued: 3},
		subs:   2, dropped: 7,
		health: butler.Health{OK: false, Reason: "disk full", WriteFailures: 5},
	}
	m.Watch(src)
	wantLines(t, scrape(t, m),
		`butler_runs_active{state="scheduled"} 0`,
		`butler_runs_active{state="queued"} 3`,
		`butler_runs_active{state="running"} 1`,
		`butler_runs_active{state="stopping"} 0`,
		`butler_notification_subscribers 2`,
		`butler_notification_dropped_updates_total 7`,
		`butler_store_writable 0`,
		`butler_store_write_failures_total 5`,
	)
	// The next scrape reads the source again.
	src.health = butler.Health{OK: true, WriteFailures: 5}
	src.counts = map[butler.RunState]int{}
	wantLines(t, scrape(t, m), `butler_store_writable 1`, `butler_runs_active{state="running"} 0`)

	// When the run counts cannot be read, they are left out, not zero.
	src.countsErr = errors.New("database is locked")
	lines := scrape(t, m)
	for l := range lines {
		if strings.HasPrefix(l, "butler_runs_active{") {
			t.Errorf("the scrape has %q while the counts cannot be read", l)
		}
	}
	wantLines(t, lines, `butler_notification_subscribers 2`)
}

// TestNoSource: before Watch, the gauges are absent and the rest served.
func TestNoSource(t *testing.T) {
	lines := scrape(t, metrics.New())
	for l := range lines {
		if strings.HasPrefix(l, "butler_runs_active") || strings.HasPrefix(l, "butler_store_writable") {
			t.Errorf("the scrape has %q without a source", l)
		}
	}
	found := false
	for l := range lines {
		found = found || strings.HasPrefix(l, "go_goroutines ")
	}
	if !found {
		t.Error("the scrape lacks the Go runtime's metrics")
	}
}
