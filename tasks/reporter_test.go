package tasks_test

import (
	"log/slog"
	"sync"
	"testing"
)

// progressEvent is one call of Progress.
type progressEvent struct {
	Percent int
	Step    string
}

// testReporter is a butler.Reporter that records what it is told. It is
// safe for concurrent use. onProgress, when set, is called after each
// Progress call is recorded, outside the lock.
type testReporter struct {
	logger *slog.Logger

	mu         sync.Mutex
	events     []progressEvent
	summaries  []string
	onProgress func(percent int, step string)
}

func newTestReporter(t testing.TB) *testReporter {
	return &testReporter{logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

func (r *testReporter) Progress(percent int, step string) {
	r.mu.Lock()
	r.events = append(r.events, progressEvent{percent, step})
	hook := r.onProgress
	r.mu.Unlock()
	if hook != nil {
		hook(percent, step)
	}
}

func (r *testReporter) Summary(text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.summaries = append(r.summaries, text)
}

func (r *testReporter) Logger() *slog.Logger { return r.logger }

// Output discards the output (outputReporter keeps it).
func (r *testReporter) Output(string) {}

// setOnProgress sets the hook Progress calls.
func (r *testReporter) setOnProgress(f func(percent int, step string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onProgress = f
}

// progress returns a copy of the Progress calls so far.
func (r *testReporter) progress() []progressEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]progressEvent(nil), r.events...)
}

// summary returns the last summary, "" when there was none.
func (r *testReporter) summary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.summaries) == 0 {
		return ""
	}
	return r.summaries[len(r.summaries)-1]
}
