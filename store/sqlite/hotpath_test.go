package sqlite_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler/store/sqlite"
)

// TestHotQueries_NoFullScan asks SQLite for the plan of every statement of
// the control paths — sqlstore's HotQueries, the one list of them — on a
// history of 20,000 runs and fails when one would read the whole of
// butler_run, or a share of it that grows with the history (see
// fullScans). It asks with no statistics (a new database) and after
// ANALYZE (as the weekly OptimizeDatabase leaves it).
func TestHotQueries_NoFullScan(t *testing.T) {
	ctx := t.Context()
	db := open(t, ":memory:")
	now := time.Now()
	fillHistory(t, db, now, 20000)
	// active makes the active runs exactly the first n of three.
	active := func(n int) {
		t.Helper()
		exec(t, db, `DELETE FROM butler_run WHERE uuid LIKE 'active-%'`)
		exec(t, db, `INSERT INTO butler_run (uuid, task, trigger, state, queue, created_at, scheduled_at, started_at)
			SELECT * FROM (VALUES
				('active-1', 'Task1', 'manual', 'running', 'manual', ?1, ?1, ?1),
				('active-2', 'Task2', 'window', 'scheduled', 'maintenance', ?1, ?1, 0),
				('active-3', 'Task3', 'window', 'queued', 'maintenance', ?1, ?1, 0))
			LIMIT ?2`, now.Add(-time.Hour).UnixNano(), n)
	}
	active(3)
	ix := readIndexes(t, db)

	check := func(phase string) {
		t.Helper()
		for _, q := range db.HotQueries(now, "Task1") {
			plan, err := queryPlan(ctx, db, q.SQL, q.Args...)
			if err != nil {
				t.Errorf("%s: EXPLAIN QUERY PLAN %v: %v", phase, q, err)
				continue
			}
			if bad := ix.fullScans(plan); len(bad) > 0 {
				t.Errorf("%s: %v\nreads the whole of butler_run: %s\nplan:\n%s", phase, q, strings.Join(bad, "; "), strings.Join(plan, "\n"))
			}
		}
	}
	check("no statistics")
	// SQLite's statistics depend on the active runs that ANALYZE saw (one,
	// the OptimizeDatabase run itself, is a likely number).
	for _, n := range []int{3, 1, 0} {
		active(n)
		exec(t, db, `ANALYZE`)
		active(3)
		check(fmt.Sprintf("after an ANALYZE that saw %d active runs", n))
	}
}

// TestHistoryQueries_NoFullScan asks SQLite for the plan of every page of
// the history in sqlstore's HistoryQueries on a history of 20,000 runs of
// several outcomes, with no statistics and after ANALYZE (of the same
// history, and of one whose runs all succeeded), and fails when one would
// read more than its page's worth of rows (see historyScans).
func TestHistoryQueries_NoFullScan(t *testing.T) {
	ctx := t.Context()
	db := open(t, ":memory:")
	now := time.Now()
	fillHistory(t, db, now, 20000)
	mixOutcomes(t, db)
	ix := readIndexes(t, db)
	check := func(phase string) {
		t.Helper()
		qs := db.HistoryQueries(now, "Task1")
		if len(qs) == 0 {
			t.Fatal("no history queries")
		}
		for _, q := range qs {
			plan, err := queryPlan(ctx, db, q.SQL, q.Args...)
			if err != nil {
				t.Errorf("%s: EXPLAIN QUERY PLAN %v: %v", phase, q, err)
				continue
			}
			if bad := ix.historyScans(plan, q.Equal); len(bad) > 0 {
				t.Errorf("%s: %v\nreads more than its page: %s\nplan:\n%s", phase, q, strings.Join(bad, "; "), strings.Join(plan, "\n"))
			}
		}
	}
	check("no statistics")
	// Statistics that saw a single outcome, as of a history where every
	// run succeeded, find no page cheaper by its outcome.
	exec(t, db, `UPDATE butler_run SET outcome = 'succeeded'`)
	exec(t, db, `ANALYZE`)
	mixOutcomes(t, db)
	check("after an ANALYZE that saw one outcome")
	exec(t, db, `ANALYZE`)
	check("after ANALYZE")
}

// TestHistoryQueries_ScanDetected checks the check of the history pages:
// the pages that read the whole table, or a task's whole history, before
// butler_run had its indexes of outcomes and Runs its bound on the id.
func TestHistoryQueries_ScanDetected(t *testing.T) {
	db := open(t, ":memory:")
	fillHistory(t, db, time.Now(), 100)
	ix := readIndexes(t, db)
	exec(t, db, `DROP INDEX butler_run_outcome`)
	exec(t, db, `DROP INDEX butler_run_task_outcome`)
	cols := `SELECT id, uuid, task FROM butler_run`
	for _, tc := range []struct {
		q     string
		equal []string
	}{
		{cols + ` WHERE outcome = 'interrupted' ORDER BY id DESC LIMIT 21`, []string{"outcome"}},
		{cols + ` INDEXED BY butler_run_task WHERE task = 'Task1' AND outcome = 'failed' ORDER BY id DESC LIMIT 21`, []string{"task", "outcome"}},
		{cols + ` WHERE created_at < 5 ORDER BY id DESC LIMIT 21`, nil},
		{cols + ` INDEXED BY butler_run_created WHERE created_at < 5 ORDER BY id DESC LIMIT 21`, nil},                   // every match, sorted
		{cols + ` INDEXED BY butler_run_task WHERE task = 'Task1' ORDER BY created_at DESC LIMIT 21`, []string{"task"}}, // the task's runs, sorted
	} {
		plan, err := queryPlan(t.Context(), db, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if len(ix.historyScans(plan, tc.equal)) == 0 {
			t.Errorf("%s: not seen as reading more than its page; plan:\n%s", tc.q, strings.Join(plan, "\n"))
		}
	}
}

// mixOutcomes gives the history some outcomes other than succeeded: one
// run in 20 failed, one in 50 skipped, one in 5,000 stopped.
func mixOutcomes(t *testing.T, db *sqlite.DB) {
	t.Helper()
	exec(t, db, `UPDATE butler_run SET outcome = CASE WHEN id % 5000 = 0 THEN 'stopped' WHEN id % 50 = 0 THEN 'skipped' ELSE 'failed' END
		WHERE id % 20 = 0 OR id % 50 = 0`)
}

// TestHotQueries_FullScanDetected checks the check: the statements that
// read the whole table before (the active runs without their index in id
// order, the tasks run since, the runs since), and others, are caught.
func TestHotQueries_FullScanDetected(t *testing.T) {
	db := open(t, ":memory:")
	fillHistory(t, db, time.Now(), 100)
	ix := readIndexes(t, db)
	exec(t, db, `DROP INDEX butler_run_active_id`)
	for _, q := range []string{
		`SELECT id FROM butler_run WHERE state <> 'finished' ORDER BY id`,                                   // the table in id order
		`SELECT DISTINCT task FROM butler_run WHERE created_at >= 5`,                                        // butler_run_task, whole
		`SELECT id FROM butler_run WHERE created_at >= 5 ORDER BY id DESC LIMIT 10000`,                      // the table in id order
		`SELECT min(id) FROM butler_run WHERE created_at >= 5`,                                              // the table in id order, to the first match
		`SELECT count(*) FROM butler_run`,                                                                   // the smallest index, whole
		`DELETE FROM butler_run WHERE state = 'finished' AND summary = ''`,                                  // the table
		`SELECT id FROM butler_run INDEXED BY butler_run_ended WHERE state = 'finished'`,                    // a partial index of every finished run
		`SELECT id FROM butler_run INDEXED BY butler_run_task WHERE task = 'Task1' AND state <> 'finished'`, // a task's whole history
	} {
		plan, err := queryPlan(t.Context(), db, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(ix.fullScans(plan)) == 0 {
			t.Errorf("%s: not seen as a full scan; plan:\n%s", q, strings.Join(plan, "\n"))
		}
	}
}

// fillHistory inserts n finished runs of 15 tasks, created over the 89 days
// before now, with the sizes of real ones (some 700 bytes).
func fillHistory(t *testing.T, db *sqlite.DB, now time.Time, n int) {
	t.Helper()
	from := now.Add(-89 * 24 * time.Hour).UnixNano()
	step := int64(89*24*time.Hour) / int64(n)
	exec(t, db, `WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i + 1 < ?1)
		INSERT INTO butler_run (uuid, task, trigger, state, outcome, summary, window_day, day, queue, node, progress, step,
			created_at, scheduled_at, started_at, ended_at, log)
		SELECT printf('history-%d', i), 'Task' || (i % 15), 'window', 'finished', 'succeeded', 'did what it was asked', '2025-03-14', '2025-03-14',
			'maintenance', 'local', 100, 'done', ?2 + i * ?3, ?2 + i * ?3, ?2 + i * ?3, ?2 + i * ?3 + 60000000000, printf('%.600c', 'x')
		FROM g`, n, from, step)
}

func exec(t *testing.T, db *sqlite.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.SQL().ExecContext(t.Context(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// queryPlan returns the lines of SQLite's EXPLAIN QUERY PLAN of q with
// args (SQLite plans with the values bound: its statistics include
// samples).
func queryPlan(ctx context.Context, db *sqlite.DB, q string, args ...any) ([]string, error) {
	rows, err := db.SQL().QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return nil, err
		}
		plan = append(plan, detail)
	}
	return plan, rows.Err()
}

// runIndexes describes the indexes of butler_run, from the schema.
type runIndexes struct {
	// unique: an equality reads one row.
	unique map[string]bool
	// activeOnly: partial, WHERE state <> 'finished'; reading one whole
	// costs O(active runs), whatever the history.
	activeOnly map[string]bool
}

func readIndexes(t *testing.T, db *sqlite.DB) runIndexes {
	t.Helper()
	rows, err := db.SQL().QueryContext(t.Context(), `SELECT il.name, il."unique", coalesce(m.sql, '')
		FROM pragma_index_list('butler_run') il LEFT JOIN sqlite_master m ON m.type = 'index' AND m.name = il.name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ix := runIndexes{unique: map[string]bool{}, activeOnly: map[string]bool{}}
	for rows.Next() {
		var name, def string
		var unique bool
		if err := rows.Scan(&name, &unique, &def); err != nil {
			t.Fatal(err)
		}
		ix.unique[name] = unique
		ix.activeOnly[name] = strings.HasSuffix(strings.TrimSpace(def), "WHERE state <> 'finished'")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !ix.activeOnly["butler_run_active"] || !ix.activeOnly["butler_run_active_id"] || !ix.unique["butler_run_uuid"] {
		t.Fatalf("indexes of butler_run not as expected: %+v", ix)
	}
	return ix
}

var (
	runStep = regexp.MustCompile(`^(SCAN|SEARCH) butler_run\b(?: AS \w+)?(.*)$`)
	// " USING [COVERING ]INDEX name [(constraints)]" or " USING INTEGER
	// PRIMARY KEY (constraints)".
	usingIndex = regexp.MustCompile(`^ USING (?:COVERING )?INDEX (\w+)(?: \((.+)\))?$`)
	usingKey   = regexp.MustCompile(`^ USING INTEGER PRIMARY KEY \((.+)\)$`)
	// A range of creation or end times (the arguments bound it to recent or
	// expired runs) or of ids.
	boundedRange = regexp.MustCompile(`\b(created_at|ended_at|rowid)[<>]`)
)

// fullScans returns the steps of plan that read the whole of butler_run, or
// a share of it that grows with the history:
//   - a SCAN of the table or of an index, but one of the active runs only;
//   - a SEARCH without constraints (SQLite's "SEARCH butler_run" alone walks
//     the table in rowid order, as for min(id));
//   - a SEARCH of an index of every run that is neither unique nor bounded
//     by a range of times: butler_run_task (task=?) reads the task's whole
//     history.
func (ix runIndexes) fullScans(plan []string) []string {
	var bad []string
	for _, step := range plan {
		m := runStep.FindStringSubmatch(step)
		if m == nil {
			continue
		}
		rest := m[2]
		ok := false
		if k := usingKey.FindStringSubmatch(rest); k != nil {
			ok = m[1] == "SEARCH"
		} else if i := usingIndex.FindStringSubmatch(rest); i != nil {
			name, constraint := i[1], i[2]
			switch {
			case ix.activeOnly[name]:
				ok = true
			case m[1] == "SCAN" || constraint == "":
			case ix.unique[name] && !strings.ContainsAny(constraint, "<>"):
				ok = true
			default:
				ok = boundedRange.MatchString(constraint)
			}
		}
		if !ok {
			bad = append(bad, step)
		}
	}
	return bad
}

// historyScans returns the steps of plan, a page of the history comparing
// the columns equal for equality, that read more than the page's worth of
// rows: a sort of the matching runs (SQLite reads every one first); a step
// that fullScans finds, but a search of an index by each of equal (whose
// rows in id order are the matching runs); and, when equal is not empty,
// the lack of such a search (the rows of another index or range would be
// read and dropped).
func (ix runIndexes) historyScans(plan []string, equal []string) []string {
	var bad []string
	byEqual := func(step string) bool {
		m := runStep.FindStringSubmatch(step)
		if len(equal) == 0 || m == nil || m[1] != "SEARCH" {
			return false
		}
		i := usingIndex.FindStringSubmatch(m[2])
		if i == nil {
			return false
		}
		for _, c := range equal {
			if !strings.Contains(" "+i[2], " "+c+"=?") {
				return false
			}
		}
		return true
	}
	searched := false
	for _, step := range plan {
		if strings.HasPrefix(step, "USE TEMP B-TREE FOR") && strings.Contains(step, "ORDER BY") {
			bad = append(bad, step)
		}
		if byEqual(step) {
			searched = true
			continue
		}
		bad = append(bad, ix.fullScans([]string{step})...)
	}
	if len(equal) > 0 && !searched {
		bad = append(bad, "no search by "+strings.Join(equal, ", "))
	}
	return bad
}
