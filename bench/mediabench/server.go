package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/bench/internal/benchserver"
	"github.com/plexbutler/butler/internal/childproc"
	"github.com/plexbutler/butler/mediaprobe"
	"github.com/plexbutler/butler/store/sqlite"
)

const (
	// pauseFiles and killFiles are the sizes of the libraries of section 4.
	pauseFiles, killFiles = 1200, 150
	// pauseReps is how many times the pause is measured.
	pauseReps = 5
	// pauseLimit is how long a pause is waited for.
	pauseLimit = 20 * time.Second
	// probeSleep makes every item slow-ish.
	probeSleep = "0.2"
	// serverParallel is media.parallel of the server.
	serverParallel = 2
	// killAfter is how many files the run has started when it is killed.
	killAfter = 50
	token     = "mediabench-token"
)

// serverResults are the measurements of section 4.
type serverResults struct {
	binSize int64
	pauses  []pauseSample
	kill    killResult
}

// pauseSample is one repetition of the pause.
type pauseSample struct {
	shown     bool
	shownIn   time.Duration // t(paused) - t0, when shown
	lastStart time.Duration // the last ffprobe start after t0, from t0; 0 when none
	startedIn int           // ffprobe starts after t0
	lastStep  string        // the run's step at the end of the wait
}

// killResult is the kill -9 and the restart.
type killResult struct {
	startedBefore int      // files started before the kill
	inFlight      []string // started and not ended at the kill
	redone        []string // files started both before and after the kill
	redoneOther   []string // of those, the ones not in flight
	maxStarts     int      // the most starts of one file in all
	analysed      int      // items analysed at the end
	items         int
	summary       string // the run after the restart
	killedOutcome string
}

// server is one running `butler serve`.
type server struct {
	proc *childproc.Proc
	url  string
}

// measureServer measures section 4.
func (b *bench) measureServer() error {
	ctx := b.ctx
	bin := filepath.Join(b.tmp, "butler")
	b.logf("building butler serve")
	if err := benchserver.Build(ctx, bin, false); err != nil {
		return err
	}
	if fi, err := os.Stat(bin); err == nil {
		b.server.binSize = fi.Size()
	}

	// The fake Plex: one session playing while watching is set.
	var watching atomic.Bool
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	plex := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status/sessions" || r.Header.Get("X-Plex-Token") != token {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		size := 0
		if watching.Load() {
			size = 1
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"MediaContainer":{"size":%d}}`, size)
	})}
	var serving sync.WaitGroup
	serving.Go(func() { _ = plex.Serve(ln) })
	defer func() {
		_ = plex.Close()
		serving.Wait()
	}()

	if err := b.measurePause(ctx, bin, "http://"+ln.Addr().String(), &watching); err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	if err := b.measureKill(ctx, bin); err != nil {
		return fmt.Errorf("kill: %w", err)
	}
	return nil
}

// setup makes a library of n media files, the ffprobe wrapper and its log,
// the config and the data directory (its settings putting the window away)
// under b.tmp/name, and returns the serve arguments and the log's path.
func (b *bench) setup(ctx context.Context, name string, n int, busy string) (args []string, probeLog string, err error) {
	dir := filepath.Join(b.tmp, name)
	films := filepath.Join(dir, "films")
	if _, err := b.copyMedia(films, n); err != nil {
		return nil, "", err
	}
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		return nil, "", err
	}
	probeLog = filepath.Join(dir, "probes.log")
	wrapper := filepath.Join(dir, "ffprobe")
	script := fmt.Sprintf(`#!/bin/sh
[ "$1" = -version ] && exec %[1]s -version
for a; do f=$a; done
echo "start ${f#file:}" >> %[2]s
sleep %[3]s
%[1]s "$@"
rc=$?
echo "end ${f#file:}" >> %[2]s
exit $rc
`, ffprobe, probeLog, probeSleep)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		return nil, "", err
	}
	cfg := filepath.Join(dir, "butler.yaml")
	text := fmt.Sprintf("libraries:\n  - {name: Films, kind: movies, folders: [%q]}\nmedia:\n  ffprobe: %q\n  parallel: %d\n%s",
		films, wrapper, serverParallel, busy)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		return nil, "", err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, "", err
	}
	db, err := sqlite.Open(ctx, filepath.Join(data, "butler.db"))
	if err != nil {
		return nil, "", err
	}
	err = db.SaveSettings(ctx, windowAway())
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, "", err
	}
	return []string{"serve", "--data-dir", data, "--token", token, "--config", cfg}, probeLog, nil
}

// startServer starts `butler serve` and waits until GET /healthz answers.
func (b *bench) startServer(ctx context.Context, bin string, args []string) (*server, error) {
	addr, err := childproc.FreeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append(args, "--addr", addr)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BUTLER_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		return nil, err
	}
	p, _, err := b.procs.StartUntilOK(ctx, cmd, req, time.Minute)
	if err != nil {
		return nil, err
	}
	return &server{proc: p, url: "http://" + addr}, nil
}

// do sends an authenticated request and returns the status, the run id
// header and the body.
func (s *server) do(ctx context.Context, method, path string) (int, string, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, nil)
	if err != nil {
		return 0, "", "", err
	}
	req.Header.Set("X-Plex-Token", token)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Butler-Run-Id"), string(body), err
}

// startRun starts task now and returns its run's id.
func (s *server) startRun(ctx context.Context, task butler.TaskName) (string, error) {
	code, id, body, err := s.do(ctx, http.MethodPost, "/butler/"+string(task)+"?force=1")
	if err != nil {
		return "", err
	}
	if code != http.StatusOK || id == "" {
		return "", fmt.Errorf("POST /butler/%s: %d %s", task, code, body)
	}
	return id, nil
}

// runStep returns run id's step and whether it has finished.
func (s *server) runStep(ctx context.Context, id string) (step string, finished bool, err error) {
	code, _, body, err := s.do(ctx, http.MethodGet, "/butler/runs/"+id)
	if err != nil {
		return "", false, err
	}
	if code != http.StatusOK {
		return "", false, fmt.Errorf("GET /butler/runs/%s: %d %s", id, code, body)
	}
	if _, rest, ok := strings.Cut(body, `"step":"`); ok {
		step, _, _ = strings.Cut(rest, `"`)
	}
	return step, strings.Contains(body, `"state":"finished"`), nil
}

// waitFinished waits up to limit for run id to finish.
func (s *server) waitFinished(ctx context.Context, id string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		_, done, err := s.runStep(ctx, id)
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return errNotShown("the end of run "+id, limit)
		}
		time.Sleep(50 * time.Millisecond) // polling another process
	}
}

// probeLine is one line of the wrapper's log.
type probeLine struct {
	start bool
	path  string
}

// readProbes reads the wrapper's log.
func readProbes(path string) ([]probeLine, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []probeLine
	for l := range strings.Lines(string(b)) {
		if !strings.HasSuffix(l, "\n") {
			break // being written
		}
		kind, p, ok := strings.Cut(strings.TrimSuffix(l, "\n"), " ")
		if !ok || (kind != "start" && kind != "end") {
			return nil, fmt.Errorf("%s: unexpected line %q", path, l)
		}
		out = append(out, probeLine{start: kind == "start", path: p})
	}
	return out, nil
}

// countStarts counts the start lines.
func countStarts(lines []probeLine) int {
	n := 0
	for _, l := range lines {
		if l.start {
			n++
		}
	}
	return n
}

// waitStarts waits until the log has at least n starts, and returns the
// time they were seen at.
func waitStarts(path string, n int, limit time.Duration, srv *server) (time.Time, error) {
	deadline := time.Now().Add(limit)
	for {
		lines, err := readProbes(path)
		if err != nil {
			return time.Time{}, err
		}
		if countStarts(lines) >= n {
			return time.Now(), nil
		}
		if srv.proc.Exited() {
			return time.Time{}, fmt.Errorf("butler serve exited: %v; its output ends with:\n%s", srv.proc.Err(), srv.proc.Output.String())
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%d ffprobe starts not seen within %s (%d seen)", n, limit, countStarts(lines))
		}
		time.Sleep(10 * time.Millisecond) // polling another process's log
	}
}

// measurePause measures the pause latency.
func (b *bench) measurePause(ctx context.Context, bin, plexURL string, watching *atomic.Bool) error {
	args, probeLog, err := b.setup(ctx, "pause", pauseFiles, fmt.Sprintf("busy:\n  plex:\n    url: %q\n    token: %q\n", plexURL, token))
	if err != nil {
		return err
	}
	srv, err := b.startServer(ctx, bin, args)
	if err != nil {
		return err
	}
	defer b.procs.Stop(srv.proc, 30*time.Second)
	id, err := srv.startRun(ctx, butler.TaskRefreshLibraries)
	if err != nil {
		return err
	}
	if err := srv.waitFinished(ctx, id, time.Minute); err != nil {
		return err
	}
	if id, err = srv.startRun(ctx, butler.TaskDeepMediaAnalysis); err != nil {
		return err
	}
	target := 20
	for rep := range pauseReps {
		if _, err := waitStarts(probeLog, target, time.Minute, srv); err != nil {
			return err
		}
		// A random delay within the busy probe's interval, so that t0
		// falls anywhere between two of its questions.
		select {
		case <-time.After(rand.N(5 * time.Second)):
		case <-ctx.Done():
			return ctx.Err()
		}
		before, err := readProbes(probeLog)
		if err != nil {
			return err
		}
		startsBefore := countStarts(before)
		watching.Store(true)
		t0 := time.Now()
		var s pauseSample
		// The log's starts are timed by polling it beside the run.
		lastCount, lastAt := startsBefore, time.Time{}
		for time.Since(t0) < pauseLimit {
			step, done, err := srv.runStep(ctx, id)
			if err != nil {
				return err
			}
			if done {
				return errors.New("the analysis ended while the pause was measured: give it more files")
			}
			s.lastStep = step
			if strings.HasPrefix(step, butler.PausedStep) && !s.shown {
				s.shown, s.shownIn = true, time.Since(t0)
			}
			lines, err := readProbes(probeLog)
			if err != nil {
				return err
			}
			if n := countStarts(lines); n > lastCount {
				lastCount, lastAt = n, time.Now()
			}
			// Once shown, one second more tells whether the work stopped.
			if s.shown && time.Since(t0) > s.shownIn+time.Second {
				break
			}
			time.Sleep(50 * time.Millisecond) // polling another process
		}
		s.startedIn = lastCount - startsBefore
		if !lastAt.IsZero() {
			s.lastStart = lastAt.Sub(t0)
		}
		b.server.pauses = append(b.server.pauses, s)
		if s.shown {
			b.logf("pause, repetition %d: shown paused after %.2f s; %d ffprobe started after t0, the last %.2f s after", rep+1, s.shownIn.Seconds(), s.startedIn, s.lastStart.Seconds())
		} else {
			b.logf("pause, repetition %d: not shown paused within %s (step %q); %d ffprobe started after t0, the last %.2f s after", rep+1, pauseLimit, s.lastStep, s.startedIn, s.lastStart.Seconds())
		}
		watching.Store(false)
		target = lastCount + 20
	}
	return nil
}

// measureKill kills a server with SIGKILL mid-analysis and counts the files
// analysed again after its restart.
func (b *bench) measureKill(ctx context.Context, bin string) error {
	args, probeLog, err := b.setup(ctx, "kill", killFiles, "")
	if err != nil {
		return err
	}
	srv, err := b.startServer(ctx, bin, args)
	if err != nil {
		return err
	}
	id, err := srv.startRun(ctx, butler.TaskRefreshLibraries)
	if err != nil {
		return err
	}
	if err := srv.waitFinished(ctx, id, time.Minute); err != nil {
		return err
	}
	if _, err = srv.startRun(ctx, butler.TaskDeepMediaAnalysis); err != nil {
		return err
	}
	if _, err := waitStarts(probeLog, killAfter, 2*time.Minute, srv); err != nil {
		return err
	}
	if err := srv.proc.Cmd.Process.Kill(); err != nil {
		return err
	}
	<-srv.proc.Done()
	// A wrapper dies with the server (its parent-death signal); one that
	// was about to write its start line has written it by now.
	time.Sleep(300 * time.Millisecond) // letting the killed server's children die
	before, err := readProbes(probeLog)
	if err != nil {
		return err
	}
	k := &b.server.kill
	open := map[string]int{}
	startedBefore := map[string]bool{}
	for _, l := range before {
		if l.start {
			open[l.path]++
			startedBefore[l.path] = true
		} else {
			open[l.path]--
		}
	}
	k.startedBefore = countStarts(before)
	for p, n := range open {
		if n > 0 {
			k.inFlight = append(k.inFlight, p)
		}
	}
	b.logf("kill: killed with %d ffprobe started, %d in flight", k.startedBefore, len(k.inFlight))

	srv, err = b.startServer(ctx, bin, args)
	if err != nil {
		return err
	}
	if id, err = srv.startRun(ctx, butler.TaskDeepMediaAnalysis); err != nil {
		return err
	}
	if err := srv.waitFinished(ctx, id, 3*time.Minute); err != nil {
		return err
	}
	if err := b.procs.Stop(srv.proc, 30*time.Second); err != nil {
		return fmt.Errorf("stop the restarted server: %w", err)
	}
	all, err := readProbes(probeLog)
	if err != nil {
		return err
	}
	starts := map[string]int{}
	redone := map[string]bool{}
	for i, l := range all {
		if !l.start {
			continue
		}
		starts[l.path]++
		k.maxStarts = max(k.maxStarts, starts[l.path])
		if i >= len(before) && startedBefore[l.path] && !redone[l.path] {
			redone[l.path] = true
			k.redone = append(k.redone, l.path)
			if open[l.path] <= 0 {
				k.redoneOther = append(k.redoneOther, l.path)
			}
		}
	}
	return b.readKillIndex(ctx, filepath.Join(filepath.Dir(probeLog), "data", "butler.db"))
}

// readKillIndex reads the runs and items the kill left.
func (b *bench) readKillIndex(ctx context.Context, path string) error {
	k := &b.server.kill
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	runs, err := db.Runs(ctx, butler.RunFilter{Task: butler.TaskDeepMediaAnalysis, Limit: 10})
	if err != nil {
		return err
	}
	if len(runs) != 2 {
		return fmt.Errorf("%d runs of DeepMediaAnalysis; want the killed one and the next", len(runs))
	}
	k.killedOutcome = string(runs[1].Outcome)
	k.summary = string(runs[0].Outcome) + ": " + runs[0].Summary
	items, err := db.MediaItems(ctx, butler.MediaItemFilter{Library: "Films"})
	if err != nil {
		return err
	}
	k.items = len(items)
	for _, it := range items {
		if it.AnalysisVersion == mediaprobe.Version {
			k.analysed++
		}
	}
	b.logf("kill: %d files redone after the restart (%d not in flight); %d of %d items analysed; the killed run %s; the next %s",
		len(k.redone), len(k.redoneOther), k.analysed, k.items, k.killedOutcome, k.summary)
	return nil
}
