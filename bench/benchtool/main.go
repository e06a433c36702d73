// Command benchtool measures the Butler against the targets of its
// performance issue and writes the results as Markdown (BENCHMARKS.md).
// scripts/bench.sh builds the butler binary and runs it; it also runs on its
// own:
//
//	go -C bench run ./benchtool [-butler PATH] [-out FILE] [flags]
//
// Without -butler it builds cmd/butler itself (CGO_ENABLED=0) into a
// temporary directory. It makes four measurements:
//
//  1. Stop latency (target: p99 < 5 ms). The real stack runs in this process
//     (store/sqlite on a file in a temporary directory, engine.NewSQLite,
//     butler.NewManager, api.NewHandler) behind net/http on a loopback TCP
//     listener. BackupDatabase is bound to a probe action that records when
//     it is entered and then blocks on ctx.Done(), recording the instant it
//     sees the cancellation. Each iteration sends POST
//     /butler/BackupDatabase?force=1, waits until the probe is entered, takes
//     t0 just before sending DELETE /butler/BackupDatabase and measures
//     (probe saw cancellation - t0). It also reports the DELETE round trip
//     (answer received - t0): the server answers only once the task has
//     returned and its outcome is stored.
//  2. Start latency (target: p99 < 10 ms). Same stack; t0 just before POST
//     /butler/BackupDatabase?force=1, t1 the instant the probe's Run is
//     entered. The probe is then released (it returns nil) and the next
//     iteration waits until the probe has returned and the store has no
//     active run. The run reaches the action through River's fetch path;
//     with riversqlite's own listener that path waits for a notification
//     table polled every 50 ms, and River limits insert notifications to one
//     per FetchCooldown, hence the pacing (-pace). A short unpaced series
//     shows what happens when starts follow each other closely.
//  3. GET /butler throughput relative to a minimal net/http handler (target:
//     ratio >= 0.7). The real binary runs as a child process (butler serve);
//     its GET /butler answer (XML, no Accept header) is fetched once, and
//     this program re-executes itself as a second child process
//     ("benchtool static-server") that serves exactly those bytes with the
//     same headers on every request. A load generator in this process (C
//     goroutines with keep-alive connections) sends GETs for a fixed
//     duration after a warm-up and counts the 200s, alternating butler and
//     reference (A B A B). The server process's CPU time over each window is
//     read from /proc/PID/stat.
//  4. Cold start to first 200 (target: < 300 ms) and idle RSS 10 s after
//     start (target: < 40 MB). The real binary is started on fresh data
//     directories (first start: migrations, token and machine id) and then
//     again on an initialized one (warm start); the time from cmd.Start() to
//     the first 200 of GET /healthz (polled every 1 ms) is measured. The last
//     process of each series is left idle for 10 s after its start, then its
//     VmRSS and VmHWM are read from /proc/PID/status.
//
// Every child process is stopped (SIGTERM, then SIGKILL) when the program
// ends, and dies with it if it is killed (Pdeathsig); temporary directories
// are removed; the whole run is bounded by -timeout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/plexbutler/butler/bench/internal/benchserver"
	"github.com/plexbutler/butler/internal/childproc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}

// config holds the command-line flags.
type config struct {
	butler      string
	out         string
	command     string
	timeout     time.Duration
	iterations  int
	pace        time.Duration
	burst       int
	concurrency int
	warmup      time.Duration
	duration    time.Duration
	starts      int
	idle        time.Duration
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) > 0 && args[0] == staticServerCmd {
		return staticServer(ctx, args[1:])
	}
	var cfg config
	fs := flag.NewFlagSet("benchtool", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.butler, "butler", "", "butler binary to measure (default: build ./cmd/butler with CGO_ENABLED=0)")
	fs.StringVar(&cfg.out, "out", "", "write the Markdown report to this file (default: standard output)")
	fs.StringVar(&cfg.command, "command", "go -C bench run ./benchtool", "the command line to name in the report")
	fs.DurationVar(&cfg.timeout, "timeout", 170*time.Second, "bound on the whole run")
	fs.IntVar(&cfg.iterations, "iterations", 300, "iterations of the stop and start latency loops")
	fs.DurationVar(&cfg.pace, "pace", 150*time.Millisecond, "minimum time between two POSTs of the latency loops")
	fs.IntVar(&cfg.burst, "burst", 30, "iterations of the unpaced start series (0: skip)")
	fs.IntVar(&cfg.concurrency, "c", 32, "concurrent connections of the GET load generator")
	fs.DurationVar(&cfg.warmup, "warmup", time.Second, "warm-up before each GET load window")
	fs.DurationVar(&cfg.duration, "duration", 5*time.Second, "length of each GET load window")
	fs.IntVar(&cfg.starts, "starts", 5, "cold and warm starts each")
	fs.DurationVar(&cfg.idle, "idle", 10*time.Second, "how long after its start a process's RSS is read")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.iterations < 1 || cfg.concurrency < 1 || cfg.starts < 1 {
		return errors.New("-iterations, -c and -starts must be at least 1")
	}

	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	tmp, err := os.MkdirTemp("", "butler-bench-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	kids := childproc.NewGroup()
	defer kids.StopAll(5 * time.Second)

	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "[%6.1fs] "+format+"\n", append([]any{time.Since(began).Seconds()}, a...)...)
	}

	bin := cfg.butler
	if bin == "" {
		bin = filepath.Join(tmp, "butler")
		logf("building cmd/butler (CGO_ENABLED=0)")
		if err := benchserver.Build(ctx, bin, true); err != nil {
			return err
		}
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this program's executable: %w", err)
	}

	rep := &report{cfg: cfg, facts: gatherFacts(ctx, bin)}

	logf("stop latency: %d iterations, paced %v", cfg.iterations, cfg.pace)
	if rep.stop, err = measureLoop(ctx, filepath.Join(tmp, "stop"), modeStop, cfg.iterations, cfg.pace, 0); err != nil {
		return fmt.Errorf("stop latency: %w", err)
	}
	logf("start latency: %d iterations, paced %v", cfg.iterations, cfg.pace)
	if rep.start, err = measureLoop(ctx, filepath.Join(tmp, "start"), modeRelease, cfg.iterations, cfg.pace, 0); err != nil {
		return fmt.Errorf("start latency: %w", err)
	}
	if cfg.burst > 0 {
		logf("start latency: up to %d unpaced iterations (at most 15 s)", cfg.burst)
		if rep.burst, err = measureLoop(ctx, filepath.Join(tmp, "burst"), modeRelease, cfg.burst, 0, 15*time.Second); err != nil {
			return fmt.Errorf("unpaced start latency: %w", err)
		}
	}
	logf("GET /butler throughput: c=%d, %v warm-up + %v per run", cfg.concurrency, cfg.warmup, cfg.duration)
	if rep.get, err = measureGet(ctx, kids, bin, self, tmp, cfg, logf); err != nil {
		return fmt.Errorf("GET /butler throughput: %w", err)
	}
	logf("cold and warm starts: %d each, idle RSS after %v", cfg.starts, cfg.idle)
	if rep.startup, err = measureStartup(ctx, kids, bin, tmp, cfg.starts, cfg.idle, logf); err != nil {
		return fmt.Errorf("startup: %w", err)
	}
	rep.elapsed = time.Since(began)
	rep.facts.loadEnd = loadavg()
	logf("done")

	md := rep.markdown()
	if cfg.out == "" {
		_, err := io.WriteString(os.Stdout, md)
		return err
	}
	part := cfg.out + ".part"
	if err := os.WriteFile(part, []byte(md), 0o644); err != nil {
		return err
	}
	return os.Rename(part, cfg.out)
}

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
