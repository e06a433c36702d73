// Package sqlstore is the Butler's store over database/sql, shared by the
// SQLite and PostgreSQL adapters: the same tables and queries, written with
// ? placeholders that a Dialect rebinds.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/batchpace"
	"github.com/plexbutler/butler/schedule"
)

// Dialect is what differs between the databases.
type Dialect struct {
	// Dollar rebinds ? placeholders as $1, $2, ... (PostgreSQL).
	Dollar bool
	// Unavailable reports whether err means the database cannot be reached;
	// such errors become butler.EUNAVAILABLE.
	Unavailable func(err error) bool
	// LockRuns, when set, is the statement that a transaction changing
	// several runs runs first (CreateRuns, FinishRuns): it waits until no
	// other such transaction is open. On a database that several servers
	// write at once, two of them could otherwise take the same rows (the
	// runs, an active run's place in the partial unique index, their jobs)
	// in opposite orders and deadlock, and the database would abort one.
	// SQLite needs none: it has one writer at a time.
	LockRuns string
	// RunIDs takes new run ids: given n, it returns n rows of one id each,
	// none ever given before, in a transaction that inserts them
	// (CreateRuns). "" is SQLite's, sqliteRunIDs.
	RunIDs string
	// RawConn begins each transaction on a connection of its own, whose
	// driver connection the transaction's butler.Tx.Raw gives to those
	// who write within it (PostgreSQL: River's pgx driver inserts the
	// jobs of a start-all through it, at half the cost of its database/sql
	// driver).
	RawConn bool
	// NoIndexedBy says that the database knows no INDEXED BY clause
	// (PostgreSQL, whose planner takes the right index by itself).
	NoIndexedBy bool
	// CopyRuns, when set, inserts many runs at once (at least copyRunsLeast)
	// within tx: rows of the values of RunColumns (RunValues). It must fail, failing
	// the transaction, if the partial unique index refuses a row
	// (PostgreSQL: COPY through the transaction's pgx connection).
	CopyRuns func(ctx context.Context, tx butler.Tx, rows [][]any) error
}

// copyRunsLeast is how many runs CreateRuns makes before it inserts them
// with the dialect's CopyRuns, when it has one: below, one insert is as
// quick.
const copyRunsLeast = 50

// sqliteRunIDs is SQLite's Dialect.RunIDs: the ids after the highest that
// butler_run has ever had (its AUTOINCREMENT counter, which the insert of
// the ids then moves on), in the one writer's transaction.
const sqliteRunIDs = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
	SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'butler_run'), 0) + i FROM n`

// activeRunOfSQL reads the active run of one task (its argument) through
// the partial unique index of the active runs. Asked by task alone, SQLite
// may read the task's whole history through butler_run_task instead, as it
// does after an ANALYZE that saw a single active run: on SQLite the index
// is named.
func (d *Store) activeRunOfSQL() string {
	hint := ` INDEXED BY butler_run_active`
	if d.Dialect.NoIndexedBy {
		hint = ""
	}
	return `SELECT ` + runColumns + ` FROM butler_run` + hint + ` WHERE task = ? AND state <> 'finished'`
}

// runIDsSQL is the dialect's RunIDs.
func (d *Store) runIDsSQL() string {
	if d.Dialect.RunIDs == "" {
		return sqliteRunIDs
	}
	return d.Dialect.RunIDs
}

// Store implements butler.Store over a database/sql pool whose schema the
// adapter has migrated.
type Store struct {
	DB      *sql.DB
	Dialect Dialect
	// Read, when set, serves the reads made outside a transaction: a pool
	// of read-only connections beside DB's single writer (SQLite in WAL
	// mode, where readers do not wait for the writer). A read begun after a
	// write committed sees it.
	Read *sql.DB

	// TxLimit bounds how long a transaction's statements may take in all,
	// whatever the caller's context (see begin); 0 for DefaultTxLimit.
	TxLimit time.Duration

	pruneBatch atomic.Int64 // SetPruneBatch; 0 for DefaultPruneBatch
	pruneNext  atomic.Int64 // the size of PruneRuns' next batch; 0 for the most

	mediaChanges atomic.Uint64 // MediaChangeCount
}

var _ butler.Store = (*Store)(nil)

func (d *Store) bind(q string) string {
	if !d.Dialect.Dollar {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// wrap turns a connection failure into butler.EUNAVAILABLE.
func (d *Store) wrap(err error) error {
	if err != nil && d.Dialect.Unavailable != nil && d.Dialect.Unavailable(err) {
		return &butler.Error{Code: butler.EUNAVAILABLE, Message: "the database cannot be reached: " + err.Error()}
	}
	return err
}

// reader is the pool reads outside a transaction use.
func (d *Store) reader() *sql.DB {
	if d.Read != nil {
		return d.Read
	}
	return d.DB
}

func (d *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	rows, err := d.reader().QueryContext(ctx, d.bind(q), args...)
	return rows, d.wrap(err)
}

func (d *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return d.reader().QueryRowContext(ctx, d.bind(q), args...)
}

func (d *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	res, err := d.DB.ExecContext(ctx, d.bind(q), args...)
	return res, d.wrap(err)
}

// begin starts a transaction unless ctx is done, and returns it with the
// context its statements take and the function that ends it (a rollback,
// unless it was committed), for the caller to defer. Once begun, a
// transaction runs to its commit or its error whatever happens to its
// caller (its statements are a few milliseconds each): the context is ctx
// without its cancellation, limited to the store's TxLimit in all. A
// statement cut off in the middle would leave the database holding the
// transaction's rows: PostgreSQL, sent part of a message, waits for the
// rest, and pgx gives up on such a connection only fifteen seconds later;
// and a commit cut off may still land on the server while the caller is
// told it failed. The limit is for a database that stops answering
// without closing its connections (a network that drops packets).
//
// With the dialect's RawConn, the transaction is begun on a connection of
// its own, whose driver connection the returned Tx's Raw gives.
func (d *Store) begin(ctx context.Context) (butler.Tx, context.Context, func(), error) {
	if err := ctx.Err(); err != nil {
		return butler.Tx{}, nil, nil, err
	}
	ctx, cancel := d.bounded(ctx)
	if !d.Dialect.RawConn {
		tx, err := d.DB.BeginTx(ctx, nil)
		if err != nil {
			cancel()
			return butler.Tx{}, nil, nil, d.wrap(err)
		}
		return butler.Tx{Tx: tx}, ctx, func() { tx.Rollback(); cancel() }, nil
	}
	conn, err := d.DB.Conn(ctx)
	if err != nil {
		cancel()
		return butler.Tx{}, nil, nil, d.wrap(err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		conn.Close()
		cancel()
		return butler.Tx{}, nil, nil, d.wrap(err)
	}
	return butler.Tx{Tx: tx, Raw: conn.Raw}, ctx, func() { tx.Rollback(); conn.Close(); cancel() }, nil
}

// bounded returns ctx without its cancellation, limited to the store's
// TxLimit: the context of writes that, once sent, must run to their end
// (begin).
func (d *Store) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	limit := d.TxLimit
	if limit <= 0 {
		limit = DefaultTxLimit
	}
	return context.WithTimeout(context.WithoutCancel(ctx), limit)
}

// DefaultTxLimit is how long a transaction's statements may take in all
// unless Store.TxLimit says otherwise: far above their milliseconds.
const DefaultTxLimit = 30 * time.Second

// beginRuns starts a transaction that changes several runs: begin, then
// the dialect's LockRuns.
func (d *Store) beginRuns(ctx context.Context) (butler.Tx, context.Context, func(), error) {
	tx, ctx, end, err := d.begin(ctx)
	if err != nil || d.Dialect.LockRuns == "" {
		return tx, ctx, end, err
	}
	if _, err := tx.ExecContext(ctx, d.Dialect.LockRuns); err != nil {
		end()
		return butler.Tx{}, nil, nil, d.wrap(err)
	}
	return tx, ctx, end, nil
}

func (d *Store) txExec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	return tx.ExecContext(ctx, d.bind(q), args...)
}

func (d *Store) txQueryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	return tx.QueryRowContext(ctx, d.bind(q), args...)
}

// Settings returns every stored setting.
func (d *Store) Settings(ctx context.Context) (map[string]string, error) {
	rows, err := d.query(ctx, sqlSettings)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, v string
		if err := rows.Scan(&id, &v); err != nil {
			return nil, err
		}
		out[id] = v
	}
	return out, rows.Err()
}

// SaveSettings stores the values in one transaction.
func (d *Store) SaveSettings(ctx context.Context, values map[string]string) error {
	tx, ctx, end, err := d.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	now := time.Now().UnixNano()
	// In the order of their ids: two transactions that take the same rows
	// in opposite orders deadlock on PostgreSQL.
	for _, id := range slices.Sorted(maps.Keys(values)) {
		if _, err := d.txExec(ctx, tx.Tx, sqlSaveSetting, id, values[id], now); err != nil {
			return err
		}
	}
	return tx.Commit()
}

const runColumns = `id, uuid, task, trigger, state, outcome, reason, summary, error, window_day, day, queue, node, job_id,
	progress, step, created_at, scheduled_at, started_at, ended_at, proc_group, proc_start, proc_boot`

type scanner interface{ Scan(...any) error }

func scanRun(s scanner) (butler.Run, error) {
	var r butler.Run
	var task, trigger, state, outcome, window, day string
	var created, scheduled, started, ended, procStart int64
	err := s.Scan(&r.ID, &r.UUID, &task, &trigger, &state, &outcome, &r.Reason, &r.Summary, &r.Error, &window, &day,
		&r.Queue, &r.Node, &r.JobID, &r.Progress, &r.Step, &created, &scheduled, &started, &ended,
		&r.Process.PGID, &procStart, &r.Process.Boot)
	if err != nil {
		return r, err
	}
	r.Task, r.Trigger, r.State, r.Outcome = butler.TaskName(task), butler.Trigger(trigger), butler.RunState(state), butler.Outcome(outcome)
	r.Window, r.Day = parseDay(window), parseDay(day)
	r.CreatedAt, r.ScheduledAt, r.StartedAt, r.EndedAt = fromNanos(created), fromNanos(scheduled), fromNanos(started), fromNanos(ended)
	r.Process.Start = uint64(procStart)
	return r, nil
}

func parseDay(s string) schedule.Day {
	if s == "" {
		return schedule.Day{}
	}
	d, _ := schedule.ParseDay(s)
	return d
}

func dayString(d schedule.Day) string {
	if d.IsZero() {
		return ""
	}
	return d.String()
}

// nanos is how a time is stored: nanoseconds since the Unix epoch, 0 for
// the zero time. The one instant 1970-01-01T00:00:00Z is therefore read back
// as the zero time, which no run or task record can hold in practice.
// A time beyond what nanoseconds in an int64 can count (before 1677 or
// after 2262) is held at the nearest end, never wrapped round: a filter
// "since the year 3000" finds nothing rather than everything.
func nanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(firstNano):
		return math.MinInt64
	case t.After(lastNano):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// firstNano and lastNano are the first and last instants nanos counts.
var (
	firstNano = time.Unix(0, math.MinInt64)
	lastNano  = time.Unix(0, math.MaxInt64)
)

// fromNanos is the inverse of nanos.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// CreateRun inserts r unless its task has an active run; a queued run's
// job is inserted by enqueue in the same transaction.
func (d *Store) CreateRun(ctx context.Context, r *butler.Run, enqueue butler.EnqueueFunc) (butler.Run, error) {
	runs, errs, err := d.CreateRuns(ctx, []*butler.Run{r}, enqueue)
	if err != nil {
		return butler.Run{}, err
	}
	return runs[0], errs[0]
}

// CreateRuns creates the runs in one transaction, each as CreateRun does;
// errs[i] is ErrActiveRun (with that run in runs[i]) or nil.
//
// The transaction reads the active runs first (an index of them alone) and
// refuses the runs of their tasks, and of tasks named twice, without
// trying to insert them: no other transaction can make an active run
// meanwhile (LockRuns; SQLite has one writer). The runs it makes get their
// ids first (the dialect's RunIDs), then the queued ones their jobs (one
// call of enqueue, which is given their ids), and then they are inserted
// with their job ids, runsPerInsert to a statement, or all at once with
// the dialect's CopyRuns: a start-all of a thousand tasks runs a handful
// of statements, not three thousand, and writes each run once.
func (d *Store) CreateRuns(ctx context.Context, rs []*butler.Run, enqueue butler.EnqueueFunc) ([]butler.Run, []error, error) {
	for _, r := range rs {
		if r.CreatedAt.IsZero() {
			r.CreatedAt = time.Now()
		}
		if r.UUID == "" {
			r.UUID = butler.NewUUID()
		}
	}
	tx, ctx, end, err := d.beginRuns(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer end()
	active, err := d.activeRunsOf(ctx, tx.Tx, rs)
	if err != nil {
		return nil, nil, fmt.Errorf("read the active runs: %w", d.wrap(err))
	}
	runs := make([]butler.Run, len(rs))
	errs := make([]error, len(rs))
	var (
		fresh []int                       // the runs to insert, by index
		made  = map[butler.TaskName]int{} // a task's active run made here
		same  = map[int]int{}             // a refused run → the run made here that refused it
	)
	for i, r := range rs {
		if r.State != butler.StateFinished {
			if a, ok := active[r.Task]; ok {
				runs[i], errs[i] = a, butler.ErrActiveRun
				continue
			}
			if j, ok := made[r.Task]; ok {
				same[i], errs[i] = j, butler.ErrActiveRun
				continue
			}
			made[r.Task] = i
		}
		fresh = append(fresh, i)
	}
	ids, err := d.runIDs(ctx, tx.Tx, len(fresh))
	if err != nil {
		return nil, nil, err
	}
	var queued []butler.Run
	for k, i := range fresh {
		runs[i] = *rs[i]
		runs[i].ID = ids[k]
		if runs[i].State == butler.StateQueued && enqueue != nil {
			queued = append(queued, runs[i])
		}
	}
	jobs, err := d.enqueueTx(ctx, tx, queued, enqueue)
	if err != nil {
		return nil, nil, err
	}
	for _, i := range fresh {
		if id, ok := jobs[runs[i].ID]; ok {
			runs[i].JobID = id
		}
	}
	if d.Dialect.CopyRuns != nil && len(fresh) >= copyRunsLeast {
		rows := make([][]any, len(fresh))
		for k, i := range fresh {
			rows[k] = RunValues(&runs[i])
		}
		if err := d.Dialect.CopyRuns(ctx, tx, rows); err != nil {
			return nil, nil, fmt.Errorf("create %d runs: %w", len(rows), d.wrap(err))
		}
	} else {
		for from := 0; from < len(fresh); from += runsPerInsert {
			if err := d.insertBatch(ctx, tx.Tx, runs, fresh[from:min(from+runsPerInsert, len(fresh))]); err != nil {
				return nil, nil, err
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, nil, d.wrap(err)
	}
	for i, j := range same {
		runs[i] = runs[j]
	}
	for i, r := range rs {
		if errs[i] == nil {
			r.ID, r.JobID = runs[i].ID, runs[i].JobID
		}
	}
	return runs, errs, nil
}

// runsPerInsert is how many runs CreateRuns inserts with one statement: 20
// parameters each, well under SQLite's and PostgreSQL's limits on a
// statement's parameters.
const runsPerInsert = 200

// runIDs takes n new run ids from the database (the dialect's RunIDs).
func (d *Store) runIDs(ctx context.Context, tx *sql.Tx, n int) ([]int64, error) {
	if n == 0 {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, d.bind(d.runIDsSQL()), n)
	if err != nil {
		return nil, fmt.Errorf("take %d run ids: %w", n, d.wrap(err))
	}
	defer rows.Close()
	ids := make([]int64, 0, n)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, d.wrap(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, d.wrap(err)
	}
	if len(ids) != n {
		return nil, fmt.Errorf("take %d run ids: %d came back", n, len(ids))
	}
	return ids, nil
}

// insertBatch inserts the runs at the indexes at, with their ids and job
// ids, in one statement. None may be refused: CreateRuns has left out the
// tasks with an active run, and no other transaction can make one
// meanwhile; a refusal means that rule was broken, and fails the
// transaction rather than leave a job without its run.
func (d *Store) insertBatch(ctx context.Context, tx *sql.Tx, runs []butler.Run, at []int) error {
	args := make([]any, 0, runFields*len(at))
	for _, i := range at {
		args = append(args, RunValues(&runs[i])...)
	}
	res, err := tx.ExecContext(ctx, d.bind(insertRunsSQL(len(at))), args...)
	if err != nil {
		return d.wrap(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return d.wrap(err)
	}
	if int(n) != len(at) {
		return fmt.Errorf("create runs: %d of %d inserted: another transaction made an active run of their tasks", n, len(at))
	}
	return nil
}

// runFields is how many values RunValues gives.
const runFields = 20

// RunValues are the values of r that an insert of runs takes, in the order
// of its columns (RunColumns).
func RunValues(r *butler.Run) []any {
	return []any{r.ID, r.UUID, string(r.Task), string(r.Trigger), string(r.State), string(r.Outcome), r.Reason, r.Summary, r.Error,
		dayString(r.Window), dayString(r.Day), r.Queue, r.Node, r.JobID, r.Progress, r.Step,
		nanos(r.CreatedAt), nanos(r.ScheduledAt), nanos(r.StartedAt), nanos(r.EndedAt)}
}

// activeRunsOf reads in tx the active runs that may refuse the runs rs,
// by task: for one run, its task's (the start of a single task: a lookup
// in the partial unique index of the active runs); for more, all of them
// (activeRunsTx), one read of an index of the active runs alone.
func (d *Store) activeRunsOf(ctx context.Context, tx *sql.Tx, rs []*butler.Run) (map[butler.TaskName]butler.Run, error) {
	if len(rs) != 1 {
		return d.activeRunsTx(ctx, tx)
	}
	out := map[butler.TaskName]butler.Run{}
	r, err := scanRun(tx.QueryRowContext(ctx, d.bind(d.activeRunOfSQL()), string(rs[0].Task)))
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, err
	default:
		out[r.Task] = r
	}
	return out, nil
}

// activeRunsTx reads the active runs in tx, by task, with ActiveRuns'
// statement (an index of the active runs only): asked by task, SQLite may
// read the task's whole history through butler_run_task instead, as it does
// after an ANALYZE that saw a single active run.
func (d *Store) activeRunsTx(ctx context.Context, tx *sql.Tx) (map[butler.TaskName]butler.Run, error) {
	rows, err := tx.QueryContext(ctx, d.bind(sqlActiveRuns))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[butler.TaskName]butler.Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out[r.Task] = r
	}
	return out, rows.Err()
}

// enqueueTx inserts the jobs of queued runs rs in tx, with one call of
// enqueue, and returns their ids by run id.
func (d *Store) enqueueTx(ctx context.Context, tx butler.Tx, rs []butler.Run, enqueue butler.EnqueueFunc) (map[int64]int64, error) {
	if len(rs) == 0 || enqueue == nil {
		return nil, nil
	}
	ids, err := enqueue(ctx, tx, rs)
	if err != nil {
		if len(rs) == 1 {
			return nil, fmt.Errorf("queue the job of run %d: %w", rs[0].ID, d.wrap(err))
		}
		return nil, fmt.Errorf("queue the jobs of %d runs: %w", len(rs), d.wrap(err))
	}
	if len(ids) != len(rs) {
		return nil, fmt.Errorf("queue the jobs of %d runs: %d job ids came back", len(rs), len(ids))
	}
	out := make(map[int64]int64, len(rs))
	for i, r := range rs {
		out[r.ID] = ids[i]
	}
	return out, nil
}

// Run returns one run.
func (d *Store) Run(ctx context.Context, id int64) (butler.Run, error) {
	r, err := scanRun(d.queryRow(ctx, sqlRun, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, butler.Errorf(butler.ENOTFOUND, "no run with id %d", id)
	}
	return r, d.wrap(err)
}

// RunByUUID returns the run with the UUID.
func (d *Store) RunByUUID(ctx context.Context, uuid string) (butler.Run, error) {
	r, err := scanRun(d.queryRow(ctx, sqlRunByUUID, uuid))
	if errors.Is(err, sql.ErrNoRows) {
		return r, butler.Errorf(butler.ENOTFOUND, "no run with uuid %s", uuid)
	}
	return r, d.wrap(err)
}

// RunLog returns the log a run kept.
func (d *Store) RunLog(ctx context.Context, id int64) (string, error) {
	var log string
	err := d.queryRow(ctx, sqlRunLog, id).Scan(&log)
	if errors.Is(err, sql.ErrNoRows) {
		return "", butler.Errorf(butler.ENOTFOUND, "no run with id %d", id)
	}
	return log, d.wrap(err)
}

// Runs returns the runs matching f, newest first.
func (d *Store) Runs(ctx context.Context, f butler.RunFilter) ([]butler.Run, error) {
	q, args := d.runsQuery(f)
	return d.queryRuns(ctx, q, args...)
}

// createdSkew is how far behind a run made before it a run's creation time
// may be for Runs' upper bound on the creation time to be exact (see
// runsQuery): how far two servers' clocks may disagree, or one be set back.
const createdSkew = 5 * time.Minute

// runsQuery is Runs' statement and arguments for f. Each page is read in
// id order, newest first, through an index that holds every matching run in
// that order, so that it reads about its limit's worth of rows whatever the
// history (HistoryQueries lists the filters for the stores' tests):
//
//   - A lower bound on the creation time (Manager.Plan asks for the runs
//     since the window opened) is a range of butler_run_created, read as a
//     list of ids: written as "created_at >= ?", SQLite would rather read
//     the table in id order, newest first, until it has the limit's worth
//     of matches — the whole table when fewer runs match. The cost grows
//     with the runs created since the bound.
//   - An upper bound on the creation time (before=) is turned into an
//     upper bound on the id, from which the page reads down. "created_at
//     < ?" alone cannot give the id order, and would be the filter of a
//     walk down the whole table from its newest run. The two orders agree
//     but for clocks: ids are taken in the order the runs are made
//     (SQLite's one writer, PostgreSQL's sequence), and creation times
//     come from the clock of the server that made each. So the bound is
//     the largest id of the runs created between createdSkew before Z, the
//     newest run created before the bound, and the bound: a range of
//     butler_run_created, whose end Z is found in O(log N). A run created
//     before the bound and made after Z has a creation time at most
//     createdSkew before Z's, so it is in that range; one made before Z
//     has a smaller id than Z's, which is in it. The page is exact while
//     clocks disagree by createdSkew at most; beyond, it leaves out a run
//     made after Z that says it was created more than createdSkew before
//     Z. The condition on the time stays, so no run created at or after
//     the bound is listed. The rows read in excess are those of the runs
//     created in the createdSkew before Z, and those made before Z but
//     created after the bound. Both databases are kept from what they
//     would rather do, after statistics, by "+ 0", which no index has: the
//     largest id would be read by walking the primary key down from the
//     newest run to the first one in the range, and the page from
//     butler_run_created (every run created before the bound, sorted).
//   - An outcome, or a task and an outcome, is a range of butler_run_outcome
//     or butler_run_task_outcome (migration 010 on SQLite, 011 on
//     PostgreSQL), whose last column is the id; a task alone is one of
//     butler_run_task. SQLite is told the index (INDEXED BY): after an
//     ANALYZE that saw a single outcome, it reads a task's runs of an
//     outcome through butler_run_outcome, every task's. Not with a lower
//     bound on the creation time, whose range is read instead (a cost
//     that follows the bound, as above).
func (d *Store) runsQuery(f butler.RunFilter) (string, []any) {
	var where []string
	var args []any
	if f.Task != "" {
		where, args = append(where, "task = ?"), append(args, string(f.Task))
	}
	if f.Outcome != "" {
		where, args = append(where, "outcome = ?"), append(args, string(f.Outcome))
	}
	if !f.Since.IsZero() {
		where, args = append(where, "id IN (SELECT id FROM butler_run WHERE created_at >= ?)"), append(args, nanos(f.Since))
	}
	if !f.Before.IsZero() {
		where = append(where, `id <= (SELECT max(id + 0) FROM butler_run WHERE created_at < ? AND created_at >=
			(SELECT created_at FROM butler_run WHERE created_at < ? ORDER BY created_at DESC LIMIT 1) - ?)`, "created_at + 0 < ?")
		before := nanos(f.Before)
		args = append(args, before, before, int64(createdSkew), before)
	}
	if f.BeforeID > 0 {
		where, args = append(where, "id < ?"), append(args, f.BeforeID)
	}
	q := `SELECT ` + runColumns + ` FROM butler_run`
	if f.Outcome != "" && f.Since.IsZero() && !d.Dialect.NoIndexedBy {
		if f.Task != "" {
			q += ` INDEXED BY butler_run_task_outcome`
		} else {
			q += ` INDEXED BY butler_run_outcome`
		}
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)
	return q, args
}

func (d *Store) queryRuns(ctx context.Context, q string, args ...any) ([]butler.Run, error) {
	rows, err := d.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []butler.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ActiveRuns returns every run that is not finished, oldest first.
func (d *Store) ActiveRuns(ctx context.Context) ([]butler.Run, error) {
	return d.queryRuns(ctx, sqlActiveRuns)
}

func (d *Store) exec1(ctx context.Context, q string, args ...any) (bool, error) {
	res, err := d.exec(ctx, q, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// QueueRun moves a scheduled run to queued and, in the same transaction,
// has enqueue insert its job.
func (d *Store) QueueRun(ctx context.Context, id int64, at time.Time, enqueue butler.EnqueueFunc) (butler.Run, bool, error) {
	tx, ctx, end, err := d.begin(ctx)
	if err != nil {
		return butler.Run{}, false, err
	}
	defer end()
	res, err := d.txExec(ctx, tx.Tx, sqlQueueRun, nanos(at), id)
	if err != nil {
		return butler.Run{}, false, d.wrap(err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return butler.Run{}, false, d.wrap(err)
	}
	r, err := scanRun(d.txQueryRow(ctx, tx.Tx, sqlRun, id))
	if err != nil {
		return butler.Run{}, false, d.wrap(err)
	}
	jobs, err := d.enqueueTx(ctx, tx, []butler.Run{r}, enqueue)
	if err != nil {
		return butler.Run{}, false, err
	}
	if id, ok := jobs[r.ID]; ok {
		r.JobID = id
		if _, err := d.txExec(ctx, tx.Tx, sqlSetRunJob, id, r.ID); err != nil {
			return butler.Run{}, false, d.wrap(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return butler.Run{}, false, d.wrap(err)
	}
	return r, true, nil
}

// SetRunJob records the run's queue job.
func (d *Store) SetRunJob(ctx context.Context, id, jobID int64) error {
	_, err := d.exec(ctx, sqlSetRunJob, jobID, id)
	return err
}

// StartRun moves a queued run to running.
func (d *Store) StartRun(ctx context.Context, id int64, node string, at time.Time) (bool, error) {
	return d.exec1(ctx, sqlStartRun, node, nanos(at), id)
}

// UnstartRun moves a run that StartRun moved to running on node at at back
// to queued.
func (d *Store) UnstartRun(ctx context.Context, id int64, node string, at time.Time) (bool, error) {
	return d.exec1(ctx, sqlUnstartRun, id, node, nanos(at))
}

// CheckWrite makes one small durable write (butler.HealthChecker): the
// time of the last health check, in a table of one row.
func (d *Store) CheckWrite(ctx context.Context) error {
	_, err := d.exec(ctx, sqlCheckWrite, time.Now().UnixNano())
	return err
}

// LastCheckedWrite returns when CheckWrite last wrote (the zero time when
// it never did): on a single server, the last sign of life of its
// previous process.
func (d *Store) LastCheckedWrite(ctx context.Context) (time.Time, error) {
	var at int64
	err := d.queryRow(ctx, sqlLastCheckedWrite).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, d.wrap(err)
	}
	return time.Unix(0, at), nil
}

// MarkStopping moves a running run to stopping, with the reason.
func (d *Store) MarkStopping(ctx context.Context, id int64, reason string) (bool, error) {
	return d.exec1(ctx, sqlMarkStopping, reason, id)
}

// SetRunProcess records the process group a running or stopping run
// started.
func (d *Store) SetRunProcess(ctx context.Context, id int64, p butler.ProcessGroup) error {
	_, err := d.exec(ctx, sqlSetRunProcess, p.PGID, int64(p.Start), p.Boot, id)
	return err
}

// SaveProgress records a running (or stopping) run's progress.
func (d *Store) SaveProgress(ctx context.Context, id int64, progress int, step string) error {
	_, err := d.exec(ctx, sqlSaveProgress, progress, step, id)
	return err
}

// FinishRun ends a run in one of the states from and returns it as it
// ended. An end that records nothing of its task is one statement,
// committed on its own; a success also records the task's last success,
// and a run that worked items the task's pace, in the same transaction.
func (d *Store) FinishRun(ctx context.Context, id int64, from []butler.RunState, f butler.Finish) (butler.Run, bool, error) {
	if len(from) == 0 {
		return butler.Run{}, false, nil
	}
	args := finishArgs(f, []int64{id}, from)
	q := d.bind(finishRunSQL(len(from)))
	success := f.Outcome == butler.OutcomeSucceeded && !f.SuccessDay.IsZero()
	pace := f.Items.Items > 0
	if !success && !pace {
		// Not cut off by ctx, as a commit is not, but bounded as a
		// transaction is (begin): the statement is its own commit.
		if err := ctx.Err(); err != nil {
			return butler.Run{}, false, err
		}
		ctx, cancel := d.bounded(ctx)
		defer cancel()
		return d.finished(d.DB.QueryRowContext(ctx, q, args...))
	}
	tx, ctx, end, err := d.begin(ctx)
	if err != nil {
		return butler.Run{}, false, err
	}
	defer end()
	r, ok, err := d.finished(tx.QueryRowContext(ctx, q, args...))
	if err != nil || !ok {
		return r, ok, err
	}
	if success {
		if _, err := d.txExec(ctx, tx.Tx, sqlRecordSuccess, f.SuccessDay.String(), nanos(f.EndedAt), id); err != nil {
			return butler.Run{}, false, d.wrap(err)
		}
	}
	if pace {
		if _, err := d.txExec(ctx, tx.Tx, sqlRecordItemPace, f.Items.Items, int64(f.Items.Wall), id); err != nil {
			return butler.Run{}, false, d.wrap(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return butler.Run{}, false, d.wrap(err)
	}
	return r, true, nil
}

// finishRunsMost is how many runs one statement of FinishRuns ends.
const finishRunsMost = 500

// FinishRuns ends the runs ids that are in one of the states from, in one
// transaction (a statement per finishRunsMost of them), and returns them
// as they ended; inTx, if not nil, is called in the transaction with them.
func (d *Store) FinishRuns(ctx context.Context, ids []int64, from []butler.RunState, f butler.Finish, inTx butler.RunsTxFunc) ([]butler.Run, error) {
	if !f.SuccessDay.IsZero() {
		return nil, errors.New("FinishRuns records no success: end a succeeded run with FinishRun")
	}
	if f.Items.Items > 0 {
		return nil, errors.New("FinishRuns records no pace: end a run that worked items with FinishRun")
	}
	if len(ids) == 0 || len(from) == 0 {
		return nil, nil
	}
	tx, ctx, end, err := d.beginRuns(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	var ended []butler.Run
	for start := 0; start < len(ids); start += finishRunsMost {
		chunk := ids[start:min(start+finishRunsMost, len(ids))]
		rows, err := tx.QueryContext(ctx, d.bind(finishRunsSQL(len(chunk), len(from))), finishArgs(f, chunk, from)...)
		if err != nil {
			return nil, d.wrap(err)
		}
		for rows.Next() {
			r, err := scanRun(rows)
			if err != nil {
				rows.Close()
				return nil, d.wrap(err)
			}
			ended = append(ended, r)
		}
		if err := rows.Close(); err != nil {
			return nil, d.wrap(err)
		}
		if err := rows.Err(); err != nil {
			return nil, d.wrap(err)
		}
	}
	if inTx != nil && len(ended) > 0 {
		if err := inTx(ctx, tx, ended); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, d.wrap(err)
	}
	return ended, nil
}

// finishArgs are the arguments of finishRunsSQL: f's values, the ids, the
// states to finish from, and f.Node (twice).
func finishArgs(f butler.Finish, ids []int64, from []butler.RunState) []any {
	args := make([]any, 0, 11+len(ids)+len(from))
	args = append(args, string(f.Outcome), f.Reason, f.Summary, f.Error, nanos(f.EndedAt), f.Progress, f.Step, f.Log, f.Log)
	for _, id := range ids {
		args = append(args, id)
	}
	for _, s := range from {
		args = append(args, string(s))
	}
	return append(args, f.Node, f.Node)
}

// finished reads the run FinishRun's statement returned, if it ended one.
func (d *Store) finished(row *sql.Row) (butler.Run, bool, error) {
	r, err := scanRun(row)
	if errors.Is(err, sql.ErrNoRows) {
		return butler.Run{}, false, nil
	}
	if err != nil {
		return butler.Run{}, false, d.wrap(err)
	}
	return r, true, nil
}

// TaskRecords returns every task record.
func (d *Store) TaskRecords(ctx context.Context) (map[butler.TaskName]butler.TaskRecord, error) {
	rows, err := d.query(ctx, sqlTaskRecords)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[butler.TaskName]butler.TaskRecord{}
	for rows.Next() {
		var task, last, suppressed string
		var at, started, wall int64
		var items int
		if err := rows.Scan(&task, &last, &at, &started, &suppressed, &items, &wall); err != nil {
			return nil, err
		}
		out[butler.TaskName(task)] = butler.TaskRecord{LastSuccess: parseDay(last), LastSuccessAt: fromNanos(at),
			LastSuccessStarted: fromNanos(started), Suppressed: parseDay(suppressed),
			ItemPace: butler.ItemPace{Items: items, Wall: time.Duration(wall)}}
	}
	return out, rows.Err()
}

// suppressMost is how many tasks one statement of Suppress marks.
const suppressMost = 500

// Suppress marks the tasks as stopped in the window of day d: one
// statement for up to suppressMost tasks (a task named twice is marked
// once: an upsert may not change a row twice).
func (d *Store) Suppress(ctx context.Context, tasks []butler.TaskName, day schedule.Day) error {
	seen := make(map[butler.TaskName]bool, len(tasks))
	args := make([]any, 0, 2*len(tasks))
	// In the order of their names: two statements that take the same rows
	// in opposite orders deadlock on PostgreSQL.
	for _, t := range slices.Sorted(slices.Values(tasks)) {
		if !seen[t] {
			seen[t] = true
			args = append(args, string(t), dayString(day))
		}
	}
	for len(args) > 0 {
		n := min(len(args)/2, suppressMost)
		if _, err := d.exec(ctx, suppressSQL(n), args[:2*n]...); err != nil {
			return err
		}
		args = args[2*n:]
	}
	return nil
}

// TasksRunSince returns the tasks with a run created at or after t; its
// cost grows with the runs created since t.
func (d *Store) TasksRunSince(ctx context.Context, t time.Time) (map[butler.TaskName]bool, error) {
	rows, err := d.query(ctx, sqlTasksRunSince, nanos(t))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[butler.TaskName]bool{}
	for rows.Next() {
		var task string
		if err := rows.Scan(&task); err != nil {
			return nil, err
		}
		out[butler.TaskName(task)] = true
	}
	return out, rows.Err()
}

// LastFinishedSince returns each task's newest finished run created at or
// after t.
func (d *Store) LastFinishedSince(ctx context.Context, t time.Time) (map[butler.TaskName]butler.Run, error) {
	runs, err := d.queryRuns(ctx, sqlLastFinishedSince, nanos(t))
	if err != nil {
		return nil, err
	}
	out := make(map[butler.TaskName]butler.Run, len(runs))
	for _, r := range runs {
		out[r.Task] = r
	}
	return out, nil
}

// DefaultPruneBatch is how many runs one call of PruneRuns deletes at
// most, unless SetPruneBatch says otherwise.
const DefaultPruneBatch = 1000

// PruneTarget is how long one call of PruneRuns aims to take: every other
// write waits for a batch at most (SQLite has one writer connection), so a
// batch is sized to the pace of the last one. (10 ms gave starts a p99 of
// 22 ms while a million runs were pruned on a 2-core machine, 5 ms 16 ms;
// the pass took 159 and 219 s.)
const PruneTarget = 5 * time.Millisecond

// minPruneBatch is the fewest runs a batch deletes, however slow: a
// statement and its commit cost a few milliseconds whatever its size on
// PostgreSQL, where batches of 10 would take a quarter of an hour over a
// million runs.
const minPruneBatch = 100

// SetPruneBatch sets how many runs one call of PruneRuns deletes at most;
// n <= 0 restores DefaultPruneBatch.
func (d *Store) SetPruneBatch(n int) { d.pruneBatch.Store(int64(n)) }

// PruneRuns deletes one batch of the finished runs that ended before t —
// those that ended first — in a statement of its own, and returns how many
// it deleted: 0 when none is left. A batch is as many runs as the last one
// deleted in PruneTarget, at its pace (a run with a long text, on a slow
// disk, costs more), between minPruneBatch and the most (DefaultPruneBatch
// or SetPruneBatch's), and at most twice the last.
func (d *Store) PruneRuns(ctx context.Context, before time.Time) (int, error) {
	most := d.pruneBatch.Load()
	if most <= 0 {
		most = DefaultPruneBatch
	}
	batch := d.pruneNext.Load()
	if batch <= 0 || batch > most {
		batch = most
	}
	start := time.Now()
	res, err := d.exec(ctx, sqlPruneRuns, nanos(before), batch)
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if n > 0 {
		d.pruneNext.Store(nextPruneBatch(n, batch, most, took))
	}
	return int(n), err
}

// nextPruneBatch is the size of the batch after one of batch runs that
// deleted n in took (batchpace.Next, aiming at PruneTarget).
func nextPruneBatch(n, batch, most int64, took time.Duration) int64 {
	return batchpace.Next(n, batch, minPruneBatch, most, took, PruneTarget)
}
