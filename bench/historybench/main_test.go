package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseCounts(t *testing.T) {
	got, err := parseCounts("1k, 10K,100k,1M,0,7")
	if err != nil || !slices.Equal(got, []int{1000, 10000, 100000, 1000000, 0, 7}) {
		t.Fatalf("parseCounts: %v, %v", got, err)
	}
	for _, bad := range []string{"", "x", "-1", "1G", "1kk"} {
		if _, err := parseCounts(bad); err == nil {
			t.Errorf("parseCounts(%q) accepted", bad)
		}
	}
}

func TestGroups(t *testing.T) {
	cfg, err := parseFlags([]string{"-configured", "0,100"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range groups(cfg) {
		got = append(got, groupTitle(g, len(cfg.configured) > 1))
	}
	want := []string{
		"SQLite, without statistics, 0 configured exec tasks", "SQLite, without statistics, 100 configured exec tasks",
		"SQLite, after ANALYZE, 0 configured exec tasks", "SQLite, after ANALYZE, 100 configured exec tasks",
		"PostgreSQL, 0 configured exec tasks", "PostgreSQL, 100 configured exec tasks",
	}
	if !slices.Equal(got, want) {
		t.Errorf("groups: %q, want %q", got, want)
	}
	if _, err := parseFlags([]string{"-sqlite-stats", "some"}); err == nil {
		t.Error("-sqlite-stats some accepted")
	}
}

func TestCount(t *testing.T) {
	if count(1000000) != "1,000,000" || count(999) != "999" || count(0) != "0" {
		t.Errorf("count: %s %s", count(1000000), count(999))
	}
}

// TestReport checks the verdicts: a row is met only when every size meets
// its target, and the summary names the sizes that do not.
func TestReport(t *testing.T) {
	cfg, err := parseFlags([]string{"-sizes", "1k,1M", "-databases", "sqlite", "-sqlite-stats", "none", "-reps", "3"})
	if err != nil {
		t.Fatal(err)
	}
	ms := func(v ...float64) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x*float64(time.Millisecond)))
		}
		return out
	}
	mk := func(runs int, stop, plan []time.Duration, cold time.Duration) result {
		r := result{setup: setup{database: "sqlite", runs: runs}, calls: map[string][]time.Duration{}, outcomes: map[string]int{"stopped": 3}}
		r.cold = []time.Duration{cold}
		r.stopRT, r.startRT, r.startRun = stop, ms(1, 1, 1), ms(2, 2, 2)
		for _, c := range getCalls {
			r.calls[c.name] = ms(0.5, 0.5, 0.5)
		}
		r.calls[callPlan], r.calls[callPlanInside] = plan, plan
		return r
	}
	text := report(cfg, machine{}, []result{
		mk(1000, ms(1, 1, 1), ms(1, 1, 1), 20*time.Millisecond),
		mk(1000000, ms(1, 1, 6), ms(2, 2), 1400*time.Millisecond),
	})
	for _, want := range []string{
		"### SQLite, without statistics\n",
		"| stop: `DELETE /butler/HistorySleep` round trip | p99 < 5 ms | 1.00 / 1.00 | **1.00 / 6.00** | 1.0× | **not met** at 1,000,000 |",
		"| `GET /butler/plan`, outside the window | p99 < 10 ms | 1.00 / 1.00 | 2.00 / 2.00 (n=2) | 2.0× | **met** |",
		"**1400 / 1400** | 70.0× | **not met** at 1,000,000 |",
		"| `GET /butler` (reference) | — | 0.50 / 0.50 | 0.50 / 0.50 | 1.0× | reference |",
		"Every stop (6) answered `X-Butler-Outcome: stopped`.",
		"- SQLite, without statistics: cold start → first 200 of GET /butler/runs?limit=1 (median / max) (max < 300 ms) not met at 1,000,000 runs",
		"go -C bench run ./historybench -sizes 1k,1M -databases sqlite -sqlite-stats none -configured 0 -reps 3 -starts 3 -budget 5s -pace 150ms\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the report lacks %q:\n%s", want, text)
		}
	}
}
