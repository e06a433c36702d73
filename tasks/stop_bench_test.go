package tasks_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/plexbutler/butler"
)

// BenchmarkStopOfAnItemRun times the stop of a DeepMediaAnalysis run
// whose two item workers are each running an "ffprobe" that waits for
// ever (a shell script that records its pid, then sleeps): from
// Manager.StopTask to its answer, which comes once the run has ended, its
// items' processes dead. Untimed between stops: the run started again,
// and both probes running.
//
//	go test -run '^$' -bench StopOfAnItemRun -benchtime 20x ./tasks
func BenchmarkStopOfAnItemRun(b *testing.B) {
	s, pids := newHeldProbeServer(b)
	probes := func() int {
		entries, _ := os.ReadDir(pids)
		return len(entries)
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		entries, err := os.ReadDir(pids)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range entries {
			if err := os.Remove(filepath.Join(pids, e.Name())); err != nil {
				b.Fatal(err)
			}
		}
		res, err := s.m.StartTask(b.Context(), butler.TaskDeepMediaAnalysis, true)
		if err != nil || res.Outcome != butler.StartStarted {
			b.Fatalf("start: %+v %v", res, err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for probes() < 2 {
			if time.Now().After(deadline) {
				b.Fatalf("%d probes started in 30 s; want 2", probes())
			}
			time.Sleep(time.Millisecond) // another process's files
		}
		b.StartTimer()
		stop, err := s.m.StopTask(b.Context(), butler.TaskDeepMediaAnalysis)
		if err != nil || stop.Outcome != butler.StopStopped {
			b.Fatalf("stop: %+v, %v; want it stopped once its work had stopped", stop, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/stop")
}
