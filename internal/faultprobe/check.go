package faultprobe

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/plexbutler/butler/apitype"
)

// Task names a task bound to the probe, with its log and lock files.
type Task struct {
	Name string
	Log  string
	Lock string
}

// Run is what Butler's history says about one run.
type Run struct {
	ID        int64
	Task      string
	State     string // scheduled, queued, running, stopping, finished
	Outcome   string
	Reason    string
	StartedAt time.Time // zero: it never started
	EndedAt   time.Time
}

// RunFromAPI converts a run of GET /butler/runs. Times that do not parse
// are left zero.
func RunFromAPI(r apitype.Run) Run {
	return Run{
		ID: r.ID, Task: r.Task, State: r.State, Outcome: r.Outcome, Reason: r.Reason,
		StartedAt: parseTime(r.StartedAt), EndedAt: parseTime(r.EndedAt),
	}
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// Observation is what a test saw at one moment: run RunID of Task was
// recorded finished, and right after that (At) the task's lock was held
// (by Holder, 0 when unknown) or not.
type Observation struct {
	Task   string
	RunID  int64
	At     time.Time
	Held   bool
	Holder int
	What   string // what the test was doing, for messages ("after DELETE")
}

// Evidence is everything Check judges.
type Evidence struct {
	// Lines holds each task's probe log lines; every task listed is
	// checked, even with no lines.
	Lines map[string][]Line
	// Malformed lists log lines that did not parse.
	Malformed []string
	// Runs is the run history at the end: every run of the tasks in Lines
	// (runs of other tasks are ignored).
	Runs []Run
	// Observations are the moments the test saw a run finished.
	Observations []Observation
	// Live lists the probe processes alive at the end.
	Live []Proc
}

// Collect reads the tasks' logs and lists the live probe processes (see
// LiveProbes); the caller adds Runs and Observations.
func Collect(tasks []Task, binary, marker string) (Evidence, error) {
	ev := Evidence{Lines: map[string][]Line{}}
	for _, t := range tasks {
		lines, bad, err := ReadLog(t.Log)
		if err != nil {
			return ev, err
		}
		ev.Lines[t.Name] = lines
		ev.Malformed = append(ev.Malformed, bad...)
	}
	live, err := LiveProbes(binary, marker)
	if err != nil {
		return ev, err
	}
	ev.Live = live
	return ev, nil
}

// Report is Check's verdict.
type Report struct {
	// Executions counts each task's executions (leaders that started).
	Executions map[string]int
	// Violations holds one sentence per violation, in a stable order.
	Violations []string
}

// Total returns the number of executions of every task.
func (r Report) Total() int {
	n := 0
	for _, v := range r.Executions {
		n += v
	}
	return n
}

// Outcomes a run can end with when its program did not finish its work.
var notDone = map[string]bool{"stopped": true, "timed_out": true, "interrupted": true, "failed": true}

// Check judges the evidence; see the package documentation for the rules.
func Check(ev Evidence) Report {
	rep := Report{Executions: map[string]int{}}
	add := func(format string, args ...any) {
		rep.Violations = append(rep.Violations, fmt.Sprintf(format, args...))
	}
	rep.Violations = append(rep.Violations, ev.Malformed...)

	tasks := make([]string, 0, len(ev.Lines))
	for t := range ev.Lines {
		tasks = append(tasks, t)
	}
	slices.Sort(tasks)
	byPID := pidIndex{} // leader and child pids -> their executions
	owners := map[*Execution]*Run{}
	for _, task := range tasks {
		execs, problems := Executions(task, ev.Lines[task])
		rep.Violations = append(rep.Violations, problems...)
		rep.Executions[task] = len(execs)
		runs := startedRuns(ev.Runs, task)
		for _, e := range execs {
			for _, p := range e.Processes() {
				byPID.add(p, e)
			}
			owners[e] = ownerOf(runs, e.Leader.Start)
		}
		checkOverlaps(task, execs, add)
		checkRuns(task, ev.Runs, execs, owners, add)
	}
	checkObservations(ev, byPID, owners, add)
	for _, p := range ev.Live {
		what := "a probe process not in any log"
		if e := byPID.latest(p.PID); e != nil {
			role := "leader"
			if p.PID != e.Leader.PID {
				role = "child of leader " + fmt.Sprint(e.Leader.PID)
			}
			what = fmt.Sprintf("%s of %s, started %s", role, e.Task, clock(e.Leader.Start))
			if r := owners[e]; r != nil {
				what += fmt.Sprintf(", run %d recorded %s", r.ID, stateOf(*r))
			}
		}
		add("probe pid %d (pgid %d; %s) is still alive at the end: a process left behind", p.PID, p.PGID, what)
	}
	return rep
}

// checkOverlaps: no overlap lines; no execution started while a process of
// an earlier one was alive (it logged its end later). An execution that
// logged an overlap is not reported twice.
func checkOverlaps(task string, execs []*Execution, add func(string, ...any)) {
	for _, e := range execs {
		for _, o := range e.Overlaps {
			holder := "a holder /proc/locks did not name"
			if o.Holder != 0 {
				holder = fmt.Sprintf("pid %d", o.Holder)
			}
			add("%s: OVERLAP: probe pid %d found the task's lock held by %s at %s (%s): another execution of the task was alive", task, o.PID, holder, clock(o.At), o.Source)
		}
	}
	for j, b := range execs {
		if len(b.Overlaps) > 0 {
			continue
		}
		for _, a := range execs[:j] {
			for _, p := range a.Processes() {
				if p.Ended() && p.End.After(b.Leader.Start) {
					add("%s: two executions alive at once: pid %d started at %s while pid %d (%s of the execution led by %d, started %s) was alive until %s",
						task, b.Leader.PID, clock(b.Leader.Start), p.PID, p.Role, a.Leader.PID, clock(a.Leader.Start), clock(p.End))
					break
				}
			}
		}
	}
}

// checkRuns holds each run of the task against the executions it covered.
func checkRuns(task string, all []Run, execs []*Execution, owners map[*Execution]*Run, add func(string, ...any)) {
	covered := map[int64][]*Execution{}
	for _, e := range execs {
		r := owners[e]
		if r == nil {
			add("%s: probe pid %d started at %s, but no run of the task had started by then: an execution Butler did not record", task, e.Leader.PID, clock(e.Leader.Start))
			continue
		}
		covered[r.ID] = append(covered[r.ID], e)
	}
	for _, r := range all {
		if r.Task != task {
			continue
		}
		es := covered[r.ID]
		if r.State != "finished" {
			add("%s: run %d is %s when checked; by then every run must be finished", task, r.ID, stateOf(r))
			continue
		}
		if len(es) > 1 {
			pids := make([]string, len(es))
			for i, e := range es {
				pids[i] = fmt.Sprint(e.Leader.PID)
			}
			add("%s: run %d covered %d probe executions (pids %s); a run runs its program once", task, r.ID, len(es), strings.Join(pids, ", "))
		}
		switch {
		case r.Outcome == "succeeded" && len(es) == 0:
			add("%s: run %d recorded succeeded, but no probe execution ran for it", task, r.ID)
		case r.Outcome == "succeeded":
			for _, e := range es {
				if e.Leader.How != HowExit0 {
					add("%s: run %d recorded succeeded, but its probe pid %d %s", task, r.ID, e.Leader.PID, howEnded(e.Leader))
				}
			}
		case notDone[r.Outcome]:
			for _, e := range es {
				if e.Leader.How == HowExit0 {
					add("%s: run %d recorded %s (%q), but its probe pid %d finished its work and exited 0 at %s",
						task, r.ID, r.Outcome, r.Reason, e.Leader.PID, clock(e.Leader.End))
				}
			}
		case r.Outcome == "skipped" && len(es) > 0:
			add("%s: run %d recorded skipped, but probe pid %d ran for it", task, r.ID, es[0].Leader.PID)
		}
		var late []string
		for _, e := range es {
			for _, p := range e.Processes() {
				if p.Ended() && !r.EndedAt.IsZero() && p.End.After(r.EndedAt) {
					late = append(late, fmt.Sprintf("pid %d (%s) logged its end (%s) %v later, at %s",
						p.PID, p.Role, p.How, p.End.Sub(r.EndedAt).Round(100*time.Microsecond), clock(p.End)))
				}
			}
		}
		if len(late) > 0 {
			add("%s: run %d was recorded finished (%s) at %s while its probe was still alive: %s",
				task, r.ID, r.Outcome, clock(r.EndedAt), strings.Join(late, "; "))
		}
	}
}

// checkObservations: whenever the test saw a run finished, the task's lock
// was free, or held by the execution of a newer run. The same run seen with the same holder more than once is reported once.
func checkObservations(ev Evidence, byPID pidIndex, owners map[*Execution]*Run, add func(string, ...any)) {
	type key struct {
		task   string
		run    int64
		holder int
	}
	seen := map[key]bool{}
	for _, o := range ev.Observations {
		if !o.Held || seen[key{o.Task, o.RunID, o.Holder}] {
			continue
		}
		seen[key{o.Task, o.RunID, o.Holder}] = true
		what := ""
		if o.What != "" {
			what = " (" + o.What + ")"
		}
		if o.Holder != 0 {
			if e := byPID.at(o.Holder, o.At); e != nil {
				if r := owners[e]; r != nil && r.ID > o.RunID {
					continue // a newer run's probe holds it
				}
				owner := "no recorded run"
				if r := owners[e]; r != nil {
					owner = fmt.Sprintf("run %d", r.ID)
				}
				add("%s: run %d was seen finished at %s%s while its task's lock was still held by probe pid %d (of %s): the run was recorded finished before its process group was gone",
					o.Task, o.RunID, clock(o.At), what, o.Holder, owner)
				continue
			}
		}
		// Holder unknown: excused only when a newer run had started.
		newer := false
		for _, r := range ev.Runs {
			if r.Task == o.Task && r.ID > o.RunID && !r.StartedAt.IsZero() && !r.StartedAt.After(o.At) {
				newer = true
				break
			}
		}
		if !newer {
			add("%s: run %d was seen finished at %s%s while its task's lock was still held (holder pid %d) and no newer run had started: the run was recorded finished before its process group was gone",
				o.Task, o.RunID, clock(o.At), what, o.Holder)
		}
	}
}

// pidIndex finds the execution a process id belonged to at a given moment:
// in a long round the ids come round again (Linux's pid_max may be as low
// as 32768), so the same id may name processes of several executions.
type pidIndex map[int][]pidUse

type pidUse struct {
	start time.Time
	exec  *Execution
}

func (x pidIndex) add(p Process, e *Execution) {
	x[p.PID] = append(x[p.PID], pidUse{p.Start, e})
}

// at returns the execution whose process had pid at t: the one of the
// latest start not after t (an id is not given to a new process while its
// holder lives), or nil.
func (x pidIndex) at(pid int, t time.Time) *Execution {
	var best *pidUse
	for i, u := range x[pid] {
		if !u.start.After(t) && (best == nil || u.start.After(best.start)) {
			best = &x[pid][i]
		}
	}
	if best == nil {
		return nil
	}
	return best.exec
}

// latest returns the execution of the latest process with pid, or nil.
func (x pidIndex) latest(pid int) *Execution {
	return x.at(pid, time.Unix(1<<62, 0))
}

// startedRuns returns the task's runs that started, by start time.
func startedRuns(all []Run, task string) []*Run {
	var out []*Run
	for i := range all {
		if all[i].Task == task && !all[i].StartedAt.IsZero() {
			out = append(out, &all[i])
		}
	}
	slices.SortStableFunc(out, func(a, b *Run) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// ownerOf returns the run an execution that started at t belongs to: the
// last one started at or before t (Butler marks a run started before it
// runs the program).
func ownerOf(runs []*Run, t time.Time) *Run {
	var owner *Run
	for _, r := range runs {
		if r.StartedAt.After(t) {
			break
		}
		owner = r
	}
	return owner
}

// stateOf describes a run's state: "running", or "finished/stopped".
func stateOf(r Run) string {
	if r.Outcome == "" {
		return r.State
	}
	return r.State + "/" + r.Outcome
}

func howEnded(p Process) string {
	if !p.Ended() {
		return "wrote no end line (killed by SIGKILL, or still alive)"
	}
	return fmt.Sprintf("ended %s at %s", p.How, clock(p.End))
}

// clock formats an instant for messages: local time to the microsecond.
func clock(t time.Time) string { return t.Format("15:04:05.000000") }
