package postgres_test

import (
	"strings"
	"testing"

	"github.com/plexbutler/butler/internal/pgtest"
)

// TestSidecarQueries_NoFullScan asks PostgreSQL for the plan of the
// sidecars' statements (sqlstore's SidecarQueries) on a library of
// 100,000 items with a subtitle and a poster each: none may read the
// whole of a table (a sequential scan); those of butler_media_sidecar
// read its primary key.
func TestSidecarQueries_NoFullScan(t *testing.T) {
	pgtest.URL(t)
	db := open(t)
	mediaExec(t, db, `INSERT INTO butler_media_item (library, path, kind, size, mtime, state, added_at, changed_at)
		SELECT 'Movies', format('/media/m/%s/Some Film Title (%s)/film.mkv', lpad((i / 20)::text, 5, '0'), i), 'video', i, i, 'present', 1, 1
		FROM generate_series(0, 99999) i`)
	mediaExec(t, db, `INSERT INTO butler_media_sidecar (item_id, path, kind, language, flags, size, mtime)
		SELECT id, path || '.en.srt', 'subtitle', 'en', '', 1000, mtime FROM butler_media_item`)
	mediaExec(t, db, `INSERT INTO butler_media_sidecar (item_id, path, kind, size, mtime)
		SELECT id, path || '-poster.jpg', 'poster', 50000, mtime FROM butler_media_item`)
	mediaExec(t, db, `ANALYZE butler_media_item`)
	mediaExec(t, db, `ANALYZE butler_media_sidecar`)
	for _, q := range db.SidecarQueries(40000, 500) {
		plan, err := mediaPlan(t, db, q.SQL, q.Args...)
		if err != nil {
			t.Errorf("EXPLAIN %s: %v", q.Name, err)
			continue
		}
		steps := plan.steps()
		t.Logf("%s: %s", q.Name, strings.Join(steps, " / "))
		for _, s := range steps {
			if strings.HasPrefix(s, "Seq Scan butler_media_") {
				t.Errorf("%s reads the whole table; plan: %s", q.Name, strings.Join(steps, " / "))
			}
		}
		if strings.Contains(q.SQL, "butler_media_sidecar") && !strings.Contains(strings.Join(steps, "\n"), " butler_media_sidecar_pkey") {
			t.Errorf("%s does not read butler_media_sidecar_pkey; plan: %s", q.Name, strings.Join(steps, " / "))
		}
	}
}
