package butler

import (
	"time"

	"github.com/google/uuid"

	"github.com/plexbutler/butler/schedule"
)

// RunState is where a run is in its life.
type RunState string

// The states of a run. At most one run of a task is scheduled, queued,
// running or stopping at any moment.
const (
	StateScheduled RunState = "scheduled" // waits for its instant
	StateQueued    RunState = "queued"    // waits for a free slot
	StateRunning   RunState = "running"
	// StateStopping: the run was told to stop (by a request, its time
	// limit, its window's end or the server's shutdown) and its work has not
	// stopped yet: its action has not returned, or its command's processes
	// are still alive. It ends finished once they are gone.
	StateStopping RunState = "stopping"
	StateFinished RunState = "finished" // has an Outcome
)

// Active reports whether the state is scheduled, queued, running or
// stopping.
func (s RunState) Active() bool { return s != StateFinished && s != "" }

// Working reports whether the run's work may be going on: running or
// stopping.
func (s RunState) Working() bool { return s == StateRunning || s == StateStopping }

// Outcome is how a finished run ended.
type Outcome string

// The outcomes of a run.
const (
	OutcomeSucceeded   Outcome = "succeeded"
	OutcomeFailed      Outcome = "failed"
	OutcomeStopped     Outcome = "stopped"     // by a person or an API call
	OutcomeTimedOut    Outcome = "timed_out"   // past its task's time limit
	OutcomeInterrupted Outcome = "interrupted" // the server stopped or died under it
	OutcomeSkipped     Outcome = "skipped"     // decided not to run; Reason says why
)

// Outcomes lists every outcome, in a stable order.
func Outcomes() []Outcome {
	return []Outcome{OutcomeSucceeded, OutcomeFailed, OutcomeStopped, OutcomeTimedOut, OutcomeInterrupted, OutcomeSkipped}
}

// Trigger is what made a run.
type Trigger string

// The triggers of a run.
const (
	TriggerWindow    Trigger = "window"     // the nightly planner
	TriggerStartAll  Trigger = "start_all"  // POST /butler
	TriggerStartTask Trigger = "start_task" // POST /butler/{task}
	TriggerForce     Trigger = "force"      // POST /butler/{task}?force=1
)

// Queue names. Runs of the window and of start-all wait in the maintenance
// queue, at most ButlerMaxConcurrentTasks at a time on a node; single-task
// starts take a slot of their own in the manual queue.
const (
	QueueMaintenance = "maintenance"
	QueueManual      = "manual"
)

// Run is one execution of one task, from its decision to its outcome.
type Run struct {
	ID int64
	// UUID identifies the run's activity (DELETE /activities/{uuid}).
	UUID    string
	Task    TaskName
	Trigger Trigger
	State   RunState
	Outcome Outcome // set when State is finished
	Reason  string  // why it was skipped, stopped or failed, in words
	Summary string  // the task's one-line result
	Error   string  // the task's error, when it failed
	// Window is the day of the window the run belongs to; a run that belongs
	// to a window and has not started when the window closes is skipped. The
	// zero Day: it belongs to no window.
	Window schedule.Day
	// Day is the butler day the run was decided for.
	Day   schedule.Day
	Queue string
	// Node names the server that ran it.
	Node     string
	JobID    int64
	Progress int // 0..100, or -1 when unknown
	Step     string
	// Process is the process group the run's command started, when it
	// started one; a server that died is recognised by it at the next start
	// and what it left behind is killed.
	Process ProcessGroup

	CreatedAt   time.Time
	ScheduledAt time.Time // when it may start
	StartedAt   time.Time // zero until it runs
	EndedAt     time.Time // zero until it ends
}

// RunFilter selects runs of the history.
type RunFilter struct {
	Task     TaskName  // "" for every task
	Outcome  Outcome   // "" for every outcome
	Since    time.Time // created at or after; zero for no bound
	Before   time.Time // created before; zero for no bound
	BeforeID int64     // only runs with a smaller id (paging); 0 for no bound
	Limit    int       // at most this many, newest first; 0 for 50
}

// NewUUID returns a new UUID of version 7 (RFC 9562): its first 48 bits
// are the time in milliseconds and the rest random, so that the runs'
// uuid index grows at its end, as their ids do, instead of taking each
// new run at a random place (a start-all inserts a thousand at once).
func NewUUID() string { return uuid.Must(uuid.NewV7()).String() }

// ProcessGroup identifies a process group on one boot of one machine: its
// id, the start time of its leader (in clock ticks since boot, as
// /proc/PID/stat gives it) and the kernel's boot id. The zero value is no
// group.
type ProcessGroup struct {
	PGID  int
	Start uint64
	Boot  string
}

// IsZero reports whether p names no group.
func (p ProcessGroup) IsZero() bool { return p.PGID == 0 }
