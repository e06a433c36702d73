package butler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Cluster timing. A node beats every HeartbeatEvery; a node silent for
// NodeDeadAfter (or longer: Manager.deadAfter) is dead and its runs end
// interrupted; a node that has not written its heartbeat for FenceAfter
// (it cannot reach the database, or it was frozen) stops its own runs, so
// that a run is never carried on by a node the others have given up on.
const (
	HeartbeatEvery = 2 * time.Second
	NodeDeadAfter  = 10 * time.Second
	FenceAfter     = 7 * time.Second
	leaseFor       = 10 * time.Second
)

// Notification channels between the servers of a cluster.
const (
	channelSettings = "butler_settings"
	channelEvents   = "butler_events"
	// channelStop carries the id of a run that was told to stop to the
	// server that works it.
	channelStop = "butler_stop"
)

// Why a server stopped its own runs (fence).
var (
	errFenced  = errors.New("this server lost the database")
	errFrozen  = errors.New("this server was silent past its guard's lease")
	errGivenUp = errors.New("the other servers counted this server dead")
	errTaken   = errors.New("a server started later took this server's name")
)

// isFence reports whether cause is one of fence's.
func isFence(cause error) bool {
	return errors.Is(cause, errFenced) || errors.Is(cause, errFrozen) || errors.Is(cause, errGivenUp) || errors.Is(cause, errTaken)
}

// clusterState is the Manager's view of the cluster.
type clusterState struct {
	store Cluster
	// incarnation is this process's (Incarnated): its heartbeats carry it,
	// and the jobs held by the server's earlier processes are released.
	incarnation int64
	leader      atomic.Bool
	outbox      chan Event
	failedAt    time.Time // first failed heartbeat of the current failure; zero when healthy
	// lastBeat is when the last heartbeat that was written began (from
	// Start until the first; nil before Start): the heartbeat loop writes
	// it, and the workers read it (silent) before they start any work.
	lastBeat atomic.Pointer[time.Time]
	// fenced is set once fence stopped the runs for the silence since;
	// beaten once a heartbeat was written. The heartbeat loop's alone.
	fenced bool
	beaten bool
	// superseded is set while the heartbeats are refused because a later
	// process runs under this server's name (ErrSuperseded).
	superseded atomic.Bool
	// taken is closed at the first such refusal (Manager.Superseded).
	taken     chan struct{}
	takenOnce sync.Once

	// reap wakes the reaper (reapLoop) after a heartbeat of the leader.
	reap chan struct{}

	// handBacks are the runs of tasks this server does not offer that it
	// handed back for another server (Manager.notOffered).
	handBacks handBacks

	bg     sync.WaitGroup     // the cluster's goroutines
	cancel context.CancelFunc // ends them
}

// setLastBeat records that the last heartbeat written began at t.
func (c *clusterState) setLastBeat(t time.Time) { c.lastBeat.Store(&t) }

// lastBeatAt returns when the last heartbeat written began; zero before
// Start.
func (c *clusterState) lastBeatAt() time.Time {
	if t := c.lastBeat.Load(); t != nil {
		return *t
	}
	return time.Time{}
}

// silent reports whether this server, in a cluster, has not written its
// heartbeat for FenceAfter or longer (or its last was refused: a later
// process took its name), and for how long: the others will
// soon count it dead, or have, and end its runs. Such a server starts no
// work (Execute, ExecuteItem), and stops what it holds (fence). A single
// server is never silent, nor is one whose Start has not begun (its first
// heartbeat is under way).
func (m *Manager) silent() (time.Duration, bool) {
	if m.cluster == nil {
		return 0, false
	}
	last := m.cluster.lastBeatAt()
	if last.IsZero() {
		return 0, false
	}
	d := m.now().Sub(last)
	return d, d >= FenceAfter || m.cluster.superseded.Load()
}

// NameTakenError is NewManager's error when a live process of another
// incarnation runs under the server's name, or a live server runs a Butler
// without incarnations (an older version) in the cluster.
type NameTakenError struct {
	Node  string // the live server
	Older bool   // it runs a Butler without incarnations
	Later bool   // the record is a later incarnation's than this process
}

func (e *NameTakenError) Error() string {
	if e.Later {
		return fmt.Sprintf("butler: a process started after this one holds this server's name, %s: another server runs under it, or the database's clock went back; give each server its own --node (BUTLER_NODE), or start this one again", e.Node)
	}
	if e.Older {
		return fmt.Sprintf("butler: server %s runs an older Butler, which would take this version's servers for gone; stop every server before upgrading, then start them all on the new version", e.Node)
	}
	return fmt.Sprintf("butler: another server is running under this server's name, %s (its heartbeat is live); give each server its own --node (BUTLER_NODE), or stop the other first", e.Node)
}

// nameCheckWait is how long a record of this server's name written by
// another process must have stood still before this one takes the name
// (checkName): a live server whose heartbeats are slow or fail for longer
// than FenceAfter has stopped its runs and takes no more, so a record
// still for that, and a heartbeat to spare, is a dead process's or one
// that does no work.
const nameCheckWait = FenceAfter + HeartbeatEvery

// checkName makes sure, before this process takes any work, that no other
// live process runs under this server's name, and claims the name
// (Cluster.ClaimName): at once when it is free, or once the record another
// process wrote has stood still for nameCheckWait (9 s; this server killed
// and started again at once: its dead process's record). A record whose
// heartbeat moves meanwhile, or one of a later process, is a live twin
// (two servers given, or defaulting to, the same name), which this one
// refuses to join (NameTakenError). The claim is one statement, so of two
// servers of one name started at the same moment, one starts. A live
// server of an older Butler (its record has no incarnation) is refused the
// same way: it would take this one's jobs for those of gone servers.
func (m *Manager) checkName(ctx context.Context) error {
	c := m.cluster
	if c.incarnation == 0 {
		return nil // a queue without incarnations: nothing to tell apart
	}
	if err := m.checkOlderButlers(ctx); err != nil {
		return err
	}
	var seen NodeRecord // the other process's record, as first seen
	for waited := false; ; waited = true {
		claimed, rec, err := c.store.ClaimName(ctx, m.node, c.incarnation, nameCheckWait)
		if err != nil {
			return fmt.Errorf("butler: claim this server's name in the cluster: %w", err)
		}
		switch {
		case claimed:
			if waited {
				m.logger.InfoContext(ctx, "butler: the earlier process of this server's name is gone; starting")
			}
			return nil
		case rec.Heartbeat.IsZero():
			// The record went meanwhile (the others counted it dead):
			// claim again.
			continue
		case rec.Incarnation > c.incarnation:
			return &NameTakenError{Node: m.node, Later: true}
		case !seen.Heartbeat.IsZero() && rec.Incarnation == seen.Incarnation && rec.Heartbeat.After(seen.Heartbeat):
			return &NameTakenError{Node: m.node}
		case seen.Heartbeat.IsZero() || rec.Incarnation != seen.Incarnation:
			seen = rec
		}
		if !waited {
			m.logger.InfoContext(ctx, "butler: another process wrote this server's name in the cluster; waiting until its heartbeat has stood still for "+
				nameCheckWait.String()+" (a process killed and started again) or refusing to start if it moves (another server under this name)")
		}
		t := time.NewTimer(HeartbeatEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// checkOlderButlers refuses to start beside a live server of an older
// Butler (a record of another name without an incarnation), whose
// heartbeat moves within nameCheckWait.
func (m *Manager) checkOlderButlers(ctx context.Context) error {
	first, err := m.cluster.store.Nodes(ctx)
	if err != nil {
		return fmt.Errorf("butler: read the cluster's servers: %w", err)
	}
	watch := map[string]NodeRecord{}
	for name, rec := range first {
		if name != m.node && rec.Incarnation == 0 {
			watch[name] = rec
		}
	}
	if len(watch) == 0 {
		return nil
	}
	t := time.NewTimer(nameCheckWait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	now, err := m.cluster.store.Nodes(ctx)
	if err != nil {
		return fmt.Errorf("butler: read the cluster's servers: %w", err)
	}
	for name, was := range watch {
		if rec, ok := now[name]; ok && rec.Heartbeat.After(was.Heartbeat) && rec.Incarnation == 0 {
			return &NameTakenError{Node: name, Older: true}
		}
	}
	return nil
}

// Superseded returns a channel that is closed when a process started
// later took this server's name in the cluster (another server given the
// same name, or this one started again while this process was frozen):
// this process has stopped its runs and takes no more work, and its server
// should stop (butler serve exits). Nil, never closed, on a single server.
func (m *Manager) Superseded() <-chan struct{} {
	if m.cluster == nil {
		return nil
	}
	return m.cluster.taken
}

// IsLeader reports whether this server plans the windows: always on a
// single server, the lease holder in a cluster.
func (m *Manager) IsLeader() bool {
	return m.cluster == nil || m.cluster.leader.Load()
}

// Node returns this server's name.
func (m *Manager) Node() string { return m.node }

// startCluster starts the heartbeat, lease and listener loops.
func (m *Manager) startCluster(ctx context.Context) {
	c := m.cluster
	m.background(ctx, m.clusterLoop)
	m.background(ctx, m.reapLoop)
	m.background(ctx, func(ctx context.Context) {
		_ = c.store.Listen(ctx, []string{channelSettings, channelEvents, channelStop}, func(ch, payload string) {
			m.onNotification(ctx, ch, payload)
		})
	})
	m.background(ctx, func(ctx context.Context) {
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-c.outbox:
				b, err := encodeClusterEvent(m.node, ev)
				if err != nil {
					continue
				}
				if err := c.store.Notify(ctx, channelEvents, string(b)); err != nil && ctx.Err() == nil {
					m.logger.DebugContext(ctx, "butler: forward event", slog.String("error", err.Error()))
				}
			}
		}
	})
}

// background runs f in a goroutine that Stop waits for.
func (m *Manager) background(ctx context.Context, f func(context.Context)) {
	m.cluster.bg.Add(1)
	go func() {
		defer m.cluster.bg.Done()
		f(ctx)
	}()
}

// publish sends an event to this server's subscribers and, in a cluster, to
// the other servers'.
func (m *Manager) publish(ev Event) {
	m.hub.publish(ev)
	if m.cluster == nil {
		return
	}
	select {
	case m.cluster.outbox <- ev:
	default:
		// The database is slow: updates may be lost, the store has them.
	}
}

func (m *Manager) onNotification(ctx context.Context, ch, payload string) {
	switch ch {
	case channelEvents:
		node, ev, err := decodeClusterEvent([]byte(payload))
		if err != nil || node == m.node {
			return
		}
		if ev.Type == EventStarted {
			// A run this server queued may have been taken by another:
			// its place at this server's gate is not waited for.
			m.gate.forgetRun(ev.Activity.RunID)
		}
		m.hub.publish(ev)
	case channelStop:
		id, err := strconv.ParseInt(payload, 10, 64)
		if err != nil {
			return
		}
		if lr := m.localRun(id); lr != nil {
			lr.stop(errStopped)
		}
	case channelSettings, "":
		if err := m.reloadSettings(ctx); err != nil {
			m.logger.WarnContext(ctx, "butler: reload settings", slog.String("error", err.Error()))
		}
		if ch == "" {
			// Reconnected: a stop sent meanwhile may have been missed.
			m.syncLocalRuns(ctx)
		}
	}
}

// signalStop tells the server that works run r to stop it: a notification
// that server acts on at once, and River's cancellation of the run's job.
// Should both be lost, that server finds the run stopping in the store at
// its next heartbeat (syncLocalRuns).
func (m *Manager) signalStop(ctx context.Context, r Run) {
	if m.cluster != nil {
		if err := m.cluster.store.Notify(ctx, channelStop, strconv.FormatInt(r.ID, 10)); err != nil {
			m.logger.WarnContext(ctx, "butler: tell the server working a run to stop it", slog.Int64("run", r.ID),
				slog.String("node", r.Node), slog.String("error", err.Error()))
		}
	}
	if r.JobID != 0 {
		if err := m.queue.Cancel(ctx, r.JobID); err != nil {
			m.logger.WarnContext(ctx, "butler: cancel job", slog.Int64("job", r.JobID), slog.String("error", err.Error()))
		}
	}
}

// syncLocalRuns stops the local runs that the store says are stopping —
// the fallback for a stop whose notification did not arrive — and those
// it no longer lists as active: ended elsewhere (the other servers gave
// this server up), so that their work stops here too.
func (m *Manager) syncLocalRuns(ctx context.Context) {
	// The local runs first: each has its record before it is registered,
	// so one missing from the active runs read after has ended.
	locals := m.runs.all()
	if len(locals) == 0 {
		return
	}
	runs, err := m.store.ActiveRuns(ctx)
	if err != nil {
		return
	}
	active := make(map[int64]Run, len(runs))
	for _, r := range runs {
		active[r.ID] = r
	}
	for _, lr := range locals {
		r, ok := active[lr.run.ID]
		switch {
		case !ok:
			// Ended elsewhere while it ran here; one still waiting for
			// a slot was removed, and its removal stops it.
			if _, running := lr.activity(); running {
				lr.stop(errGivenUp)
			}
		case r.State == StateStopping && r.Node == m.node:
			lr.stop(errStopped)
		}
	}
}

// reloadSettings reads the settings another server changed.
func (m *Manager) reloadSettings(ctx context.Context) error {
	stored, err := m.store.Settings(ctx)
	if err != nil {
		return err
	}
	s, _ := buildSettings(m.defs, stored)
	m.mu.Lock()
	s.gen = m.settings.gen + 1
	m.settings = s
	m.mu.Unlock()
	m.gate.setLimit(s.MaxConcurrent())
	m.poke()
	return nil
}

// clusterLoop beats, holds or seeks the lease, and, on the leader, ends the
// runs of dead nodes.
func (m *Manager) clusterLoop(ctx context.Context) {
	t := time.NewTicker(HeartbeatEvery)
	defer t.Stop()
	for {
		m.clusterTick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Manager) clusterTick(ctx context.Context) {
	c := m.cluster
	start := m.now()
	// A heartbeat that hangs counts as failed: the fence must not wait on
	// it.
	// The guard's lease and the silence the others wait for, from the
	// same grace (a settings change between them could leave the lease
	// the longer).
	lease := m.guardLease()
	hctx, cancel := context.WithTimeout(ctx, HeartbeatEvery)
	joined, err := c.store.Heartbeat(hctx, m.node, c.incarnation, deadAfter(lease))
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		now := m.now()
		if c.failedAt.IsZero() {
			c.failedAt = now
			if errors.Is(err, ErrSuperseded) {
				// The record is another process's: this one stays silent
				// (fenced, below) while that one runs.
				m.logger.ErrorContext(ctx, "butler: another server runs under this server's name "+m.node+"; this one takes no runs until it is stopped (give each server its own --node)")
			} else {
				m.logger.WarnContext(ctx, "butler: cannot reach the database", slog.String("error", err.Error()))
			}
		}
		c.leader.Store(false)
		switch {
		case errors.Is(err, ErrSuperseded):
			// At once: the later process ended this one's runs at its
			// start, and the leader releases what this one holds.
			c.superseded.Store(true)
			m.fence(ctx, errTaken, "a server started later runs under this server's name")
			c.takenOnce.Do(func() { close(c.taken) })
		case now.Sub(c.lastBeatAt()) >= FenceAfter:
			// At every failed heartbeat, not only the first past
			// FenceAfter: a run this server took meanwhile must not
			// outlive the silence.
			m.fence(ctx, errFenced, "the database has been unreachable too long")
		}
		return
	}
	c.superseded.Store(false)
	// The beat was written. Before the guard's lease is renewed: had the
	// others given this server up while it was silent (frozen by SIGSTOP,
	// a paused container, a suspended machine, whose clock may not count
	// the pause), its record was gone, and it rejoins now; its runs were
	// ended and may run elsewhere. Silent past the guard's lease, its
	// commands were killed.
	switch silent := start.Sub(c.lastBeatAt()); {
	case joined && c.beaten:
		m.fence(ctx, errGivenUp, "the other servers counted this server dead while it was silent, and ended its runs")
	case !c.fenced && silent >= lease:
		m.fence(ctx, errFrozen, "this server was silent for "+silent.Round(time.Second).String()+", and its group guard killed its commands")
	}
	c.beaten = true
	c.setLastBeat(start)
	c.fenced = false
	if m.guard != nil {
		// Counted from before the heartbeat was written: the others count
		// this server's silence from when it was, on the database's clock.
		m.guard.Renew(lease - m.now().Sub(start))
	}
	if !c.failedAt.IsZero() {
		m.logger.InfoContext(ctx, "butler: the database is back", slog.Duration("after", start.Sub(c.failedAt)))
		c.failedAt = time.Time{}
		_ = m.reloadSettings(ctx)
	}
	// Nothing this goroutine waits for may hold the next heartbeat back
	// for long: each call is bounded, and it takes no task lock (the
	// reaper, which does, has a goroutine of its own).
	lctx, cancel := context.WithTimeout(ctx, HeartbeatEvery)
	defer cancel()
	lead, err := c.store.TryLead(lctx, m.node, leaseFor)
	if err != nil {
		c.leader.Store(false)
		return
	}
	if was := c.leader.Swap(lead); lead != was {
		if lead {
			m.logger.InfoContext(ctx, "butler: this server now plans the windows")
			m.poke()
		} else {
			m.logger.InfoContext(ctx, "butler: another server plans the windows")
		}
	}
	m.syncLocalRuns(lctx)
	if lead {
		select {
		case c.reap <- struct{}{}:
		default: // a pass is under way
		}
	}
}

// fence stops this server's runs and item work, for cause: the others
// will soon count it dead, or have, and end its runs as interrupted. It may be called
// again for the same silence (each failed heartbeat past FenceAfter): it
// then stops the runs taken since, and says so only if there were some.
func (m *Manager) fence(ctx context.Context, cause error, why string) {
	again := m.cluster.fenced
	m.cluster.fenced = true
	stopped := 0
	for _, lr := range m.runs.all() {
		if lr.ctx.Err() == nil {
			stopped++
		}
		lr.stop(cause)
	}
	// And the item jobs this server works, whoever's runs they are: given
	// back (ExecuteItem), for servers that are not silent.
	items := m.runs.stopItems(cause)
	if again && stopped == 0 && items == 0 {
		return
	}
	m.logger.WarnContext(ctx, "butler: stopped local runs: "+why, slog.Int("runs", stopped), slog.Int("items", items))
}

// guardLease is how long the group guard lets this server's process groups
// live after the start of its last written heartbeat: long enough for the
// fence's graceful stop (FenceAfter, then the longest grace), with a beat
// to spare.
func (m *Manager) guardLease() time.Duration {
	return FenceAfter + m.MaxStopGrace() + HeartbeatEvery
}

// deadAfter is how long a server must have been silent before its runs are
// ended: NodeDeadAfter, or longer when a task's grace is long — a server
// that lost the database stops its runs after FenceAfter, and their
// processes may take their grace to end; a frozen one's processes are
// killed by its guard when the lease runs out (guardLease). Until then the
// task must not start elsewhere. Each server tells the others its own
// with every heartbeat: a cluster's servers may have different graces, and
// the leader waits for the longer of its own and the silent server's.
func (m *Manager) deadAfter() time.Duration {
	return deadAfter(m.guardLease())
}

// deadAfter is the silence after which a server whose guard holds lease
// counts as dead: a heartbeat after the guard killed its groups.
func deadAfter(lease time.Duration) time.Duration {
	return max(NodeDeadAfter, lease+HeartbeatEvery)
}

// itemStopWait is how long a stopped run of this server waits at most for
// its item jobs still being worked (ItemStopWaiter). In a cluster it is
// the longest silence after which any server counts as dead (each gives
// its own with its heartbeats; this server's own counts too), and a
// heartbeat more: a server that holds one of the items and is frozen, or
// died, has by then had its item programs killed by its group guard, whose
// lease is shorter than that server's dead-after, and has been counted
// dead. Zero on a single server, whose own workers end the items.
func (m *Manager) itemStopWait(ctx context.Context) time.Duration {
	if m.cluster == nil {
		return 0
	}
	most := m.deadAfter()
	rctx, cancel := context.WithTimeout(ctx, HeartbeatEvery)
	defer cancel()
	published, err := m.cluster.store.MaxDeadAfter(rctx)
	if err != nil {
		m.logger.WarnContext(ctx, "butler: read the servers' dead-after limits; a stopped run waits for its items by this server's own",
			slog.Duration("dead_after", most), slog.String("error", err.Error()))
	}
	return max(most, published) + HeartbeatEvery
}

// reapLoop is the leader's reaper: woken after each of its heartbeats, it
// ends the runs of servers that are gone (endDeadNodes). It takes task
// locks, which the control paths hold across store calls, so it has a
// goroutine of its own: the heartbeats never wait for it.
func (m *Manager) reapLoop(ctx context.Context) {
	var rp reaper
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.cluster.reap:
		}
		if !m.cluster.leader.Load() {
			rp = reaper{}
			continue
		}
		m.endDeadNodes(ctx, &rp)
	}
}

// reaper is what the leader's reaper keeps from one pass to the next.
type reaper struct {
	// runs and items are the runs, and the item jobs, that a pass found on
	// a server with no record, with when they were first seen so.
	runs, items map[int64]time.Time
	// released are the item jobs released (ItemReleaser), which River ends
	// in its own time.
	released map[int64]bool
}

// confirm reports whether id, found on a gone server, is to be dealt with
// now: at once when the process holding it is certainly gone (certain: a
// later process of its server has written a heartbeat), otherwise once
// passes a heartbeat apart or more have seen it so (prev, when each was
// first seen); next keeps what is to be seen again.
func confirm(prev, next map[int64]time.Time, id int64, certain bool, now time.Time) bool {
	if certain {
		return true
	}
	seen, ok := prev[id]
	if ok && now.Sub(seen) >= HeartbeatEvery {
		return true
	}
	next[id] = cmp.Or(seen, now)
	return false
}

// holderState is what the leader knows of the process holding a run or a
// job: whether it is gone, and whether that is certain.
type holderState struct {
	gone, certain bool
}

// holders judges holders (HolderID) against the cluster's records of live
// servers (Cluster.Nodes) and this server's own process.
type holders struct {
	live        map[string]NodeRecord
	self        string
	incarnation int64 // this process's
}

// of judges holder. A holder is certainly gone when a later incarnation of
// its server has written a heartbeat (or is this process): the server was
// restarted under its name, however soon. It is gone, to be confirmed by a
// second pass, when its server has no record: counted dead by this or an
// earlier pass (DeadNodes), or stopped cleanly with runs it could not
// record ended — a server that starts again under its name may take a run
// in the moment before its first heartbeat writes its record.
func (h holders) of(holder string) holderState {
	node, inc := ParseHolderID(holder)
	if node == "" {
		return holderState{}
	}
	if node == h.self {
		return holderState{gone: inc < h.incarnation, certain: true}
	}
	rec, there := h.live[node]
	switch {
	case !there:
		return holderState{gone: true}
	case inc < rec.Incarnation:
		return holderState{gone: true, certain: true}
	}
	return holderState{}
}

// endDeadNodes ends the runs of servers that are gone, and releases the
// item jobs they held (holders.of says which are, and when to act); rp
// keeps what is to be looked at again on the next pass. A queued run whose
// River job a gone process holds (fetched, waiting there for a slot) is
// queued again, and the old job cancelled. (A running run is recorded with
// its server's name only: a server restarted under its name ends its
// earlier process's runs itself, at its start.)
func (m *Manager) endDeadNodes(ctx context.Context, rp *reaper) {
	dead, err := m.cluster.store.DeadNodes(ctx, m.deadAfter())
	if err != nil {
		return
	}
	for _, n := range dead {
		m.logger.WarnContext(ctx, "butler: a server stopped answering", slog.String("node", n))
	}
	live, err := m.cluster.store.Nodes(ctx)
	if err != nil {
		return
	}
	judge := holders{live: live, self: m.node, incarnation: m.cluster.incarnation}
	now := m.now()
	m.releaseItems(ctx, rp, judge, now)
	runs, err := m.store.ActiveRuns(ctx)
	if err != nil {
		return
	}
	rq, _ := m.queue.(Requeuer)
	var held map[int64]string
	if rq != nil && slices.ContainsFunc(runs, func(r Run) bool { return r.State == StateQueued && r.JobID != 0 }) {
		if held, err = rq.Holders(ctx); err != nil {
			return
		}
	}
	next := map[int64]time.Time{}
	defer func() { rp.runs = next }()
	var ending, requeuing []Run
	for _, r := range runs {
		var h holderState
		switch {
		case r.State == StateQueued:
			holder, ok := held[r.JobID]
			if !ok {
				continue
			}
			h = judge.of(holder)
			r.Node = holder // for the log
		case r.State.Working() && r.Node != m.node:
			// Recorded by name: gone when the server has no record.
			_, there := live[r.Node]
			h = holderState{gone: r.Node != "" && !there}
		}
		if !h.gone || !confirm(rp.runs, next, r.ID, h.certain, now) {
			continue
		}
		if r.State == StateQueued {
			requeuing = append(requeuing, r)
		} else {
			ending = append(ending, r)
		}
	}
	if len(ending) == 0 && len(requeuing) == 0 {
		return
	}
	// Under the offered tasks' locks (a run of a task no longer offered
	// cannot be started again, so it needs none).
	unlock, err := m.locks.lockAllCtx(ctx, m.names())
	if err != nil {
		next = rp.runs
		return
	}
	defer unlock()
	for _, r := range requeuing {
		id, err := rq.Requeue(ctx, r)
		if err != nil {
			next[r.ID] = now // again on the next pass
			continue
		}
		_ = m.store.SetRunJob(ctx, r.ID, id)
		// The old job is cancelled, so that River's rescuer ends it (it
		// would stay running for ever) and no later queuing of the run
		// finds it.
		_ = m.queue.Cancel(ctx, r.JobID)
		m.logger.InfoContext(ctx, "butler: run queued again: its server died", slog.Int64("run", r.ID), slog.String("holder", r.Node))
	}
	for _, r := range ending {
		outcome, reason := OutcomeInterrupted, "server "+r.Node+" stopped answering while the task ran"
		if r.State == StateStopping {
			// A stop was asked for before the server fell silent: the
			// work ended (its group guard kills it by the time the server
			// counts dead), and why it was stopped stays the reason.
			outcome, reason = OutcomeStopped, cmp.Or(r.Reason, errStopped.Error())+"; server "+r.Node+" stopped answering before it recorded the end"
		}
		// Only while the gone server holds it.
		_, ok, err := m.finish(ctx, r, []RunState{StateRunning, StateStopping}, Finish{
			Outcome: outcome, Reason: reason,
			EndedAt: now, Progress: r.Progress, Step: r.Step, Node: r.Node,
		})
		if err != nil {
			next[r.ID] = now // again on the next pass
			continue
		}
		if !ok {
			continue
		}
		if r.JobID != 0 {
			_ = m.queue.Cancel(ctx, r.JobID)
		}
		m.publish(Event{Type: EventEnded, Activity: Activity{UUID: r.UUID, RunID: r.ID, Task: r.Task, Title: m.title(r.Task),
			Step: r.Step, Progress: r.Progress, Trigger: r.Trigger, Node: r.Node, Started: r.StartedAt, Outcome: outcome}})
		m.logger.InfoContext(ctx, "butler: run ended: its server died", slog.Int64("run", r.ID), slog.String("node", r.Node), slog.String("outcome", string(outcome)))
	}
}

// releaseItems releases the item jobs that gone processes held
// (ItemReleaser), on the terms of endDeadNodes.
func (m *Manager) releaseItems(ctx context.Context, rp *reaper, judge holders, now time.Time) {
	ir, ok := m.queue.(ItemReleaser)
	if !ok {
		return
	}
	held, err := ir.ItemHolders(ctx)
	if err != nil {
		return
	}
	next := map[int64]time.Time{}
	released := map[int64]bool{}
	for id, holder := range held {
		h := judge.of(holder)
		switch {
		case rp.released[id]:
			released[id] = true // River has yet to end it
		case !h.gone, !confirm(rp.items, next, id, h.certain, now):
		case ir.ReleaseItem(ctx, id) != nil:
			next[id] = now // again on the next pass
		default:
			released[id] = true
			m.logger.InfoContext(ctx, "butler: item job released: its server died", slog.Int64("job", id), slog.String("holder", holder))
		}
	}
	rp.items, rp.released = next, released
}

func (m *Manager) title(name TaskName) string {
	if t, ok := m.byName[name]; ok {
		return t.Title
	}
	return string(name)
}

// leaveCluster resigns the lease and leaves the node list (a clean stop).
// A process whose name a later one took leaves both alone: they are the
// later one's (both go by the name; the store checks the incarnation).
func (m *Manager) leaveCluster(ctx context.Context) {
	if m.cluster == nil {
		return
	}
	_ = m.cluster.store.Resign(ctx, m.node, m.cluster.incarnation)
	_ = m.cluster.store.Leave(ctx, m.node, m.cluster.incarnation)
	m.cluster.leader.Store(false)
}
