package sqlite_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler/store/sqlite"
)

// planItems is how many films the plan tests' library holds (and a fifth
// as many songs). SQLite chooses the same plan for every statement at
// 20,000 items as at 100,000 (compared, with and without statistics), and
// the library is filled five times faster: under the race detector, which
// runs SQLite's own code some forty times slower, 100,000 took a minute
// per test.
const planItems = 20000

// TestMediaQueries_NoFullScan asks SQLite for the plan of every statement
// of the media index (sqlstore's MediaQueries) on a library of planItems
// items, with no statistics and after ANALYZE, and fails when one reads
// the whole of butler_media_item or sorts what it reads.
func TestMediaQueries_NoFullScan(t *testing.T) {
	db := open(t, ":memory:")
	now := time.Now()
	fillLibrary(t, db, now, planItems)
	check := func(phase string) {
		t.Helper()
		for _, q := range db.MediaQueries(now, "Movies") {
			plan, err := queryPlan(t.Context(), db, q.SQL, q.Args...)
			if err != nil {
				t.Errorf("%s: EXPLAIN QUERY PLAN %v: %v", phase, q, err)
				continue
			}
			t.Logf("%s: %s: %s", phase, q.Name, strings.Join(plan, " / "))
			if bad := mediaFullScans(plan); len(bad) > 0 {
				t.Errorf("%s: %v\nreads the whole index or sorts: %s\nplan:\n%s", phase, q, strings.Join(bad, "; "), strings.Join(plan, "\n"))
			}
			if ix := mediaIndexOf(q.Name); ix != "" && !strings.Contains(strings.Join(plan, "\n"), "INDEX "+ix+" ") {
				t.Errorf("%s: %v\ndoes not read %s; plan:\n%s", phase, q, ix, strings.Join(plan, "\n"))
			}
		}
	}
	check("no statistics")
	exec(t, db, `ANALYZE`)
	check("after ANALYZE")
}

// TestMediaQueries_FullScanDetected checks the check.
func TestMediaQueries_FullScanDetected(t *testing.T) {
	db := open(t, ":memory:")
	fillLibrary(t, db, time.Now(), 100)
	for _, q := range []string{
		`SELECT id FROM butler_media_item WHERE size > 5`,
		`SELECT id FROM butler_media_item WHERE library = 'Movies' ORDER BY mtime LIMIT 10`,
		`SELECT id FROM butler_media_item WHERE state = 'present' AND analysis_retry_at < 5 ORDER BY id LIMIT 10`,
		`SELECT count(*) FROM butler_media_item`,
	} {
		plan, err := queryPlan(t.Context(), db, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(mediaFullScans(plan)) == 0 {
			t.Errorf("%s: not seen as a full scan; plan:\n%s", q, strings.Join(plan, "\n"))
		}
	}
}

// fillLibrary inserts n items in library Movies (one in ten gone, nine in
// ten analysed, one in a hundred by an older version) and n/5 in library
// Music.
func fillLibrary(t *testing.T, db *sqlite.DB, now time.Time, n int) {
	t.Helper()
	at := now.Add(-24 * time.Hour).UnixNano()
	exec(t, db, `WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i + 1 < ?1)
		INSERT INTO butler_media_item (library, path, kind, size, mtime, state, added_at, changed_at, gone_at, analysis_version, analysed_at)
		SELECT 'Movies', printf('/media/m/%05d/%s (%d)/film.mkv', i / 20, 'Some Film Title', i), 'video', 1000000000 + i, ?2 + i,
			CASE WHEN i % 10 = 3 THEN 'gone' ELSE 'present' END, ?2, ?2, CASE WHEN i % 10 = 3 THEN ?2 ELSE 0 END,
			CASE WHEN i % 10 = 7 THEN 0 WHEN i % 100 = 5 THEN 1 ELSE 2 END, ?2
		FROM g`, n, at)
	exec(t, db, `WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i + 1 < ?1)
		INSERT INTO butler_media_item (library, path, kind, size, mtime, state, added_at, changed_at)
		SELECT 'Music', printf('/media/u/%06d.flac', i), 'audio', 30000000, ?2, 'present', ?2, ?2 FROM g`, n/5, at)
	exec(t, db, `INSERT INTO butler_media_analysis (item_id, body)
		SELECT id, '{"container":"matroska,webm"}' FROM butler_media_item WHERE analysis_version > 0`)
}

var mediaStep = regexp.MustCompile(`^(SCAN|SEARCH) (?:butler_media_item|butler_media_analysis|i|a)\b(.*)$`)

// mediaFullScans returns the steps of plan that scan butler_media_item (or
// one of its indexes) whole, search it without a constraint, or sort.
func mediaFullScans(plan []string) []string {
	var bad []string
	for _, step := range plan {
		if strings.Contains(step, "TEMP B-TREE") {
			bad = append(bad, step)
			continue
		}
		m := mediaStep.FindStringSubmatch(step)
		if m == nil {
			continue
		}
		if m[1] == "SCAN" || !strings.Contains(m[2], "(") {
			bad = append(bad, step)
		}
	}
	return bad
}

// mediaIndexOf names the index that the query named name must read: a
// search by primary key with a range from the first id would pass
// mediaFullScans and still read the whole table.
func mediaIndexOf(name string) string {
	switch {
	case strings.Contains(name, "MediaItemsToAnalyse") && strings.Contains(name, "older version"):
		return "butler_media_item_analysis"
	case strings.Contains(name, "MediaItemsToAnalyse"):
		return "butler_media_item_unanalysed"
	case name == "MediaEntries":
		return "butler_media_item_scan"
	case name == "MediaItems":
		return "butler_media_item_path"
	case name == "MediaItems (a state)":
		return "butler_media_item_state"
	case name == "DeleteGoneMediaItems":
		return "butler_media_item_gone"
	}
	return ""
}
