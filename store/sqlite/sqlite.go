// Package sqlite is the Butler's store on SQLite (modernc.org/sqlite, pure
// Go): the embedded default, one file in the data directory that holds
// Butler's tables and River's.
package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/schedule"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// DB is an open Butler database on SQLite. It implements butler.Store.
type DB struct {
	db   *sql.DB
	path string
}

var _ butler.Store = (*DB)(nil)

// Open opens (creating it when missing) the SQLite database at path and
// brings Butler's tables up to date. A file that exists but is not a SQLite
// database is an error: Open never replaces a damaged database with a fresh
// one. Use ":memory:" for a private in-memory database.
func Open(ctx context.Context, path string) (*DB, error) {
	if path != ":memory:" {
		if err := checkHeader(path); err != nil {
			return nil, err
		}
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// SQLite allows one writer; River's driver recommends one connection.
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	d := &DB{db: db, path: path}
	if err := d.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

func dsn(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_txlock", "immediate")
	if path == ":memory:" {
		return "file::memory:?" + q.Encode()
	}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	return "file:" + path + "?" + q.Encode()
}

// checkHeader refuses a file that is there, not empty and not SQLite.
func checkHeader(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open database %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, 16)
	n, err := io.ReadFull(f, head)
	if n == 0 && (err == io.EOF || err == nil) {
		return nil
	}
	if !bytes.Equal(head[:n], []byte("SQLite format 3\x00")[:n]) || n < 16 {
		return fmt.Errorf("database %s is not a SQLite database; move it away or point --database at another file (nothing was changed)", path)
	}
	return nil
}

// SQL returns the connection pool, for River's driver.
func (d *DB) SQL() *sql.DB { return d.db }

// Path returns the database file's path.
func (d *DB) Path() string { return d.path }

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

func (d *DB) migrate(ctx context.Context) error {
	if _, err := d.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS butler_migration (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		if strings.Contains(err.Error(), "not a database") {
			return fmt.Errorf("database %s is not a SQLite database or is damaged: %w", d.path, err)
		}
		return fmt.Errorf("migrate database %s: %w", d.path, err)
	}
	names, err := fs.Glob(migrationFS, "migration/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for i, name := range names {
		version := i + 1
		var n int
		if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM butler_migration WHERE version = ?`, version).Scan(&n); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if n > 0 {
			continue
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := d.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO butler_migration (version, applied_at) VALUES (?, ?)`, version, time.Now().UnixNano()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	return nil
}

// Settings returns every stored setting.
func (d *DB) Settings(ctx context.Context) (map[string]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, value FROM butler_setting`)
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
func (d *DB) SaveSettings(ctx context.Context, values map[string]string) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := time.Now().UnixNano()
	for id, v := range values {
		if _, err := tx.ExecContext(ctx, `INSERT INTO butler_setting (id, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, id, v, now); err != nil {
			return err
		}
	}
	return tx.Commit()
}

const runColumns = `id, uuid, task, trigger, state, outcome, reason, summary, error, window_day, day, queue, node, job_id,
	progress, step, created_at, scheduled_at, started_at, ended_at`

type scanner interface{ Scan(...any) error }

func scanRun(s scanner) (butler.Run, error) {
	var r butler.Run
	var task, trigger, state, outcome, window, day string
	var created, scheduled, started, ended int64
	err := s.Scan(&r.ID, &r.UUID, &task, &trigger, &state, &outcome, &r.Reason, &r.Summary, &r.Error, &window, &day,
		&r.Queue, &r.Node, &r.JobID, &r.Progress, &r.Step, &created, &scheduled, &started, &ended)
	if err != nil {
		return r, err
	}
	r.Task, r.Trigger, r.State, r.Outcome = butler.TaskName(task), butler.Trigger(trigger), butler.RunState(state), butler.Outcome(outcome)
	r.Window, r.Day = parseDay(window), parseDay(day)
	r.CreatedAt, r.ScheduledAt, r.StartedAt, r.EndedAt = fromNanos(created), fromNanos(scheduled), fromNanos(started), fromNanos(ended)
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

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// CreateRun inserts r unless its task has an active run.
func (d *DB) CreateRun(ctx context.Context, r *butler.Run) (butler.Run, error) {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	// One transaction, so that the active run that made the insert fail is
	// still there when it is read (another call may finish it in between).
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return butler.Run{}, err
	}
	defer tx.Rollback()
	if r.UUID == "" {
		r.UUID = butler.NewUUID()
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO butler_run (uuid, task, trigger, state, outcome, reason, summary, error,
		window_day, day, queue, node, job_id, progress, step, created_at, scheduled_at, started_at, ended_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.UUID, string(r.Task), string(r.Trigger), string(r.State), string(r.Outcome), r.Reason, r.Summary, r.Error,
		dayString(r.Window), dayString(r.Day), r.Queue, r.Node, r.JobID, r.Progress, r.Step,
		nanos(r.CreatedAt), nanos(r.ScheduledAt), nanos(r.StartedAt), nanos(r.EndedAt))
	if isUnique(err) {
		row := tx.QueryRowContext(ctx, `SELECT `+runColumns+` FROM butler_run WHERE task = ? AND state <> 'finished'`, string(r.Task))
		existing, err := scanRun(row)
		if err != nil {
			return butler.Run{}, fmt.Errorf("read active run of %s: %w", r.Task, err)
		}
		return existing, butler.ErrActiveRun
	}
	if err != nil {
		return butler.Run{}, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return butler.Run{}, err
	}
	if err := tx.Commit(); err != nil {
		return butler.Run{}, err
	}
	r.ID = id
	return *r, nil
}

func isUnique(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// Run returns one run.
func (d *DB) Run(ctx context.Context, id int64) (butler.Run, error) {
	r, err := scanRun(d.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM butler_run WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, butler.Errorf(butler.ENOTFOUND, "no run with id %d", id)
	}
	return r, err
}

// RunByUUID returns the run with the UUID.
func (d *DB) RunByUUID(ctx context.Context, uuid string) (butler.Run, error) {
	r, err := scanRun(d.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM butler_run WHERE uuid = ?`, uuid))
	if errors.Is(err, sql.ErrNoRows) {
		return r, butler.Errorf(butler.ENOTFOUND, "no run with uuid %s", uuid)
	}
	return r, err
}

// Runs returns the runs matching f, newest first.
func (d *DB) Runs(ctx context.Context, f butler.RunFilter) ([]butler.Run, error) {
	var where []string
	var args []any
	if f.Task != "" {
		where, args = append(where, "task = ?"), append(args, string(f.Task))
	}
	if f.Outcome != "" {
		where, args = append(where, "outcome = ?"), append(args, string(f.Outcome))
	}
	if !f.Since.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, f.Since.UnixNano())
	}
	if !f.Before.IsZero() {
		where, args = append(where, "created_at < ?"), append(args, f.Before.UnixNano())
	}
	if f.BeforeID > 0 {
		where, args = append(where, "id < ?"), append(args, f.BeforeID)
	}
	q := `SELECT ` + runColumns + ` FROM butler_run`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)
	return d.queryRuns(ctx, q, args...)
}

func (d *DB) queryRuns(ctx context.Context, q string, args ...any) ([]butler.Run, error) {
	rows, err := d.db.QueryContext(ctx, q, args...)
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
func (d *DB) ActiveRuns(ctx context.Context) ([]butler.Run, error) {
	return d.queryRuns(ctx, `SELECT `+runColumns+` FROM butler_run WHERE state <> 'finished' ORDER BY id`)
}

func (d *DB) exec1(ctx context.Context, q string, args ...any) (bool, error) {
	res, err := d.db.ExecContext(ctx, q, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// QueueRun moves a scheduled run to queued.
func (d *DB) QueueRun(ctx context.Context, id int64, at time.Time) (bool, error) {
	return d.exec1(ctx, `UPDATE butler_run SET state = 'queued', scheduled_at = ? WHERE id = ? AND state = 'scheduled'`, at.UnixNano(), id)
}

// SetRunJob records the run's queue job.
func (d *DB) SetRunJob(ctx context.Context, id, jobID int64) error {
	_, err := d.db.ExecContext(ctx, `UPDATE butler_run SET job_id = ? WHERE id = ?`, jobID, id)
	return err
}

// StartRun moves a queued run to running.
func (d *DB) StartRun(ctx context.Context, id int64, node string, at time.Time) (bool, error) {
	return d.exec1(ctx, `UPDATE butler_run SET state = 'running', node = ?, started_at = ? WHERE id = ? AND state = 'queued'`, node, at.UnixNano(), id)
}

// SaveProgress records a running run's progress.
func (d *DB) SaveProgress(ctx context.Context, id int64, progress int, step string) error {
	_, err := d.db.ExecContext(ctx, `UPDATE butler_run SET progress = ?, step = ? WHERE id = ? AND state = 'running'`, progress, step, id)
	return err
}

// FinishRun ends a run in one of the states from.
func (d *DB) FinishRun(ctx context.Context, id int64, from []butler.RunState, f butler.Finish) (bool, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	states := make([]string, len(from))
	args := []any{string(f.Outcome), f.Reason, f.Summary, f.Error, nanos(f.EndedAt), f.Progress, f.Step, id}
	for i, s := range from {
		states[i] = "?"
		args = append(args, string(s))
	}
	res, err := tx.ExecContext(ctx, `UPDATE butler_run SET state = 'finished', outcome = ?, reason = ?, summary = ?, error = ?,
		ended_at = ?, progress = ?, step = ? WHERE id = ? AND state IN (`+strings.Join(states, ",")+`)`, args...)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return false, err
	}
	if f.Outcome == butler.OutcomeSucceeded && !f.SuccessDay.IsZero() {
		if _, err := tx.ExecContext(ctx, `INSERT INTO butler_task (task, last_success_day, last_success_at)
			SELECT task, ?, ? FROM butler_run WHERE id = ?
			ON CONFLICT (task) DO UPDATE SET last_success_day = excluded.last_success_day, last_success_at = excluded.last_success_at`,
			f.SuccessDay.String(), nanos(f.EndedAt), id); err != nil {
			return false, err
		}
	}
	return true, tx.Commit()
}

// TaskRecords returns every task record.
func (d *DB) TaskRecords(ctx context.Context) (map[butler.TaskName]butler.TaskRecord, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT task, last_success_day, last_success_at, suppressed_day FROM butler_task`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[butler.TaskName]butler.TaskRecord{}
	for rows.Next() {
		var task, last, suppressed string
		var at int64
		if err := rows.Scan(&task, &last, &at, &suppressed); err != nil {
			return nil, err
		}
		out[butler.TaskName(task)] = butler.TaskRecord{LastSuccess: parseDay(last), LastSuccessAt: fromNanos(at), Suppressed: parseDay(suppressed)}
	}
	return out, rows.Err()
}

// Suppress marks the task as stopped in the window of day d.
func (d *DB) Suppress(ctx context.Context, task butler.TaskName, day schedule.Day) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO butler_task (task, suppressed_day) VALUES (?, ?)
		ON CONFLICT (task) DO UPDATE SET suppressed_day = excluded.suppressed_day`, string(task), day.String())
	return err
}

// TasksRunSince returns the tasks with a run created at or after t.
func (d *DB) TasksRunSince(ctx context.Context, t time.Time) (map[butler.TaskName]bool, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT DISTINCT task FROM butler_run WHERE created_at >= ?`, t.UnixNano())
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

// PruneRuns deletes finished runs that ended before t.
func (d *DB) PruneRuns(ctx context.Context, before time.Time) (int, error) {
	res, err := d.db.ExecContext(ctx, `DELETE FROM butler_run WHERE state = 'finished' AND ended_at < ?`, before.UnixNano())
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
