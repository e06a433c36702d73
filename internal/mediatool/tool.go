// Package mediatool runs FFmpeg's programs (ffprobe, ffmpeg) as Butler's
// media tasks need them: at a lower CPU and I/O priority, in a process
// group of their own with a parent-death signal on Linux (if Butler dies,
// the kernel kills them), with a time limit, and killed with their whole
// group when the caller's context is done. Their error output is kept,
// bounded, and summed up in a line.
//
// On Linux the priorities are those of the thread that starts the program,
// which the program inherits: a thread of its own, its niceness
// (setpriority(2)) and I/O priority (ioprio_set(2)) lowered, which ends
// with the program — no nice(1) or ionice(1) started before each program.
// Elsewhere the program runs under nice(1), and the I/O class is not
// applied.
package mediatool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/plexbutler/butler/internal/procgroup"
	"github.com/plexbutler/butler/internal/procwatch"
)

// DefaultNice is the niceness the programs run at (nice(1): 0 to 19).
const DefaultNice = 10

// The I/O scheduling classes of Tool.IOClass (ioprio_set(2)).
const (
	IOBestEffort = "best-effort" // the lowest priority of the best-effort class (the default)
	IOIdle       = "idle"        // only when no other program uses the disk
	IONone       = "none"        // Butler's own class
)

// MaxStderr is how much of a program's error output Run keeps.
const MaxStderr = 4096

// ErrTimeout is the cause of an error of Run when the program ran out of
// time.
var ErrTimeout = errors.New("the program took longer than its time limit")

// ErrKilled is the cause of an error of Run when the program was killed
// from outside (SIGKILL or SIGTERM it was not sent by Run: the kernel's
// out-of-memory killer, the server's group guard, a person): no fault of
// the file it worked on.
var ErrKilled = errors.New("the program was killed from outside")

// Tool is one of FFmpeg's programs, run at a lower priority. Its zero
// value is not usable: Program names the program. A Tool is safe for
// concurrent use and must not be copied after its first use.
type Tool struct {
	// Program is the program: a path, or a name looked up in PATH
	// ("ffprobe", "ffmpeg").
	Program string
	// Nice is the program's niceness: 0 means DefaultNice, a negative
	// value runs it at Butler's own priority.
	Nice int
	// IOClass is IOBestEffort (""), IOIdle or IONone.
	IOClass string
	// Logger receives a warning, once, when the priorities cannot be
	// lowered; nil means slog.Default().
	Logger *slog.Logger

	once   sync.Once
	prefix []string // nice, where the thread's priority is not inherited; then the program's path
	prio   priority // what the starting thread is lowered to
	err    error
	warned sync.Once
}

// priority is a niceness and an I/O priority (ioprio_set(2)'s value: the
// class in the top bits, the level in the low ones); 0 leaves each as it
// is.
type priority struct {
	nice, io int
}

// The I/O priorities of the classes (linux/ioprio.h: class << 13 | level).
const (
	ioprioBestEffort7 = 2<<13 | 7
	ioprioIdle        = 3 << 13
)

// Validate reports what is wrong with t's settings (not whether the
// program can be found: Command does).
func (t *Tool) Validate() error {
	name := t.name()
	switch {
	case t.Program == "":
		return errors.New("no program given")
	case t.Nice > 19:
		return fmt.Errorf("%s's niceness %d: give 0 to 19 (19 is the lowest priority), or a negative value for none", name, t.Nice)
	case t.IOClass != "" && t.IOClass != IOBestEffort && t.IOClass != IOIdle && t.IOClass != IONone:
		return fmt.Errorf("%s's I/O class %q: give %q, %q or %q", name, t.IOClass, IOBestEffort, IOIdle, IONone)
	}
	return nil
}

// name is the program's base name, for messages.
func (t *Tool) name() string {
	n := t.Program
	if i := strings.LastIndexByte(n, '/'); i >= 0 {
		n = n[i+1:]
	}
	if n == "" {
		return "the program"
	}
	return n
}

// setup finds the program and works out its priorities, once.
func (t *Tool) setup() error {
	t.once.Do(func() {
		if t.err = t.Validate(); t.err != nil {
			return
		}
		log := t.logger()
		path, err := exec.LookPath(t.Program)
		if err != nil {
			t.err = fmt.Errorf("%s not found (%v): install FFmpeg (on Debian: apt-get install ffmpeg) or give the program's path", t.name(), err)
			return
		}
		nice := t.Nice
		if nice == 0 {
			nice = DefaultNice
		}
		if nice > 0 {
			t.prio.nice = nice
		}
		switch t.IOClass {
		case IOBestEffort, "":
			t.prio.io = ioprioBestEffort7
		case IOIdle:
			t.prio.io = ioprioIdle
		}
		if !threadPriority && t.prio.nice > 0 {
			// The niceness is the process's own here: nice(1) lowers it.
			if n, err := exec.LookPath("nice"); err == nil {
				t.prefix = append(t.prefix, n, "-n", strconv.Itoa(t.prio.nice))
			} else {
				log.Warn("nice not found: the program runs at Butler's own CPU priority", "program", t.name(), "err", err)
			}
		}
		t.prefix = append(t.prefix, path)
	})
	return t.err
}

// Command returns the command line Run runs for args: the program's path
// and args (under nice(1) where the thread's priority is not inherited).
func (t *Tool) Command(args ...string) ([]string, error) {
	if err := t.setup(); err != nil {
		return nil, err
	}
	return append(append([]string(nil), t.prefix...), args...), nil
}

// ExitError is the error of Run when the program ran and failed.
type ExitError struct {
	// State is how the program ended ("exit status 1").
	State string
	// Problem is its error output summed up in a line (Problem); "" when
	// it said nothing.
	Problem string
}

// Error says how the program ended and why.
func (e *ExitError) Error() string {
	if e.Problem == "" {
		return e.State + ", no message"
	}
	return e.State + ": " + e.Problem
}

// Result is what a program that ran said.
type Result struct {
	// Stderr is the start of its error output (MaxStderr bytes at most).
	Stderr string
}

// Problem sums up the result's error output in a line (Problem).
func (r Result) Problem() string { return Problem(r.Stderr) }

// Run runs the program with args, its standard output written to stdout
// (nil discards it), within limit (0 or less: no limit of its own). When
// ctx is done, or the limit passes, the program is killed with its
// process group. Run returns only once nothing of that group is alive:
// what the program left there when it ended (a wrapper's child) is killed
// too. Errors: ctx's error, wrapped, when
// ctx ended it; one whose cause is ErrTimeout when the limit did; one
// whose cause is ErrKilled when something else killed it; an *ExitError
// when it ran and failed; anything else means it could not be run at all.
func (t *Tool) Run(ctx context.Context, limit time.Duration, stdout io.Writer, args ...string) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	argv, err := t.Command(args...)
	if err != nil {
		return Result{}, err
	}
	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if limit > 0 {
		runCtx, cancel = context.WithTimeoutCause(ctx, limit, ErrTimeout)
	}
	defer cancel()

	stderr := &LimitedBuffer{Max: MaxStderr}
	cmd := exec.CommandContext(runCtx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error {
		// The whole group: a wrapper given as Program may start
		// children.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = time.Second
	err = t.start(cmd, procwatch.From(ctx))

	res := Result{Stderr: stderr.String()}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return res, fmt.Errorf("%s stopped: %w", t.name(), ctxErr)
	}
	if errors.Is(context.Cause(runCtx), ErrTimeout) {
		return res, fmt.Errorf("%s did not finish within %s: %w", t.name(), limit.Round(time.Millisecond), ErrTimeout)
	}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr) && killedFromOutside(exitErr.ProcessState):
		return res, fmt.Errorf("%s %s: %w", t.name(), exitErr.ProcessState, ErrKilled)
	case errors.As(err, &exitErr):
		return res, &ExitError{State: exitErr.ProcessState.String(), Problem: res.Problem()}
	case err != nil:
		return res, fmt.Errorf("run %s: %w", t.name(), err)
	}
	return res, nil
}

// start runs cmd to its end from a thread that has the program's
// priorities (on Linux), and has the parent-death signal follow it.
//
// The parent-death signal follows the thread that started the program, so
// that thread is kept until the program is gone. With priorities to lower,
// it is a thread of its own, on a goroutine that this call waits for: its
// priorities cannot be raised again without privileges, so the goroutine
// ends still locked to it and Go ends the thread with it.
func (t *Tool) start(cmd *exec.Cmd, watch procwatch.Watch) error {
	if !threadPriority || t.prio == (priority{}) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		return run(cmd, watch, t.logger())
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if mainThread() {
			// Go never ends the process's first thread: it must keep its
			// priority. Held here, it cannot be the next goroutine's.
			inner := make(chan error, 1)
			go func() { inner <- t.start(cmd, watch) }()
			err := <-inner
			runtime.UnlockOSThread()
			done <- err
			return
		}
		// Never unlocked: the thread ends with the goroutine.
		if err := lowerThread(t.prio.nice, t.prio.io); err != nil {
			t.warned.Do(func() {
				t.logger().Warn("the program's priority could not be lowered: it runs at Butler's own", "program", t.name(), "err", err)
			})
		}
		done <- run(cmd, watch, t.logger())
	}()
	return <-done
}

// logger returns the Logger, or slog.Default() when there is none.
func (t *Tool) logger() *slog.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return slog.Default()
}

// run runs cmd, which has a process group of its own, to its end: once the
// program is gone, what is left of its group (a wrapper's child, or a
// process that SIGKILL has not ended yet) is killed, and run returns only
// once the group is gone. watch, when not nil, is told of the group once
// it exists, and forgets it only then.
func run(cmd *exec.Cmd, watch procwatch.Watch, log *slog.Logger) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	pgid := cmd.Process.Pid
	if watch != nil {
		defer watch(pgid)()
	}
	err := cmd.Wait()
	if procgroup.End(pgid, time.Now(), 0, log) {
		log.Debug("processes left in the program's group killed", "pgid", pgid, "program", cmd.Path)
	}
	return err
}

// FileError is the error of a media library for a file its tool cannot
// read as media (not media, damaged, cut short, or too slow to read): a
// failure of that file alone, the item's; the run goes on.
type FileError struct {
	// Op says what was being done, to begin the message ("analyse").
	Op string
	// Path is the file.
	Path string
	// Reason says what went wrong, in a line.
	Reason string
	// Err is the cause when there is one to test for (ErrTimeout, or a
	// library's own), otherwise nil.
	Err error
}

// Error says what was being done, to which file, and why.
func (e *FileError) Error() string { return e.Op + " " + e.Path + ": " + e.Reason }

// Unwrap returns the cause, if any.
func (e *FileError) Unwrap() error { return e.Err }

// ErrUnreachable is the cause of an error of Stat when the file's mount
// does not answer (a FUSE mount whose daemon died, a stale NFS handle, a
// network file system's host down): nothing is known of the file itself,
// and every file of that mount fails alike until it is back.
var ErrUnreachable = errors.New("its mount does not answer")

// unreachable are the errors of a stat that say the mount, not the file,
// is at fault.
var unreachable = []error{syscall.ENOTCONN, syscall.ESTALE, syscall.EHOSTDOWN, syscall.EHOSTUNREACH}

// isUnreachable reports whether err, a stat's, says the mount does not
// answer.
func isUnreachable(err error) bool {
	return err != nil && slices.ContainsFunc(unreachable, func(e error) bool { return errors.Is(err, e) })
}

// Stat returns the file at path that a media library's tool is about to
// read, op beginning the message of its errors ("analyse"). A missing
// file is an error that wraps fs.ErrNotExist: it went since the scan. One
// on a mount that does not answer is an error whose cause is
// ErrUnreachable. A file that is there but cannot be stat'ed (permission
// denied, an I/O error, a loop of symbolic links) is a *FileError, as is
// one that is not a regular file: a failure of that file alone, which
// says nothing of the tool, so the run goes on.
func Stat(op, path string) (fs.FileInfo, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s %s: %w", op, path, err)
	case isUnreachable(err):
		return nil, fmt.Errorf("%s %s: %w (%w)", op, path, ErrUnreachable, err)
	case err != nil:
		cause := err
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			cause = pe.Err // the path is the FileError's own
		}
		return nil, &FileError{Op: op, Path: path, Reason: "cannot stat it: " + cause.Error(), Err: err}
	case !fi.Mode().IsRegular():
		return fi, &FileError{Op: op, Path: path, Reason: "not a regular file"}
	}
	return fi, nil
}

// Problem returns the meaningful lines of an FFmpeg program's error
// output, without the "[matroska,webm @ 0x...]" prefixes, joined by "; ",
// at most 300 bytes.
func Problem(stderr string) string {
	var parts []string
	for line := range strings.Lines(stderr) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			if i := strings.Index(line, "] "); i > 0 {
				line = line[i+2:]
			}
		}
		if line == "" || strings.HasPrefix(line, "Truncating packet") {
			continue
		}
		parts = append(parts, line)
	}
	s := strings.Join(parts, "; ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// Damaged reports whether a program's error output (Problem) says the
// file is cut short or its structure damaged, as opposed to a decoder's
// complaints about a packet.
func Damaged(problem string) bool {
	lower := strings.ToLower(problem)
	for _, sign := range []string{"ended prematurely", "partial file", "truncated", "end of file", "invalid data found",
		"error reading header", "moov atom not found", "ebml header parsing failed", "element exceeds containing master element"} {
		if strings.Contains(lower, sign) {
			return true
		}
	}
	return false
}

// LimitedBuffer keeps the first Max bytes written to it and notes the
// rest, so that a runaway program cannot fill the memory.
type LimitedBuffer struct {
	bytes.Buffer
	// Max is how many bytes it keeps.
	Max int
	// Overflow is set once more than Max bytes were written.
	Overflow bool
}

// Write keeps what fits and always succeeds.
func (b *LimitedBuffer) Write(p []byte) (int, error) {
	if room := b.Max - b.Len(); room < len(p) {
		b.Overflow = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// killedFromOutside reports whether the program ended by SIGKILL or
// SIGTERM, which Run sends only when its context or limit ended (checked
// before): a signal a crash sends itself (SIGSEGV, SIGABRT) is the
// program's failing on its input.
func killedFromOutside(ps *os.ProcessState) bool {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && (ws.Signal() == syscall.SIGKILL || ws.Signal() == syscall.SIGTERM)
}
