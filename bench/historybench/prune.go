package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/bench/historybench/history"
	"github.com/plexbutler/butler/bench/internal/benchmachine"
	"github.com/plexbutler/butler/bench/internal/benchserver"
	"github.com/plexbutler/butler/bench/internal/benchstat"
	"github.com/plexbutler/butler/internal/childproc"
)

// pruneRetention is the retention of the pruning measurement, in days; the
// history ends a day before it, so every run of it has expired.
const pruneRetention = 30

// pruneLimit is how long the pruning may take before the measurement
// gives up.
const pruneLimit = 20 * time.Minute

// pruneResult is what the pruning measurement saw on one database.
type pruneResult struct {
	database          string
	runs              int
	fill              history.Stats
	took              time.Duration   // from the server's start to no expired run left
	reads             []time.Duration // GET /butler/runs?limit=1 round trips while pruning
	starts, stops     []time.Duration // POST ?force=1 and DELETE round trips while pruning
	sizeAfterPrune    int64
	sizeAfterOptimize int64
	optimizeTook      time.Duration
	optimizeOutcome   string
	optimizeSummary   string
}

// pruneCmd is `historybench prune`: it fills a database with runs that
// have all expired, starts a server on it, and measures the calls made
// while the server prunes them (target: the longest under 50 ms), then
// how much space OptimizeDatabase gives back.
//
//	historybench prune [-runs 1M] [-databases sqlite,postgres] [-butler BIN] [-out FILE]
//
// Per database: a fresh database (a SQLite file, or a PostgreSQL database
// of its own) filled by package history with N finished runs created over
// the 89 days that end pruneRetention+1 days ago, ButlerRunRetentionDays
// set to pruneRetention, the window 12 hours away and every task but
// OptimizeDatabase disabled. Then `butler serve` is started; its planner
// prunes at once (a batch of 1,000 runs at a time, resting as long as the
// batch took). From its first answer until GET /butler/runs?before=...
// finds no run of the fill left (asked every 500 ms), two clients call it
// back to back: one GET /butler/runs?limit=1 (a read), the other POST
// /butler/HistorySleep?force=1 then DELETE /butler/HistorySleep (writes;
// on PostgreSQL the POSTs at least 150 ms apart, as River notifies its
// workers of at most one insert per queue per 100 ms there). Every round
// trip is kept. Then OptimizeDatabase is started and waited for, and the
// database's size read again.
func pruneCmd(args []string) error {
	fs := flag.NewFlagSet("historybench prune", flag.ContinueOnError)
	runs := fs.String("runs", "1M", "expired runs to prune (k = 1,000, M = 1,000,000)")
	dbs := fs.String("databases", "sqlite,postgres", "databases: sqlite, postgres")
	bin := fs.String("butler", "", "butler binary (default: build cmd/butler with CGO_ENABLED=0)")
	pgURL := fs.String("postgres", defaultPostgres(), "PostgreSQL server (a database of its own is created there)")
	command := fs.String("command", "", "the command that ran this program, to name in the report")
	out := fs.String("out", "", "write the markdown section here (default stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	n, err := parseCounts(*runs)
	if err != nil || len(n) != 1 || n[0] < 1 || fs.NArg() > 0 {
		return errors.New("usage: historybench prune [-runs N] [-databases sqlite,postgres] [-butler BIN] [-out FILE]")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	t0 := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "historybench prune: %6.1fs "+format+"\n", append([]any{time.Since(t0).Seconds()}, args...)...)
	}
	tmp, err := os.MkdirTemp("", "historybench-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if *bin == "" {
		*bin = filepath.Join(tmp, "butler")
		logf("building butler (CGO_ENABLED=0)")
		if err := benchserver.Build(ctx, *bin, true); err != nil {
			return err
		}
	}
	env := describeMachine(*bin)
	kids := childproc.NewGroup()
	defer kids.StopAll(15 * time.Second)
	var results []pruneResult
	for _, d := range strings.Split(*dbs, ",") {
		d = strings.TrimSpace(d)
		if d != "sqlite" && d != "postgres" {
			return fmt.Errorf("-databases: %q: want sqlite or postgres", d)
		}
		r, err := measurePrune(ctx, kids, *bin, *pgURL, d, n[0], logf)
		if err != nil {
			return fmt.Errorf("%s: %w", d, err)
		}
		results = append(results, r)
	}
	env.elapsed = time.Since(t0)
	report := pruneReport(env, *command, *runs, *dbs, results)
	if *out == "" {
		_, err = os.Stdout.WriteString(report)
		return err
	}
	return os.WriteFile(*out, []byte(report), 0o644)
}

func measurePrune(ctx context.Context, kids *childproc.Group, bin, pgURL, database string, n int, logf func(string, ...any)) (res pruneResult, err error) {
	res = pruneResult{database: database, runs: n}
	srv, target, done, err := newServer(ctx, kids, bin, database, pgURL, 0)
	if err != nil {
		return res, err
	}
	defer func() {
		if derr := done(); derr != nil && err == nil {
			err = derr
		}
	}()
	outsideStart := (time.Now().UTC().Hour() + 12) % 24
	st := settings(outsideStart, (outsideStart+1)%24, 0)
	st[butler.SettingRunRetentionDays] = strconv.Itoa(pruneRetention)
	st[butler.EnableSetting(butler.TaskOptimizeDatabase)] = "true"
	end := time.Now().Add(-(pruneRetention + 1) * 24 * time.Hour)
	logf("%s: filling %s runs", database, count(n))
	res.fill, err = history.Fill(ctx, target, history.Options{Runs: n, End: end, Settings: st, Analyze: true})
	if err != nil {
		return res, err
	}
	logf("%s: filled in %.1f s, %s", database, res.fill.Elapsed.Seconds(), mb(res.fill.DatabaseBytes))

	start := time.Now()
	p, base, _, err := srv.start(ctx)
	if err != nil {
		return res, err
	}
	defer func() {
		if serr := kids.Stop(p, time.Minute); serr != nil && err == nil {
			err = serr
		}
	}()
	reader, writer, checker := newAPI(base), newAPI(base), newAPI(base)
	defer reader.close()
	defer writer.close()
	defer checker.close()

	loopCtx, stopLoops := context.WithCancel(ctx)
	defer stopLoops()
	var wg sync.WaitGroup
	var readErr, writeErr error
	wg.Go(func() {
		for loopCtx.Err() == nil {
			_, _, d, err := reader.do(loopCtx, http.MethodGet, "/butler/runs?limit=1")
			if err != nil {
				if loopCtx.Err() == nil {
					readErr = err
				}
				return
			}
			res.reads = append(res.reads, d)
		}
	})
	wg.Go(func() {
		pace := time.Duration(0)
		if database == "postgres" {
			pace = 150 * time.Millisecond
		}
		for loopCtx.Err() == nil {
			sent := time.Now()
			resp, _, d, err := writer.do(loopCtx, http.MethodPost, "/butler/"+sleepTask+"?force=1")
			if err == nil && resp.Header.Get(apitype.HeaderOutcome) != string(butler.StartStarted) {
				err = fmt.Errorf("POST /butler/%s?force=1 answered %q", sleepTask, resp.Header.Get(apitype.HeaderOutcome))
			}
			if err != nil {
				if loopCtx.Err() == nil {
					writeErr = err
				}
				return
			}
			res.starts = append(res.starts, d)
			if _, _, d, err = writer.do(loopCtx, http.MethodDelete, "/butler/"+sleepTask); err != nil {
				if loopCtx.Err() == nil {
					writeErr = err
				}
				return
			}
			res.stops = append(res.stops, d)
			select {
			case <-loopCtx.Done():
			case <-time.After(time.Until(sent.Add(pace))):
			}
		}
	})
	left := "/butler/runs?limit=1&before=" + url.QueryEscape(end.Add(time.Minute).UTC().Format(time.RFC3339))
	for {
		var rs apitype.RunsResponse
		if err := checker.getJSON(ctx, left, &rs); err != nil {
			stopLoops()
			wg.Wait()
			return res, err
		}
		if rs.MediaContainer.Size == 0 {
			res.took = time.Since(start)
			break
		}
		if time.Since(start) > pruneLimit {
			stopLoops()
			wg.Wait()
			return res, fmt.Errorf("runs of the fill were still there %v after the start", pruneLimit)
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	stopLoops()
	wg.Wait()
	if err := errors.Join(readErr, writeErr); err != nil {
		return res, err
	}
	logf("%s: pruned in %.1f s; %d reads, %d starts and stops meanwhile", database, res.took.Seconds(), len(res.reads), len(res.stops))

	if res.sizeAfterPrune, err = history.Size(ctx, target); err != nil {
		return res, err
	}
	// OptimizeDatabase gives the space back.
	resp, _, _, err := checker.do(ctx, http.MethodPost, "/butler/OptimizeDatabase?force=1")
	if err != nil {
		return res, err
	}
	id := resp.Header.Get(apitype.HeaderRunID)
	t := time.Now()
	for {
		var rs apitype.RunsResponse
		if err := checker.getJSON(ctx, "/butler/runs/"+id, &rs); err != nil {
			return res, err
		}
		if len(rs.MediaContainer.Run) == 1 && rs.MediaContainer.Run[0].State == string(butler.StateFinished) {
			res.optimizeTook = time.Since(t)
			res.optimizeOutcome = rs.MediaContainer.Run[0].Outcome
			res.optimizeSummary = rs.MediaContainer.Run[0].Summary
			break
		}
		if time.Since(t) > 10*time.Minute {
			return res, errors.New("OptimizeDatabase did not end within 10 minutes")
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if res.sizeAfterOptimize, err = history.Size(ctx, target); err != nil {
		return res, err
	}
	logf("%s: OptimizeDatabase %s in %.1f s: %s", database, res.optimizeOutcome, res.optimizeTook.Seconds(), res.optimizeSummary)
	return res, nil
}

// pruneStallLimit is the target: no call waits longer while the history is
// pruned.
const pruneStallLimit = 50 * time.Millisecond

func pruneReport(env machine, command, runs, dbs string, results []pruneResult) string {
	var b strings.Builder
	f := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	f("## Pruning a million expired runs (historybench prune)\n\n")
	cmd := "go -C bench run ./historybench prune -runs " + runs + " -databases " + dbs
	if command != "" {
		f("Produced by `%s`, which runs `%s`, on %s (UTC), in %.0f s.", command, cmd, env.started.UTC().Format("2006-01-02 15:04"), env.elapsed.Seconds())
	} else {
		f("Produced by `%s` on %s (UTC), in %.0f s.", cmd, env.started.UTC().Format("2006-01-02 15:04"), env.elapsed.Seconds())
	}
	f(" The program's doc comment (`pruneCmd`) says exactly what each number is. One run on the machine below, which is shared.\n\n")
	f("| machine | |\n| --- | --- |\n%s| binary | %s, built with `CGO_ENABLED=0` |\n| load average (1, 5, 15 min) | %s before, %s after |\n\n",
		env.Rows(), env.binary, env.loadBefore, benchmachine.LoadAverage())
	f("Each database is filled with the runs, all ended more than %d days ago, `ButlerRunRetentionDays` %d; `butler serve` prunes them from its start, a batch of 1,000 at a time, resting as long as a batch took. Meanwhile one client reads (`GET /butler/runs?limit=1`) and another force-starts and stops a task (`POST /butler/%s?force=1`, `DELETE /butler/%s`), each back to back. Target: the longest of those calls under %s.\n\n",
		pruneRetention+1, pruneRetention, sleepTask, sleepTask, ms(pruneStallLimit)+" ms")
	f("| database | runs pruned | pruning took | calls | read p50 / p99 / max ms | start p50 / p99 / max ms | stop p50 / p99 / max ms | longest call | |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, r := range results {
		longest := max(maxOf(r.reads), maxOf(r.starts), maxOf(r.stops))
		verdict := "**met**"
		if longest >= pruneStallLimit {
			verdict = "**not met**"
		}
		f("| %s | %s | %.1f s | %d | %s | %s | %s | %s ms | %s |\n", dbTitle(r.database), count(r.fill.Runs), r.took.Seconds(),
			len(r.reads)+len(r.starts)+len(r.stops), spread(r.reads), spread(r.starts), spread(r.stops), ms(longest), verdict)
	}
	f("\nThe space (OptimizeDatabase, started with `?force=1` once the pruning was over; Butler does not use SQLite's incremental vacuum):\n\n")
	f("| database | size filled | after pruning | after OptimizeDatabase | OptimizeDatabase took | its summary |\n| --- | ---: | ---: | ---: | ---: | --- |\n")
	for _, r := range results {
		f("| %s | %s | %s | %s | %.1f s (%s) | %s |\n", dbTitle(r.database), mb(r.fill.DatabaseBytes), mb(r.sizeAfterPrune), mb(r.sizeAfterOptimize),
			r.optimizeTook.Seconds(), r.optimizeOutcome, strings.ReplaceAll(r.optimizeSummary, "|", "/"))
	}
	return b.String()
}

func dbTitle(d string) string {
	if d == "postgres" {
		return "PostgreSQL"
	}
	return "SQLite"
}

func maxOf(d []time.Duration) time.Duration {
	var m time.Duration
	for _, x := range d {
		m = max(m, x)
	}
	return m
}

// spread is "p50 / p99 / max" of d, in milliseconds.
func spread(d []time.Duration) string {
	s := benchstat.Sorted(d)
	if len(s) == 0 {
		return "—"
	}
	return ms(benchstat.Percentile(s, 50)) + " / " + ms(benchstat.Percentile(s, 99)) + " / " + ms(s[len(s)-1])
}
