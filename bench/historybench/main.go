// Command historybench measures how the cost of Butler's control path grows
// with the run history. For each database (SQLite, PostgreSQL) and each
// history size (by default 1,000, 10,000, 100,000 and 1,000,000 runs) it
// fills a fresh database with that many synthetic finished runs (package
// history: ~710 bytes of text each, spread over the last 89 days across 100
// made-up task names and the catalog's 26, outcomes and triggers mixed),
// then measures a real `butler serve` process on it, and writes a markdown
// section for BENCHMARKS.md.
//
//	go -C bench run ./historybench -out FRAGMENT.md
//	go -C bench run ./historybench fill -database PATH|postgres://... -runs N
//
// The second form only fills a database (see package history), for other
// experiments.
//
// # What is measured
//
// Every setup starts from an empty data directory with a config file that
// defines the task HistorySleep (exec /bin/sleep 3600) and, with
// -configured N, N more exec /bin/true tasks named HistoryTask001... (the
// names the history's runs carry: a second dimension, the configured
// tasks). The settings are stored before the first start: the window in
// UTC, 12 hours away from now, and every task disabled, so that the
// planner starts nothing by itself. On SQLite the database is the data
// directory's butler.db; on PostgreSQL a database of its own, created on
// the server of -postgres and dropped afterwards. The history is inserted,
// and then the query planner's statistics are in one of two states (the
// third dimension): on SQLite, -sqlite-stats none (no ANALYZE has run: the
// state of a database before its first OptimizeDatabase, which is weekly,
// or when that task is disabled) and analyzed (ANALYZE ran with no run
// active, as OptimizeDatabase does it on a quiet night); PostgreSQL is
// always analyzed (VACUUM ANALYZE of butler_run, as autovacuum does soon
// after such an insert, so a PostgreSQL database without statistics is a
// passing state). Then:
//
//   - A first start of `butler serve`, untimed (it runs River's migrations),
//     stopped with SIGTERM.
//   - Cold start: -starts starts of `butler serve` on that database, each
//     timed from just before cmd.Start() to the first 200 of GET
//     /butler/runs?limit=1 (a call that reads the database), polled every
//     millisecond over fresh connections. Each process is stopped with
//     SIGTERM and must exit 0, except the last, which serves the rest. The
//     page cache is warm (the database was just written and read). Each
//     start follows a clean stop, so on SQLite it skips the full check of
//     the database (PRAGMA quick_check), as a restart does.
//   - On SQLite, at the end: the last process killed with SIGKILL and one
//     more start timed the same way, which checks the database in full.
//   - On the last process, over one keep-alive connection, with the token
//     and Accept: application/json: after 10 untimed calls of each, GET
//     /butler, /butler/runs?limit=1, /butler/runs?limit=50, /butler/plan
//     (the window is 12 hours away: the plan reads the active runs and the
//     task records) and /metrics, each -reps times in a row (fewer, but at
//     least 10, if -budget is spent first); the time is from sending the
//     request to reading the last byte of the answer.
//   - Start and stop, -reps times (fewer, at least 10, if -budget plus the
//     pacing is spent first); on PostgreSQL the POSTs are at least -pace
//     apart (150 ms: River notifies its workers of at most one job insert
//     per queue per FetchCooldown, and the PostgreSQL engine's inserting
//     client has River's default, 100 ms, so a start sooner after the
//     previous one waits for the workers' periodic fetch, up to a second;
//     the SQLite engine wakes its worker itself after each insert):
//     POST /butler/HistorySleep?force=1, timed to its answer (round trip) and to
//     the run's startedAt as the server recorded it (same machine, same
//     clock: when the worker marked it running); GET /activities is polled
//     every 0.5 ms until the run is running there (on SQLite from memory),
//     then DELETE /butler/HistorySleep is timed to its answer, which comes
//     once the stop is stored and the sleep's process group is gone.
//   - Plan inside the window: PUT /:/prefs moves the window to open at the
//     start of the previous hour (UTC), and GET /butler/plan is measured
//     again: inside the window it also reads the runs created since the
//     window opened.
//
// Percentiles are nearest-rank. Targets: stop p99 < 5 ms, start p99 < 10
// ms, plan and /metrics p99 < 10 ms, cold start (slowest) < 300 ms.
//
// It cleans up after itself: the processes it started are stopped (and
// have Pdeathsig SIGKILL), the temporary directories removed and the
// PostgreSQL databases dropped, also when it is interrupted (SIGINT,
// SIGTERM).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/plexbutler/butler/bench/historybench/history"
	"github.com/plexbutler/butler/bench/internal/benchserver"
	"github.com/plexbutler/butler/internal/childproc"
)

const token = "historybench-token-1234"

// config is the command line.
type config struct {
	sizes       []int
	databases   []string
	configured  []int
	reps        int
	starts      int
	budget      time.Duration
	pace        time.Duration
	sqliteStats []bool // false: no statistics, true: analyzed
	pgURL       string
	bin         string
	revision    string
	command     string
	flags       string // the effective flags, for the report
	out         string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "prune" {
		if err := pruneCmd(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "historybench prune:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "fill" {
		if err := fill(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "historybench fill:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "historybench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err = run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "historybench:", err)
		os.Exit(1)
	}
}

func defaultPostgres() string {
	if u := os.Getenv("BUTLER_BENCH_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres"
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("historybench", flag.ContinueOnError)
	cfg := &config{}
	sizes := fs.String("sizes", "1k,10k,100k,1M", "history sizes, runs (k = 1,000, M = 1,000,000)")
	dbs := fs.String("databases", "sqlite,postgres", "databases: sqlite, postgres")
	configured := fs.String("configured", "0", "numbers of configured exec /bin/true tasks (each is a setup)")
	fs.IntVar(&cfg.reps, "reps", 200, "repetitions of each measured call")
	fs.IntVar(&cfg.starts, "starts", 3, "cold starts per setup")
	fs.DurationVar(&cfg.budget, "budget", 5*time.Second, "time budget of each series of calls (start/stop: plus its pacing); a series has at least 10 calls")
	fs.DurationVar(&cfg.pace, "pace", 150*time.Millisecond, "least time between two POSTs of the start/stop series on PostgreSQL (River notifies its workers of at most one insert per queue per 100 ms there)")
	stats := fs.String("sqlite-stats", "none,analyzed", "states of SQLite's planner statistics: none (no ANALYZE), analyzed (ANALYZE after the fill); PostgreSQL is always analyzed")
	fs.StringVar(&cfg.pgURL, "postgres", defaultPostgres(), "PostgreSQL server (a database of its own is created there per setup); default BUTLER_BENCH_DATABASE_URL or the local server")
	fs.StringVar(&cfg.bin, "butler", "", "butler binary (default: build cmd/butler with CGO_ENABLED=0)")
	fs.StringVar(&cfg.revision, "revision", "", "what the binary was built from, for the report (default: the working tree's commit)")
	fs.StringVar(&cfg.command, "command", "", "the command that ran this program, to name in the report (a script)")
	fs.StringVar(&cfg.out, "out", "", "write the markdown section here (default stdout)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if cfg.sizes, err = parseCounts(*sizes); err != nil {
		return nil, fmt.Errorf("-sizes: %w", err)
	}
	if cfg.configured, err = parseCounts(*configured); err != nil {
		return nil, fmt.Errorf("-configured: %w", err)
	}
	for _, d := range strings.Split(*dbs, ",") {
		d = strings.TrimSpace(d)
		if d != "sqlite" && d != "postgres" {
			return nil, fmt.Errorf("-databases: %q: want sqlite or postgres", d)
		}
		cfg.databases = append(cfg.databases, d)
	}
	if cfg.reps < 1 || cfg.starts < 1 || cfg.budget <= 0 || cfg.pace < 0 {
		return nil, errors.New("-reps, -starts and -budget must be positive, -pace not negative")
	}
	for _, st := range strings.Split(*stats, ",") {
		switch strings.TrimSpace(st) {
		case "none":
			cfg.sqliteStats = append(cfg.sqliteStats, false)
		case "analyzed":
			cfg.sqliteStats = append(cfg.sqliteStats, true)
		default:
			return nil, fmt.Errorf("-sqlite-stats: %q: want none or analyzed", st)
		}
	}
	cfg.flags = fmt.Sprintf("-sizes %s -databases %s -sqlite-stats %s -configured %s -reps %d -starts %d -budget %v -pace %v",
		*sizes, *dbs, *stats, *configured, cfg.reps, cfg.starts, cfg.budget, cfg.pace)
	return cfg, nil
}

// parseCounts parses "1k,10k,1M,0".
func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		mult := 1
		switch {
		case strings.HasSuffix(f, "k"), strings.HasSuffix(f, "K"):
			mult, f = 1000, f[:len(f)-1]
		case strings.HasSuffix(f, "M"):
			mult, f = 1000000, f[:len(f)-1]
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not a count", f)
		}
		out = append(out, n*mult)
	}
	return out, nil
}

func run(ctx context.Context, cfg *config) error {
	t0 := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "historybench: %6.1fs "+format+"\n", append([]any{time.Since(t0).Seconds()}, args...)...)
	}
	tmp, err := os.MkdirTemp("", "historybench-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if cfg.bin == "" {
		cfg.bin = filepath.Join(tmp, "butler")
		logf("building butler (CGO_ENABLED=0)")
		if err := benchserver.Build(ctx, cfg.bin, true); err != nil {
			return err
		}
	}
	if cfg.revision == "" {
		cfg.revision = revision()
	}
	env := describeMachine(cfg.bin)

	kids := childproc.NewGroup()
	defer kids.StopAll(15 * time.Second)
	var results []result
	for _, g := range groups(cfg) {
		for _, n := range cfg.sizes {
			s := g
			s.runs = n
			r, err := measure(ctx, cfg, kids, s, logf)
			if err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
			results = append(results, r)
		}
	}
	env.elapsed = time.Since(t0)
	text := report(cfg, env, results)
	if cfg.out == "" {
		fmt.Print(text)
		return nil
	}
	return os.WriteFile(cfg.out, []byte(text), 0o644)
}

// groups returns the setups without their size, in the order they are
// measured and reported: one table each.
func groups(cfg *config) []setup {
	var out []setup
	for _, db := range cfg.databases {
		stats := cfg.sqliteStats
		if db == "postgres" {
			stats = []bool{true}
		}
		for _, analyzed := range stats {
			for _, c := range cfg.configured {
				out = append(out, setup{database: db, analyzed: analyzed, configured: c})
			}
		}
	}
	return out
}

// fill is the fill subcommand.
func fill(args []string) error {
	fs := flag.NewFlagSet("historybench fill", flag.ContinueOnError)
	database := fs.String("database", "", "a SQLite file (created when missing) or a postgres:// URL")
	runs := fs.String("runs", "100k", "finished runs to add (k = 1,000, M = 1,000,000)")
	days := fs.Int("days", history.DefaultDays, "days the history spans, ending 15 minutes ago")
	text := fs.Int("text-bytes", history.DefaultTextBytes, "reason, summary, error and log bytes per run")
	analyze := fs.Bool("analyze", true, "update the planner's statistics afterwards")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *database == "" || fs.NArg() > 0 {
		return errors.New("usage: historybench fill -database PATH|postgres://... [-runs N] [-days D] [-text-bytes B] [-analyze=false]")
	}
	n, err := parseCounts(*runs)
	if err != nil || len(n) != 1 {
		return fmt.Errorf("-runs %q: want one count", *runs)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	st, err := history.Fill(ctx, *database, history.Options{Runs: n[0], Days: *days, TextBytes: *text, Analyze: *analyze})
	if err != nil {
		return err
	}
	fmt.Printf("added %d runs (%.0f text bytes each) in %.1f s; the database is %s\n", st.Runs, st.TextBytes, st.Elapsed.Seconds(), mb(st.DatabaseBytes))
	return nil
}
