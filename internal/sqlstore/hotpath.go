package sqlstore

import (
	"fmt"
	"strings"
	"time"

	"github.com/plexbutler/butler"
)

// The statements that the Manager's control paths run (StartTask, StopTask,
// StartAll, StopAll, Statuses, Plan, RunCounts, Activities, the planner's
// tick, Execute) and the history pruning. Each must cost O(active runs) or
// O(log N) in the number N of runs kept: it reads butler_run through its
// primary key, one of its indexes on a bounded range, or an index of the
// active runs only — never the whole table. hotQueries lists them; the
// stores' tests EXPLAIN every one on a large history and fail on a full
// scan of butler_run.
//
// A statement that a control path runs must be declared here and added to
// hotQueries. (internal/sqlstore's tests run the conformance suite and fail
// when the store runs a statement on butler_run that is not listed, other
// than the history pages of Runs, whose filters HistoryQueries lists.)
const (
	// CreateRun's insert; CreateRuns inserts up to insertBatch runs in one
	// statement (insertRunsSQL).
	sqlInsertRun = insertRunsHead + runValues + insertRunsTail
	sqlSetRunJob = `UPDATE butler_run SET job_id = ? WHERE id = ?`
	sqlRun       = `SELECT ` + runColumns + ` FROM butler_run WHERE id = ?`
	sqlRunByUUID = `SELECT ` + runColumns + ` FROM butler_run WHERE uuid = ?`
	sqlRunLog    = `SELECT log FROM butler_run WHERE id = ?`
	// The active runs in id order: through butler_run_active_id, an index
	// of the active runs only, in id order (migration 005 on SQLite, 004 on
	// PostgreSQL). Without it SQLite reads the whole table in id order to
	// spare itself a sort.
	sqlActiveRuns    = `SELECT ` + runColumns + ` FROM butler_run WHERE state <> 'finished' ORDER BY id`
	sqlQueueRun      = `UPDATE butler_run SET state = 'queued', scheduled_at = ? WHERE id = ? AND state = 'scheduled'`
	sqlStartRun      = `UPDATE butler_run SET state = 'running', node = ?, started_at = ? WHERE id = ? AND state = 'queued'`
	sqlUnstartRun    = `UPDATE butler_run SET state = 'queued', node = '', started_at = 0 WHERE id = ? AND state = 'running' AND node = ? AND started_at = ?`
	sqlMarkStopping  = `UPDATE butler_run SET state = 'stopping', reason = ? WHERE id = ? AND state = 'running'`
	sqlSetRunProcess = `UPDATE butler_run SET proc_group = ?, proc_start = ?, proc_boot = ? WHERE id = ? AND state IN ('running', 'stopping')`
	sqlSaveProgress  = `UPDATE butler_run SET progress = ?, step = ? WHERE id = ? AND state IN ('running', 'stopping')`
	sqlRecordSuccess = `INSERT INTO butler_task (task, last_success_day, last_success_at, last_success_started)
			SELECT task, ?, ?, started_at FROM butler_run WHERE id = ?
			ON CONFLICT (task) DO UPDATE SET last_success_day = excluded.last_success_day, last_success_at = excluded.last_success_at,
				last_success_started = excluded.last_success_started`
	sqlRecordItemPace = `INSERT INTO butler_task (task, item_pace_items, item_pace_wall)
			SELECT task, ?, ? FROM butler_run WHERE id = ?
			ON CONFLICT (task) DO UPDATE SET item_pace_items = excluded.item_pace_items, item_pace_wall = excluded.item_pace_wall`
	// The runs created since an instant (a window's opening): a range of
	// butler_run_created. No DISTINCT and no ORDER BY, which SQLite would
	// serve by reading a whole index (butler_run_task) or the whole table
	// in id order instead; the caller removes the duplicates.
	sqlTasksRunSince = `SELECT task FROM butler_run WHERE created_at >= ?`
	// Each task's newest finished run among those created since an
	// instant: the range of butler_run_created, read as a list of ids as in
	// Runs, grouped by task; only the newest of each is read whole.
	sqlLastFinishedSince = `SELECT ` + runColumns + ` FROM butler_run WHERE id IN
		(SELECT max(id) FROM butler_run WHERE id IN (SELECT id FROM butler_run WHERE created_at >= ?) AND state = 'finished' GROUP BY task)`
	// One batch of the pruning: the finished runs that ended first, through
	// the partial index butler_run_ended, deleted by primary key.
	sqlPruneRuns = `DELETE FROM butler_run WHERE id IN
		(SELECT id FROM butler_run WHERE state = 'finished' AND ended_at < ? ORDER BY ended_at LIMIT ?)`

	// Statements on the small tables (one row per setting or task, or one
	// row), listed for completeness.
	sqlSettings    = `SELECT id, value FROM butler_setting`
	sqlSaveSetting = `INSERT INTO butler_setting (id, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`
	sqlTaskRecords = `SELECT task, last_success_day, last_success_at, last_success_started, suppressed_day, item_pace_items, item_pace_wall FROM butler_task`
	sqlCheckWrite  = `INSERT INTO butler_health (id, checked_at) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`
	sqlLastCheckedWrite = `SELECT checked_at FROM butler_health WHERE id = 1`
)

// suppressSQL is Suppress's statement for n tasks: n pairs of task and day.
func suppressSQL(n int) string {
	return `INSERT INTO butler_task (task, suppressed_day) VALUES (?, ?)` + strings.Repeat(`, (?, ?)`, n-1) +
		` ON CONFLICT (task) DO UPDATE SET suppressed_day = excluded.suppressed_day`
}

// finishRunsSQL is FinishRuns' statement for ids runs and n states to
// finish them from: the values of finishRunSQL, then the ids, then the
// states.
func finishRunsSQL(ids, n int) string {
	return `UPDATE butler_run SET state = 'finished', outcome = ?, reason = ?, summary = ?, error = ?,
		ended_at = ?, progress = ?, step = ?, log = CASE WHEN ? = '' THEN log ELSE ? END
		WHERE id IN (` + strings.TrimSuffix(strings.Repeat("?, ", ids), ", ") + `) AND state IN (` +
		strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + `) AND (? = '' OR node = ?) RETURNING ` + runColumns
}

// finishRunSQL is FinishRun's statement for n states to finish from:
// FinishRuns' for one run.
func finishRunSQL(n int) string { return finishRunsSQL(1, n) }

// planSince is the filter of the one history query on a control path:
// Manager.Plan reads the runs created since the open window opened, a page
// at a time (the pages after the first also have BeforeID).
func planSince(open time.Time, beforeID int64) butler.RunFilter {
	return butler.RunFilter{Since: open, BeforeID: beforeID, Limit: butler.MaxRunsPage}
}

// HotQuery is a statement that a control path runs, with the arguments of
// a typical call, for the stores' tests to EXPLAIN.
type HotQuery struct {
	// Name says which Store method runs it.
	Name string
	// SQL is the statement as the store sends it to its database.
	SQL string
	// Args are the arguments of a typical call, made at the instant given
	// to HotQueries.
	Args []any
}

// HistoryQuery is a page of the history, with the arguments of a typical
// call, for the stores' tests to EXPLAIN.
type HistoryQuery struct {
	HotQuery
	// Equal names the columns that the page compares for equality: its
	// plan must search an index by every one of them.
	Equal []string
}

// HotQueries returns every statement that the Manager's control paths and
// the history pruning run, as this store sends them to its database, with
// the arguments of a typical call made at now: run ids 1 and 2, the task
// named task, and instants in the last day (a window's opening) or before
// the retention (90 days ago). A test of a store fills its database with a
// large history and EXPLAINs each one: none may read the whole of
// butler_run.
func (d *Store) HotQueries(now time.Time, task string) []HotQuery {
	recent := nanos(now.Add(-3 * time.Hour))
	expired := nanos(now.Add(-90 * 24 * time.Hour))
	runsSQL, runsArgs := d.runsQuery(planSince(now.Add(-3*time.Hour), 0))
	nextSQL, nextArgs := d.runsQuery(planSince(now.Add(-3*time.Hour), 1_000_000))
	run := func(id int64, uuid, task string) []any {
		return []any{id, uuid, task, "manual", "queued", "", "", "", "", "", "", "manual", "", int64(0), -1, "",
			nanos(now), nanos(now), int64(0), int64(0)}
	}
	qs := []HotQuery{
		{"CreateRuns (their ids)", d.runIDsSQL(), []any{2}},
		{"CreateRun", sqlInsertRun, run(1<<40, "uuid-hot", task)},
		{"CreateRuns", insertRunsSQL(2), append(run(1<<40, "uuid-hot", task), run(1<<40+1, "uuid-hot-2", task+"2")...)},
		{"SetRunJob, QueueRun", sqlSetRunJob, []any{int64(7), int64(1)}},
		{"Run, QueueRun", sqlRun, []any{int64(1)}},
		{"RunByUUID", sqlRunByUUID, []any{"uuid-hot"}},
		{"RunLog", sqlRunLog, []any{int64(1)}},
		{"ActiveRuns, CreateRuns (the active runs)", sqlActiveRuns, nil},
		{"CreateRun (its task's active run)", d.activeRunOfSQL(), []any{task}},
		{"QueueRun", sqlQueueRun, []any{nanos(now), int64(1)}},
		{"StartRun", sqlStartRun, []any{"node", nanos(now), int64(1)}},
		{"UnstartRun", sqlUnstartRun, []any{int64(1), "node", nanos(now)}},
		{"MarkStopping", sqlMarkStopping, []any{"stopped by a request", int64(1)}},
		{"SetRunProcess", sqlSetRunProcess, []any{int64(4242), int64(99), "boot", int64(1)}},
		{"SaveProgress", sqlSaveProgress, []any{50, "working", int64(1)}},
		{"FinishRun", finishRunSQL(2), []any{"succeeded", "", "", "", nanos(now), 100, "", "", "", int64(1), "running", "stopping", "node1", "node1"}},
		{"FinishRuns", finishRunsSQL(2, 2), []any{"skipped", "removed by stop", "", "", nanos(now), -1, "", "", "", int64(1), int64(2), "scheduled", "queued", "", ""}},
		{"FinishRun (the task's last success)", sqlRecordSuccess, []any{"2025-03-14", nanos(now), int64(1)}},
		{"FinishRun (the task's item pace)", sqlRecordItemPace, []any{120, int64(time.Minute), int64(1)}},
		{"TasksRunSince", sqlTasksRunSince, []any{recent}},
		{"LastFinishedSince (Plan: each task's run since the window opened)", sqlLastFinishedSince, []any{recent}},
		{"Runs (Plan: the runs since the window opened)", runsSQL, runsArgs},
		{"Runs (Plan: their next page)", nextSQL, nextArgs},
		{"PruneRuns", sqlPruneRuns, []any{expired, int64(DefaultPruneBatch)}},
		{"Settings", sqlSettings, nil},
		{"SaveSettings", sqlSaveSetting, []any{"ButlerTimeZone", "UTC", nanos(now)}},
		{"TaskRecords", sqlTaskRecords, nil},
		{"Suppress", suppressSQL(2), []any{task, "2025-03-14", task + "2", "2025-03-14"}},
		{"CheckWrite", sqlCheckWrite, []any{nanos(now)}},
	}
	for i := range qs {
		qs[i].SQL = d.bind(qs[i].SQL)
	}
	return qs
}

// HistoryQueries returns the pages of the history (Runs: GET /butler/runs,
// the dashboard's history and its filters) as this store sends them, with
// the arguments of typical calls made at now, for a history of 90 days:
// a rare outcome (what the dashboard's Outcome filter offers) or a less
// rare one (not a common one, such as succeeded: PostgreSQL rightly reads
// it along the primary key, where most runs match), the task named task
// with an outcome, creation times up to a day after the oldest
// run or an hour ago, each alone, with the others and on a next page
// (BeforeID). Unlike the control paths' statements, a page may read many
// rows of a range of an index of every run, but only its limit's worth,
// with a few more: the stores' tests EXPLAIN each on a large history and
// fail on a full scan of butler_run, on a sort of the matching runs (all of
// them would be read), or on a search that is not by each column the page
// compares for equality (Equal), whose other rows would be read and
// dropped.
func (d *Store) HistoryQueries(now time.Time, task string) []HistoryQuery {
	const page = 21 // the dashboard's: 20 rows, and one to know of a next page
	oldest := now.Add(-89 * 24 * time.Hour)
	name := butler.TaskName(task)
	outcome, task2 := []string{"outcome"}, []string{"task", "outcome"}
	qs := []struct {
		name  string
		f     butler.RunFilter
		equal []string
	}{
		{"every run, a next page", butler.RunFilter{BeforeID: 1_000_000, Limit: page}, nil},
		{"a task", butler.RunFilter{Task: name, Limit: page}, []string{"task"}},
		{"a rare outcome", butler.RunFilter{Outcome: butler.OutcomeInterrupted, Limit: page}, outcome},
		{"a rare outcome, a next page", butler.RunFilter{Outcome: butler.OutcomeTimedOut, BeforeID: 1_000_000, Limit: page}, outcome},
		{"an outcome of a few runs in a hundred", butler.RunFilter{Outcome: butler.OutcomeFailed, Limit: page}, outcome},
		{"a task and an outcome", butler.RunFilter{Task: name, Outcome: butler.OutcomeFailed, Limit: page}, task2},
		{"a task and an outcome, a next page", butler.RunFilter{Task: name, Outcome: butler.OutcomeStopped, BeforeID: 1_000_000, Limit: page}, task2},
		{"created before a day after the oldest run", butler.RunFilter{Before: oldest.Add(24 * time.Hour), Limit: page}, nil},
		{"created before an hour ago", butler.RunFilter{Before: now.Add(-time.Hour), Limit: page}, nil},
		{"created before, a next page", butler.RunFilter{Before: oldest.Add(24 * time.Hour), BeforeID: 1_000_000, Limit: page}, nil},
		{"a task, created before", butler.RunFilter{Task: name, Before: oldest.Add(24 * time.Hour), Limit: page}, []string{"task"}},
		{"a rare outcome, created before", butler.RunFilter{Outcome: butler.OutcomeInterrupted, Before: oldest.Add(24 * time.Hour), Limit: page}, outcome},
	}
	out := make([]HistoryQuery, len(qs))
	for i, q := range qs {
		sql, args := d.runsQuery(q.f)
		out[i] = HistoryQuery{HotQuery{Name: "Runs (" + q.name + ")", SQL: d.bind(sql), Args: args}, q.equal}
	}
	return out
}

// The insert of runs, with their ids, in three parts: a run refused by the
// partial unique index of the active runs (its task has one) is not
// inserted.
const (
	insertRunsHead = `INSERT INTO butler_run (id, uuid, task, trigger, state, outcome, reason, summary, error,
		window_day, day, queue, node, job_id, progress, step, created_at, scheduled_at, started_at, ended_at)
		VALUES `
	runValues      = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertRunsTail = ` ON CONFLICT (task) WHERE state <> 'finished' DO NOTHING`
)

// RunColumns are the columns of butler_run that the insert of runs
// writes, in the order of its values (Dialect.CopyRuns).
var RunColumns = []string{"id", "uuid", "task", "trigger", "state", "outcome", "reason", "summary", "error",
	"window_day", "day", "queue", "node", "job_id", "progress", "step", "created_at", "scheduled_at", "started_at", "ended_at"}

// insertRunsSQL is the insert of n runs in one statement.
func insertRunsSQL(n int) string {
	return insertRunsHead + strings.Repeat(runValues+", ", n-1) + runValues + insertRunsTail
}

// String names the query for a test's message.
func (q HotQuery) String() string {
	return fmt.Sprintf("%s: %s", q.Name, strings.Join(strings.Fields(q.SQL), " "))
}
