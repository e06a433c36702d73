package butler

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// BusyProbe tells whether the people this server maintains for are busy
// (someone watching on a media server, a loaded machine): heavy work
// (item work, see [ItemAction]) pauses between items meanwhile, and goes on
// when they are not (package busyprobe: Plex, Jellyfin and Emby sessions,
// the load average). reason says what keeps them busy ("Plex: 2 sessions
// playing").
type BusyProbe interface {
	Busy(ctx context.Context) (busy bool, reason string, err error)
}

// Pauser is implemented by the Reporter of a run. WaitIdle returns at once
// when nobody is busy (see [BusyProbe]); otherwise the run is paused, with
// the reason, until nobody is, or until ctx is done (then ctx's error). An
// item action calls it before each item.
type Pauser interface {
	WaitIdle(ctx context.Context) error
}

// PausedStep begins the step of a paused run ("paused: Plex: 1 session
// playing"): the plan and other servers read it from the run's saved
// progress.
const PausedStep = "paused: "

// DefaultBusyEvery is how often the busy probe is asked, by default.
const DefaultBusyEvery = 5 * time.Second

// busyGate asks the busy probe at most once every interval, for every run
// and item of this server.
type busyGate struct {
	probe  BusyProbe
	every  time.Duration
	logger *slog.Logger

	mu        sync.Mutex
	askedAt   time.Time
	busy      bool
	reason    string
	lastError string
}

// check returns whether somebody is busy, asking the probe when its last
// answer is older than the interval. A probe that fails counts as not
// busy (logged once per distinct error).
func (g *busyGate) check(ctx context.Context) (bool, string) {
	if g == nil || g.probe == nil {
		return false, ""
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if !g.askedAt.IsZero() && now.Sub(g.askedAt) < g.every {
		return g.busy, g.reason
	}
	busy, reason, err := g.probe.Busy(ctx)
	if ctx.Err() != nil {
		return g.busy, g.reason
	}
	g.askedAt = now
	g.busy, g.reason = busy, reason
	if err != nil && err.Error() != g.lastError {
		g.logger.Warn("butler: the busy probe failed; counted as nobody busy", slog.String("error", err.Error()))
	}
	if err == nil {
		g.lastError = ""
	} else {
		g.lastError = err.Error()
	}
	return busy, reason
}

// waitIdle returns once nobody is busy, or with ctx's error. While busy it
// calls paused with the reason (again when the reason changes), and
// resumed once it is over.
func (g *busyGate) waitIdle(ctx context.Context, paused func(reason string), resumed func()) error {
	if g == nil {
		return ctx.Err()
	}
	shown := ""
	for {
		busy, reason := g.check(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		if !busy {
			if shown != "" {
				resumed()
			}
			return nil
		}
		if reason == "" {
			reason = "busy"
		}
		if reason != shown {
			paused(reason)
			shown = reason
		}
		t := time.NewTimer(g.every)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// WaitIdle pauses the run while somebody is busy (Pauser).
func (r *reporter) WaitIdle(ctx context.Context) error {
	lr := r.lr
	var before string
	return r.m.busy.waitIdle(ctx, func(reason string) {
		lr.mu.Lock()
		if lr.paused == "" {
			before = lr.step
		}
		percent := lr.percent
		lr.mu.Unlock()
		// Saved first, at once: the plan and the other servers read it
		// there, and see it by the time the activity says paused.
		r.save(percent, PausedStep+reason)
		lr.mu.Lock()
		lr.paused = reason
		lr.mu.Unlock()
		r.logger.Info("butler: run paused", slog.String("reason", reason))
		r.Progress(percent, PausedStep+reason)
	}, func() {
		lr.mu.Lock()
		lr.paused = ""
		percent := lr.percent
		lr.mu.Unlock()
		r.logger.Info("butler: run resumed")
		r.Progress(percent, strings.TrimPrefix(before, PausedStep))
		r.save(percent, strings.TrimPrefix(before, PausedStep))
	})
}
