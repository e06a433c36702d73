// Command probe is the program that Butler's fault-injection tests bind to
// exec tasks. It records, in a log file that the tests read afterwards, what
// really happened to each execution of a task: when its processes started,
// whether another execution of the same task was still alive, how each one
// ended. It is the ground truth the tests hold Butler's run history against
// (package faultprobe reads and checks the log).
//
// Usage:
//
//	probe -log FILE -lock FILE -dur DURATION -mode quick|stubborn|normal
//
// Modes:
//
//   - quick works for -dur and exits 0; on SIGTERM it exits 143.
//   - normal is the same (the name says what the test means to do with it:
//     stop it with SIGTERM).
//   - stubborn ignores SIGTERM: it works for -dur, then exits 0, unless
//     SIGKILL ends it first.
//
// On start the probe takes flock(LOCK_EX|LOCK_NB) on the lock file. The
// kernel drops a flock when the last holder of its open file description
// dies, even by SIGKILL, so a lock that is held proves that another
// execution of the same task is alive: the probe logs "overlap" and then
// waits for the lock in the background, working as usual.
//
// The probe starts one grandchild, in its process group (itself again in
// the internal mode "sleeper"), which shares the lock's open file
// description: the lock is free only when the whole execution, leader and
// grandchild, is gone. The sleeper treats SIGTERM as the leader does. When
// the leader ends by itself it tells the sleeper to quit and waits for it;
// when the leader dies (SIGKILL) the sleeper is orphaned and works on for
// twice the leader's -dur and 10 s more, so that a process group left behind
// shows.
//
// Log lines, each appended (O_APPEND) in one write:
//
//	start <pid> <pgid> <unix-nanos> leader <mode>
//	start <pid> <pgid> <unix-nanos> child <parent-pid>
//	overlap <pid> <unix-nanos> <holder-pid or 0>
//	signal <pid> <unix-nanos> SIGTERM ignored
//	end <pid> <unix-nanos> <how>
//
// how is exit0 (work done, exit status 0), sigterm (ended by SIGTERM, exit
// status 143), quit (a sleeper told to quit by its leader) or timeout (an
// orphaned sleeper that reached its -dur). A process killed by SIGKILL
// writes no end line.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/plexbutler/butler/internal/faultprobe"
)

// exitSIGTERM is the exit status after SIGTERM, as a shell reports it.
const exitSIGTERM = 128 + int(syscall.SIGTERM)

// sleeperReady is how long the leader waits for its sleeper to say it is
// up before it works on without it.
const sleeperReady = 5 * time.Second

// sleeperExtra is how much longer than twice its leader's duration a
// sleeper works.
const sleeperExtra = 10 * time.Second

type options struct {
	log, lock string
	dur       time.Duration
	mode      string
	ignore    bool // sleeper: ignore SIGTERM
}

func main() {
	// Catch SIGTERM before anything else: until then it would kill the
	// process without a log line.
	term := make(chan os.Signal, 4)
	signal.Notify(term, syscall.SIGTERM)

	var o options
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.StringVar(&o.log, "log", "", "event log `file` (appended)")
	fs.StringVar(&o.lock, "lock", "", "the task's lock `file`")
	fs.DurationVar(&o.dur, "dur", time.Second, "how long to work")
	fs.StringVar(&o.mode, "mode", "quick", "quick, stubborn or normal")
	fs.BoolVar(&o.ignore, "ignore-term", false, "sleeper: ignore SIGTERM")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if o.log == "" || (o.lock == "" && o.mode != "sleeper") || o.dur <= 0 {
		fmt.Fprintln(os.Stderr, "probe: -log, -lock and a positive -dur are required")
		os.Exit(2)
	}
	logf, err := os.OpenFile(o.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(2)
	}
	l := &eventLog{f: logf, pid: os.Getpid()}
	switch o.mode {
	case "quick", "normal", "stubborn":
		os.Exit(leader(o, l, term))
	case "sleeper":
		os.Exit(sleeper(o, l, term))
	default:
		fmt.Fprintf(os.Stderr, "probe: unknown mode %q\n", o.mode)
		os.Exit(2)
	}
}

// eventLog appends one line per event, each in a single write.
type eventLog struct {
	f   *os.File
	pid int
}

func (l *eventLog) write(kind string, fields ...string) {
	line := kind + " " + strconv.Itoa(l.pid) + " " + strings.Join(fields, " ") + "\n"
	if _, err := l.f.Write([]byte(line)); err != nil {
		fmt.Fprintln(os.Stderr, "probe: write log:", err)
	}
}

func now() string { return strconv.FormatInt(time.Now().UnixNano(), 10) }

// leader is the program Butler runs. It returns the exit status.
func leader(o options, l *eventLog, term <-chan os.Signal) int {
	pgid, _ := syscall.Getpgid(0)
	// Start first, with the time the process was surely alive.
	l.write("start", strconv.Itoa(pgid), now(), "leader", o.mode)
	fmt.Printf("probe %s: pid %d, pgid %d\n", o.mode, l.pid, pgid)

	lock, err := os.OpenFile(o.lock, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe: open lock:", err)
		return 2
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			fmt.Fprintln(os.Stderr, "probe: flock:", err)
			return 2
		}
		// Another execution of this task is alive. Say so, then take the
		// lock when it is free, so that this execution is seen in its turn.
		l.write("overlap", now(), strconv.Itoa(lockHolder(lock)))
		go func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX) }()
	}

	child, quit := startSleeper(o, lock)

	work := time.NewTimer(o.dur)
	defer work.Stop()
	for {
		select {
		case <-work.C:
			stopSleeper(child, quit)
			l.write("end", now(), "exit0")
			return 0
		case <-term:
			if o.mode == "stubborn" {
				l.write("signal", now(), "SIGTERM", "ignored")
				continue
			}
			stopSleeper(child, quit)
			l.write("end", now(), "sigterm")
			return exitSIGTERM
		}
	}
}

// startSleeper starts the grandchild in the leader's process group, with
// the lock's file description as its fd 3 and a pipe as its standard input,
// and waits until it has logged its start. It returns nil when the sleeper
// could not be started (the leader works on alone, and says so on stderr).
func startSleeper(o options, lock *os.File) (*exec.Cmd, *os.File) {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe: no sleeper:", err)
		return nil, nil
	}
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe: no sleeper:", err)
		return nil, nil
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		stdinR.Close()
		stdinW.Close()
		fmt.Fprintln(os.Stderr, "probe: no sleeper:", err)
		return nil, nil
	}
	// Told to quit when the leader ends by itself, the sleeper outlives
	// it; orphaned, it works on well past the leader's time.
	args := []string{os.Args[0], "-mode", "sleeper", "-log", o.log, "-dur", (2*o.dur + sleeperExtra).String()}
	if o.mode == "stubborn" {
		args = append(args, "-ignore-term")
	}
	cmd := &exec.Cmd{
		Path:       self,
		Args:       args,
		Stdin:      stdinR,
		Stdout:     readyW,
		ExtraFiles: []*os.File{lock}, // fd 3: the same open file description
	}
	err = cmd.Start()
	stdinR.Close()
	readyW.Close()
	if err != nil {
		stdinW.Close()
		readyR.Close()
		fmt.Fprintln(os.Stderr, "probe: no sleeper:", err)
		return nil, nil
	}
	// The sleeper writes one line once its start is logged and SIGTERM is
	// caught; after that its standard output goes nowhere.
	ready := make(chan struct{})
	go func() {
		defer close(ready)
		_, _ = bufio.NewReader(readyR).ReadString('\n')
	}()
	select {
	case <-ready:
	case <-time.After(sleeperReady):
		fmt.Fprintln(os.Stderr, "probe: the sleeper did not say it was up")
	}
	readyR.Close()
	return cmd, stdinW
}

// stopSleeper tells the sleeper to quit and waits for it.
func stopSleeper(cmd *exec.Cmd, quit *os.File) {
	if cmd == nil {
		return
	}
	_, _ = quit.Write([]byte("q"))
	quit.Close()
	_ = cmd.Wait()
}

// sleeper is the grandchild: it waits, holding the lock's file description
// (fd 3, never closed), until its leader tells it to quit, SIGTERM (unless
// it ignores it), or -dur.
func sleeper(o options, l *eventLog, term <-chan os.Signal) int {
	pgid, _ := syscall.Getpgid(0)
	l.write("start", strconv.Itoa(pgid), now(), "child", strconv.Itoa(os.Getppid()))
	fmt.Println("up")
	os.Stdout.Close()

	quit := make(chan bool, 1) // true: told to quit; false: the leader is gone
	go func() {
		var b [1]byte
		n, _ := os.Stdin.Read(b[:])
		if n == 1 && b[0] == 'q' {
			quit <- true
			return
		}
		quit <- false
	}()
	work := time.NewTimer(o.dur)
	defer work.Stop()
	for {
		select {
		case told := <-quit:
			if told {
				l.write("end", now(), "quit")
				return 0
			}
			// Orphaned: work on until -dur, as a process left behind would.
		case <-work.C:
			l.write("end", now(), "timeout")
			return 0
		case <-term:
			if o.ignore {
				l.write("signal", now(), "SIGTERM", "ignored")
				continue
			}
			l.write("end", now(), "sigterm")
			return exitSIGTERM
		}
	}
}

// lockHolder returns the pid that holds the flock on f according to
// /proc/locks, or 0 when it cannot tell.
func lockHolder(f *os.File) int {
	pid, _, _ := faultprobe.ProcLockHolder(f.Name())
	return pid
}
