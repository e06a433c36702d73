package tasks

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	butler "github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/headtail"
	"github.com/plexbutler/butler/internal/procgroup"
)

const (
	// defaultExecGrace is Exec's Grace when it is not set.
	defaultExecGrace = 10 * time.Second
	// execLineMax is the longest line of output Exec looks at for a PROGRESS
	// report; longer lines are output only.
	execLineMax = 32 << 10
	// maxLoggedLines bounds how many lines of output one Exec run logs at
	// debug level; maxLoggedLine how much of each line.
	maxLoggedLines = 1000
	maxLoggedLine  = 512
	// execPipeDrain is how long Exec waits, once its program's process
	// group is gone, for the output pipes to close before it stops reading
	// them (a process that left the group may still hold them).
	execPipeDrain = time.Second
	// defaultExecPath is the PATH of the program's environment when
	// Butler's own environment has none.
	defaultExecPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// execInheritedEnv lists the variables of Butler's own environment that a
// program run by Exec inherits (those that are set).
var execInheritedEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"}

// Exec is an action that runs a program, without a shell, and waits for it
// to end: exit status 0 is success, anything else a failure.
//
// Environment: the program does not inherit Butler's whole environment
// (which may hold its token). It gets PATH, HOME, USER, LOGNAME, LANG,
// LC_ALL, LC_CTYPE, TZ and TMPDIR from Butler's environment when they are
// set (PATH defaults to /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:
// /sbin:/bin), and then Env, whose entries replace inherited ones of the
// same name. Standard input is /dev/null.
//
// Output: standard output and standard error are one pipe, so that their
// lines stay in the order the program wrote them, kept in a buffer of at
// most MaxOutput bytes — the first half and the last half, with a line
// "[... N bytes omitted ...]" between them — so memory stays bounded
// however much the program prints. A line of the form
// "PROGRESS <0-100> [message]" (on either) is a progress report: it is
// passed to the Reporter's Progress and not kept as output. A program that
// has reported no progress a second into its run gets the step "running
// NAME". Other lines are logged at debug level (the first 1000 of a run,
// each cut to 512 bytes). At the end of the run, whatever its outcome, the
// kept output is passed to the Reporter's Output, and the summary quotes
// its last lines.
//
// Processes: the program runs in a process group of its own. When ctx is
// done Exec sends SIGTERM to the whole group, and SIGKILL Grace later to
// what is left of it; Run then returns an error wrapping ctx's error. When
// the program ends by itself and has left processes behind in its group,
// they get the same treatment (SIGTERM, then SIGKILL after Grace), so a run
// never leaves anything running. A program that means to start something
// that outlives it must put it in a session of its own (setsid) and close
// its standard output and error.
//
// Crashes: on Linux the kernel kills the program (SIGKILL) should Butler
// die while it runs (a parent-death signal), and the process group is
// recorded with the run (through butler.ProcessReporter) so that what the
// program started in its group is ended at Butler's next start
// (GroupReaper). A group that cannot be recorded is killed at once and the
// run fails.
//
// Exec is for Unix systems.
type Exec struct {
	// Argv is the program, an absolute path, and its arguments. It is run
	// as it is: no shell, no PATH look-up, no expansion.
	Argv []string
	// Dir is the working directory; empty means Butler's own.
	Dir string
	// Env holds KEY=VALUE entries added to the program's minimal
	// environment.
	Env []string
	// Grace is how long the program's processes have to end after SIGTERM
	// before they get SIGKILL; 0 or less means 10 s.
	Grace time.Duration
	// MaxOutput is how many bytes of output are kept; 0 or less means
	// 64 KiB.
	MaxOutput int
}

var _ butler.Action = (*Exec)(nil)

// Run runs the program and waits for it and for every process it left in
// its process group.
func (e *Exec) Run(ctx context.Context, r butler.Reporter) error {
	name := "program"
	if len(e.Argv) > 0 {
		name = strconv.Quote(e.Argv[0])
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s not started: %w", name, err)
	}
	if err := e.validate(); err != nil {
		return err
	}
	log := r.Logger().With("program", e.Argv[0])
	grace := e.Grace
	if grace <= 0 {
		grace = defaultExecGrace
	}
	maxOutput := e.MaxOutput
	if maxOutput <= 0 {
		maxOutput = defaultMaxOutput
	}
	out := headtail.New(maxOutput)

	// One pipe for standard output and standard error: the program's
	// writes to both stay in the order it made them.
	outR, outW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("run %s: create output pipe: %w", name, err)
	}
	cmd := &exec.Cmd{
		Path:        e.Argv[0],
		Args:        e.Argv,
		Dir:         e.Dir,
		Env:         e.environ(),
		Stdout:      outW,
		Stderr:      outW,
		SysProcAttr: execSysProcAttr(),
	}
	// The kernel's parent-death signal follows the thread that started the
	// program: this goroutine keeps that thread until the program is gone.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		closeAll(outR, outW)
		return fmt.Errorf("start %s: %w", name, err)
	}
	// The child has its own copies; ours must go for the reads to end.
	closeAll(outW)
	pgid := cmd.Process.Pid
	log.Debug("program started", "pid", pgid, "args", e.Argv[1:])
	if err := recordGroup(r, pgid); err != nil {
		// Were the server to die now, nothing would end the group.
		procgroup.Signal(pgid, syscall.SIGKILL)
		_ = cmd.Wait()
		procgroup.End(pgid, time.Now(), 0, log)
		closeAll(outR)
		return fmt.Errorf("%s killed at its start: its process group could not be recorded (%w), and a crash of the server would have left it running", name, err)
	}

	step := reportQuietStep(r, "running "+filepath.Base(e.Argv[0]))
	defer step.stop()
	s := &execStreams{out: out, r: r, step: step, log: log}
	// Where the run's log takes output as it comes, it shows it live.
	if st, ok := r.(butler.OutputStreamer); ok {
		s.live = st.OutputStream()
	}
	readersDone := make(chan struct{})
	go func() { defer close(readersDone); s.read(outR) }()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	var (
		waitErr  error
		stopped  bool      // ctx ended the run
		killed   bool      // SIGKILL was needed for the program itself
		termSent time.Time // when SIGTERM went to the group
	)
	select {
	case waitErr = <-waited:
	case <-ctx.Done():
		if leaderExited(pgid) {
			// It ended by itself as the stop came: its end is what it
			// did, not a stop.
			waitErr = <-waited
			break
		}
		stopped = true
		log.Info("stopping program: SIGTERM to its process group", "pid", pgid, "grace", grace)
		procgroup.Signal(pgid, syscall.SIGTERM)
		termSent = time.Now()
		timer := time.NewTimer(grace)
		select {
		case waitErr = <-waited:
		case <-timer.C:
			log.Warn("program still running after its grace period: SIGKILL to its process group", "pid", pgid, "grace", grace)
			killed = true
			procgroup.Signal(pgid, syscall.SIGKILL)
			waitErr = <-waited
		}
		timer.Stop()
	}
	// What the program left in its group: the leader may end at SIGTERM
	// while a process of its group ignores it.
	leftKilled := procgroup.End(pgid, termSent, grace, log)
	select {
	case <-readersDone:
	case <-time.After(execPipeDrain):
		log.Warn("output pipes still open after the program's processes ended (held by a process outside its group); no longer reading them")
		closeAll(outR)
		<-readersDone
	}
	closeAll(outR)
	step.stop()

	output := out.String()
	if s.live != nil {
		s.live.Close()
	} else {
		r.Output(output)
	}
	tail := lastLines(output, summaryLines)

	if stopped && !killed && cmd.ProcessState != nil && cmd.ProcessState.Success() {
		// It exited 0 after SIGTERM: by its own account its work is done
		// (the stop came as it ended; a program that SIGTERM cuts short
		// exits non-zero, 143 by convention). Recorded as a stop, the
		// task would stay due and the work be done again.
		log.Info("program exited 0 after SIGTERM: its work is done, by its own account; recorded as it ended, not as stopped", "pid", pgid)
		stopped = false
	}
	if !stopped {
		// No signal was sent, or it ended well all the same: whatever it
		// did, it did by itself.
		if cmd.ProcessState != nil && cmd.ProcessState.Success() {
			completed(r)
		}
	}
	if stopped {
		how := "ended after SIGTERM"
		switch {
		case killed:
			how = fmt.Sprintf("killed with SIGKILL after a grace period of %s", grace)
		case leftKilled:
			how = fmt.Sprintf("the program ended after SIGTERM; processes of its group that did not were killed with SIGKILL after a grace period of %s", grace)
		}
		return &stoppedError{msg: fmt.Sprintf("%s stopped (%s)", name, how), err: ctx.Err()}
	}
	status, ok := exitStatus(cmd.ProcessState)
	if !ok {
		if waitErr == nil {
			waitErr = errors.New("no exit status")
		}
		return fmt.Errorf("wait for %s: %w", name, waitErr)
	}
	summary := status
	if tail != "" {
		summary += "; output: " + tail
	}
	r.Summary(summary)
	if cmd.ProcessState.Success() {
		log.Info("program succeeded", "output_bytes", out.Written())
		r.Progress(100, "done")
		return nil
	}
	err = fmt.Errorf("%s %s", name, status)
	if tail != "" {
		err = fmt.Errorf("%w (last output: %s)", err, tail)
	}
	return err
}

// StopGrace is how long the program's processes have after SIGTERM before
// SIGKILL (butler.Graceful).
func (e *Exec) StopGrace() time.Duration {
	if e.Grace <= 0 {
		return defaultExecGrace
	}
	return e.Grace
}

// stoppedError says how a program that was told to stop ended; it wraps
// the context's error.
type stoppedError struct {
	msg string
	err error
}

func (e *stoppedError) Error() string { return e.msg }
func (e *stoppedError) Unwrap() error { return e.err }

// recordGroup tells the reporter which process group the program leads,
// when it can take the record (butler.ProcessReporter) and the group can be
// recognised later.
func recordGroup(r butler.Reporter, pgid int) error {
	pr, ok := r.(butler.ProcessReporter)
	if !ok {
		return nil
	}
	g, ok := identifyGroup(pgid)
	if !ok {
		return nil
	}
	return pr.ProcessStarted(g)
}

// validate checks Argv, Dir and Env.
func (e *Exec) validate() error {
	if len(e.Argv) == 0 || e.Argv[0] == "" {
		return errors.New("exec: no program set")
	}
	if !filepath.IsAbs(e.Argv[0]) {
		return fmt.Errorf("exec: program %q is not an absolute path", e.Argv[0])
	}
	for _, a := range e.Argv {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("exec: argument %q holds a NUL byte", a)
		}
	}
	for _, kv := range e.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.IndexByte(kv, 0) >= 0 {
			return fmt.Errorf("exec: environment entry %q is not KEY=VALUE", kv)
		}
	}
	return nil
}

// environ returns the program's environment: the inherited variables, then
// Env.
func (e *Exec) environ() []string {
	var keys []string
	vals := map[string]string{}
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			keys = append(keys, k)
		}
		vals[k] = v
	}
	for _, k := range execInheritedEnv {
		if v, ok := os.LookupEnv(k); ok {
			set(k, v)
		}
	}
	if _, ok := vals["PATH"]; !ok {
		set("PATH", defaultExecPath)
	}
	for _, kv := range e.Env {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	env := make([]string, 0, len(keys))
	for _, k := range keys {
		env = append(env, k+"="+vals[k])
	}
	return env
}

// exitStatus describes how the process ended: "exited with status N" or
// "killed by signal N (name)".
func exitStatus(ps *os.ProcessState) (string, bool) {
	if ps == nil {
		return "", false
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Sprintf("killed by signal %d (%s)", int(ws.Signal()), ws.Signal()), true
	}
	if code := ps.ExitCode(); code >= 0 {
		return fmt.Sprintf("exited with status %d", code), true
	}
	return "", false
}

// closeAll closes files, ignoring errors (they may be closed already).
func closeAll(files ...*os.File) {
	for _, f := range files {
		_ = f.Close()
	}
}

// execStreams reads a program's output (standard output and standard error
// through one pipe) into a bounded buffer, and passes its PROGRESS lines on
// as reports.
type execStreams struct {
	out    *headtail.Buffer
	live   io.WriteCloser // the run's log, where it takes output as it comes
	r      butler.Reporter
	step   *quietStep
	log    *slog.Logger
	logged int // lines logged so far
}

// read reads the output until it ends, keeping what it reads in s.out.
func (s *execStreams) read(f io.Reader) {
	br := bufio.NewReaderSize(f, execLineMax)
	midLine := false // the next chunk continues a line longer than the buffer
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			// A chunk ends a line when it ends in a newline or the stream
			// ends; a full buffer is only the start of a long line.
			ends := chunk[len(chunk)-1] == '\n' || (err != nil && err != bufio.ErrBufferFull)
			if !midLine && ends {
				if pct, msg, ok := parseProgressLine(chunk); ok {
					s.step.progress(s.r, pct, msg)
					midLine = false
					if err != nil && err != bufio.ErrBufferFull {
						return
					}
					continue
				}
			}
			_, _ = s.out.Write(chunk)
			if s.live != nil {
				_, _ = s.live.Write(chunk)
			}
			if !midLine {
				s.logLine(chunk)
			}
			midLine = !ends
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

// quietStep reports a step ("running backup.sh") for a program that has
// not reported progress of its own within execQuietStep. A program that
// reports at once so has its first PROGRESS line as its run's first report:
// a report just before it would make the server hold that line back for a
// moment (it publishes progress a few times a second at most), and a
// second line within that moment would replace it unseen.
type quietStep struct {
	mu       sync.Mutex
	reported bool // the program or the step was reported, or Run ends
	timer    *time.Timer
}

// execQuietStep is how long Exec waits for a program's first PROGRESS line
// before it reports the step "running NAME".
const execQuietStep = time.Second

func reportQuietStep(r butler.Reporter, step string) *quietStep {
	q := &quietStep{}
	q.timer = time.AfterFunc(execQuietStep, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if !q.reported {
			q.reported = true
			r.Progress(-1, step)
		}
	})
	return q
}

// progress passes a report of the program on.
func (q *quietStep) progress(r butler.Reporter, percent int, msg string) {
	q.mu.Lock()
	q.reported = true
	q.mu.Unlock()
	r.Progress(percent, msg)
}

// stop ends the wait: once it returns, the step is not reported.
func (q *quietStep) stop() {
	q.mu.Lock()
	q.reported = true
	q.mu.Unlock()
	q.timer.Stop()
}

// logLine logs the start of a line of output at debug level, within the
// run's bounds.
func (s *execStreams) logLine(line []byte) {
	if !s.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	s.logged++
	n := s.logged
	switch {
	case n > maxLoggedLines+1:
		return
	case n == maxLoggedLines+1:
		s.log.Debug("program output: further lines are not logged (the run's output keeps the end)")
		return
	}
	line = bytes.TrimRight(line, "\r\n")
	if len(line) > maxLoggedLine {
		line = append(headtail.TrimCutRuneEnd(line[:maxLoggedLine:maxLoggedLine]), "…"...)
	}
	s.log.Debug("program output", "line", string(line))
}

// parseProgressLine parses "PROGRESS <0-100> [message]" (with its line
// ending).
func parseProgressLine(line []byte) (int, string, bool) {
	rest, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("PROGRESS"))
	if !ok || len(rest) == 0 || (rest[0] != ' ' && rest[0] != '\t') {
		return 0, "", false
	}
	rest = bytes.TrimLeft(rest, " \t")
	num, msg, _ := bytes.Cut(rest, []byte(" "))
	if i := bytes.IndexByte(num, '\t'); i >= 0 {
		num, msg = rest[:i], rest[i+1:]
	}
	pct, err := strconv.Atoi(string(num))
	if err != nil || pct < 0 || pct > 100 {
		return 0, "", false
	}
	return pct, oneLine(strings.TrimSpace(string(msg))), true
}

// completed tells r, when it can hear it, that the action's work is done:
// a stop from now on does not make the run "stopped"
// (butler.CompletionReporter).
func completed(r butler.Reporter) {
	if cr, ok := r.(butler.CompletionReporter); ok {
		cr.Completed()
	}
}
