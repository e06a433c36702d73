package butler

import (
	"context"
	"time"
)

// GateForTest exposes the slot gate to the external tests.
type GateForTest struct{ g *gate }

// NewGateForTest returns a gate with the limit.
func NewGateForTest(limit int) GateForTest { return GateForTest{newGate(limit, time.Now)} }

// Acquire waits for a slot in the order of id.
func (g GateForTest) Acquire(ctx context.Context, id int64) error {
	return g.g.acquire(ctx, gateKey{id: id})
}

// Expect keeps a place for id.
func (g GateForTest) Expect(id int64) { g.g.expect(gateKey{id: id}) }

// Release frees a slot.
func (g GateForTest) Release() { g.g.release() }

// HoldRunForTest registers run id as held by a worker of this server, as
// Execute does before it starts a run, and returns the context a stop
// cancels and a function that unregisters the run.
func (m *Manager) HoldRunForTest(id int64) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	lr := &localRun{run: Run{ID: id}, ctx: ctx, cancel: cancel, done: make(chan struct{}), percent: -1, log: &runLog{}}
	m.runs.add(lr)
	return ctx, func() {
		m.runs.remove(id)
		cancel(nil)
	}
}

// ItemStopWaitForTest returns how long a stopped run of m waits at most
// for its item jobs still being worked (Manager.itemStopWait).
func (m *Manager) ItemStopWaitForTest(ctx context.Context) time.Duration { return m.itemStopWait(ctx) }
