package client

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"

	"github.com/plexbutler/butler/apitype"
)

// Libraries returns the libraries of the server's media index, in name
// order, with their counts: GET /butler/library. A server without a media
// index (one older than this SDK, or a Plex Media Server) answers
// ErrNotFound or a 405 *Error.
func (c *Client) Libraries(ctx context.Context) ([]apitype.Library, error) {
	const op = "get libraries"
	a, err := c.call(ctx, op, http.MethodGet, "/butler/library", nil)
	if err != nil {
		return nil, err
	}
	var j apitype.LibrariesResponse
	var x apitype.LibraryContainer
	if err := decode(op, a, &j, &x); err != nil {
		return nil, err
	}
	list := j.MediaContainer.Library
	if x.XMLName.Local != "" {
		list = x.Library
	}
	if list == nil {
		list = []apitype.Library{}
	}
	return list, nil
}

// MediaItemsQuery selects media items; its zero value selects the first
// 100 items of every library.
type MediaItemsQuery struct {
	// Library selects one library's items, by its name (case-sensitive);
	// "" every library's. A library the index has no items of is
	// ErrNotFound.
	Library string
	// State selects the items whose file is there (apitype.ItemPresent)
	// or was not found at the last scan (apitype.ItemGone); "" both.
	State string
	// Analysis selects the items in one analysis state:
	// apitype.AnalysisAnalysed, AnalysisPending or AnalysisFailed; ""
	// every item.
	Analysis string
	// Prefix selects the items whose path starts with it (an absolute
	// path, such as "/media/Movies/Alien"); "" every path.
	Prefix string
	// Limit is the most items of a page, 1..1000; 0 for the server's
	// default (100).
	Limit int
	// After is the cursor of the page to read: the Next of the page
	// before; "" for the first page.
	After string
}

func (q MediaItemsQuery) values() url.Values {
	v := url.Values{}
	for key, val := range map[string]string{"library": q.Library, "state": q.State, "analysis": q.Analysis,
		"prefix": q.Prefix, "after": q.After} {
		if val != "" {
			v.Set(key, val)
		}
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// MediaItemsPage is one page of media items, in library then path order.
type MediaItemsPage struct {
	// Items are the page's items (without their analysis: MediaItem
	// returns it).
	Items []apitype.MediaItem
	// TotalSize is the number of items the query selects, when the server
	// gives it (on the first page, when its counts tell it); else nil.
	TotalSize *int
	// Next is the cursor of the next page (MediaItemsQuery.After); "" when
	// this page is the last. A page may hold fewer items than the limit,
	// even none, and still have a next one.
	Next string
}

func (c *Client) mediaItems(ctx context.Context, op, path string, q url.Values) (*apitype.MediaItemContainer, error) {
	a, err := c.call(ctx, op, http.MethodGet, path, q)
	if err != nil {
		return nil, err
	}
	var j apitype.MediaItemsResponse
	var x apitype.MediaItemContainer
	if err := decode(op, a, &j, &x); err != nil {
		return nil, err
	}
	if x.XMLName.Local != "" {
		return &x, nil
	}
	return &j.MediaContainer, nil
}

// MediaItems returns one page of media items: GET /butler/library/items.
// ErrBadRequest for a value out of range (a state, an analysis state, a
// limit, a cursor); ErrNotFound for a library the index has no items of.
// MediaItemsAll reads every page.
func (c *Client) MediaItems(ctx context.Context, q MediaItemsQuery) (*MediaItemsPage, error) {
	mc, err := c.mediaItems(ctx, "get media items", "/butler/library/items", q.values())
	if err != nil {
		return nil, err
	}
	items := mc.Item
	if items == nil {
		items = []apitype.MediaItem{}
	}
	return &MediaItemsPage{Items: items, TotalSize: mc.TotalSize, Next: mc.Next}, nil
}

// MediaItemsAll returns every item that q selects, from q.After on, a
// page of q.Limit at a time, for use in a range loop. A failed request
// yields its error once and ends the loop; a loop that breaks early reads
// no further page.
//
//	for it, err := range c.MediaItemsAll(ctx, client.MediaItemsQuery{Analysis: apitype.AnalysisFailed}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(it.Path, it.AnalysisError)
//	}
func (c *Client) MediaItemsAll(ctx context.Context, q MediaItemsQuery) iter.Seq2[apitype.MediaItem, error] {
	return func(yield func(apitype.MediaItem, error) bool) {
		for {
			page, err := c.MediaItems(ctx, q)
			if err != nil {
				yield(apitype.MediaItem{}, err)
				return
			}
			for _, it := range page.Items {
				if !yield(it, nil) {
					return
				}
			}
			if page.Next == "" {
				return
			}
			if page.Next == q.After {
				yield(apitype.MediaItem{}, fmt.Errorf("client: get media items: the server gave the same cursor again (%q)", q.After))
				return
			}
			q.After = page.Next
		}
	}
}

// MediaItem returns one media item with its stored analysis (Media, nil
// when it has none): GET /butler/library/items/{id}. ErrNotFound when
// there is none.
func (c *Client) MediaItem(ctx context.Context, id int64) (*apitype.MediaItem, error) {
	op := fmt.Sprintf("get media item %d", id)
	mc, err := c.mediaItems(ctx, op, "/butler/library/items/"+strconv.FormatInt(id, 10), nil)
	if err != nil {
		return nil, err
	}
	if len(mc.Item) != 1 {
		return nil, fmt.Errorf("client: %s: the answer holds %d items, want 1", op, len(mc.Item))
	}
	return &mc.Item[0], nil
}
