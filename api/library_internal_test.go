package api

import (
	"context"
	"testing"
	"time"

	"github.com/plexbutler/butler"
)

// countsOnly is a media index that answers LibraryCounts alone, and
// counts its calls.
type countsOnly struct {
	butler.MediaIndex
	reads int
}

func (c *countsOnly) LibraryCounts(context.Context) ([]butler.LibraryCounts, error) {
	c.reads++
	return []butler.LibraryCounts{{Library: "Movies", Present: c.reads}}, nil
}

// TestLibraryCounts_TTL: an index that does not count its changes has its
// counts read again once they are countsTTL old.
func TestLibraryCounts_TTL(t *testing.T) {
	ix := &countsOnly{}
	lc := newLibraryCounts(ix)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	lc.now = func() time.Time { return now }
	read := func() int {
		t.Helper()
		counts, err := lc.get(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return counts[0].Present
	}
	read()
	now = now.Add(countsTTL - time.Millisecond)
	if n := read(); n != 1 || ix.reads != 1 {
		t.Errorf("within the TTL: %d reads, counts of read %d; want 1", ix.reads, n)
	}
	now = now.Add(time.Millisecond)
	if n := read(); n != 2 || ix.reads != 2 {
		t.Errorf("at the TTL: %d reads, counts of read %d; want 2", ix.reads, n)
	}
}
