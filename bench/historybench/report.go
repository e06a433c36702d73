package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plexbutler/butler/bench/historybench/history"
	"github.com/plexbutler/butler/bench/internal/benchmachine"
	"github.com/plexbutler/butler/bench/internal/benchstat"
)

// machine describes where and what was measured.
type machine struct {
	benchmachine.Machine
	started    time.Time
	elapsed    time.Duration
	binary     string
	postgres   string
	loadBefore string
}

func describeMachine(bin string) machine {
	m := machine{Machine: benchmachine.Describe(), started: time.Now().UTC(), binary: "?", postgres: "not used", loadBefore: benchmachine.LoadAverage()}
	if b, err := exec.Command(bin, "version").Output(); err == nil {
		first, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		m.binary = "`" + first + "`"
		if fi, err := os.Stat(bin); err == nil {
			m.binary += fmt.Sprintf(", %.1f MiB", float64(fi.Size())/(1<<20))
		}
	}
	return m
}

// postgresVersion asks the server for its version.
func postgresVersion(url string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "?"
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "?"
	}
	return "PostgreSQL " + v
}

// pgHost returns the host and port of a postgres:// URL, without its user
// or password.
func pgHost(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return "?"
	}
	return p.Host
}

// revision names the working tree's commit, with "-dirty" and the number
// of changed files when it has uncommitted changes.
func revision() string {
	b, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "?"
	}
	rev := strings.TrimSpace(string(b))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
		if n := strings.Count(string(st), "\n"); n > 0 {
			rev += fmt.Sprintf("-dirty (%d tracked files changed)", n)
		}
	}
	return rev
}

func ms(d time.Duration) string {
	v := float64(d.Nanoseconds()) / 1e6
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// count writes n with thousands separators.
func count(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func mb(n int64) string {
	if n < 10<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}

// row is one measured line of a table.
type row struct {
	name   string
	target string
	limit  time.Duration // 0: no target
	// cold rows show median / max and are judged by the max; the others
	// show p50 / p99 and are judged by p99.
	cold bool
	get  func(r result) []time.Duration
}

var rows = []row{
	{name: "cold start → first 200 of `GET " + firstAnswer + "` (median / max)", target: "max < 300 ms", limit: 300 * time.Millisecond, cold: true,
		get: func(r result) []time.Duration { return r.cold }},
	{name: "start after a kill -9 → first 200 of `GET " + firstAnswer + "` (SQLite: the database checked in full)", target: "—", cold: true,
		get: func(r result) []time.Duration { return r.crashStart }},
	{name: "stop: `DELETE /butler/" + sleepTask + "` round trip", target: "p99 < 5 ms", limit: 5 * time.Millisecond,
		get: func(r result) []time.Duration { return r.stopRT }},
	{name: "start: `POST /butler/" + sleepTask + "?force=1` sent → run started", target: "p99 < 10 ms", limit: 10 * time.Millisecond,
		get: func(r result) []time.Duration { return r.startRun }},
	{name: "start: `POST /butler/" + sleepTask + "?force=1` round trip", target: "p99 < 10 ms", limit: 10 * time.Millisecond,
		get: func(r result) []time.Duration { return r.startRT }},
	{name: "`GET /butler/plan`, outside the window", target: "p99 < 10 ms", limit: 10 * time.Millisecond,
		get: func(r result) []time.Duration { return r.calls[callPlan] }},
	{name: "`GET /butler/plan`, inside the window", target: "p99 < 10 ms", limit: 10 * time.Millisecond,
		get: func(r result) []time.Duration { return r.calls[callPlanInside] }},
	{name: "`GET /metrics`", target: "p99 < 10 ms", limit: 10 * time.Millisecond,
		get: func(r result) []time.Duration { return r.calls[callMetrics] }},
	{name: "`GET /butler` (reference)", target: "—",
		get: func(r result) []time.Duration { return r.calls[callTasks] }},
	{name: "`GET /butler/runs?limit=1` (reference)", target: "—",
		get: func(r result) []time.Duration { return r.calls[callRuns1] }},
	{name: "`GET /butler/runs?limit=50` (reference)", target: "—",
		get: func(r result) []time.Duration { return r.calls[callRuns50] }},
}

// judged returns the value a row is judged by, and the cell it shows.
func (rw row) judged(r result, reps int) (time.Duration, string) {
	d := benchstat.Sorted(rw.get(r))
	if len(d) == 0 {
		return 0, "—"
	}
	if rw.cold {
		return d[len(d)-1], ms(benchstat.Percentile(d, 50)) + " / " + ms(d[len(d)-1])
	}
	cell := ms(benchstat.Percentile(d, 50)) + " / " + ms(benchstat.Percentile(d, 99))
	if len(d) < reps {
		cell += fmt.Sprintf(" (n=%d)", len(d))
	}
	return benchstat.Percentile(d, 99), cell
}

// groupTitle names a table's setups.
func groupTitle(g setup, configured bool) string {
	title := "SQLite"
	switch {
	case g.database == "postgres":
		title = "PostgreSQL"
	case g.analyzed:
		title += ", after ANALYZE"
	default:
		title += ", without statistics"
	}
	if configured || g.configured > 0 {
		title += fmt.Sprintf(", %s configured exec tasks", count(g.configured))
	}
	return title
}

func report(cfg *config, env machine, results []result) string {
	var b strings.Builder
	pg := slices.Contains(cfg.databases, "postgres")
	if pg {
		env.postgres = postgresVersion(cfg.pgURL)
	}
	fmt.Fprintf(&b, "## Control path against the run history (historybench)\n\n")
	program := "go -C bench run ./historybench " + cfg.flags
	if cfg.command != "" {
		fmt.Fprintf(&b, "Produced by `%s` on %s (UTC), in %.0f s; the program ran with these flags (with the binary the script built):\n\n```sh\n%s\n```\n\n",
			cfg.command, env.started.Format("2006-01-02 15:04"), env.elapsed.Seconds(), program)
	} else {
		fmt.Fprintf(&b, "Produced on %s (UTC), in %.0f s, by:\n\n```sh\n%s\n```\n\n",
			env.started.Format("2006-01-02 15:04"), env.elapsed.Seconds(), program)
	}
	b.WriteString("The measuring program is `bench/historybench`; its doc comment says exactly what each number is. ")
	b.WriteString("One run on the machine below, which is shared: other work may have run meanwhile.\n\n")
	b.WriteString("| machine | |\n| --- | --- |\n")
	b.WriteString(env.Rows())
	fmt.Fprintf(&b, "| commit | %s |\n| binary | %s, built with `CGO_ENABLED=0` |\n", cfg.revision, env.binary)
	if pg {
		fmt.Fprintf(&b, "| PostgreSQL | %s, at %s |\n", env.postgres, pgHost(cfg.pgURL))
	}
	fmt.Fprintf(&b, "| load average (1, 5, 15 min) | %s before, %s after |\n\n", env.loadBefore, benchmachine.LoadAverage())

	fmt.Fprintf(&b, "Each setup is a fresh database holding N finished runs made by `bench/historybench/history` in one `INSERT ... SELECT` "+
		"(a recursive CTE on SQLite, `generate_series` on PostgreSQL): created evenly over the %d days before the fill, "+
		"spread over %d task names (%d made up, the catalog's %d), outcomes 80%% succeeded, 8%% failed, 5%% skipped, 3%% stopped, 2%% timed out, 2%% interrupted; "+
		"%d bytes of reason, summary, error and log text per run; each task's last success recorded as the server records it. ",
		history.DefaultDays, len(history.DefaultTasks()), history.DefaultSyntheticTasks, len(history.DefaultTasks())-history.DefaultSyntheticTasks, history.DefaultTextBytes)
	b.WriteString("SQLite is measured in two states of its query planner's statistics: none (no `ANALYZE` has run: a database before its first OptimizeDatabase, which is weekly, or with that task disabled) and analyzed (`ANALYZE` after the fill, with no run active, as OptimizeDatabase does it on a quiet night); PostgreSQL after `VACUUM ANALYZE butler_run` (autovacuum analyses the table soon after such an insert). ")
	b.WriteString("The window is 12 hours away and every task is disabled, so the planner starts nothing by itself; for the plan inside the window, it is moved to open at the start of the previous hour, and the plan reads the runs created since then (the history's and the start series'; their number and the window's age are in the first table). ")
	fmt.Fprintf(&b, "Cold start is the slowest of %d starts (page cache warm), each after a clean stop (SIGTERM), which on SQLite skips the full check of the database (the file is the one the server closed); the start after a kill -9 (SQLite only) checks it in full (`PRAGMA quick_check` reads every page); every other line is %d calls in a row over one keep-alive connection (fewer, marked n=, but at least 10, when %v was spent first), ",
		cfg.starts, cfg.reps, cfg.budget)
	fmt.Fprintf(&b, "start and stop those of an exec `/bin/sleep` task (on PostgreSQL the POSTs at least %v apart, see the doc comment), whose stop answers once the process is gone. Cells are milliseconds, p50 / p99 (cold start: median / max); a cell in bold misses its target.\n", cfg.pace)

	var summary []string
	for _, g := range groups(cfg) {
		var rs []result
		for _, r := range results {
			if r.database == g.database && r.analyzed == g.analyzed && r.configured == g.configured {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		summary = append(summary, writeGroup(&b, cfg, groupTitle(g, len(cfg.configured) > 1), rs)...)
	}
	b.WriteString("\n")
	if len(summary) == 0 {
		b.WriteString("Result: every target is met at every size.\n")
	} else {
		b.WriteString("Result: targets not met:\n\n")
		for _, s := range summary {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	}
	return b.String()
}

// writeGroup writes the tables of one group of setups (one per size) and
// returns the lines of the summary for the targets they miss.
func writeGroup(b *strings.Builder, cfg *config, title string, rs []result) []string {
	var summary []string
	fmt.Fprintf(b, "\n### %s\n\n", title)
	b.WriteString("| runs of history |")
	for _, r := range rs {
		fmt.Fprintf(b, " %s |", count(r.runs))
	}
	b.WriteString("\n| --- |" + strings.Repeat(" ---: |", len(rs)) + "\n")
	b.WriteString("| database size |")
	for _, r := range rs {
		fmt.Fprintf(b, " %s |", mb(r.fill.DatabaseBytes))
	}
	b.WriteString("\n| fill time (schema, insert, task records, statistics) |")
	for _, r := range rs {
		fmt.Fprintf(b, " %.1f s |", r.fill.Elapsed.Seconds())
	}
	b.WriteString("\n| text per run (mean bytes) |")
	for _, r := range rs {
		fmt.Fprintf(b, " %.0f |", r.fill.TextBytes)
	}
	b.WriteString("\n| runs created since the window opened (plan inside the window), and its age |")
	for _, r := range rs {
		s := count(r.sinceOpen)
		if r.sinceOpen >= 1000 {
			s = "≥ 1,000"
		}
		fmt.Fprintf(b, " %s (%.0f min) |", s, r.windowOpen.Minutes())
	}
	b.WriteString("\n\n| measured, ms | target |")
	for _, r := range rs {
		fmt.Fprintf(b, " %s |", count(r.runs))
	}
	b.WriteString(" p50 ×, largest / smallest | result |\n| --- | --- |" + strings.Repeat(" ---: |", len(rs)) + " ---: | --- |\n")
	for _, rw := range rows {
		fmt.Fprintf(b, "| %s | %s |", rw.name, rw.target)
		var missed []string
		for _, r := range rs {
			v, cell := rw.judged(r, cfg.reps)
			if rw.limit > 0 && v >= rw.limit {
				missed = append(missed, count(r.runs))
				cell = "**" + cell + "**"
			}
			fmt.Fprintf(b, " %s |", cell)
		}
		first, last := benchstat.Sorted(rw.get(rs[0])), benchstat.Sorted(rw.get(rs[len(rs)-1]))
		growth := "—"
		if len(rs) > 1 && len(first) > 0 && len(last) > 0 && benchstat.Percentile(first, 50) > 0 {
			growth = fmt.Sprintf("%.1f×", float64(benchstat.Percentile(last, 50))/float64(benchstat.Percentile(first, 50)))
		}
		verdict := "reference"
		switch {
		case rw.limit > 0 && len(missed) == 0:
			verdict = "**met**"
		case rw.limit > 0:
			verdict = "**not met** at " + strings.Join(missed, ", ")
			summary = append(summary, fmt.Sprintf("%s: %s (%s) not met at %s runs", title, stripTicks(rw.name), rw.target, strings.Join(missed, ", ")))
		}
		fmt.Fprintf(b, " %s | %s |\n", growth, verdict)
	}
	outcomes := map[string]int{}
	n := 0
	for _, r := range rs {
		for o, k := range r.outcomes {
			outcomes[o] += k
			n += k
		}
	}
	if outcomes["stopped"] == n {
		fmt.Fprintf(b, "\nEvery stop (%d) answered `X-Butler-Outcome: stopped`.\n", n)
	} else {
		fmt.Fprintf(b, "\nThe stops answered (`X-Butler-Outcome`): %v.\n", outcomes)
	}
	return summary
}

func stripTicks(s string) string { return strings.ReplaceAll(s, "`", "") }
