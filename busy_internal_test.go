package butler

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// scriptedProbe is busy for its first busyFor asks.
type scriptedProbe struct {
	asks    atomic.Int32
	busyFor int32
	err     error
}

func (p *scriptedProbe) Busy(context.Context) (bool, string, error) {
	n := p.asks.Add(1)
	if p.err != nil {
		return false, "", p.err
	}
	return n <= p.busyFor, "Plex: 1 session playing", nil
}

func TestBusyGate_PausesUntilIdleAskingOncePerInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &scriptedProbe{busyFor: 3}
		g := &busyGate{probe: p, every: 5 * time.Second, logger: slog.New(slog.DiscardHandler)}
		var paused, resumed int
		start := time.Now()
		err := g.waitIdle(t.Context(), func(reason string) {
			paused++
			if reason != "Plex: 1 session playing" {
				t.Errorf("paused for %q", reason)
			}
		}, func() { resumed++ })
		if err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited != 15*time.Second {
			t.Errorf("waited %v; want 3 busy answers 5 s apart (15 s)", waited)
		}
		if paused != 1 || resumed != 1 || p.asks.Load() != 4 {
			t.Errorf("paused %d, resumed %d, asked %d; want once, once, 4 times", paused, resumed, p.asks.Load())
		}
		// Idle within the interval: the answer is reused.
		if err := g.waitIdle(t.Context(), func(string) { t.Error("paused when idle") }, func() { t.Error("resumed when idle") }); err != nil {
			t.Fatal(err)
		}
		if p.asks.Load() != 4 {
			t.Errorf("asked %d times; want the last answer reused within 5 s", p.asks.Load())
		}
	})
}

func TestBusyGate_StopWhilePausedAndAFailingProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &busyGate{probe: &scriptedProbe{busyFor: 1 << 30}, every: 5 * time.Second, logger: slog.New(slog.DiscardHandler)}
		ctx, cancel := context.WithTimeout(t.Context(), 12*time.Second)
		defer cancel()
		if err := g.waitIdle(ctx, func(string) {}, func() { t.Error("resumed while busy") }); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("stopped while paused: %v; want the context's error", err)
		}
		// A probe that fails counts as nobody busy.
		failing := &busyGate{probe: &scriptedProbe{err: errors.New("connection refused")}, every: time.Second, logger: slog.New(slog.DiscardHandler)}
		if err := failing.waitIdle(t.Context(), func(string) { t.Error("paused on a failing probe") }, func() {}); err != nil {
			t.Fatal(err)
		}
		var none *busyGate
		if err := none.waitIdle(t.Context(), nil, nil); err != nil {
			t.Errorf("no probe: %v", err)
		}
	})
}
