package butler

// TaskLockedForTest reports whether the task's lock (taskLocks) is held,
// by any goroutine.
func TaskLockedForTest(m *Manager, name TaskName) bool {
	ch := m.locks.get(name)
	select {
	case ch <- struct{}{}:
		<-ch
		return false
	default:
		return true
	}
}
