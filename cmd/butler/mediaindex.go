package main

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/plexbutler/butler"
)

// mediaIndexLink is the media index (with sidecars) the catalog's library
// actions hold.
// The catalog is built before the store is opened (serve checks the config
// file first), so the actions get this link, and serve hands it the store
// once it is open: from then on every call goes to the store. A call
// before that is an EUNAVAILABLE error, never a nil dereference. It is
// safe for concurrent use.
type mediaIndexLink struct {
	index atomic.Pointer[butler.MediaIndex]
}

var _ butler.SidecarIndex = (*mediaIndexLink)(nil)

// set hands the link the store's media index (both stores' keep sidecars
// too: a butler.SidecarIndex).
func (l *mediaIndexLink) set(index butler.MediaIndex) { l.index.Store(&index) }

// get returns the store's media index, or an error when it is not set yet.
func (l *mediaIndexLink) get() (butler.MediaIndex, error) {
	if p := l.index.Load(); p != nil && *p != nil {
		return *p, nil
	}
	return nil, butler.Errorf(butler.EUNAVAILABLE, "the media index is not open yet: the server is still starting; try again once it serves")
}

// MediaItems forwards to the store.
func (l *mediaIndexLink) MediaItems(ctx context.Context, f butler.MediaItemFilter) ([]butler.MediaItem, error) {
	ix, err := l.get()
	if err != nil {
		return nil, err
	}
	return ix.MediaItems(ctx, f)
}

// MediaEntries forwards to the store.
func (l *mediaIndexLink) MediaEntries(ctx context.Context, library, afterPath string, limit int) ([]butler.MediaEntry, error) {
	ix, err := l.get()
	if err != nil {
		return nil, err
	}
	return ix.MediaEntries(ctx, library, afterPath, limit)
}

// MediaItem forwards to the store.
func (l *mediaIndexLink) MediaItem(ctx context.Context, id int64) (butler.MediaItem, error) {
	ix, err := l.get()
	if err != nil {
		return butler.MediaItem{}, err
	}
	return ix.MediaItem(ctx, id)
}

// ApplyMediaChanges forwards to the store.
func (l *mediaIndexLink) ApplyMediaChanges(ctx context.Context, library string, c butler.MediaChanges) error {
	ix, err := l.get()
	if err != nil {
		return err
	}
	return ix.ApplyMediaChanges(ctx, library, c)
}

// MediaItemsToAnalyse forwards to the store.
func (l *mediaIndexLink) MediaItemsToAnalyse(ctx context.Context, f butler.AnalysisFilter) ([]butler.MediaItem, error) {
	ix, err := l.get()
	if err != nil {
		return nil, err
	}
	return ix.MediaItemsToAnalyse(ctx, f)
}

// CountMediaItemsToAnalyse forwards to the store.
func (l *mediaIndexLink) CountMediaItemsToAnalyse(ctx context.Context, f butler.AnalysisFilter) (int, error) {
	ix, err := l.get()
	if err != nil {
		return 0, err
	}
	return ix.CountMediaItemsToAnalyse(ctx, f)
}

// SaveMediaAnalysis forwards to the store.
func (l *mediaIndexLink) SaveMediaAnalysis(ctx context.Context, id int64, file butler.MediaFile, version int, at time.Time, a butler.MediaAnalysis) (bool, error) {
	ix, err := l.get()
	if err != nil {
		return false, err
	}
	return ix.SaveMediaAnalysis(ctx, id, file, version, at, a)
}

// RecordMediaAnalysisFailure forwards to the store.
func (l *mediaIndexLink) RecordMediaAnalysisFailure(ctx context.Context, id int64, file butler.MediaFile, reason string, retryAt time.Time) (bool, error) {
	ix, err := l.get()
	if err != nil {
		return false, err
	}
	return ix.RecordMediaAnalysisFailure(ctx, id, file, reason, retryAt)
}

// MediaAnalysis forwards to the store.
func (l *mediaIndexLink) MediaAnalysis(ctx context.Context, id int64) (butler.MediaAnalysis, int, error) {
	ix, err := l.get()
	if err != nil {
		return butler.MediaAnalysis{}, 0, err
	}
	return ix.MediaAnalysis(ctx, id)
}

// LibraryCounts forwards to the store.
func (l *mediaIndexLink) LibraryCounts(ctx context.Context) ([]butler.LibraryCounts, error) {
	ix, err := l.get()
	if err != nil {
		return nil, err
	}
	return ix.LibraryCounts(ctx)
}

// DeleteGoneMediaItems forwards to the store.
func (l *mediaIndexLink) DeleteGoneMediaItems(ctx context.Context, before time.Time, limit int) (int, error) {
	ix, err := l.get()
	if err != nil {
		return 0, err
	}
	return ix.DeleteGoneMediaItems(ctx, before, limit)
}

// sidecars returns the store's index as a SidecarIndex, or an error when
// it is not set yet or keeps no sidecars.
func (l *mediaIndexLink) sidecars() (butler.SidecarIndex, error) {
	ix, err := l.get()
	if err != nil {
		return nil, err
	}
	si, ok := ix.(butler.SidecarIndex)
	if !ok {
		return nil, butler.Errorf(butler.EINTERNAL, "the media index (%T) keeps no sidecar files", ix)
	}
	return si, nil
}

// MediaSidecars forwards to the store.
func (l *mediaIndexLink) MediaSidecars(ctx context.Context, ids []int64) (map[int64][]butler.MediaSidecar, error) {
	si, err := l.sidecars()
	if err != nil {
		return nil, err
	}
	return si.MediaSidecars(ctx, ids)
}

// MediaSidecarSet forwards to the store.
func (l *mediaIndexLink) MediaSidecarSet(ctx context.Context, id int64) (butler.SidecarSet, error) {
	si, err := l.sidecars()
	if err != nil {
		return butler.SidecarSet{}, err
	}
	return si.MediaSidecarSet(ctx, id)
}

// ReplaceMediaSidecars forwards to the store.
func (l *mediaIndexLink) ReplaceMediaSidecars(ctx context.Context, sets map[int64][]butler.MediaSidecar) (int, error) {
	si, err := l.sidecars()
	if err != nil {
		return 0, err
	}
	return si.ReplaceMediaSidecars(ctx, sets)
}

var _ butler.OutputIndex = (*mediaIndexLink)(nil)

// outputs returns the store's index as an OutputIndex, or an error when
// it is not set yet or records no outputs.
func (l *mediaIndexLink) outputs() (butler.OutputIndex, error) {
	ix, err := l.get()
	if err != nil {
		return nil, err
	}
	oi, ok := ix.(butler.OutputIndex)
	if !ok {
		return nil, butler.Errorf(butler.EINTERNAL, "the media index (%T) records no media outputs", ix)
	}
	return oi, nil
}

// MediaItemsForOutput forwards to the store.
func (l *mediaIndexLink) MediaItemsForOutput(ctx context.Context, f butler.OutputFilter) ([]butler.MediaItem, error) {
	oi, err := l.outputs()
	if err != nil {
		return nil, err
	}
	return oi.MediaItemsForOutput(ctx, f)
}

// CountItemsForOutput forwards to the store.
func (l *mediaIndexLink) CountItemsForOutput(ctx context.Context, f butler.OutputFilter) (int, error) {
	oi, err := l.outputs()
	if err != nil {
		return 0, err
	}
	return oi.CountItemsForOutput(ctx, f)
}

// SaveMediaOutput forwards to the store.
func (l *mediaIndexLink) SaveMediaOutput(ctx context.Context, file butler.MediaFile, o butler.MediaOutput) (bool, error) {
	oi, err := l.outputs()
	if err != nil {
		return false, err
	}
	return oi.SaveMediaOutput(ctx, file, o)
}

// RecordMediaOutputFailure forwards to the store.
func (l *mediaIndexLink) RecordMediaOutputFailure(ctx context.Context, id int64, file butler.MediaFile, kind butler.OutputKind, reason string, retryAt time.Time) (bool, error) {
	oi, err := l.outputs()
	if err != nil {
		return false, err
	}
	return oi.RecordMediaOutputFailure(ctx, id, file, kind, reason, retryAt)
}

// MediaOutputs forwards to the store.
func (l *mediaIndexLink) MediaOutputs(ctx context.Context, id int64) ([]butler.MediaOutput, error) {
	oi, err := l.outputs()
	if err != nil {
		return nil, err
	}
	return oi.MediaOutputs(ctx, id)
}

// MadeMediaOutputs forwards to the store.
func (l *mediaIndexLink) MadeMediaOutputs(ctx context.Context, f butler.OutputFilter) ([]butler.MediaOutput, error) {
	oi, err := l.outputs()
	if err != nil {
		return nil, err
	}
	return oi.MadeMediaOutputs(ctx, f)
}

// ForgetMediaOutput forwards to the store.
func (l *mediaIndexLink) ForgetMediaOutput(ctx context.Context, o butler.MediaOutput) (bool, error) {
	oi, err := l.outputs()
	if err != nil {
		return false, err
	}
	return oi.ForgetMediaOutput(ctx, o)
}
