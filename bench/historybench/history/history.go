// Package history fills a Butler database with a synthetic run history:
// finished runs of the real schema (table butler_run), spread evenly over
// the last days across many task names, with mixed triggers and outcomes
// and a fixed amount of text (reason, summary, error and log) per run. It
// is what bench/historybench measures the server against, and can fill
// any Butler database for other experiments:
//
//	go -C bench run ./historybench fill -database PATH|postgres://... -runs 1000000
//
// The rows are made by the database itself, in one INSERT ... SELECT (over a
// recursive CTE on SQLite, over generate_series on PostgreSQL): a million
// runs take seconds. Every value but the UUIDs follows from the run's number,
// so two fills with the same Options and End hold the same history.
package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/store/postgres"
	"github.com/plexbutler/butler/store/sqlite"
)

// Defaults of Options.
const (
	// DefaultDays is how many days the history spans: one less than the
	// default ButlerRunRetentionDays (90), so that no run is old enough to
	// be pruned by the server.
	DefaultDays = 89
	// DefaultTextBytes is the text each run carries (reason, summary,
	// error and log together).
	DefaultTextBytes = 710
	// DefaultSyntheticTasks is how many made-up task names DefaultTasks
	// adds to the catalog's.
	DefaultSyntheticTasks = 100
	// Node is the node name the runs were "run" on.
	Node = "historybench"
)

// Options says what history to make.
type Options struct {
	// Runs is how many finished runs to insert.
	Runs int
	// Tasks are the task names the runs are spread over, evenly; nil means
	// DefaultTasks().
	Tasks []string
	// Days is how far back the history goes; 0 means DefaultDays.
	Days int
	// End is when the newest run was created; the zero time means 15
	// minutes ago (the longest run lasts 10 minutes, so every run has
	// ended by now).
	End time.Time
	// TextBytes is the length of each run's reason, summary, error and log
	// together; 0 means DefaultTextBytes. At least 300.
	TextBytes int
	// Settings are stored as the server's settings (canonical values, as
	// PUT /:/prefs stores them), before the runs are inserted.
	Settings map[string]string
	// Analyze updates the query planner's statistics after the insert
	// (SQLite: ANALYZE, which OptimizeDatabase runs weekly; PostgreSQL:
	// VACUUM ANALYZE of butler_run, which autovacuum would do soon).
	Analyze bool
}

// Stats describes a fill.
type Stats struct {
	Runs      int           // runs inserted
	Elapsed   time.Duration // the whole fill: schema, settings, insert, task records, statistics
	TextBytes float64       // mean length of reason+summary+error+log of the first 1,000 inserted runs
	// DatabaseBytes is the database's size afterwards: the SQLite file
	// (with its WAL), or pg_database_size.
	DatabaseBytes int64
}

// SyntheticTask returns the name of the i-th made-up task (1-based):
// HistoryTask001, HistoryTask002, ... A config file that defines these
// names makes the history's runs those of configured tasks.
func SyntheticTask(i int) string { return fmt.Sprintf("HistoryTask%03d", i) }

// DefaultTasks returns DefaultSyntheticTasks made-up names followed by every
// name of the catalog (butler.DefaultCatalog).
func DefaultTasks() []string {
	var out []string
	for i := 1; i <= DefaultSyntheticTasks; i++ {
		out = append(out, SyntheticTask(i))
	}
	for _, t := range butler.DefaultCatalog() {
		out = append(out, string(t.Name))
	}
	return out
}

// IsPostgres reports whether database names a PostgreSQL database
// (postgres:// or postgresql://) rather than a SQLite file.
func IsPostgres(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// Fill fills database, a SQLite file path or a postgres:// URL; see
// FillSQLite and FillPostgres.
func Fill(ctx context.Context, database string, o Options) (Stats, error) {
	if IsPostgres(database) {
		return FillPostgres(ctx, database, o)
	}
	return FillSQLite(ctx, strings.TrimPrefix(database, "sqlite://"), o)
}

// plan is the resolved Options.
type plan struct {
	runs              int
	names             []string
	start, step       int64 // the i-th run (0-based) is created at start + i*step (Unix ns)
	textBytes         int
	settings          map[string]string
	analyze           bool
	namesJSON, filler string
}

func resolve(o Options) (plan, error) {
	p := plan{runs: o.Runs, names: o.Tasks, textBytes: o.TextBytes, settings: o.Settings, analyze: o.Analyze}
	if p.runs < 0 {
		return p, fmt.Errorf("history: %d runs", p.runs)
	}
	if len(p.names) == 0 {
		p.names = DefaultTasks()
	}
	if p.textBytes == 0 {
		p.textBytes = DefaultTextBytes
	}
	if p.textBytes < 300 {
		return p, fmt.Errorf("history: %d text bytes per run; want at least 300", p.textBytes)
	}
	days := o.Days
	if days == 0 {
		days = DefaultDays
	}
	if days < 1 {
		return p, fmt.Errorf("history: %d days", days)
	}
	end := o.End
	if end.IsZero() {
		end = time.Now().Add(-15 * time.Minute)
	}
	span := int64(days) * int64(24*time.Hour)
	p.start = end.UnixNano() - span
	if p.runs > 1 {
		p.step = span / int64(p.runs-1)
	}
	if p.runs == 1 {
		p.start = end.UnixNano()
	}
	b, err := json.Marshal(p.names)
	if err != nil {
		return p, err
	}
	p.namesJSON = string(b)
	// The log's filler: lines like a task's own, long enough for any
	// TextBytes (the log is cut to the length that makes the total).
	var f strings.Builder
	for i := 0; f.Len() < 2*p.textBytes; i++ {
		fmt.Fprintf(&f, "step %d: examined %d entries, %d unchanged, %d updated, %d removed; cache hit ratio 0.%02d\n",
			i%7+1, 1000+i*37, 900+i*31, 60+i*3, 40+i, 50+i%50)
	}
	p.filler = f.String()
	return p, nil
}

// The hashes that stand in for randomness: the high bits of a Weyl
// sequence (i * odd constant mod 2^32), one constant per quantity, so that
// outcome, trigger, duration and task vary independently enough. Both
// databases compute them in 64-bit integers, identically.
const (
	hashOutcome  = "((((i * 2654435761) % 4294967296) >> 16) % 100)"
	hashTrigger  = "((((i * 2246822519) % 4294967296) >> 16) % 100)"
	hashDuration = "((((i * 3266489917) % 4294967296) >> 16) % 600)"
	hashTask     = "(((i * 668265263) % 4294967296) >> 16)"
)

// The outcome and trigger mixes (percent, cumulative): succeeded 80,
// failed 8, skipped 5, stopped 3, timed_out 2, interrupted 2; window 85,
// start_task 8, force 4, start_all 3.
const (
	outcomeCase = `CASE WHEN ho < 80 THEN 'succeeded' WHEN ho < 88 THEN 'failed' WHEN ho < 93 THEN 'skipped'
		WHEN ho < 96 THEN 'stopped' WHEN ho < 98 THEN 'timed_out' ELSE 'interrupted' END`
	triggerCase = `CASE WHEN ht < 85 THEN 'window' WHEN ht < 93 THEN 'start_task' WHEN ht < 97 THEN 'force' ELSE 'start_all' END`
	// reasonCase and errorCase read outcome.
	reasonCase = `CASE outcome WHEN 'succeeded' THEN ''
		WHEN 'failed' THEN 'the command failed: exited with status 1'
		WHEN 'skipped' THEN 'the window closed before a slot was free (ButlerMaxConcurrentTasks 1)'
		WHEN 'stopped' THEN 'stopped by a request (DELETE /butler/' || task || ')'
		WHEN 'timed_out' THEN 'past its time limit of 4h0m0s'
		ELSE 'the server stopped while it ran' END`
	errorCase = `CASE outcome WHEN 'failed' THEN 'exited with status 1' ELSE '' END`
	columns   = `uuid, task, trigger, state, outcome, reason, summary, error, window_day, day, queue, node, job_id,
		progress, step, created_at, scheduled_at, started_at, ended_at, log`
)

// sqliteFill inserts the runs. Parameters: ?1 runs, ?2 start, ?3 step,
// ?4 number of names, ?5 text bytes, ?6 filler, ?7 node, ?8 and ?9 the
// fill's salt (32 and 16 bits) of the UUIDs. The names are in the temporary
// table historybench_name (k from 0). The UUIDs have the version 4 form;
// they are made of the run's number and the salt (randomblob is slow in a
// million rows): unique within a fill, and across fills unless both salts
// repeat.
const sqliteFill = `WITH RECURSIVE
seq(i) AS (SELECT 0 WHERE ?1 > 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?1),
base AS (
	SELECT i, ?2 + i * ?3 AS created, ` + hashOutcome + ` AS ho, ` + hashTrigger + ` AS ht,
		` + hashDuration + ` AS hd, ` + hashTask + ` % ?4 AS hk
	FROM seq),
named AS (
	SELECT base.*, n.name AS task, ` + outcomeCase + ` AS outcome, ` + triggerCase + ` AS trig,
		strftime('%Y-%m-%dT%H:%M:%SZ', created / 1000000000, 'unixepoch') AS stamp,
		date(created / 1000000000, 'unixepoch') AS d
	FROM base JOIN historybench_name n ON n.k = base.hk),
texted AS (
	SELECT named.*, ` + reasonCase + ` AS reason,
		CASE WHEN outcome IN ('succeeded', 'failed') THEN printf('exited with status %d; output: processed %d items in %d.%03d s | removed %d stale entries | wrote %d bytes | done',
			outcome = 'failed', 1000 + hd * 17, hd, (hd * 7) % 1000, hd % 97, 4096 * (hd + 1)) ELSE '' END AS summary,
		` + errorCase + ` AS error
	FROM named)
INSERT INTO butler_run (` + columns + `)
SELECT printf('%08x-%04x-4%03x-%x%03x-%04x%08x', (((i * 2862933555) % 4294967296) + ?8) % 4294967296,
		((i * 1597334677) % 4294967296) >> 16, ((i * 3812015801) % 4294967296) >> 20, 8 + (((i * 2654435761) % 4294967296) >> 30),
		((i * 2246822519) % 4294967296) >> 20, ?9, i),
	task, trig, 'finished', outcome, reason, summary, error,
	CASE trig WHEN 'window' THEN d ELSE '' END, d,
	CASE WHEN trig IN ('window', 'start_all') THEN 'maintenance' ELSE 'manual' END, ?7, i + 1,
	CASE outcome WHEN 'succeeded' THEN 100 WHEN 'skipped' THEN -1 ELSE hd % 100 END, '',
	created, created,
	CASE outcome WHEN 'skipped' THEN 0 ELSE created + 50000000 END,
	CASE outcome WHEN 'skipped' THEN created + 1000000 ELSE created + 50000000 + (hd + 1) * 1000000000 END,
	substr(printf('%s %s started (trigger %s, run %d of the history)' || char(10) || '%s %s: %s' || char(10), stamp, task, trig, i + 1, stamp, task, outcome) || ?6,
		1, ?5 - length(reason) - length(summary) - length(error))
FROM texted`

// postgresFill is sqliteFill for PostgreSQL: $1 runs, $2 start, $3 step,
// $4 the names (text[]), $5 text bytes, $6 filler, $7 node.
const postgresFill = `INSERT INTO butler_run (` + columns + `)
SELECT gen_random_uuid()::text,
	task, trig, 'finished', outcome, reason, summary, error,
	CASE trig WHEN 'window' THEN d ELSE '' END, d,
	CASE WHEN trig IN ('window', 'start_all') THEN 'maintenance' ELSE 'manual' END, $7, i + 1,
	CASE outcome WHEN 'succeeded' THEN 100 WHEN 'skipped' THEN -1 ELSE hd % 100 END, '',
	created, created,
	CASE outcome WHEN 'skipped' THEN 0 ELSE created + 50000000 END,
	CASE outcome WHEN 'skipped' THEN created + 1000000 ELSE created + 50000000 + (hd + 1) * 1000000000 END,
	left(format(E'%s %s started (trigger %s, run %s of the history)\n%s %s: %s\n', stamp, task, trig, i + 1, stamp, task, outcome) || $6,
		$5 - length(reason) - length(summary) - length(error))
FROM (
	SELECT named.*, ` + reasonCase + ` AS reason,
		CASE WHEN outcome IN ('succeeded', 'failed') THEN format('exited with status %s; output: processed %s items in %s.%s s | removed %s stale entries | wrote %s bytes | done',
			(outcome = 'failed')::int, 1000 + hd * 17, hd, lpad(((hd * 7) % 1000)::text, 3, '0'), hd % 97, 4096 * (hd + 1)) ELSE '' END AS summary,
		` + errorCase + ` AS error
	FROM (
		SELECT base.*, ($4::text[])[(1 + hk)::int] AS task, ` + outcomeCase + ` AS outcome, ` + triggerCase + ` AS trig,
			to_char(to_timestamp(created / 1000000000) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS stamp,
			to_char(to_timestamp(created / 1000000000) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS d
		FROM (
			SELECT i, $2::bigint + i * $3::bigint AS created, ` + hashOutcome + ` AS ho, ` + hashTrigger + ` AS ht,
				` + hashDuration + ` AS hd, ` + hashTask + ` % cardinality($4::text[]) AS hk
			FROM generate_series(0::bigint, $1::bigint - 1) AS i
		) base
	) named
) texted`

// taskRecords gives every task of the history its last success, as
// FinishRun records it: the day and end of its newest succeeded run (found
// through the index on task and id). The names come from a table name(name).
const taskRecords = `INSERT INTO butler_task (task, last_success_day, last_success_at)
SELECT r.task, r.day, r.ended_at FROM %s
	JOIN butler_run r ON r.id = (SELECT id FROM butler_run WHERE task = names.name AND state = 'finished' AND outcome = 'succeeded' ORDER BY id DESC LIMIT 1)
WHERE true
ON CONFLICT (task) DO UPDATE SET last_success_day = excluded.last_success_day, last_success_at = excluded.last_success_at`

// FillSQLite adds o.Runs finished runs to the SQLite database at path,
// creating the file and Butler's tables when missing (through
// store/sqlite.Open, which migrates; River's tables are made by the
// server's first start), stores o.Settings, and updates the task records
// (last success). The insert runs on a connection of its own in one
// transaction, in rollback-journal mode without syncs (the file goes back to
// WAL mode afterwards): no server may have the database open meanwhile.
func FillSQLite(ctx context.Context, path string, o Options) (Stats, error) {
	t0 := time.Now()
	p, err := resolve(o)
	if err != nil {
		return Stats{}, err
	}
	store, err := sqlite.Open(ctx, path)
	if err != nil {
		return Stats{}, err
	}
	if len(p.settings) > 0 {
		if err := store.SaveSettings(ctx, p.settings); err != nil {
			store.Close()
			return Stats{}, fmt.Errorf("history: store the settings: %w", err)
		}
	}
	if err := store.Close(); err != nil {
		return Stats{}, err
	}

	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return Stats{}, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return Stats{}, err
	}
	defer conn.Close()
	exec := func(q string, args ...any) error {
		if _, err := conn.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("history: %s: %w", firstLine(q), err)
		}
		return nil
	}
	for _, q := range []string{
		"PRAGMA journal_mode = DELETE", "PRAGMA synchronous = OFF", "PRAGMA cache_size = -262144",
		"CREATE TEMP TABLE historybench_name (k INTEGER PRIMARY KEY, name TEXT NOT NULL)",
	} {
		if err := exec(q); err != nil {
			return Stats{}, err
		}
	}
	if err := exec("INSERT INTO historybench_name (k, name) SELECT CAST(key AS INTEGER), value FROM json_each(?)", p.namesJSON); err != nil {
		return Stats{}, err
	}
	if err := exec("BEGIN"); err != nil {
		return Stats{}, err
	}
	maxID, err := maxRunID(ctx, conn)
	if err != nil {
		_ = exec("ROLLBACK")
		return Stats{}, err
	}
	// The indexes are made again after the insert: sorting once is
	// cheaper than a million random insertions (the UUIDs').
	indexes, err := runIndexes(ctx, conn)
	if err != nil {
		_ = exec("ROLLBACK")
		return Stats{}, err
	}
	for _, ix := range indexes {
		if err := exec(`DROP INDEX "` + ix.name + `"`); err != nil {
			_ = exec("ROLLBACK")
			return Stats{}, err
		}
	}
	if err := exec(sqliteFill, p.runs, p.start, p.step, len(p.names), p.textBytes, p.filler, Node, rand.Uint32(), rand.Uint32()%65536); err != nil {
		_ = exec("ROLLBACK")
		return Stats{}, err
	}
	for _, ix := range indexes {
		if err := exec(ix.sql); err != nil {
			_ = exec("ROLLBACK")
			return Stats{}, err
		}
	}
	if err := exec(fmt.Sprintf(taskRecords, "historybench_name AS names")); err != nil {
		_ = exec("ROLLBACK")
		return Stats{}, err
	}
	if err := exec("COMMIT"); err != nil {
		return Stats{}, err
	}
	if p.analyze {
		if err := exec("ANALYZE"); err != nil {
			return Stats{}, err
		}
	}
	if err := exec("PRAGMA journal_mode = WAL"); err != nil {
		return Stats{}, err
	}
	st := Stats{Runs: p.runs}
	if err := conn.QueryRowContext(ctx, `SELECT coalesce(avg(length(reason) + length(summary) + length(error) + length(log)), 0) FROM butler_run WHERE id > ? AND id <= ? + 1000`, maxID, maxID).Scan(&st.TextBytes); err != nil {
		return Stats{}, fmt.Errorf("history: measure the runs: %w", err)
	}
	if err := conn.Close(); err != nil {
		return Stats{}, err
	}
	if err := db.Close(); err != nil {
		return Stats{}, err
	}
	for _, f := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(f); err == nil {
			st.DatabaseBytes += fi.Size()
		}
	}
	st.Elapsed = time.Since(t0)
	return st, nil
}

type index struct{ name, sql string }

// runIndexes returns the indexes of butler_run that were made by CREATE
// INDEX (not those of its constraints).
func runIndexes(ctx context.Context, conn *sql.Conn) ([]index, error) {
	rows, err := conn.QueryContext(ctx, `SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'butler_run' AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("history: list the indexes: %w", err)
	}
	defer rows.Close()
	var out []index
	for rows.Next() {
		var ix index
		if err := rows.Scan(&ix.name, &ix.sql); err != nil {
			return nil, err
		}
		out = append(out, ix)
	}
	return out, rows.Err()
}

func maxRunID(ctx context.Context, conn *sql.Conn) (int64, error) {
	var id int64
	if err := conn.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM butler_run`).Scan(&id); err != nil {
		return 0, fmt.Errorf("history: read the newest run: %w", err)
	}
	return id, nil
}

// FillPostgres adds o.Runs finished runs to the PostgreSQL database at url
// (a search_path parameter in it selects a schema), creating Butler's tables
// when missing (store/postgres.Open and Migrate; River's tables are made by
// the server's first start), stores o.Settings and updates the task
// records (last success), the runs and records in one transaction.
func FillPostgres(ctx context.Context, url string, o Options) (Stats, error) {
	t0 := time.Now()
	p, err := resolve(o)
	if err != nil {
		return Stats{}, err
	}
	store, err := postgres.Open(ctx, url)
	if err != nil {
		return Stats{}, err
	}
	if err := store.Migrate(ctx); err != nil {
		store.Close()
		return Stats{}, err
	}
	if len(p.settings) > 0 {
		if err := store.SaveSettings(ctx, p.settings); err != nil {
			store.Close()
			return Stats{}, fmt.Errorf("history: store the settings: %w", err)
		}
	}
	if err := store.Close(); err != nil {
		return Stats{}, err
	}

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return Stats{}, fmt.Errorf("history: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.Begin(ctx)
	if err != nil {
		return Stats{}, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var maxID int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM butler_run`).Scan(&maxID); err != nil {
		return Stats{}, fmt.Errorf("history: read the newest run: %w", err)
	}
	// The indexes are made again after the insert, as on SQLite.
	var indexes []index
	rows, err := tx.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename = 'butler_run'
			AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'butler_run'::regclass)
		ORDER BY indexname`)
	if err != nil {
		return Stats{}, fmt.Errorf("history: list the indexes: %w", err)
	}
	for rows.Next() {
		var ix index
		if err := rows.Scan(&ix.name, &ix.sql); err != nil {
			rows.Close()
			return Stats{}, err
		}
		indexes = append(indexes, ix)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Stats{}, err
	}
	for _, ix := range indexes {
		if _, err := tx.Exec(ctx, `DROP INDEX "`+ix.name+`"`); err != nil {
			return Stats{}, fmt.Errorf("history: drop index %s: %w", ix.name, err)
		}
	}
	if _, err := tx.Exec(ctx, postgresFill, p.runs, p.start, p.step, p.names, p.textBytes, p.filler, Node); err != nil {
		return Stats{}, fmt.Errorf("history: insert the runs: %w", err)
	}
	if _, err := tx.Exec(ctx, `SET LOCAL maintenance_work_mem = '256MB'`); err != nil {
		return Stats{}, err
	}
	for _, ix := range indexes {
		if _, err := tx.Exec(ctx, ix.sql); err != nil {
			return Stats{}, fmt.Errorf("history: %s: %w", ix.sql, err)
		}
	}
	// Statistics first: without them the planner does not find the
	// newest success of each task through the index.
	if _, err := tx.Exec(ctx, `ANALYZE butler_run`); err != nil {
		return Stats{}, fmt.Errorf("history: analyze: %w", err)
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(taskRecords, "unnest($1::text[]) AS names(name)"), p.names); err != nil {
		return Stats{}, fmt.Errorf("history: task records: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Stats{}, err
	}
	if p.analyze {
		if _, err := conn.Exec(ctx, `VACUUM (ANALYZE) butler_run`); err != nil {
			return Stats{}, fmt.Errorf("history: vacuum analyze: %w", err)
		}
	}
	// The fill's gigabyte of writes flushed now, as in a database in use
	// for a while: left to the server's next checkpoint, its fsyncs come
	// during the measurement and a commit waited 290 ms for them. It needs
	// a superuser (or pg_checkpoint); without one the fill goes on and the
	// measurement pays for that checkpoint.
	_, _ = conn.Exec(ctx, `CHECKPOINT`)
	st := Stats{Runs: p.runs}
	if err := conn.QueryRow(ctx, `SELECT coalesce(avg(length(reason) + length(summary) + length(error) + length(log)), 0)::float8 FROM butler_run WHERE id > $1 AND id <= $1 + 1000`, maxID).Scan(&st.TextBytes); err != nil {
		return Stats{}, fmt.Errorf("history: measure the runs: %w", err)
	}
	if err := conn.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&st.DatabaseBytes); err != nil {
		return Stats{}, fmt.Errorf("history: database size: %w", err)
	}
	st.Elapsed = time.Since(t0)
	return st, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// Size is the size of a database: a SQLite file with its WAL, or
// pg_database_size of a PostgreSQL database.
func Size(ctx context.Context, database string) (int64, error) {
	if IsPostgres(database) {
		conn, err := pgx.Connect(ctx, database)
		if err != nil {
			return 0, err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		var n int64
		err = conn.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&n)
		return n, err
	}
	var n int64
	for _, p := range []string{database, database + "-wal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		n += fi.Size()
	}
	return n, nil
}
