package tasks

import (
	"context"
	"fmt"
	"syscall"
	"time"

	butler "github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/procgroup"
)

// GroupReaper ends the process groups of exec runs that a server which
// died left behind (butler.Reaper). A group is ended only when it is
// recognisably the one that was recorded: on this boot of this machine, in
// this process namespace, and — while its leader lives — with a leader that
// started at the recorded instant (a process id may have been reused since;
// a group's id is not reused while any of its processes lives). Elsewhere
// than Linux it ends nothing: the group cannot be recognised there.
type GroupReaper struct{}

var _ butler.Reaper = GroupReaper{}

// Reap ends group p, if it is still there: SIGTERM to the group, SIGKILL
// to what is left after grace, and it returns once nothing of the group is
// alive (or ctx is done).
func (GroupReaper) Reap(ctx context.Context, p butler.ProcessGroup, grace time.Duration) (bool, error) {
	if p.IsZero() || p.Boot == "" || p.Boot != bootID() {
		return false, nil // recorded on another boot (or nowhere): it is gone
	}
	if !procgroup.Alive(p.PGID) {
		return false, nil
	}
	if start, ok := processStart(p.PGID); ok && start != p.Start {
		return false, nil // the leader's id was reused by another group
	}
	procgroup.Signal(p.PGID, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	tick := time.NewTicker(procgroup.Poll)
	defer tick.Stop()
	killed := false
	for procgroup.Alive(p.PGID) {
		if !killed && !time.Now().Before(deadline) {
			procgroup.Signal(p.PGID, syscall.SIGKILL)
			killed = true
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return true, fmt.Errorf("process group %d still alive: %w", p.PGID, ctx.Err())
		}
	}
	return true, nil
}

// identifyGroup returns the record of the process group whose leader is
// pid; ok is false where the group cannot be recognised later (not Linux).
func identifyGroup(pid int) (butler.ProcessGroup, bool) {
	boot := bootID()
	start, ok := processStart(pid)
	if boot == "" || !ok {
		return butler.ProcessGroup{}, false
	}
	return butler.ProcessGroup{PGID: pid, Start: start, Boot: boot}, true
}
