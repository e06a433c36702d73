package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	butler "github.com/plexbutler/butler"
)

const (
	// DefaultMediaGrace is how long an item must have been gone before
	// GarbageCollectLibraryMedia removes it, when Grace is not set.
	DefaultMediaGrace = 7 * 24 * time.Hour
	// mediaGCBatch is how many items one transaction removes.
	mediaGCBatch = 1000
)

// GarbageCollectLibraryMedia is the action of the GarbageCollectLibraryMedia
// task: it removes from the media index the items whose file has been gone
// for longer than a grace period, with what is stored for them (their
// analysis). A file briefly missing — a disk not mounted at the last scan —
// is not forgotten at once: if it is back before the grace period ends,
// the next scan finds it present again, analysis and all.
//
// It deletes in batches of a thousand items, one short transaction each,
// and stops promptly between two batches.
type GarbageCollectLibraryMedia struct {
	// Index is the media index (the server's store).
	Index butler.MediaIndex
	// Grace is how long an item must have been gone; 0 or less means
	// DefaultMediaGrace.
	Grace time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

var _ butler.Action = (*GarbageCollectLibraryMedia)(nil)

// Run removes the items gone for longer than the grace period.
func (a *GarbageCollectLibraryMedia) Run(ctx context.Context, r butler.Reporter) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("library media garbage collection not started: %w", err)
	}
	if a.Index == nil {
		return errors.New("garbage collect library media: no media index")
	}
	grace := a.Grace
	if grace <= 0 {
		grace = DefaultMediaGrace
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	before := now().Add(-grace)
	removed := 0
	for {
		if err := ctx.Err(); err != nil {
			r.Summary(fmt.Sprintf("removed %s gone since before %s", plural(removed, "item", "items"), before.Format(time.RFC3339)))
			return fmt.Errorf("library media garbage collection stopped after removing %s: %w", plural(removed, "item", "items"), err)
		}
		n, err := a.Index.DeleteGoneMediaItems(ctx, before, mediaGCBatch)
		if err != nil {
			if ctx.Err() != nil {
				continue // reported above
			}
			return fmt.Errorf("library media garbage collection, after removing %s: %w", plural(removed, "item", "items"), err)
		}
		if n == 0 {
			break
		}
		removed += n
		r.Progress(-1, fmt.Sprintf("removed %s", plural(removed, "item", "items")))
	}
	r.Logger().Info("library media garbage collected", "removed", removed, "gone_before", before)
	if grace < time.Second {
		// grace_days: 0 (the action's zero Grace is its default).
		r.Summary(fmt.Sprintf("removed %s gone (no grace period)", plural(removed, "item", "items")))
	} else {
		r.Summary(fmt.Sprintf("removed %s gone for more than %s", plural(removed, "item", "items"), formatGrace(grace)))
	}
	return nil
}

// formatGrace writes a grace period in days when it is whole days.
func formatGrace(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return plural(int(d/(24*time.Hour)), "day", "days")
	}
	return d.String()
}
