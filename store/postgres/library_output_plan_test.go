package postgres_test

import (
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler/internal/pgtest"
)

// TestOutputQueries_Plan asks PostgreSQL for the plan of the outputs'
// statements (sqlstore's OutputQueries) on a library of 100,000 analysed
// items, half of them with an output: none may read a whole table; the
// items come from butler_media_item_analysed.
func TestOutputQueries_Plan(t *testing.T) {
	pgtest.URL(t)
	db := open(t)
	now := time.Now()
	at := now.Add(-24 * time.Hour).UnixNano()
	mediaExec(t, db, `INSERT INTO butler_media_item (library, path, kind, size, mtime, state, added_at, changed_at, analysis_version, analysed_at)
		SELECT 'Movies', format('/media/m/%s/film.mkv', lpad(i::text, 6, '0')), 'video', 1000000000 + i, $1::bigint + i, 'present', $1, $1, 1, $1
		FROM generate_series(0, 99999) i`, at)
	mediaExec(t, db, `INSERT INTO butler_media_output (item_id, kind, version, made_at, size, mtime)
		SELECT id, 'index-files', 1, 1, size, mtime FROM butler_media_item WHERE id % 2 = 0`)
	mediaExec(t, db, `ANALYZE butler_media_item`)
	mediaExec(t, db, `ANALYZE butler_media_output`)
	for _, q := range db.OutputQueries(now) {
		plan, err := mediaPlan(t, db, q.SQL, q.Args...)
		if err != nil {
			t.Errorf("EXPLAIN %v: %v", q, err)
			continue
		}
		steps := plan.steps()
		all := strings.Join(steps, " / ")
		t.Logf("%s: %s", q.Name, all)
		for _, s := range steps {
			if strings.HasPrefix(s, "Seq Scan butler_media_") {
				t.Errorf("%s reads the whole table; plan: %s", q.Name, all)
			}
		}
		// The statement of some libraries may read a small library's
		// items through butler_media_item_state instead (then sorted):
		// no full scan either way.
		if q.Name == "MediaItemsForOutput" && !strings.Contains(all, " butler_media_item_analysed") {
			t.Errorf("%s does not read butler_media_item_analysed; plan: %s", q.Name, all)
		}
	}
}
