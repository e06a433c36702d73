package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/bench/historybench/history"
	"github.com/plexbutler/butler/internal/childproc"
)

// sleepTask is the config-file task that is force-started and stopped.
const sleepTask = "HistorySleep"

// The measured calls, in the order they are measured and reported.
const (
	callTasks      = "GET /butler"
	callRuns1      = "GET /butler/runs?limit=1"
	callRuns50     = "GET /butler/runs?limit=50"
	callPlan       = "GET /butler/plan (outside the window)"
	callMetrics    = "GET /metrics"
	callPlanInside = "GET /butler/plan (inside the window)"
)

var getCalls = []struct{ name, path string }{
	{callTasks, "/butler"},
	{callRuns1, "/butler/runs?limit=1"},
	{callRuns50, "/butler/runs?limit=50"},
	{callPlan, "/butler/plan"},
	{callMetrics, "/metrics"},
}

// setup is one measured configuration.
type setup struct {
	database   string // "sqlite" or "postgres"
	analyzed   bool   // the planner's statistics were updated after the fill
	runs       int    // runs of history
	configured int    // exec /bin/true tasks in the config file
}

func (s setup) String() string {
	stats := "no statistics"
	if s.analyzed {
		stats = "analyzed"
	}
	return fmt.Sprintf("%s (%s), %s runs, %d configured tasks", s.database, stats, count(s.runs), s.configured)
}

// result is what one setup measured.
type result struct {
	setup
	fill       history.Stats
	cold       []time.Duration
	crashStart []time.Duration // SQLite: the start after a kill -9 (the database checked in full)
	calls      map[string][]time.Duration
	startRT    []time.Duration // POST round trip
	startRun   []time.Duration // POST sent → the run's startedAt
	stopRT     []time.Duration // DELETE round trip
	outcomes   map[string]int  // X-Butler-Outcome of the DELETEs
	windowOpen time.Duration   // how long the window had been open when plan (inside) was measured
	sinceOpen  int             // runs created since the window opened
}

// measure fills a fresh database for s and measures a real server on it.
func measure(ctx context.Context, cfg *config, kids *childproc.Group, s setup, logf func(string, ...any)) (res result, err error) {
	res = result{setup: s, calls: map[string][]time.Duration{}, outcomes: map[string]int{}}
	srv, target, done, err := newServer(ctx, kids, cfg.bin, s.database, cfg.pgURL, s.configured)
	if err != nil {
		return res, err
	}
	defer func() {
		if derr := done(); derr != nil && err == nil {
			err = derr
		}
	}()

	now := time.Now().UTC()
	outsideStart := (now.Hour() + 12) % 24
	logf("%s: filling", s)
	res.fill, err = history.Fill(ctx, target, history.Options{
		Runs: s.runs, Analyze: s.analyzed,
		Settings: settings(outsideStart, (outsideStart+1)%24, s.configured),
	})
	if err != nil {
		return res, err
	}
	logf("%s: filled in %.1f s, %s", s, res.fill.Elapsed.Seconds(), mb(res.fill.DatabaseBytes))

	// A first start, untimed: River's migrations, the first checks.
	p, _, _, err := srv.start(ctx)
	if err != nil {
		return res, err
	}
	if err := kids.Stop(p, time.Minute); err != nil {
		return res, err
	}
	var base string
	var last *childproc.Proc // the process that serves the rest; stopped at the end
	defer func() {
		if last == nil {
			return
		}
		if serr := kids.Stop(last, time.Minute); serr != nil && err == nil {
			err = serr
		}
	}()
	for i := range cfg.starts {
		p, b, d, err := srv.start(ctx)
		if err != nil {
			return res, err
		}
		res.cold = append(res.cold, d)
		if i == cfg.starts-1 {
			base, last = b, p
			break
		}
		if err := kids.Stop(p, time.Minute); err != nil {
			return res, err
		}
	}
	logf("%s: cold starts %v", s, res.cold)

	a := newAPI(base)
	defer a.close()
	for _, c := range getCalls { // warm-up: connections, caches, prepared plans
		for range 10 {
			if _, _, _, err := a.do(ctx, http.MethodGet, c.path); err != nil {
				return res, err
			}
		}
	}
	for _, c := range getCalls {
		if res.calls[c.name], err = series(ctx, cfg, func() (time.Duration, error) {
			_, _, d, err := a.do(ctx, http.MethodGet, c.path)
			return d, err
		}); err != nil {
			return res, err
		}
	}
	if err := startStop(ctx, cfg, a, &res); err != nil {
		return res, err
	}

	// The window opens at the start of the previous hour: the plan reads
	// the runs created since then.
	h := time.Now().UTC().Hour()
	if _, _, _, err := a.do(ctx, http.MethodPut, fmt.Sprintf("/:/prefs?ButlerStartHour=%d&ButlerEndHour=%d", (h+23)%24, (h+3)%24)); err != nil {
		return res, err
	}
	t := time.Now().UTC()
	open := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), 0, 0, 0, time.UTC).Add(-time.Hour)
	res.windowOpen = t.Sub(open)
	var since apitype.RunsResponse
	if err := a.getJSON(ctx, "/butler/runs?limit=1000&since="+url.QueryEscape(open.Format(time.RFC3339)), &since); err != nil {
		return res, err
	}
	res.sinceOpen = since.MediaContainer.Size
	for range 10 {
		if _, _, _, err := a.do(ctx, http.MethodGet, "/butler/plan"); err != nil {
			return res, err
		}
	}
	if res.calls[callPlanInside], err = series(ctx, cfg, func() (time.Duration, error) {
		_, _, d, err := a.do(ctx, http.MethodGet, "/butler/plan")
		return d, err
	}); err != nil {
		return res, err
	}
	if s.database == "sqlite" {
		// A start after a kill -9, which checks the database in full.
		if err := last.Cmd.Process.Kill(); err != nil {
			return res, err
		}
		<-last.Done()
		_ = kids.Stop(last, time.Minute) // "signal: killed", as meant
		last = nil
		p, _, d, err := srv.start(ctx)
		if err != nil {
			return res, err
		}
		last = p
		res.crashStart = append(res.crashStart, d)
		logf("%s: start after a kill -9 %v", s, d)
	}
	return res, nil
}

// minReps is the fewest repetitions of a series, whatever the budget.
const minReps = 10

// series calls f cfg.reps times in a row, or fewer (at least minReps) when
// cfg.budget is spent first, and returns the times it measured.
func series(ctx context.Context, cfg *config, f func() (time.Duration, error)) ([]time.Duration, error) {
	deadline := time.Now().Add(cfg.budget)
	var out []time.Duration
	for len(out) < cfg.reps && (len(out) < minReps || time.Now().Before(deadline)) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, err := f()
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// startStop force-starts the sleep task and stops it, cfg.reps times (or
// fewer, at least minReps, when cfg.budget plus the pacing is spent first),
// on PostgreSQL the POSTs at least cfg.pace apart. Each iteration: POST
// ?force=1 (timed), poll
// GET /activities every half millisecond until the run is there and
// running (on SQLite it is read from memory, so the polls do not use the
// database's one connection), GET the run for its startedAt, DELETE
// (timed), and check that the stop answered "stopped".
func startStop(ctx context.Context, cfg *config, a *api, res *result) error {
	pace := time.Duration(0)
	if res.database == "postgres" {
		pace = cfg.pace
	}
	deadline := time.Now().Add(cfg.budget + time.Duration(cfg.reps)*pace)
	var sent time.Time
	for i := 0; i < cfg.reps && (i < minReps || time.Now().Before(deadline)); i++ {
		if wait := time.Until(sent.Add(pace)); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		sent = time.Now()
		resp, _, rt, err := a.do(ctx, http.MethodPost, "/butler/"+sleepTask+"?force=1")
		if err != nil {
			return err
		}
		if o := resp.Header.Get(apitype.HeaderOutcome); o != string(butler.StartStarted) {
			return fmt.Errorf("POST /butler/%s?force=1 answered %q, want %s", sleepTask, o, butler.StartStarted)
		}
		id, err := strconv.ParseInt(resp.Header.Get(apitype.HeaderRunID), 10, 64)
		if err != nil {
			return fmt.Errorf("POST /butler/%s?force=1: run id %q", sleepTask, resp.Header.Get(apitype.HeaderRunID))
		}
		if err := waitRunning(ctx, a, id); err != nil {
			return err
		}
		var run apitype.RunsResponse
		if err := a.getJSON(ctx, fmt.Sprintf("/butler/runs/%d", id), &run); err != nil {
			return err
		}
		if len(run.MediaContainer.Run) != 1 {
			return fmt.Errorf("GET /butler/runs/%d: %d runs", id, len(run.MediaContainer.Run))
		}
		started, err := time.Parse(time.RFC3339Nano, run.MediaContainer.Run[0].StartedAt)
		if err != nil {
			return fmt.Errorf("run %d: startedAt %q", id, run.MediaContainer.Run[0].StartedAt)
		}
		resp, _, stop, err := a.do(ctx, http.MethodDelete, "/butler/"+sleepTask)
		if err != nil {
			return err
		}
		res.outcomes[resp.Header.Get(apitype.HeaderOutcome)]++
		res.startRT = append(res.startRT, rt)
		res.startRun = append(res.startRun, started.Sub(sent))
		res.stopRT = append(res.stopRT, stop)
	}
	return nil
}

// waitRunning polls GET /activities until run id is running there.
func waitRunning(ctx context.Context, a *api, id int64) error {
	limit := time.Now().Add(10 * time.Second)
	for {
		var acts apitype.ActivitiesResponse
		if err := a.getJSON(ctx, "/activities", &acts); err != nil {
			return err
		}
		for _, act := range acts.MediaContainer.Activity {
			if c := act.Context; c != nil && c.RunID == id && c.State == string(butler.StateRunning) {
				return nil
			}
		}
		if time.Now().After(limit) {
			return fmt.Errorf("run %d of %s was not running 10 s after its start", id, sleepTask)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Microsecond):
		}
	}
}

// settings are the stored settings of every setup: the window in UTC from
// start to end (hours), and every task disabled, so that the planner
// starts nothing by itself.
func settings(start, end, configured int) map[string]string {
	s := map[string]string{
		butler.SettingTimeZone:  "UTC",
		butler.SettingStartHour: strconv.Itoa(start),
		butler.SettingEndHour:   strconv.Itoa(end),
	}
	for _, t := range butler.DefaultCatalog() {
		s[t.Setting] = "false"
	}
	s["ButlerTask"+sleepTask] = "false"
	for i := 1; i <= configured; i++ {
		s["ButlerTask"+history.SyntheticTask(i)] = "false"
	}
	return s
}

// writeConfig writes the config file: the sleep task, and configured
// exec /bin/true tasks named like the history's made-up tasks.
func writeConfig(path string, configured int) error {
	var b strings.Builder
	b.WriteString("tasks:\n")
	fmt.Fprintf(&b, "  %s:\n    exec:\n      argv: [/bin/sleep, \"3600\"]\n    enabled: false\n", sleepTask)
	for i := 1; i <= configured; i++ {
		fmt.Fprintf(&b, "  %s:\n    exec:\n      argv: [/bin/true]\n    enabled: false\n", history.SyntheticTask(i))
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// freshDatabase creates a PostgreSQL database of its own on the server of
// base and returns its URL and a function that drops it.
func freshDatabase(ctx context.Context, base string) (string, func() error, error) {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("connect to PostgreSQL (-postgres, BUTLER_BENCH_DATABASE_URL): %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	name := fmt.Sprintf("butler_history_%08x", rand.Uint32())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() error {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(dctx, base)
		if err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		defer conn.Close(dctx)
		if _, err := conn.Exec(dctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	return u.String(), drop, nil
}
