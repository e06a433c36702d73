package tasks

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	butler "github.com/plexbutler/butler"
)

// heldQueue is a run's item queue whose items a server holds that never
// ends them (frozen): Wait returns only when its context is done.
type heldQueue struct {
	pending  int
	stopWait time.Duration
}

func (q *heldQueue) Add(ctx context.Context, items []int64) ([]butler.ItemResult, error) {
	q.pending += len(items)
	return nil, nil
}

func (q *heldQueue) Pending() int { return q.pending }

func (q *heldQueue) Wait(ctx context.Context) ([]butler.ItemResult, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (q *heldQueue) Cancel(ctx context.Context) error { return nil }

func (q *heldQueue) StopWait(ctx context.Context) time.Duration { return q.stopWait }

// itemsReporter is a Reporter whose run has an item queue.
type itemsReporter struct{ q butler.ItemQueue }

func (itemsReporter) Progress(int, string)      {}
func (itemsReporter) Summary(string)            {}
func (itemsReporter) Output(string)             {}
func (itemsReporter) Logger() *slog.Logger      { return slog.New(slog.DiscardHandler) }
func (r itemsReporter) Items() butler.ItemQueue { return r.q }

// TestSharedStopWaitsForTheHoldersLease: a stopped run whose item a
// frozen server holds waits as long as its queue says (in a cluster: until
// the holder's group guard has killed the item's programs), not a fixed
// 15 s; and with no bound of its queue's, 15 s.
func TestSharedStopWaitsForTheHoldersLease(t *testing.T) {
	for _, tc := range []struct {
		stopWait, want time.Duration
	}{{23 * time.Second, 23 * time.Second}, {0, sharedStopWait}} {
		synctest.Test(t, func(t *testing.T) {
			q := &heldQueue{stopWait: tc.stopWait}
			ctx, cancel := context.WithCancel(t.Context())
			w := &itemRun{reporter: itemsReporter{q}, log: slog.New(slog.DiscardHandler), parallel: 1, what: "analysed",
				pages: func(ctx context.Context, send func(butler.MediaItem) error) error {
					// A batch: the run queues it at once.
					for id := range int64(sharedWindow / 4) {
						if err := send(butler.MediaItem{ID: id + 1}); err != nil {
							return err
						}
					}
					<-ctx.Done() // more pages to come when the stop comes
					return ctx.Err()
				}}
			done := make(chan time.Duration, 1)
			go func() {
				start := time.Now()
				_ = w.run(ctx)
				done <- time.Since(start)
			}()
			synctest.Wait()
			cancel()
			if took := <-done; took != tc.want {
				t.Errorf("the stopped run returned after %s with its item held; want %s (its queue's bound %s)", took, tc.want, tc.stopWait)
			}
		})
	}
}
