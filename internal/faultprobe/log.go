// Package faultprobe checks what Butler really did to the programs it ran,
// for the fault-injection tests in cmd/butler. Its ground truth is the
// processes themselves, never Butler's history: the probe program
// (faultprobe/probe) that the tests bind to exec tasks appends one line per
// event to a log file and holds a flock on a lock file per task for as long
// as any process of its execution is alive; this package reads those logs,
// /proc/locks and /proc, and holds the run history that Butler's API
// reports against them.
//
// The checks (see Check):
//
//   - no two executions of one task are ever alive at once: no probe found
//     the task's lock held (an "overlap" line), and by the start and end
//     lines no execution started while another one's process was alive;
//   - no probe process, leader or grandchild, is alive at the end;
//   - each finished run's outcome matches what its probe saw (succeeded
//     only when it exited 0 after its work; stopped, timed_out, interrupted
//     or failed only when it did not), each run covered at most one
//     execution, and no process of a run's execution logged anything after
//     the run was recorded finished;
//   - whenever the test saw a run finished, the task's lock was free, or
//     held by the execution of a newer run.
//
// Violations are plain sentences meant for a test's output.
package faultprobe

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// Kind is the kind of a probe log line.
type Kind string

// The kinds of probe log lines.
const (
	KindStart   Kind = "start"   // a probe process started
	KindOverlap Kind = "overlap" // a leader found its task's lock held
	KindSignal  Kind = "signal"  // a process received a signal it ignored
	KindEnd     Kind = "end"     // a process ended by itself
)

// Roles of a probe process.
const (
	RoleLeader = "leader" // the program Butler ran
	RoleChild  = "child"  // the grandchild it started in its process group
)

// How a probe process ended, in its end line.
const (
	HowExit0   = "exit0"   // a leader that did its work and exited 0
	HowSIGTERM = "sigterm" // ended by SIGTERM (exit status 143)
	HowQuit    = "quit"    // a grandchild its leader told to quit
	HowTimeout = "timeout" // an orphaned grandchild that reached its duration
)

// Line is one parsed line of a probe log.
type Line struct {
	Source string // "file:line"
	Kind   Kind
	PID    int
	At     time.Time
	PGID   int    // start
	Role   string // start: RoleLeader or RoleChild
	Mode   string // start of a leader: quick, normal or stubborn
	Parent int    // start of a child: its leader's pid
	Holder int    // overlap: the pid holding the lock, 0 when unknown
	How    string // end
	Signal string // signal: its name and what the process did
}

// ReadLog reads a probe log file. A missing file is an empty log (no probe
// ever ran). Lines that do not parse are returned as messages in malformed.
func ReadLog(path string) (lines []Line, malformed []string, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return ParseLog(path, f)
}

// ParseLog parses a probe log; name is used in Source and in messages. A
// last line without its line break is a write still in progress (a probe
// writes each line with one append; a reader may see part of it), and is
// left out.
func ParseLog(name string, r io.Reader) (lines []Line, malformed []string, err error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", name, err)
	}
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			continue
		}
		l, err := parseLine(text)
		if err != nil {
			malformed = append(malformed, fmt.Sprintf("%s:%d: malformed probe log line %q: %v", name, n, text, err))
			continue
		}
		l.Source = fmt.Sprintf("%s:%d", name, n)
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		return lines, malformed, fmt.Errorf("read %s: %w", name, err)
	}
	return lines, malformed, nil
}

func parseLine(text string) (Line, error) {
	f := strings.Fields(text)
	if len(f) < 3 {
		return Line{}, errors.New("too few fields")
	}
	l := Line{Kind: Kind(f[0])}
	var err error
	if l.PID, err = positive(f[1]); err != nil {
		return Line{}, fmt.Errorf("pid: %w", err)
	}
	at := 2
	if l.Kind == KindStart {
		if l.PGID, err = positive(f[2]); err != nil {
			return Line{}, fmt.Errorf("pgid: %w", err)
		}
		at = 3
	}
	if len(f) <= at {
		return Line{}, errors.New("no time")
	}
	nanos, err := strconv.ParseInt(f[at], 10, 64)
	if err != nil || nanos <= 0 {
		return Line{}, fmt.Errorf("time %q is not unix nanoseconds", f[at])
	}
	l.At = time.Unix(0, nanos)
	rest := f[at+1:]
	switch l.Kind {
	case KindStart:
		if len(rest) != 2 {
			return Line{}, errors.New("want start <pid> <pgid> <nanos> leader <mode> or child <parent>")
		}
		l.Role = rest[0]
		switch l.Role {
		case RoleLeader:
			l.Mode = rest[1]
		case RoleChild:
			if l.Parent, err = positive(rest[1]); err != nil {
				return Line{}, fmt.Errorf("parent: %w", err)
			}
		default:
			return Line{}, fmt.Errorf("role %q is neither %s nor %s", l.Role, RoleLeader, RoleChild)
		}
	case KindOverlap:
		if len(rest) != 1 {
			return Line{}, errors.New("want overlap <pid> <nanos> <holder>")
		}
		if l.Holder, err = strconv.Atoi(rest[0]); err != nil || l.Holder < 0 {
			return Line{}, fmt.Errorf("holder %q is not a pid", rest[0])
		}
	case KindSignal:
		if len(rest) == 0 {
			return Line{}, errors.New("want signal <pid> <nanos> <name> <what>")
		}
		l.Signal = strings.Join(rest, " ")
	case KindEnd:
		if len(rest) != 1 {
			return Line{}, errors.New("want end <pid> <nanos> <how>")
		}
		switch rest[0] {
		case HowExit0, HowSIGTERM, HowQuit, HowTimeout:
			l.How = rest[0]
		default:
			return Line{}, fmt.Errorf("unknown end %q", rest[0])
		}
	default:
		return Line{}, fmt.Errorf("unknown kind %q", l.Kind)
	}
	return l, nil
}

func positive(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive number", s)
	}
	return n, nil
}

// Process is one probe process, as its log lines tell it.
type Process struct {
	PID, PGID int
	Role      string
	Mode      string // of a leader
	Parent    int    // of a child
	Start     time.Time
	End       time.Time // zero when it wrote no end line (SIGKILL, or alive)
	How       string    // its end line's how
	Signals   int       // signals it ignored
	Source    string    // where its start line is
}

// Ended reports whether the process wrote its end line.
func (p Process) Ended() bool { return !p.End.IsZero() }

// Execution is one execution of a task: the leader Butler ran and the
// children in its process group.
type Execution struct {
	Task     string
	Leader   Process
	Children []Process
	Overlaps []Line // the leader found the task's lock held
}

// Processes returns the leader, then the children.
func (e *Execution) Processes() []Process {
	return append([]Process{e.Leader}, e.Children...)
}

// LastEnd returns the latest end line among the execution's processes, and
// whether every process wrote one.
func (e *Execution) LastEnd() (last time.Time, all bool) {
	all = true
	for _, p := range e.Processes() {
		if !p.Ended() {
			all = false
			continue
		}
		if p.End.After(last) {
			last = p.End
		}
	}
	return last, all
}

// Executions groups one task's log lines into executions, in the order
// their leaders started. Lines that fit no execution (a child whose leader
// did not log its start, a second end line) come back as problems.
func Executions(task string, lines []Line) (execs []*Execution, problems []string) {
	type ref struct {
		e     *Execution
		child int // -1: the leader
	}
	byPID := map[int]ref{}          // the latest process with that pid
	leaders := map[int]*Execution{} // the latest execution whose leader has that pid
	proc := func(r ref) *Process {
		if r.child < 0 {
			return &r.e.Leader
		}
		return &r.e.Children[r.child]
	}
	for _, l := range lines {
		switch l.Kind {
		case KindStart:
			p := Process{PID: l.PID, PGID: l.PGID, Role: l.Role, Mode: l.Mode, Parent: l.Parent, Start: l.At, Source: l.Source}
			if l.Role == RoleLeader {
				e := &Execution{Task: task, Leader: p}
				execs = append(execs, e)
				leaders[l.PID] = e
				byPID[l.PID] = ref{e, -1}
				continue
			}
			e := leaders[l.PGID]
			if e == nil {
				problems = append(problems, fmt.Sprintf("%s: %s: child pid %d started in process group %d, whose leader never logged its start", l.Source, task, l.PID, l.PGID))
				continue
			}
			e.Children = append(e.Children, p)
			byPID[l.PID] = ref{e, len(e.Children) - 1}
		case KindOverlap:
			r, ok := byPID[l.PID]
			if !ok || r.child >= 0 {
				problems = append(problems, fmt.Sprintf("%s: %s: overlap from pid %d, which is no leader that logged its start", l.Source, task, l.PID))
				continue
			}
			r.e.Overlaps = append(r.e.Overlaps, l)
		case KindSignal, KindEnd:
			r, ok := byPID[l.PID]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: %s: %s line from pid %d, which never logged its start", l.Source, task, l.Kind, l.PID))
				continue
			}
			p := proc(r)
			if l.Kind == KindSignal {
				p.Signals++
				continue
			}
			if p.Ended() {
				problems = append(problems, fmt.Sprintf("%s: %s: pid %d logged a second end (%s after %s)", l.Source, task, l.PID, l.How, p.How))
				continue
			}
			p.End, p.How = l.At, l.How
		}
	}
	return execs, problems
}
