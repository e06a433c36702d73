// Package groupguard kills the process groups of a server's tasks when the
// server dies without stopping them (kill -9, a crash, the out-of-memory
// killer).
//
// The kernel's parent-death signal reaches only a task's first process;
// what that process started in its group lives on. On a single server the
// next start kills what is left before anything runs, but in a cluster
// another server takes the task over as soon as this one is counted dead,
// and two executions would overlap. So each server starts a guard: a small
// process of its own (the server's binary again, see Main) that holds the
// read end of a pipe whose write end only the server holds. The server
// tells it of each group it starts and of each group once it is gone; when
// the server dies the kernel closes the pipe, and the guard kills every
// group it was not told is gone, at once, and exits.
package groupguard

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
)

// childEnv is set in the guard process's environment.
const childEnv = "BUTLER_GROUP_GUARD"

// Guard is the server's side: the pipe to the guard process. Its methods
// are safe for concurrent use.
type Guard struct {
	mu     sync.Mutex
	w      *os.File // the pipe's write end; nil once stopped or broken
	cmd    *exec.Cmd
	logger *slog.Logger
}

// Start starts the guard process: the program bin with args (a command
// that calls Main). It is put in a process group of its own, so that a
// signal to the server's group (a Ctrl-C) does not end it first. logger
// (nil for none) hears of a guard that went away.
func Start(bin string, args []string, logger *slog.Logger) (*Guard, error) {
	if os.Getenv(childEnv) != "" {
		// bin did not run Main but something that starts a guard again
		// (a test binary given the guard's command): refuse, rather than
		// start guards without end.
		return nil, fmt.Errorf("groupguard: this process was started as a group guard (%s is set) and must not start one", childEnv)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("groupguard: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdin = r
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("groupguard: start %s: %w", bin, err)
	}
	r.Close() // the guard's own copy is the one that matters
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Guard{w: w, cmd: cmd, logger: logger}, nil
}

// Watch tells the guard of process group pgid, which it kills should the
// server die before Forget.
func (g *Guard) Watch(pgid int) { g.send('+', pgid) }

// Forget tells the guard that process group pgid is gone.
func (g *Guard) Forget(pgid int) { g.send('-', pgid) }

func (g *Guard) send(op byte, pgid int) {
	if g == nil || pgid <= 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.w == nil {
		return
	}
	// One write of a few bytes: atomic on a pipe.
	if _, err := g.w.Write([]byte(string(op) + strconv.Itoa(pgid) + "\n")); err != nil {
		g.logger.Warn("groupguard: the guard process is gone: the process groups of tasks are no longer killed should the server die; the next start kills what is left", slog.String("error", err.Error()))
		g.w.Close()
		g.w = nil
	}
}

// Stop closes the pipe and waits for the guard to exit; it kills the
// groups it was not told are gone. Call it once every run has ended.
func (g *Guard) Stop() error {
	g.mu.Lock()
	if g.w != nil {
		g.w.Close()
		g.w = nil
	}
	g.mu.Unlock()
	return g.cmd.Wait()
}

// Main is the guard process: it reads "+PGID" and "-PGID" lines from in
// until it ends (the server closed the pipe or died), then sends SIGKILL
// to every group added and not removed, and returns how many it killed.
// It ignores SIGINT, SIGTERM and SIGHUP: the server's end is what ends it.
func Main(in io.Reader) (int, error) {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	return guard(in)
}

// guard is Main without its signals.
func guard(in io.Reader) (int, error) {
	live := map[int]bool{}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := sc.Text()
		if len(line) < 2 {
			continue
		}
		pgid, err := strconv.Atoi(line[1:])
		if err != nil || pgid <= 0 {
			continue
		}
		switch line[0] {
		case '+':
			live[pgid] = true
		case '-':
			delete(live, pgid)
		}
	}
	killed := 0
	for pgid := range live {
		if syscall.Kill(-pgid, syscall.SIGKILL) == nil {
			killed++
		}
	}
	return killed, sc.Err()
}
