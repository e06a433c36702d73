package sqlite_test

import (
	"strings"
	"testing"
	"time"
)

// TestSidecarQueries_NoFullScan asks SQLite for the plan of the sidecars'
// statements (sqlstore's SidecarQueries) on a library of planItems items
// with a subtitle and a poster each, with no statistics and after
// ANALYZE: each must search butler_media_sidecar by its primary key and
// sort nothing.
func TestSidecarQueries_NoFullScan(t *testing.T) {
	db := open(t, ":memory:")
	fillLibrary(t, db, time.Now(), planItems)
	exec(t, db, `INSERT INTO butler_media_sidecar (item_id, path, kind, language, flags, size, mtime)
		SELECT id, path || '.en.srt', 'subtitle', 'en', '', 1000, mtime FROM butler_media_item`)
	exec(t, db, `INSERT INTO butler_media_sidecar (item_id, path, kind, size, mtime)
		SELECT id, path || '-poster.jpg', 'poster', 50000, mtime FROM butler_media_item`)
	check := func(phase string) {
		t.Helper()
		for _, q := range db.SidecarQueries(40000, 500) {
			plan, err := queryPlan(t.Context(), db, q.SQL, q.Args...)
			if err != nil {
				t.Errorf("%s: EXPLAIN QUERY PLAN %s: %v", phase, q.Name, err)
				continue
			}
			t.Logf("%s: %s: %s", phase, q.Name, strings.Join(plan, " / "))
			for _, step := range plan {
				if strings.Contains(step, "TEMP B-TREE") || strings.HasPrefix(step, "SCAN butler_media_") ||
					(strings.HasPrefix(step, "SEARCH butler_media_") && !strings.Contains(step, "(")) {
					t.Errorf("%s: %s reads a whole table or sorts: %s", phase, q.Name, strings.Join(plan, " / "))
				}
			}
			if strings.Contains(q.SQL, "butler_media_sidecar") && !strings.Contains(strings.Join(plan, "\n"), "SEARCH butler_media_sidecar USING") {
				t.Errorf("%s: %s does not search butler_media_sidecar by a key: %s", phase, q.Name, strings.Join(plan, " / "))
			}
		}
	}
	check("no statistics")
	exec(t, db, `ANALYZE`)
	check("after ANALYZE")
}
