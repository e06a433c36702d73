package postgres_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler/store/postgres"
)

// TestHotQueries_NoFullScan asks PostgreSQL for the plan of every statement
// of the control paths — sqlstore's HotQueries, the one list of them — on a
// history of 50,000 runs whose statistics are up to date (ANALYZE, as
// autovacuum keeps them), with the arguments of a typical call (PostgreSQL
// plans each execution with its values until a generic plan is no dearer),
// and fails when one would read the whole of butler_run, or a share of it
// that grows with the history (see fullScans).
func TestHotQueries_NoFullScan(t *testing.T) {
	db := open(t)
	now := time.Now()
	fillHistory(t, db, now, 50000)
	exec(t, db, `INSERT INTO butler_run (uuid, task, trigger, state, queue, created_at, scheduled_at, started_at) VALUES
		('active-1', 'Task1', 'manual', 'running', 'manual', $1, $1, $1),
		('active-2', 'Task2', 'window', 'scheduled', 'maintenance', $1, $1, 0),
		('active-3', 'Task3', 'window', 'queued', 'maintenance', $1, $1, 0)`, now.Add(-time.Hour).UnixNano())
	exec(t, db, `ANALYZE butler_run`)
	ix := readIndexes(t, db)
	for _, q := range db.HotQueries(now, "Task1") {
		plan, err := explain(t, db, q.SQL, q.Args...)
		if err != nil {
			t.Errorf("EXPLAIN %v: %v", q, err)
			continue
		}
		if bad := ix.fullScans(plan); len(bad) > 0 {
			t.Errorf("%v\nreads the whole of butler_run: %s\nplan:\n%s", q, strings.Join(bad, "; "), plan.String())
		}
	}
}

// TestHistoryQueries_NoFullScan asks PostgreSQL for the plan of every page
// of the history in sqlstore's HistoryQueries on a history of 50,000 runs
// of several outcomes whose statistics are up to date, and fails when one
// would read more than its page's worth of rows (see historyScans).
func TestHistoryQueries_NoFullScan(t *testing.T) {
	db := open(t)
	now := time.Now()
	fillHistory(t, db, now, 50000)
	exec(t, db, `UPDATE butler_run SET outcome = CASE WHEN id % 5000 = 0 THEN 'stopped' WHEN id % 50 = 0 THEN 'skipped' ELSE 'failed' END
		WHERE id % 20 = 0 OR id % 50 = 0`)
	exec(t, db, `ANALYZE butler_run`)
	ix := readIndexes(t, db)
	qs := db.HistoryQueries(now, "Task1")
	if len(qs) == 0 {
		t.Fatal("no history queries")
	}
	for _, q := range qs {
		plan, err := explain(t, db, q.SQL, q.Args...)
		if err != nil {
			t.Errorf("EXPLAIN %v: %v", q, err)
			continue
		}
		if bad := ix.historyScans(plan, q.Equal); len(bad) > 0 {
			t.Errorf("%v\nreads more than its page: %s\nplan:\n%s", q, strings.Join(bad, "; "), plan.String())
		}
	}
}

// TestHistoryQueries_ScanDetected checks the check of the history pages:
// the pages that read the whole table, or a task's whole history, before
// butler_run had its indexes of outcomes and Runs its bound on the id.
func TestHistoryQueries_ScanDetected(t *testing.T) {
	db := open(t)
	fillHistory(t, db, time.Now(), 50000)
	exec(t, db, `DROP INDEX butler_run_outcome`)
	exec(t, db, `DROP INDEX butler_run_task_outcome`)
	exec(t, db, `ANALYZE butler_run`)
	ix := readIndexes(t, db)
	cols := `SELECT id, uuid, task FROM butler_run`
	for _, tc := range []struct {
		q     string
		equal []string
	}{
		{cols + ` WHERE outcome = 'interrupted' ORDER BY id DESC LIMIT 21`, []string{"outcome"}},
		{cols + ` WHERE task = 'Task1' AND outcome = 'failed' ORDER BY id DESC LIMIT 21`, []string{"task", "outcome"}},
		{cols + ` WHERE created_at < 5 ORDER BY id DESC LIMIT 21`, nil},
		{cols + ` WHERE task = 'Task1' ORDER BY created_at DESC LIMIT 21`, []string{"task"}}, // the task's runs, sorted
	} {
		plan, err := explain(t, db, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if len(ix.historyScans(plan, tc.equal)) == 0 {
			t.Errorf("%s: not seen as reading more than its page; plan:\n%s", tc.q, plan.String())
		}
	}
}

// TestHotQueries_FullScanDetected checks the check: statements that read
// the whole table, or a task's whole history, are caught.
func TestHotQueries_FullScanDetected(t *testing.T) {
	db := open(t)
	fillHistory(t, db, time.Now(), 50000)
	exec(t, db, `ANALYZE butler_run`)
	ix := readIndexes(t, db)
	for _, q := range []string{
		`SELECT id FROM butler_run WHERE outcome = 'failed' ORDER BY id`,
		`SELECT count(*) FROM butler_run`,
		`SELECT id FROM butler_run WHERE task = 'Task1' ORDER BY id DESC`,
		`DELETE FROM butler_run WHERE state = 'finished' AND summary = ''`,
		`SELECT min(id) FROM butler_run WHERE created_at >= 5`,
	} {
		plan, err := explain(t, db, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(ix.fullScans(plan)) == 0 {
			t.Errorf("%s: not seen as a full scan; plan:\n%s", q, plan.String())
		}
	}
}

// fillHistory inserts n finished runs of 15 tasks, created over the 89 days
// before now, with the sizes of real ones (some 700 bytes).
func fillHistory(t *testing.T, db *postgres.DB, now time.Time, n int) {
	t.Helper()
	from := now.Add(-89 * 24 * time.Hour).UnixNano()
	step := int64(89*24*time.Hour) / int64(n)
	exec(t, db, `INSERT INTO butler_run (uuid, task, trigger, state, outcome, summary, window_day, day, queue, node, progress, step,
			created_at, scheduled_at, started_at, ended_at, log)
		SELECT 'history-' || i, 'Task' || (i % 15), 'window', 'finished', 'succeeded', 'did what it was asked', '2025-03-14', '2025-03-14',
			'maintenance', 'local', 100, 'done', $2::bigint + i * $3::bigint, $2::bigint + i * $3::bigint, $2::bigint + i * $3::bigint,
			$2::bigint + i * $3::bigint + 60000000000, repeat('x', 600)
		FROM generate_series(0, $1::int - 1) AS i`, n, from, step)
}

func exec(t *testing.T, db *postgres.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.DB.ExecContext(t.Context(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// planNode is a node of EXPLAIN (FORMAT JSON).
type planNode struct {
	NodeType  string     `json:"Node Type"`
	Relation  string     `json:"Relation Name"`
	Index     string     `json:"Index Name"`
	IndexCond string     `json:"Index Cond"`
	Operation string     `json:"Operation"`
	Plans     []planNode `json:"Plans"`
}

func (n planNode) String() string {
	var b strings.Builder
	var walk func(n planNode, depth int)
	walk = func(n planNode, depth int) {
		fmt.Fprintf(&b, "%s%s", strings.Repeat("  ", depth), n.NodeType)
		if n.Operation != "" {
			fmt.Fprintf(&b, " (%s)", n.Operation)
		}
		if n.Relation != "" {
			fmt.Fprintf(&b, " on %s", n.Relation)
		}
		if n.Index != "" {
			fmt.Fprintf(&b, " using %s", n.Index)
		}
		if n.IndexCond != "" {
			fmt.Fprintf(&b, " [%s]", n.IndexCond)
		}
		b.WriteByte('\n')
		for _, c := range n.Plans {
			walk(c, depth+1)
		}
	}
	walk(n, 0)
	return b.String()
}

// explain returns PostgreSQL's plan of q with args: a custom plan, for
// these values.
func explain(t *testing.T, db *postgres.DB, q string, args ...any) (planNode, error) {
	t.Helper()
	var out string
	if err := db.DB.QueryRowContext(t.Context(), "EXPLAIN (FORMAT JSON) "+q, args...).Scan(&out); err != nil {
		return planNode{}, err
	}
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal([]byte(out), &plans); err != nil || len(plans) != 1 {
		return planNode{}, fmt.Errorf("read the plan %s: %v", out, err)
	}
	return plans[0].Plan, nil
}

// runIndexes describes the indexes of butler_run, from the catalog.
type runIndexes struct {
	unique     map[string]bool // an equality reads one row
	activeOnly map[string]bool // partial, of the active runs only (or some of them)
	ranged     map[string]bool // on a time: a range of it is bounded by its arguments
}

func readIndexes(t *testing.T, db *postgres.DB) runIndexes {
	t.Helper()
	rows, err := db.DB.QueryContext(t.Context(), `SELECT c.relname, i.indisunique, coalesce(pg_get_expr(i.indpred, i.indrelid), ''),
			pg_get_indexdef(i.indexrelid)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = 'butler_run'::regclass`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ix := runIndexes{unique: map[string]bool{}, activeOnly: map[string]bool{}, ranged: map[string]bool{}}
	for rows.Next() {
		var name, pred, def string
		var unique bool
		if err := rows.Scan(&name, &unique, &pred, &def); err != nil {
			t.Fatal(err)
		}
		ix.unique[name] = unique
		ix.activeOnly[name] = pred == "(state <> 'finished'::text)" || strings.HasPrefix(pred, "(state = ANY (ARRAY['running'::text")
		ix.ranged[name] = strings.HasSuffix(def, "(created_at)") || strings.Contains(def, "(ended_at)") || name == "butler_run_pkey"
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !ix.activeOnly["butler_run_active"] || !ix.activeOnly["butler_run_active_id"] || !ix.unique["butler_run_uuid"] || !ix.ranged["butler_run_created"] {
		t.Fatalf("indexes of butler_run not as expected: %+v", ix)
	}
	return ix
}

// fullScans returns the nodes of plan that read the whole of butler_run, or
// a share of it that grows with the history: a sequential scan of it; an
// index scan without a condition (or with "IS NOT NULL" only), but of an
// index of the active runs only;
// an index scan whose condition is an equality on an index that is neither
// unique nor of the active runs (butler_run_task reads a task's whole
// history), or a range on an index other than the primary key's or a
// time's.
func (ix runIndexes) fullScans(plan planNode) []string {
	var bad []string
	var walk func(n planNode)
	walk = func(n planNode) {
		switch n.NodeType {
		case "Seq Scan", "Sample Scan":
			if n.Relation == "butler_run" {
				bad = append(bad, n.NodeType+" on butler_run")
			}
		case "Index Scan", "Index Only Scan", "Bitmap Index Scan":
			if _, ours := ix.unique[n.Index]; !ours {
				break
			}
			cond := n.IndexCond
			if strings.HasSuffix(cond, " IS NOT NULL)") {
				cond = "" // min(id) and the like: the index in its order, to the first row that matches
			}
			equality := !strings.ContainsAny(cond, "<>")
			ok := ix.activeOnly[n.Index] ||
				cond != "" && (equality && ix.unique[n.Index] || !equality && ix.ranged[n.Index])
			if !ok {
				bad = append(bad, fmt.Sprintf("%s using %s [%s]", n.NodeType, n.Index, n.IndexCond))
			}
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(plan)
	return bad
}

// historyScans returns the nodes of plan, a page of the history comparing
// the columns equal for equality, that read more than the page's worth of
// rows: a sort (of every matching run); a node that fullScans finds, but a
// scan of an index whose condition has each of equal (whose rows in id
// order are the matching runs); and, when equal is not empty, the lack of
// such a scan (the rows of another index or range would be read and
// dropped).
func (ix runIndexes) historyScans(plan planNode, equal []string) []string {
	var bad []string
	searched := false
	var walk func(n planNode)
	walk = func(n planNode) {
		byEqual := len(equal) > 0 && n.Relation == "butler_run" && n.IndexCond != ""
		for _, c := range equal {
			byEqual = byEqual && strings.Contains(n.IndexCond, "("+c+" = ")
		}
		switch {
		case n.NodeType == "Sort" || n.NodeType == "Incremental Sort":
			bad = append(bad, n.NodeType)
		case byEqual:
			searched = true
		default:
			bad = append(bad, ix.fullScans(planNode{NodeType: n.NodeType, Relation: n.Relation, Index: n.Index, IndexCond: n.IndexCond})...)
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(plan)
	if len(equal) > 0 && !searched {
		bad = append(bad, "no index scan by "+strings.Join(equal, ", "))
	}
	return bad
}
