package api_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/apitype"
)

// queryCountingIndex counts the reads of MediaItems.
type queryCountingIndex struct {
	butler.MediaIndex
	queries atomic.Int64
}

func (c *queryCountingIndex) MediaItems(ctx context.Context, f butler.MediaItemFilter) ([]butler.MediaItem, error) {
	c.queries.Add(1)
	return c.MediaIndex.MediaItems(ctx, f)
}

// TestLibraryItems_ForgedCursorReadsBounded: a cursor's list of the
// libraries after its own is opaque to clients, and a forged one may name
// 1,500 (under the 8 KiB query limit): a page reads the index 64 times at
// most, and gives a cursor to go on, so that one request cannot buy a read
// per name.
func TestLibraryItems_ForgedCursorReadsBounded(t *testing.T) {
	base := newServer(t)
	ix := &queryCountingIndex{MediaIndex: base.db}
	s, _ := newLibraryServer(t, ix)
	at := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	c := butler.MediaChanges{At: at}
	c.Add = append(c.Add, butler.MediaFile{Path: "/m/a.mkv", Kind: butler.MediaVideo, Size: 1, ModTime: at})
	if err := ix.ApplyMediaChanges(context.Background(), "A", c); err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range 1500 {
		names = append(names, fmt.Sprintf("%03x", i))
	}
	raw := "!" + "\x00" + "" + "\x00" + strings.Join(names, "\x00")
	cur := base64.RawURLEncoding.EncodeToString([]byte(raw))
	if len(cur) > 8<<10 {
		t.Fatalf("cursor %d bytes", len(cur))
	}
	before := ix.queries.Load()
	resp, _ := s.do(t, req{method: "GET", path: "/butler/library/items?after=" + cur, header: map[string]string{"Accept": "application/json"}})
	n := ix.queries.Load() - before
	if resp.StatusCode != 200 || n > 64 {
		t.Fatalf("one request with a forged cursor of %d bytes made %d index queries (status %d); want at most 64", len(cur), n, resp.StatusCode)
	}
}

// TestLibraryItems_ManyLibrariesAcrossPages: a listing of every library,
// with more libraries than a page reads (64), gives a cursor before the
// page is full, and the next page goes on: every item is listed once.
func TestLibraryItems_ManyLibrariesAcrossPages(t *testing.T) {
	base := newServer(t)
	s, ix := newLibraryServer(t, base.db)
	at := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	const libs = 70
	for i := range libs {
		c := butler.MediaChanges{At: at, Add: []butler.MediaFile{{Path: fmt.Sprintf("/m/%03d/a.mkv", i), Kind: butler.MediaVideo, Size: 1, ModTime: at}}}
		if err := ix.ApplyMediaChanges(context.Background(), fmt.Sprintf("L%03d", i), c); err != nil {
			t.Fatal(err)
		}
	}
	var all []string
	next, pages := "", 0
	for pages < 10 {
		var p apitype.MediaItemsResponse
		s.getJSON(t, "/butler/library/items?limit=1000&after="+next, &p)
		pages++
		for _, it := range p.MediaContainer.Item {
			all = append(all, it.Library)
		}
		if next = p.MediaContainer.Next; next == "" {
			break
		}
	}
	if len(all) != libs || pages != 2 || all[0] != "L000" || all[libs-1] != fmt.Sprintf("L%03d", libs-1) || !slices.IsSorted(all) {
		t.Errorf("%d libraries of one item each, pages of 1000: %d items in %d pages (%q...); want %d in 2 pages, in order", libs, len(all), pages, all[:min(3, len(all))], libs)
	}
}
