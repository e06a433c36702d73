package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/plexbutler/butler/internal/childproc"
)

// memSample is a process's memory, read some time after its start.
type memSample struct {
	after                time.Duration // since cmd.Start()
	rss, hwm, anon, file int64         // kB: VmRSS, VmHWM, RssAnon, RssFile
	threads              int64
	which                string
}

// startupResult holds the start times and idle memory.
type startupResult struct {
	cold, warm []time.Duration
	mem        []memSample
}

// measureStartup starts the binary n times on fresh data directories (cold)
// and n times on one that a cold start initialized (warm). The last process
// of each series stays up until idle after its start; then its memory is
// read.
func measureStartup(ctx context.Context, kids *childproc.Group, bin, tmp string, n int, idle time.Duration, logf func(string, ...any)) (*startupResult, error) {
	res := &startupResult{}
	series := func(name string, dir func(i int) string, out *[]time.Duration) error {
		for i := range n {
			addr, err := childproc.FreeAddr()
			if err != nil {
				return err
			}
			p, d, err := startButler(ctx, kids, bin, addr, dir(i), "")
			if err != nil {
				return fmt.Errorf("%s start %d: %w", name, i+1, err)
			}
			*out = append(*out, d)
			if i == n-1 {
				m, err := idleMemory(ctx, p, d, idle)
				if err != nil {
					_ = kids.Stop(p, 15*time.Second)
					return fmt.Errorf("%s start %d: %w", name, i+1, err)
				}
				m.which = fmt.Sprintf("%s start %d", name, i+1)
				res.mem = append(res.mem, m)
				logf("  %s: VmRSS %d kB, VmHWM %d kB", m.which, m.rss, m.hwm)
			}
			if err := kids.Stop(p, 15*time.Second); err != nil {
				return fmt.Errorf("%s start %d: stop: %w", name, i+1, err)
			}
		}
		return nil
	}
	if err := series("cold", func(i int) string { return filepath.Join(tmp, fmt.Sprintf("cold-%d", i+1)) }, &res.cold); err != nil {
		return nil, err
	}
	if err := series("warm", func(int) string { return filepath.Join(tmp, "cold-1") }, &res.warm); err != nil {
		return nil, err
	}
	return res, nil
}

// idleMemory waits until idle has passed since the process started (up was
// its start-to-ready time, which has already passed) and reads its memory.
func idleMemory(ctx context.Context, p *childproc.Proc, up, idle time.Duration) (memSample, error) {
	began := time.Now().Add(-up)
	if err := sleepCtx(ctx, time.Until(began.Add(idle))); err != nil {
		return memSample{}, err
	}
	if p.Exited() {
		return memSample{}, fmt.Errorf("exited while idle: %v; stderr:\n%s", p.Err(), p.Output.String())
	}
	v, err := procStatus(p.PID(), "VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads")
	if err != nil {
		return memSample{}, err
	}
	return memSample{after: time.Since(began), rss: v["VmRSS"], hwm: v["VmHWM"], anon: v["RssAnon"], file: v["RssFile"], threads: v["Threads"]}, nil
}
