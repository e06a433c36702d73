package faultprobe

import (
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// TestLockState_OwnTriesNeverSeeEachOther: where LockState must try the
// lock itself (no /proc/locks), its tries from many goroutines at once
// never find each other's lock and report a free lock held (a storm's
// clients look at the lock each time a stop is answered).
func TestLockState_OwnTriesNeverSeeEachOther(t *testing.T) {
	dir := t.TempDir()
	procLocksChecked.Store(dir, false) // as on a file system /proc/locks does not show
	path := filepath.Join(dir, "task.lock")
	var held atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 50 {
				h, _, err := LockState(path)
				if err != nil {
					t.Error(err)
					return
				}
				if h {
					held.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := held.Load(); n != 0 {
		t.Errorf("a free lock was reported held %d times of 1,600", n)
	}
}

func TestProcAlive(t *testing.T) {
	for _, c := range []struct {
		p    Proc
		want bool
	}{
		{Proc{State: "S", Threads: 1}, true},
		{Proc{State: "D", Threads: 5}, true},
		{Proc{State: "Z", Threads: 1}, false},
		{Proc{State: "X", Threads: 1}, false},
		// The main thread ended, another thread is on its way out.
		{Proc{State: "Z", Threads: 3}, true},
	} {
		if got := c.p.alive(); got != c.want {
			t.Errorf("%+v alive: %v, want %v", c.p, got, c.want)
		}
	}
}
