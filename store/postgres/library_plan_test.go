package postgres_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler/internal/pgtest"
	"github.com/plexbutler/butler/store/postgres"
)

// mediaPlanNode is a node of EXPLAIN (FORMAT JSON).
type mediaPlanNode struct {
	NodeType string          `json:"Node Type"`
	Relation string          `json:"Relation Name"`
	Index    string          `json:"Index Name"`
	Plans    []mediaPlanNode `json:"Plans"`
}

// steps lists the plan's nodes, one a line: node type, relation, index.
func (n mediaPlanNode) steps() []string {
	out := []string{strings.TrimSpace(fmt.Sprintf("%s %s %s", n.NodeType, n.Relation, n.Index))}
	for _, c := range n.Plans {
		out = append(out, c.steps()...)
	}
	return out
}

// TestMediaQueries_NoFullScan asks PostgreSQL for the plan of every
// statement of the media index (sqlstore's MediaQueries) on an analysed
// library of 100,000 items (one in ten not analysed, one in a hundred by
// an older version than the rest), and fails when one reads the whole of
// butler_media_item (a sequential scan) or does not read the index made
// for it. (A sort is allowed: PostgreSQL sorts the few items of an older
// version, read from their index, rather than walk the index in order.)
func TestMediaQueries_NoFullScan(t *testing.T) {
	pgtest.URL(t)
	db := open(t)
	now := time.Now()
	at := now.Add(-24 * time.Hour).UnixNano()
	mediaExec(t, db, `INSERT INTO butler_media_item (library, path, kind, size, mtime, state, added_at, changed_at, gone_at, analysis_version, analysed_at)
		SELECT 'Movies', format('/media/m/%s/Some Film Title (%s)/film.mkv', lpad((i / 20)::text, 5, '0'), i), 'video', 1000000000 + i, $1::bigint + i,
			CASE WHEN i % 10 = 3 THEN 'gone' ELSE 'present' END, $1, $1, CASE WHEN i % 10 = 3 THEN $1 ELSE 0 END,
			CASE WHEN i % 10 = 7 THEN 0 WHEN i % 100 = 5 THEN 1 ELSE 2 END, $1
		FROM generate_series(0, 99999) i`, at)
	mediaExec(t, db, `INSERT INTO butler_media_item (library, path, kind, size, mtime, state, added_at, changed_at)
		SELECT 'Music', format('/media/u/%s.flac', lpad(i::text, 6, '0')), 'audio', 30000000, $1, 'present', $1, $1
		FROM generate_series(0, 19999) i`, at)
	mediaExec(t, db, `INSERT INTO butler_media_analysis (item_id, body)
		SELECT id, '{"container":"matroska,webm"}' FROM butler_media_item WHERE analysis_version > 0`)
	mediaExec(t, db, `ANALYZE butler_media_item`)
	mediaExec(t, db, `ANALYZE butler_media_analysis`)
	for _, q := range db.MediaQueries(now, "Movies") {
		plan, err := mediaPlan(t, db, q.SQL, q.Args...)
		if err != nil {
			t.Errorf("EXPLAIN %v: %v", q, err)
			continue
		}
		steps := plan.steps()
		t.Logf("%s: %s", q.Name, strings.Join(steps, " / "))
		for _, s := range steps {
			if strings.HasPrefix(s, "Seq Scan butler_media_") {
				t.Errorf("%v\nreads the whole table; plan: %s", q, strings.Join(steps, " / "))
			}
		}
		if ix := mediaIndexOf(q.Name); ix != "" && !strings.Contains(strings.Join(steps, "\n"), " "+ix) {
			t.Errorf("%v\ndoes not read %s; plan: %s", q, ix, strings.Join(steps, " / "))
		}
	}
}

// mediaIndexOf names the index that the query named name must read.
func mediaIndexOf(name string) string {
	switch {
	case strings.Contains(name, "MediaItemsToAnalyse") && strings.Contains(name, "older version"):
		return "butler_media_item_analysis"
	case strings.Contains(name, "MediaItemsToAnalyse"):
		return "butler_media_item_unanalysed"
	case name == "MediaEntries":
		return "butler_media_item_path"
	case name == "MediaItems":
		return "butler_media_item_path"
	case name == "MediaItems (a state)":
		return "butler_media_item_state"
	case name == "DeleteGoneMediaItems":
		return "butler_media_item_gone"
	}
	return ""
}

func mediaExec(t *testing.T, db *postgres.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.DB.ExecContext(t.Context(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// mediaPlan returns PostgreSQL's plan of q with args (a custom plan, for
// these values).
func mediaPlan(t *testing.T, db *postgres.DB, q string, args ...any) (mediaPlanNode, error) {
	t.Helper()
	var out string
	if err := db.DB.QueryRowContext(t.Context(), "EXPLAIN (FORMAT JSON) "+q, args...).Scan(&out); err != nil {
		return mediaPlanNode{}, err
	}
	var plans []struct {
		Plan mediaPlanNode `json:"Plan"`
	}
	if err := json.Unmarshal([]byte(out), &plans); err != nil || len(plans) != 1 {
		return mediaPlanNode{}, fmt.Errorf("read the plan %s: %v", out, err)
	}
	return plans[0].Plan, nil
}

// TestMediaQueries_FullScanDetected checks the check: statements that read
// the whole table are seen as such, and a query that reads another index
// than its own is caught.
func TestMediaQueries_FullScanDetected(t *testing.T) {
	pgtest.URL(t)
	db := open(t)
	mediaExec(t, db, `INSERT INTO butler_media_item (library, path, kind, size, mtime, state, added_at, changed_at)
		SELECT 'Movies', format('/media/m/%s.mkv', i), 'video', i, i, 'present', 1, 1 FROM generate_series(0, 19999) i`)
	mediaExec(t, db, `ANALYZE butler_media_item`)
	for _, q := range []string{
		`SELECT id FROM butler_media_item WHERE size > 5`,
		`SELECT count(*) FROM butler_media_item WHERE kind = 'video'`,
	} {
		plan, err := mediaPlan(t, db, q)
		if err != nil {
			t.Fatal(err)
		}
		seq := false
		for _, s := range plan.steps() {
			seq = seq || strings.HasPrefix(s, "Seq Scan butler_media_")
		}
		if !seq {
			t.Errorf("%s: not seen as a full scan; plan: %s", q, strings.Join(plan.steps(), " / "))
		}
	}
	plan, err := mediaPlan(t, db, `SELECT id FROM butler_media_item WHERE id > $1 ORDER BY id LIMIT 10`, int64(2))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(plan.steps(), "\n"), " "+mediaIndexOf("MediaItemsToAnalyse")) {
		t.Errorf("a read by primary key is taken for one of %s; plan: %s", mediaIndexOf("MediaItemsToAnalyse"), strings.Join(plan.steps(), " / "))
	}
}
