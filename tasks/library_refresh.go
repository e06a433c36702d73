package tasks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	butler "github.com/plexbutler/butler"
	"github.com/plexbutler/butler/mediascan"
)

// RefreshLibraries is the action of the RefreshLibraries task: it scans
// every library's folders into the media index (package mediascan): new
// files are added, files whose size or modification time changed are
// updated (and lose their analysis), and files no longer found are marked
// gone (GarbageCollectLibraryMedia removes them after a grace period).
// The items of a library that is no longer configured are marked gone too.
//
// A folder that cannot be read (a disk not mounted) leaves its items as
// they are; the run goes on with the rest and fails at the end, naming
// it. With no library configured, a run finishes at once and says so.
type RefreshLibraries struct {
	// Index is the media index (the server's store).
	Index butler.MediaIndex
	// Libraries are the configured libraries.
	Libraries []butler.Library
	// BatchSize is how many changes are written per transaction; 0 means
	// mediascan.DefaultBatchSize.
	BatchSize int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

var _ butler.Action = (*RefreshLibraries)(nil)

// Run scans the libraries, one after another.
func (a *RefreshLibraries) Run(ctx context.Context, r butler.Reporter) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("library scan not started: %w", err)
	}
	if a.Index == nil {
		return errors.New("refresh libraries: no media index")
	}
	log := r.Logger()
	names := map[string]bool{}
	for _, lib := range a.Libraries {
		if err := lib.Validate(); err != nil {
			return err
		}
		if names[lib.Name] {
			return butler.Errorf(butler.EINVALID, "two libraries are named %q: give each its own name", lib.Name)
		}
		names[lib.Name] = true
	}
	counts, err := a.Index.LibraryCounts(ctx)
	if err != nil {
		return fmt.Errorf("refresh libraries: read the index: %w", err)
	}
	// The files to expect: those of the last scan.
	expected := 0
	for _, c := range counts {
		if names[c.Library] {
			expected += c.Present + c.Gone
		}
	}
	s := &mediascan.Scanner{Index: a.Index, BatchSize: a.BatchSize, Now: a.Now, Logger: log}
	var parts []string
	var problems []error
	problemCount := 0
	done := 0
	for _, c := range counts {
		if names[c.Library] || c.Present == 0 {
			continue
		}
		st, err := s.Forget(ctx, c.Library)
		if err != nil {
			return a.stopped(ctx, r, err, parts)
		}
		log.Info("library no longer configured: its items are marked gone", "library", c.Library, "items", st.Gone)
		parts = append(parts, fmt.Sprintf("%s (no longer configured): %d gone", c.Library, st.Gone))
	}
	if len(a.Libraries) == 0 {
		parts = append(parts, "no library configured")
		r.Summary(strings.Join(parts, "; "))
		log.Info("no library configured: nothing to scan")
		return &butler.NothingYet{Reason: "no library configured"}
	}
	libs := slices.Clone(a.Libraries)
	for _, lib := range libs {
		s.Progress = func(st mediascan.Stats) {
			percent := -1
			if expected > 0 {
				percent = min(99, (done+st.Files)*100/expected)
			}
			r.Progress(percent, fmt.Sprintf("scanning %s: %d files", lib.Name, st.Files))
		}
		st, err := s.Scan(ctx, lib)
		if err != nil {
			parts = append(parts, lib.Name+" (not finished): "+st.String())
			return a.stopped(ctx, r, err, parts)
		}
		done += st.Files
		log.Info("library scanned", "library", lib.Name, "files", st.Files, "bytes", st.Bytes, "added", st.Added,
			"changed", st.Changed, "back", st.Revived, "gone", st.Gone, "kept", st.Kept, "problems", st.ProblemCount)
		parts = append(parts, lib.Name+": "+st.String())
		problems = append(problems, st.Problems...)
		problemCount += st.ProblemCount
	}
	r.Progress(100, "scanned")
	r.Summary(strings.Join(parts, "; "))
	if problemCount > 0 {
		return fmt.Errorf("library scan: %s, the first: %w", plural(problemCount, "problem", "problems"), problems[0])
	}
	return nil
}

// stopped is Run's error when a scan ended early: ctx's, or the index's.
func (a *RefreshLibraries) stopped(ctx context.Context, r butler.Reporter, err error, parts []string) error {
	r.Summary(strings.Join(parts, "; "))
	if ctx.Err() != nil {
		return fmt.Errorf("library scan stopped (the batches written stay; the next scan goes on from there): %w", err)
	}
	return fmt.Errorf("library scan: %w", err)
}
