package butler

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/plexbutler/butler/schedule"
)

// ErrActiveRun is returned by Store.CreateRun when the task already has a
// scheduled, queued or running run; the existing run is returned with it.
var ErrActiveRun = errors.New("butler: the task already has an active run")

// TaskRecord is what the store keeps of a task between runs.
type TaskRecord struct {
	// LastSuccess is the butler day of the last successful run, or the zero
	// Day when it never succeeded, as it was counted when the run ended;
	// LastSuccessAt is when that run ended, and LastSuccessStarted when it
	// started (zero for a success recorded before Butler kept it). The
	// scheduler counts the day with the hours in force (SuccessDay).
	LastSuccess        schedule.Day
	LastSuccessAt      time.Time
	LastSuccessStarted time.Time
	// Suppressed is the day of the window in which the task was stopped; it
	// is not planned again in that window.
	Suppressed schedule.Day
	// ItemPace is the pace of the task's newest run that worked items
	// (Finish.Items), whatever its outcome; zero when none has. The plan
	// estimates the items left from it.
	ItemPace ItemPace
}

// SuccessDay returns the butler day of the task's last success counted with
// window w, the hours in force: the day of the instant that run started
// (scheduling.md), so that after a change of the window's hours the success
// belongs to the day the new hours give it, not to a day of the old ones
// (which could lie ahead of every window to come, and skip a night). A
// success recorded without its start keeps the day counted then.
func (r TaskRecord) SuccessDay(w schedule.Window) schedule.Day {
	if r.LastSuccessStarted.IsZero() || r.LastSuccess.IsZero() {
		return r.LastSuccess
	}
	return w.Day(r.LastSuccessStarted)
}

// ItemPace is how fast a run of an item task did its items, cluster-wide:
// it worked Items items (done or failed, on whichever server; counted as
// the items of the task's backlog they covered: ItemResult.Covered) in
// Wall, from its first item queued to the end of its last worked item,
// less the time its item workers were paused while someone was busy
// (ItemResult.Paused).
type ItemPace struct {
	Items int
	Wall  time.Duration
}

// PerItem returns the wall time per item; zero when nothing was measured.
func (p ItemPace) PerItem() time.Duration {
	if p.Items <= 0 || p.Wall <= 0 {
		return 0
	}
	return p.Wall / time.Duration(p.Items)
}

// Finish says how a run ends, for Store.FinishRun.
type Finish struct {
	Outcome Outcome
	Reason  string
	Summary string
	Error   string
	EndedAt time.Time
	// SuccessDay is recorded as the task's last success when Outcome is
	// succeeded; a zero SuccessDay records none (the run still ends).
	SuccessDay schedule.Day
	// Progress and Step are the run's last progress.
	Progress int
	Step     string
	// Log is the run's log (bounded); "" leaves the stored log as it is.
	Log string
	// Node, when not "", ends the run only if it is recorded as that
	// server's: a server ending the run it started must not end it once
	// another server holds it.
	Node string
	// Items is the run's item work (an item task whose run queued its
	// items): when it worked any (Items.Items > 0), it is recorded as the
	// task's ItemPace, whatever the outcome.
	Items ItemPace
}

// EnqueueFunc inserts the queue jobs of queued runs rs within tx, the
// store's transaction that creates or queues the runs, and returns the jobs'
// ids, in the order of rs (TxQueue.EnqueueTx). One call inserts them all:
// a start-all of a thousand tasks is one statement, not a thousand. The
// runs have their ids; a run being created is inserted after its job, in
// the same transaction, so that its row is written once, with the job's id.
type EnqueueFunc func(ctx context.Context, tx Tx, rs []Run) (jobIDs []int64, err error)

// RunsTxFunc does, within tx, the store's transaction, what goes with a
// change of the runs rs (Store.FinishRuns).
type RunsTxFunc func(ctx context.Context, tx Tx, rs []Run) error

// Tx is a store's transaction as it is given to what writes within it
// (EnqueueFunc, RunsTxFunc).
type Tx struct {
	*sql.Tx
	// Raw, when not nil, calls f with the driver's connection that the
	// transaction runs on (database/sql's Conn.Raw), for a writer that
	// speaks to the database through that driver's own interface, within
	// the transaction: f must not keep the connection, nor begin, commit
	// or roll back. The PostgreSQL store sets it (a *stdlib.Conn of pgx),
	// the SQLite store does not.
	Raw func(f func(driverConn any) error) error
}

// Cluster is implemented by a store that several servers share
// (store/postgres): heartbeats, the planner's lease, and notifications
// between servers.
type Cluster interface {
	// Heartbeat records that node is alive now. Every time of the
	// heartbeats and the lease is the store's own clock (the database
	// server's), never a server's: servers whose clocks disagree still
	// agree on who is silent and who leads. joined reports that node had
	// no record: it is new, or the others had counted it dead (DeadNodes)
	// and ended its runs. deadAfter is how long node must be silent before
	// the others may count it dead: its own commands may take that long to
	// be gone (DeadNodes waits for it). incarnation is the beating
	// process's (Incarnated; 0 when it has none): the record keeps the
	// latest, and a heartbeat of an earlier incarnation than the record's
	// is refused with ErrSuperseded.
	Heartbeat(ctx context.Context, node string, incarnation int64, deadAfter time.Duration) (joined bool, err error)
	// ClaimName writes node's record for its process of incarnation, as a
	// heartbeat does, if the name is free: it has no record, or the record
	// is this process's, or it is an earlier incarnation's whose heartbeat
	// has stood still for silentFor or longer, on the store's clock.
	// Otherwise it writes nothing and returns the record as it stands (a
	// zero record when it went meanwhile). One statement: of two processes
	// claiming a free name at once, one gets it.
	ClaimName(ctx context.Context, node string, incarnation int64, silentFor time.Duration) (claimed bool, rec NodeRecord, err error)
	// Leave removes node from the cluster (a clean stop of its process of
	// incarnation), unless runs are still recorded as running or stopping
	// on it (those the others end when it has been silent past its limit,
	// as for a dead node), or a later incarnation wrote its record.
	Leave(ctx context.Context, node string, incarnation int64) error
	// Nodes returns the nodes in the cluster, with their last heartbeats
	// and incarnations.
	Nodes(ctx context.Context) (map[string]NodeRecord, error)
	// DeadNodes returns, and forgets, the nodes whose last heartbeat is
	// older than silentFor, or than the node's own deadAfter when that is
	// longer.
	DeadNodes(ctx context.Context, silentFor time.Duration) ([]string, error)
	// MaxDeadAfter returns the longest deadAfter that the nodes in the
	// cluster gave with their heartbeats; zero when there is none.
	MaxDeadAfter(ctx context.Context) (time.Duration, error)
	// TryLead takes or renews the planner's lease for node, for lease from
	// now; true when node holds it.
	TryLead(ctx context.Context, node string, lease time.Duration) (bool, error)
	// Resign gives the lease up if node holds it, unless a later
	// incarnation than the resigning process's wrote node's record.
	Resign(ctx context.Context, node string, incarnation int64) error
	// Notify sends payload on channel to every server.
	Notify(ctx context.Context, channel, payload string) error
	// Listen calls fn for every notification on the channels until ctx is
	// done; after a reconnection it calls fn("", "").
	Listen(ctx context.Context, channels []string, fn func(channel, payload string)) error
}

// Store keeps the Butler's own state: settings, runs and task records. Every
// method is safe for concurrent use. Implementations: store/sqlite (and
// store/postgres for clusters).
type Store interface {
	// Settings returns every stored setting value by id.
	Settings(ctx context.Context) (map[string]string, error)
	// SaveSettings stores the values, all or none.
	SaveSettings(ctx context.Context, values map[string]string) error

	// CreateRun inserts r (its ID is set, and its UUID and CreatedAt when
	// empty) unless its task already has an active run; then it returns that
	// run and ErrActiveRun. When r is queued and enqueue is not nil, enqueue
	// inserts the run's queue job in the same transaction and its id is
	// recorded (r.JobID): no reader ever sees the queued run without its job,
	// and a failed enqueue leaves no run.
	CreateRun(ctx context.Context, r *Run, enqueue EnqueueFunc) (Run, error)
	// CreateRuns creates several runs in one transaction, each as CreateRun
	// does: errs[i] is ErrActiveRun (and runs[i] that active run) or nil.
	// Any other failure creates none and is err.
	CreateRuns(ctx context.Context, rs []*Run, enqueue EnqueueFunc) (runs []Run, errs []error, err error)
	// Run returns one run; ENOTFOUND when there is none.
	Run(ctx context.Context, id int64) (Run, error)
	// RunByUUID returns the run whose UUID is id; ENOTFOUND when none.
	RunByUUID(ctx context.Context, uuid string) (Run, error)
	// RunLog returns the log a run kept; ENOTFOUND when there is no run.
	RunLog(ctx context.Context, id int64) (string, error)
	// Runs returns finished and active runs matching f, newest first. With
	// f.Since alone (the plan: the runs since the window opened), its cost
	// grows with the runs created since then, not with the history.
	Runs(ctx context.Context, f RunFilter) ([]Run, error)
	// ActiveRuns returns every scheduled, queued, running or stopping run,
	// oldest first. Every control path calls it: its cost must grow with the
	// active runs only, not with the history.
	ActiveRuns(ctx context.Context) ([]Run, error)
	// QueueRun moves a scheduled run to queued at at and returns it; false
	// when it was not scheduled any more. When enqueue is not nil it inserts
	// the run's job in the same transaction, as CreateRun does.
	QueueRun(ctx context.Context, id int64, at time.Time, enqueue EnqueueFunc) (Run, bool, error)
	// SetRunJob records the queue job that carries the run.
	SetRunJob(ctx context.Context, id, jobID int64) error
	// StartRun moves a queued run to running on node; false when it was not
	// queued any more (it was removed).
	StartRun(ctx context.Context, id int64, node string, at time.Time) (bool, error)
	// UnstartRun moves a run that StartRun moved to running on node at at
	// back to queued, as it was, when its action never began (the server
	// began to shut down, or fenced itself, while the start was being
	// recorded); false when the run is not so any more.
	UnstartRun(ctx context.Context, id int64, node string, at time.Time) (bool, error)
	// MarkStopping moves a running run to stopping and records why it is
	// stopping; false when it was not running (it is stopping or finished
	// already, or never started).
	MarkStopping(ctx context.Context, id int64, reason string) (bool, error)
	// SetRunProcess records the process group a running or stopping run's
	// action started.
	SetRunProcess(ctx context.Context, id int64, p ProcessGroup) error
	// SaveProgress records a running or stopping run's progress.
	SaveProgress(ctx context.Context, id int64, progress int, step string) error
	// FinishRun ends a run that is in one of the states from and returns
	// it as it ended; false when it was in none of them (someone else
	// ended it first). A success also records the task's last success, and
	// a run that worked items (f.Items) the task's ItemPace, in the same
	// transaction.
	FinishRun(ctx context.Context, id int64, from []RunState, f Finish) (Run, bool, error)
	// FinishRuns ends, in one transaction, those of the runs ids that are in
	// one of the states from, as f says (f records no success and no
	// pace), and returns them as they ended; the others are left as they
	// are. inTx, when not nil, is called in the same transaction with the
	// runs it ended (a queue cancels their jobs there: TxQueue.CancelTx);
	// its error undoes it all.
	FinishRuns(ctx context.Context, ids []int64, from []RunState, f Finish, inTx RunsTxFunc) ([]Run, error)

	// TaskRecords returns the record of every task that has one.
	TaskRecords(ctx context.Context) (map[TaskName]TaskRecord, error)
	// Suppress marks the tasks as stopped in the window of day d, all in
	// one statement.
	Suppress(ctx context.Context, tasks []TaskName, d schedule.Day) error
	// TasksRunSince returns the tasks that have a run created at or after t.
	// Its cost grows with the runs created since t (a window's opening).
	TasksRunSince(ctx context.Context, t time.Time) (map[TaskName]bool, error)
	// LastFinishedSince returns each task's newest finished run among the
	// runs created at or after t (the plan: what each task did since the
	// window opened). Its cost grows with the runs created since t, but
	// only one run a task is read whole.
	LastFinishedSince(ctx context.Context, t time.Time) (map[TaskName]Run, error)
	// PruneRuns deletes one batch of the finished runs that ended before t —
	// the ones that ended first, at most a number the store chooses (a
	// thousand for the stores over database/sql), in one short statement so
	// that other calls wait for it little — and returns how many it deleted:
	// 0 when none is left. It never deletes a run that is not finished. The
	// caller calls it until it returns 0.
	PruneRuns(ctx context.Context, before time.Time) (int, error)
}
