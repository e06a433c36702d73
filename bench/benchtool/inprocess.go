package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/api"
	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/engine"
	"github.com/plexbutler/butler/store/sqlite"
)

const benchToken = "bench-token-0123456789"

// probe is the action bound to BackupDatabase in the in-process stack. It
// records when it is entered, then waits for its context to end (recording
// when it saw that) or to be released (returning nil).
type probe struct {
	entered   chan time.Time
	cancelled chan time.Time
	returned  chan struct{}
	release   chan struct{}
}

func newProbe() *probe {
	return &probe{
		entered:   make(chan time.Time, 16),
		cancelled: make(chan time.Time, 16),
		returned:  make(chan struct{}, 16),
		release:   make(chan struct{}),
	}
}

// Run implements butler.Action.
func (p *probe) Run(ctx context.Context, _ butler.Reporter) error {
	offer(p.entered, time.Now())
	defer offer(p.returned, struct{}{})
	select {
	case <-ctx.Done():
		offer(p.cancelled, time.Now())
		return ctx.Err()
	case <-p.release:
		return nil
	}
}

// offer sends v on ch unless ch is full: the probe never blocks on the
// harness.
func offer[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
	}
}

// drain empties ch.
func drain[T any](ch chan T) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// receive waits up to limit for a value on ch.
func receive[T any](ctx context.Context, ch chan T, limit time.Duration, what string) (T, error) {
	t := time.NewTimer(limit)
	defer t.Stop()
	var zero T
	select {
	case v := <-ch:
		return v, nil
	case <-t.C:
		return zero, fmt.Errorf("no %s within %v", what, limit)
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// stack is the real Butler stack in this process, served over loopback TCP.
type stack struct {
	srv    *httptest.Server
	db     *sqlite.DB
	eng    *engine.Engine
	m      *butler.Manager
	probe  *probe
	client *http.Client
}

// startStack builds the stack as cmd/butler does, on a SQLite file in dir,
// with the probe bound to BackupDatabase (the only task offered), the task's
// automatic runs off and the window twelve hours away, so that the planner
// stays quiet.
func startStack(ctx context.Context, dir string) (*stack, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "butler.db"))
	if err != nil {
		return nil, err
	}
	s := &stack{db: db, probe: newProbe()}
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()
	catalog := butler.Bind(butler.DefaultCatalog(), butler.TaskBackupDatabase, s.probe)
	setting := ""
	for _, t := range catalog {
		if t.Name == butler.TaskBackupDatabase {
			setting = t.Setting
		}
	}
	startHour := (time.Now().UTC().Hour() + 12) % 24
	if err := db.SaveSettings(ctx, map[string]string{
		butler.SettingStartHour: strconv.Itoa(startHour),
		butler.SettingEndHour:   strconv.Itoa((startHour + 1) % 24),
		setting:                 "false",
	}); err != nil {
		return nil, err
	}
	if s.eng, err = engine.NewSQLite(ctx, db.SQL(), engine.Config{Node: "bench"}); err != nil {
		return nil, err
	}
	s.m, err = butler.NewManager(ctx, butler.Config{
		Catalog: catalog, Store: db, Queue: s.eng, HostZone: "UTC", DataDir: dir, Node: "bench",
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	if err := s.eng.Start(context.WithoutCancel(ctx), s.m); err != nil {
		return nil, err
	}
	if err := s.m.Start(ctx); err != nil {
		return nil, err
	}
	h, err := api.NewHandler(api.Config{Manager: s.m, Token: benchToken, Version: "bench", MachineIdentifier: "bench", FriendlyName: "bench"})
	if err != nil {
		return nil, err
	}
	s.srv = httptest.NewServer(h)
	s.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	ok = true
	return s, nil
}

func (s *stack) close() {
	if s.srv != nil {
		s.srv.Close()
	}
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s.m != nil {
		_ = s.m.Stop(ctx)
	}
	if s.eng != nil {
		_ = s.eng.Stop(ctx)
	}
	_ = s.db.Close()
}

// do sends a request with the token and reads the whole answer; it returns
// the answer and the instant its body was read.
func (s *stack) do(ctx context.Context, method, path string) (*http.Response, time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.srv.URL+path, nil)
	if err != nil {
		return nil, time.Time{}, err
	}
	req.Header.Set("X-Plex-Token", benchToken)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, time.Time{}, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, time.Now(), err
}

// waitIdle polls the store (every 1 ms) until no run is active.
func (s *stack) waitIdle(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		runs, err := s.db.ActiveRuns(ctx)
		if err != nil {
			return err
		}
		if len(runs) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d runs still active 10 s after the probe returned", len(runs))
		}
		if err := sleepCtx(ctx, time.Millisecond); err != nil {
			return err
		}
	}
}

// loopMode says how an iteration ends the run it started.
type loopMode int

const (
	modeStop    loopMode = iota // DELETE /butler/BackupDatabase
	modeRelease                 // the probe returns nil
)

// loopResult holds the samples of one latency loop.
type loopResult struct {
	pace       time.Duration
	start      []time.Duration // POST sent -> probe entered
	postRT     []time.Duration // POST sent -> answer read
	stop       []time.Duration // DELETE sent -> probe saw ctx done
	deleteRT   []time.Duration // DELETE sent -> answer read
	gaps       []time.Duration // previous POST sent -> this POST sent
	outcomes   map[string]int  // X-Butler-Outcome of the POSTs
	elapsed    time.Duration
	iterations int
	budget     time.Duration
}

// measureLoop starts a fresh stack in dir and runs n iterations: POST
// /butler/BackupDatabase?force=1, wait for the probe, then end the run as mode
// says. Consecutive POSTs are at least pace apart. With a budget, the loop
// ends early (with fewer samples) once the budget is spent.
func measureLoop(ctx context.Context, dir string, mode loopMode, n int, pace, budget time.Duration) (*loopResult, error) {
	s, err := startStack(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("start the stack: %w", err)
	}
	defer s.close()
	// One untimed round first, so that connections and River's first fetch
	// are behind us; the first timed POST is paced from it too.
	last, err := s.iterate(ctx, modeStop, &loopResult{outcomes: map[string]int{}})
	if err != nil {
		return nil, fmt.Errorf("first round: %w", err)
	}
	res := &loopResult{pace: pace, budget: budget, outcomes: map[string]int{}}
	began := time.Now()
	for i := range n {
		if budget > 0 && time.Since(began) > budget {
			break
		}
		if err := sleepCtx(ctx, time.Until(last.Add(pace))); err != nil {
			return nil, err
		}
		t0, err := s.iterate(ctx, mode, res)
		if err != nil {
			return nil, fmt.Errorf("iteration %d: %w", i+1, err)
		}
		res.gaps = append(res.gaps, t0.Sub(last))
		last = t0
		res.iterations++
	}
	res.elapsed = time.Since(began)
	return res, nil
}

// iterate runs one iteration and returns the instant its POST was sent.
func (s *stack) iterate(ctx context.Context, mode loopMode, res *loopResult) (time.Time, error) {
	p := s.probe
	drain(p.entered)
	drain(p.cancelled)
	drain(p.returned)

	t0 := time.Now()
	resp, answered, err := s.do(ctx, http.MethodPost, "/butler/BackupDatabase?force=1")
	if err != nil {
		return t0, fmt.Errorf("POST: %w", err)
	}
	outcome := resp.Header.Get(apitype.HeaderOutcome)
	if resp.StatusCode != http.StatusOK || outcome != "started" {
		return t0, fmt.Errorf("POST answered %d, outcome %q, reason %q", resp.StatusCode, outcome, resp.Header.Get(apitype.HeaderReason))
	}
	res.outcomes[outcome]++
	res.postRT = append(res.postRT, answered.Sub(t0))
	entered, err := receive(ctx, p.entered, 5*time.Second, "probe start")
	if err != nil {
		return t0, err
	}
	res.start = append(res.start, entered.Sub(t0))

	switch mode {
	case modeStop:
		t1 := time.Now()
		resp, answered, err := s.do(ctx, http.MethodDelete, "/butler/BackupDatabase")
		if err != nil {
			return t0, fmt.Errorf("DELETE: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return t0, fmt.Errorf("DELETE answered %d, reason %q", resp.StatusCode, resp.Header.Get(apitype.HeaderReason))
		}
		cancelled, err := receive(ctx, p.cancelled, 5*time.Second, "probe cancellation")
		if err != nil {
			return t0, err
		}
		res.stop = append(res.stop, cancelled.Sub(t1))
		res.deleteRT = append(res.deleteRT, answered.Sub(t1))
		if _, err := receive(ctx, p.returned, 5*time.Second, "probe return"); err != nil {
			return t0, err
		}
	case modeRelease:
		select {
		case p.release <- struct{}{}:
		case <-time.After(5 * time.Second):
			return t0, errors.New("the probe did not take its release")
		case <-ctx.Done():
			return t0, ctx.Err()
		}
		if _, err := receive(ctx, p.returned, 5*time.Second, "probe return"); err != nil {
			return t0, err
		}
	}
	// DELETE answers after the outcome is stored; a released run is stored
	// just after the probe returns.
	return t0, s.waitIdle(ctx)
}
