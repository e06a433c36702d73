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
