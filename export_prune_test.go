package butler

// TaskLockedForTest reports whether the task's lock (taskLocks) is held,
// by any goroutine.
func TaskLockedForTest(m *Manager, name TaskName) bool {
	mu := m.locks.get(name)
	if !mu.TryLock() {
		return true
	}
	mu.Unlock()
	return false
}
