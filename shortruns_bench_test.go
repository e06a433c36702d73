package butler_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"testing"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/tasks"
)

// BenchmarkShortRuns measures how many trivial runs a server carries per
// second, against the floor of the work itself, side by side in one run:
//
//   - floor: a Go loop running /bin/true as Butler's exec tasks do (its
//     output through pipes, in a process group of its own), c at a time;
//   - butler: runs of exec tasks running /bin/true, each started
//     (Manager.StartTask), worked through River and recorded in a SQLite
//     file, and waited for until its ended event; c tasks at a time, each
//     started again as soon as its run ended.
//
// runs/s is the figure to compare: butler/c=1 against floor/c=1, and
// butler/c=4 against butler/c=1.
//
//	go test -run '^$' -bench ShortRuns -benchtime 3s .
func BenchmarkShortRuns(b *testing.B) {
	for _, c := range []int{1, 4} {
		b.Run(fmt.Sprintf("floor/c=%d", c), func(b *testing.B) {
			parallelRuns(b, c, func(int) {
				var out bytes.Buffer
				cmd := exec.Command("/bin/true")
				cmd.Stdout, cmd.Stderr = &out, &out
				cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
				if err := cmd.Run(); err != nil {
					b.Error(err)
				}
			})
		})
		b.Run(fmt.Sprintf("butler/c=%d", c), func(b *testing.B) {
			benchShortRuns(b, c)
		})
	}
}

// parallelRuns calls run b.N times in all from c goroutines (run is given
// the goroutine's number) and reports runs/s.
func parallelRuns(b *testing.B, c int, run func(g int)) {
	b.Helper()
	var wg sync.WaitGroup
	b.ResetTimer()
	for g := range c {
		n := b.N / c
		if g < b.N%c {
			n++
		}
		wg.Go(func() {
			for range n {
				run(g)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
}

func benchShortRuns(b *testing.B, c int) {
	ctx := context.Background()
	var catalog []butler.Task
	for g := range c {
		catalog = append(catalog, task(butler.TaskName(fmt.Sprintf("Short%d", g)), 1, false, &tasks.Exec{Argv: []string{"/bin/true"}}))
	}
	_, m := benchStack(b, catalog)

	// One reader of the events tells each task's loop that its run ended.
	sub := m.Subscribe()
	defer sub.Close()
	ended := make([]chan butler.Activity, c)
	for g := range ended {
		ended[g] = make(chan butler.Activity, 1)
	}
	readCtx, stopReading := context.WithCancel(ctx)
	var reader sync.WaitGroup
	reader.Go(func() {
		for {
			ev, err := sub.Next(readCtx)
			if err != nil {
				return
			}
			if ev.Type != butler.EventEnded {
				continue
			}
			var g int
			if _, err := fmt.Sscanf(string(ev.Activity.Task), "Short%d", &g); err == nil {
				ended[g] <- ev.Activity
			}
		}
	})
	defer func() { stopReading(); reader.Wait() }()

	parallelRuns(b, c, func(g int) {
		name := catalog[g].Name
		res, err := m.StartTask(ctx, name, true)
		if err != nil || res.Outcome != butler.StartStarted {
			b.Errorf("start %s: %+v, %v; want it started", name, res, err)
			return
		}
		a := <-ended[g]
		if a.RunID != res.Run.ID || a.Outcome != butler.OutcomeSucceeded {
			b.Errorf("%s: run %d ended %q; want run %d succeeded", name, a.RunID, a.Outcome, res.Run.ID)
		}
	})
}
