package sqlite_test

import (
	"strings"
	"testing"
	"time"
)

// TestOutputQueries_Plan asks SQLite for the plan of the outputs'
// statements (sqlstore's OutputQueries) on a library of planItems analysed
// items, half of them with an output, with no statistics and after
// ANALYZE: the items come from butler_media_item_analysed in id order
// (nothing sorted), each output is searched by its primary key, and the
// writes read the item by its id.
func TestOutputQueries_Plan(t *testing.T) {
	db := open(t, ":memory:")
	now := time.Now()
	fillLibrary(t, db, now, planItems)
	exec(t, db, `UPDATE butler_media_item SET analysis_version = 1`)
	exec(t, db, `INSERT INTO butler_media_output (item_id, kind, version, made_at, size, mtime)
		SELECT id, 'index-files', 1, 1, size, mtime FROM butler_media_item WHERE id % 2 = 0`)
	check := func(phase string) {
		t.Helper()
		for _, q := range db.OutputQueries(now) {
			plan, err := queryPlan(t.Context(), db, q.SQL, q.Args...)
			if err != nil {
				t.Errorf("%s: EXPLAIN QUERY PLAN %s: %v", phase, q.Name, err)
				continue
			}
			all := strings.Join(plan, " / ")
			t.Logf("%s: %s: %s", phase, q.Name, all)
			for _, step := range plan {
				// Tables go by their aliases in the items' statements (i, o).
				scan := strings.HasPrefix(step, "SCAN butler_media_") || strings.HasPrefix(step, "SCAN i") || strings.HasPrefix(step, "SCAN o")
				if strings.Contains(step, "TEMP B-TREE") || (scan && !strings.Contains(step, "butler_media_item_analysed")) {
					t.Errorf("%s: %s reads a whole table or sorts: %s", phase, q.Name, all)
				}
			}
			if strings.HasPrefix(q.Name, "MediaItemsForOutput") && !strings.Contains(all, "INDEX butler_media_item_analysed") {
				t.Errorf("%s: %s does not read butler_media_item_analysed: %s", phase, q.Name, all)
			}
			if strings.Contains(q.SQL, "FROM butler_media_output") &&
				!strings.Contains(all, "SEARCH butler_media_output USING") && !strings.Contains(all, "SEARCH o USING") {
				t.Errorf("%s: %s does not search butler_media_output by its key: %s", phase, q.Name, all)
			}
		}
	}
	check("no statistics")
	exec(t, db, `ANALYZE`)
	check("after ANALYZE")
}
