package mediatool_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/plexbutler/butler/internal/mediatool"
	"github.com/plexbutler/butler/internal/procwatch"
)

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tool.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// alive reports whether process pid exists (and is not a zombie we could
// still signal: kill 0 fails once it is reaped or gone).
func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestRunOutputAndFailure(t *testing.T) {
	tool := &mediatool.Tool{Program: script(t, `echo "out $1"; echo "[mov @ 0x1] moov atom not found" >&2; exit ${2:-0}`), Nice: -1, IOClass: mediatool.IONone}
	var out strings.Builder
	res, err := tool.Run(t.Context(), time.Minute, &out, "a")
	if err != nil || out.String() != "out a\n" || res.Problem() != "moov atom not found" {
		t.Fatalf("Run: out %q, problem %q, err %v", out.String(), res.Problem(), err)
	}
	_, err = tool.Run(t.Context(), time.Minute, nil, "a", "3")
	var exit *mediatool.ExitError
	if !errors.As(err, &exit) || exit.State != "exit status 3" || exit.Problem != "moov atom not found" {
		t.Fatalf("failing run: %v, want an *ExitError with status 3 and the problem", err)
	}
	if !mediatool.Damaged(exit.Problem) {
		t.Errorf("Damaged(%q) = false", exit.Problem)
	}
}

// TestRunKilledFromOutside: a program killed by SIGKILL or SIGTERM that
// Run did not send (the kernel's out-of-memory killer, the group guard) is
// ErrKilled, not an *ExitError that would blame its input; one that
// crashes by a signal of its own (SIGSEGV, SIGABRT) is an *ExitError.
func TestRunKilledFromOutside(t *testing.T) {
	for _, tc := range []struct {
		signal string
		killed bool
	}{{"KILL", true}, {"TERM", true}, {"SEGV", false}, {"ABRT", false}} {
		t.Run(tc.signal, func(t *testing.T) {
			tool := &mediatool.Tool{Program: script(t, `kill -`+tc.signal+` $$; sleep 5`), Nice: -1, IOClass: mediatool.IONone}
			_, err := tool.Run(t.Context(), time.Minute, nil)
			var exit *mediatool.ExitError
			switch {
			case tc.killed && (!errors.Is(err, mediatool.ErrKilled) || errors.As(err, &exit)):
				t.Errorf("SIG%s from outside: %v; want ErrKilled, not an *ExitError", tc.signal, err)
			case !tc.killed && (!errors.As(err, &exit) || errors.Is(err, mediatool.ErrKilled)):
				t.Errorf("SIG%s, the program's own crash: %v; want an *ExitError", tc.signal, err)
			}
		})
	}
}

// TestRunKillsGroup: a stopped context and a passed limit each kill the
// program and the child it started, before Run returns.
func TestRunKillsGroup(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit time.Duration
	}{{"context", 0}, {"limit", 300 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pids := filepath.Join(dir, "pids")
			// The program starts a child that would outlive it, records
			// both pids, and waits.
			tool := &mediatool.Tool{Program: script(t, `sleep 600 & echo $$ $! > `+pids+`.tmp; mv `+pids+`.tmp `+pids+`; wait`), Nice: -1, IOClass: mediatool.IONone}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := tool.Run(ctx, tc.limit, nil)
				done <- err
			}()
			var data []byte
			for {
				var err error
				if data, err = os.ReadFile(pids); err == nil {
					break
				}
				select {
				case err := <-done:
					t.Fatalf("Run returned before the program recorded itself: %v", err)
				case <-time.After(5 * time.Millisecond):
				}
			}
			if tc.limit == 0 {
				cancel()
			}
			err := <-done
			switch {
			case tc.limit == 0 && !errors.Is(err, context.Canceled):
				t.Fatalf("Run after cancel: %v, want context.Canceled", err)
			case tc.limit > 0 && !errors.Is(err, mediatool.ErrTimeout):
				t.Fatalf("Run past its limit: %v, want ErrTimeout", err)
			}
			for _, f := range strings.Fields(string(data)) {
				pid, _ := strconv.Atoi(f)
				// The child is reparented and reaped by init; give it a moment
				// to be reaped after SIGKILL (a zombie still answers kill 0).
				deadline := time.Now().Add(5 * time.Second)
				for alive(pid) && !zombie(pid) {
					if time.Now().After(deadline) {
						t.Fatalf("process %d still alive after Run returned", pid)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
}

// zombie reports whether pid is a zombie (killed, not yet reaped).
func zombie(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // gone
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] == 'Z'
}

func TestValidateAndMissing(t *testing.T) {
	for _, tc := range []struct {
		tool *mediatool.Tool
		want string
	}{
		{&mediatool.Tool{}, "no program"},
		{&mediatool.Tool{Program: "ffmpeg", Nice: 20}, "niceness 20"},
		{&mediatool.Tool{Program: "ffmpeg", IOClass: "fast"}, `I/O class "fast"`},
	} {
		if err := tc.tool.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%s, nice %d, io %q) = %v, want %q", tc.tool.Program, tc.tool.Nice, tc.tool.IOClass, err, tc.want)
		}
	}
	tool := &mediatool.Tool{Program: "/nonexistent/ffmpeg"}
	if _, err := tool.Run(t.Context(), 0, nil); err == nil || !strings.Contains(err.Error(), "install FFmpeg") {
		t.Errorf("Run of a missing program: %v, want how to install it", err)
	}
}

// TestStat: a missing file wraps fs.ErrNotExist; a file that cannot be
// stat'ed (a loop of symbolic links: permission denied cannot be made
// for a test run as root) or is not a regular file is a *FileError that
// names it, the stat error its cause.
func TestStat(t *testing.T) {
	dir := t.TempDir()
	file, loop := filepath.Join(dir, "a.mkv"), filepath.Join(dir, "loop.mkv")
	if err := os.WriteFile(file, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	if fi, err := mediatool.Stat("analyse", file); err != nil || fi.Size() != 3 {
		t.Errorf("Stat of a file: %v, %v", fi, err)
	}
	var fe *mediatool.FileError
	_, err := mediatool.Stat("analyse", filepath.Join(dir, "gone.mkv"))
	if !errors.Is(err, fs.ErrNotExist) || errors.As(err, &fe) {
		t.Errorf("Stat of a missing file: %v; want fs.ErrNotExist, not a *FileError", err)
	}
	_, err = mediatool.Stat("analyse", loop)
	if !errors.As(err, &fe) || fe.Path != loop || !errors.Is(err, syscall.ELOOP) || errors.Is(err, fs.ErrNotExist) ||
		err.Error() != "analyse "+loop+": cannot stat it: too many levels of symbolic links" {
		t.Errorf("Stat of a loop of symbolic links: %v; want a *FileError of the file, caused by ELOOP", err)
	}
	if _, err := mediatool.Stat("analyse", dir); !errors.As(err, &fe) || fe.Reason != "not a regular file" {
		t.Errorf("Stat of a folder: %v; want a *FileError", err)
	}
}

func TestLimitedBuffer(t *testing.T) {
	b := &mediatool.LimitedBuffer{Max: 4}
	for _, s := range []string{"ab", "cde", "f"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if b.String() != "abcd" || !b.Overflow {
		t.Fatalf("kept %q, overflow %v; want \"abcd\", true", b.String(), b.Overflow)
	}
}

// TestRunTellsTheGroupWatch: the program's process group is told to the
// context's watch (the server's group guard) as soon as it exists, and
// forgotten once the program is gone, with priorities lowered or not.
func TestRunTellsTheGroupWatch(t *testing.T) {
	for _, tool := range []*mediatool.Tool{
		{Program: script(t, `echo $$`), Nice: -1, IOClass: mediatool.IONone},
		{Program: script(t, `echo $$`)},
	} {
		var mu sync.Mutex
		var watched, forgotten []int
		ctx := procwatch.With(t.Context(), func(pgid int) func() {
			mu.Lock()
			watched = append(watched, pgid)
			mu.Unlock()
			return func() {
				mu.Lock()
				forgotten = append(forgotten, pgid)
				mu.Unlock()
			}
		})
		var out strings.Builder
		if _, err := tool.Run(ctx, time.Minute, &out); err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(out.String()))
		if err != nil {
			t.Fatalf("the program said %q", out.String())
		}
		mu.Lock()
		if len(watched) != 1 || watched[0] != pid || len(forgotten) != 1 || forgotten[0] != pid {
			t.Errorf("watched %v, forgotten %v; want the program's group %d, once each", watched, forgotten, pid)
		}
		mu.Unlock()
	}
}

// TestRunEndsWhatTheProgramLeft: a program (a wrapper) that leaves a child
// in its process group, whether it ends by itself or is stopped, does not
// leave it running: Run returns, and the group watch forgets the group,
// only once the child is gone. On the stop the child holds 256 MiB, which
// its SIGKILL takes a while to free.
func TestRunEndsWhatTheProgramLeft(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		stop       bool
	}{
		{"exit", `sleep 30 >/dev/null 2>&1 & echo $! > "$1"`, false},
		{"stop", `(trap '' TERM; exec perl -e '$| = 1; $x = "a" x (256*1024*1024); print "ready\n"; sleep 100') > "$1.ready" 2>&1 & echo $! > "$1"; wait`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			tool := &mediatool.Tool{Program: script(t, tc.body), Nice: -1, IOClass: mediatool.IONone}
			child := func() int {
				b, err := os.ReadFile(pidFile)
				if err != nil {
					return 0
				}
				pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
				return pid
			}
			running := func(pid int) bool { return pid > 0 && alive(pid) && !zombie(pid) }
			t.Cleanup(func() {
				if pid := child(); running(pid) {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			var forgotRunning atomic.Bool
			ctx, cancel := context.WithCancel(procwatch.With(t.Context(), func(int) func() {
				return func() { forgotRunning.Store(running(child())) }
			}))
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := tool.Run(ctx, time.Minute, nil, pidFile)
				done <- err
			}()
			if tc.stop {
				for {
					if b, _ := os.ReadFile(pidFile + ".ready"); string(b) == "ready\n" {
						break
					}
					select {
					case err := <-done:
						t.Fatalf("Run returned before the child was ready: %v", err)
					case <-time.After(5 * time.Millisecond):
					}
				}
				cancel()
			}
			err := <-done
			switch {
			case tc.stop && !errors.Is(err, context.Canceled):
				t.Fatalf("Run after the stop: %v, want context.Canceled", err)
			case !tc.stop && err != nil:
				t.Fatalf("Run: %v", err)
			}
			pid := child()
			if pid == 0 {
				t.Fatal("the program did not record its child")
			}
			if running(pid) {
				t.Errorf("Run returned while the program's child %d was still running", pid)
			}
			if forgotRunning.Load() {
				t.Errorf("the group watch was told to forget the group while the child %d was still running", pid)
			}
		})
	}
}
