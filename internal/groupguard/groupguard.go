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
//
// A server that is alive but frozen (SIGSTOP, a debugger, a swap storm)
// closes no pipe, yet the others count it dead after a while and take its
// tasks over. So in a cluster the server also renews a lease with the
// guard after each heartbeat it wrote (Renew): when the lease runs out
// before it is renewed, the guard kills every group it watches, and any
// group it is told of until the next renewal, and goes on guarding. The
// lease's end is an instant on the machine's boot clock (CLOCK_BOOTTIME),
// which both processes read and which counts a suspended machine's sleep:
// a renewal written late (the server was stopped right before it wrote)
// or read late cannot extend it.
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
	"time"

	"golang.org/x/sys/unix"
)

// childEnv is set in the guard process's environment.
const childEnv = "BUTLER_GROUP_GUARD"

// leaseCheck is how often the guard looks at its lease's end.
const leaseCheck = 100 * time.Millisecond

// Guard is the server's side: the pipe to the guard process. Its methods
// are safe for concurrent use.
type Guard struct {
	mu     sync.Mutex
	w      *os.File // the pipe's write end; nil once stopped or broken
	cmd    *exec.Cmd
	logger *slog.Logger
	clock  func() time.Duration // the boot clock; bootClock but in tests
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
	return &Guard{w: w, cmd: cmd, logger: logger, clock: bootClock}, nil
}

// Watch tells the guard of process group pgid, which it kills should the
// server die before Forget.
func (g *Guard) Watch(pgid int) { g.send('+', pgid) }

// Forget tells the guard that process group pgid is gone.
func (g *Guard) Forget(pgid int) { g.send('-', pgid) }

// Renew renews the lease: unless it is renewed again within d, the guard
// kills every group it watches (and those it is told of until the next
// renewal). A d of zero or less lets the lease run out at once. Until the
// first Renew there is no lease: a single server, which no other server
// takes over from, never calls it.
func (g *Guard) Renew(d time.Duration) {
	if g == nil {
		return
	}
	g.send('~', int((g.clock() + max(d, 0)).Milliseconds()))
}

// bootClock reads CLOCK_BOOTTIME: the time since the machine booted, its
// sleep included, the same in every process.
func bootClock() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		panic("groupguard: CLOCK_BOOTTIME: " + err.Error()) // Linux has had it since 2.6.39
	}
	return time.Duration(ts.Nano())
}

func (g *Guard) send(op byte, n int) {
	if g == nil || n < 0 || (n == 0 && op != '~') {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.w == nil {
		return
	}
	// One write of a few bytes: atomic on a pipe.
	if _, err := g.w.Write([]byte(string(op) + strconv.Itoa(n) + "\n")); err != nil {
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

// Main is the guard process: it reads "+PGID" (watch), "-PGID" (forget)
// and "~MS" (renew the lease until MS milliseconds on the boot clock)
// lines from in until it
// ends (the server closed the pipe or died), then sends SIGKILL to every
// group watched and not forgotten, and returns how many it killed. When a
// lease runs out it kills the groups watched then, and says so on w. It
// ignores SIGINT, SIGTERM and SIGHUP: the server's end is what ends it.
func Main(in io.Reader, w io.Writer) (int, error) {
	// SIGPIPE too: a log reader gone would otherwise end the guard at
	// its first message.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	return guard(in, bootClock, killGroup, func(n int) {
		fmt.Fprintf(w, "butler: the server did not renew its lease (it is frozen, or cannot reach the database): SIGKILL to %d process groups of its tasks, which the other servers may take over\n", n)
	})
}

// killGroup sends SIGKILL to process group pgid.
func killGroup(pgid int) error { return syscall.Kill(-pgid, syscall.SIGKILL) }

// guard is Main without its signals: clock is the boot clock, kill ends a
// group, lapsed hears of the groups killed when a lease ran out.
func guard(in io.Reader, clock func() time.Duration, kill func(pgid int) error, lapsed func(killed int)) (int, error) {
	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() { // ends with in; guard waits for it
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			lines <- sc.Text()
		}
		readErr <- sc.Err()
		close(lines)
	}()
	live := map[int]bool{}
	killAll := func() int {
		n := 0
		for pgid := range live {
			if kill(pgid) == nil {
				n++
			}
		}
		clear(live)
		return n
	}
	var (
		leased   bool          // a lease was given
		deadline time.Duration // when it runs out, on clock
		out      bool          // it ran out and was not renewed since
	)
	// The lease's end is checked every leaseCheck, on the boot clock (a
	// timer would not count a suspended machine's sleep), once there is a
	// lease: a single server's guard never wakes but for its pipe.
	var tick <-chan time.Time
	check := func() {
		if leased && !out && clock() >= deadline {
			out = true
			if n := killAll(); n > 0 {
				lapsed(n)
			}
		}
	}
	for {
		select {
		case <-tick:
			check()
		case line, ok := <-lines:
			// A lease that ran out while this line waited cannot be
			// renewed by it.
			check()
			if !ok {
				return killAll(), <-readErr
			}
			if len(line) < 2 {
				continue
			}
			n, err := strconv.Atoi(line[1:])
			if err != nil || n < 0 {
				continue
			}
			switch line[0] {
			case '+':
				if n == 0 {
					continue
				}
				if out {
					// Started while the lease is out: the others may
					// have taken its task over.
					if kill(n) == nil {
						lapsed(1)
					}
					continue
				}
				live[n] = true
			case '-':
				delete(live, n)
			case '~':
				if tick == nil {
					t := time.NewTicker(leaseCheck)
					defer t.Stop()
					tick = t.C
				}
				leased, deadline, out = true, time.Duration(n)*time.Millisecond, false
				check() // a renewal that ends in the past
			}
		}
	}
}
