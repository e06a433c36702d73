// Command fanoutbench measures the notification fan-out: 1,000 websocket
// subscribers, a task reporting progress 10 times a second, and the time
// from each report to each subscriber receiving it. It writes a markdown
// section for BENCHMARKS.md.
//
//	go -C bench run ./fanoutbench -out FRAGMENT.md
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/api"
	"github.com/plexbutler/butler/engine"
	"github.com/plexbutler/butler/store/sqlite"
)

const (
	subscribers = 1000
	reports     = 100 // 10 s at 10 a second
	token       = "fanoutbench-token-1234"
)

func main() {
	out := flag.String("out", "", "write the markdown section here (default stdout)")
	flag.Parse()
	text, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fanoutbench:", err)
		os.Exit(1)
	}
	if *out == "" {
		fmt.Print(text)
		return
	}
	if err := os.WriteFile(*out, []byte(text), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "fanoutbench:", err)
		os.Exit(1)
	}
}

// reporter is the task: it reports progress 10 times a second and records
// when each value was reported.
type reporter struct {
	mu   sync.Mutex
	sent map[int]time.Time
	done chan struct{}
}

func (p *reporter) Run(ctx context.Context, r butler.Reporter) error {
	defer close(p.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for i := 1; i <= reports; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		// Values 1..100 once each: a received value names its report.
		p.mu.Lock()
		p.sent[i] = time.Now()
		p.mu.Unlock()
		r.Progress(i, fmt.Sprintf("step %d", i))
	}
	return nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run() (string, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < 8192 {
		lim.Cur = min(8192, lim.Max)
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "fanoutbench-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "butler.db"))
	if err != nil {
		return "", err
	}
	defer db.Close()
	h := time.Now().UTC().Hour()
	db.SaveSettings(ctx, map[string]string{butler.SettingStartHour: fmt.Sprint((h + 12) % 24), butler.SettingEndHour: fmt.Sprint((h + 13) % 24)})
	eng, err := engine.NewSQLite(ctx, db.SQL(), engine.Config{Node: "bench"})
	if err != nil {
		return "", err
	}
	task := &reporter{sent: map[int]time.Time{}, done: make(chan struct{})}
	catalog := butler.Bind(butler.DefaultCatalog(), butler.TaskBackupDatabase, task)
	m, err := butler.NewManager(ctx, butler.Config{Catalog: catalog, Store: db, Queue: eng, HostZone: "UTC", DataDir: dir})
	if err != nil {
		return "", err
	}
	if err := eng.Start(ctx, m); err != nil {
		return "", err
	}
	defer eng.Stop(context.Background())
	if err := m.Start(ctx); err != nil {
		return "", err
	}
	defer m.Stop(context.Background())
	handler, err := api.NewHandler(api.Config{Manager: m, Token: token})
	if err != nil {
		return "", err
	}
	srv := httptest.NewServer(handler)
	defer srv.Close()
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/:/websockets/notifications?X-Plex-Token=" + token

	var mu sync.Mutex
	var lat []time.Duration
	perClient := make([]int, subscribers)
	conns := make([]*websocket.Conn, subscribers)
	for i := range subscribers {
		c, _, err := websocket.Dial(ctx, wsURL, nil)
		if err != nil {
			return "", fmt.Errorf("dial %d: %w", i, err)
		}
		c.SetReadLimit(1 << 20)
		conns[i] = c
	}
	for subs, _ := m.EventStats(); subs < subscribers; subs, _ = m.EventStats() {
		time.Sleep(time.Millisecond) // waits for the server to register every subscription
	}
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			for {
				_, data, err := c.Read(ctx)
				now := time.Now()
				if err != nil {
					return
				}
				// The clients are the load generator: they read only what
				// they need (event and progress) without decoding the JSON,
				// so that they take as little of the shared CPU as they can.
				if bytes.Contains(data, []byte(`"event":"ended"`)) {
					return
				}
				if !bytes.Contains(data, []byte(`"event":"updated"`)) {
					continue
				}
				progress := intAfter(data, []byte(`"progress":`))
				task.mu.Lock()
				sent, ok := task.sent[progress]
				task.mu.Unlock()
				if !ok {
					continue
				}
				mu.Lock()
				lat = append(lat, now.Sub(sent))
				perClient[i]++
				mu.Unlock()
			}
		})
	}
	cpu0, wall0 := cpuTime(), time.Now()
	if _, err := m.StartTask(ctx, butler.TaskBackupDatabase, true); err != nil {
		return "", err
	}
	<-task.done
	wg.Wait()
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	for _, c := range conns {
		c.Close(websocket.StatusNormalClosure, "")
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(q*float64(len(lat))))]
	}
	total := 0
	for _, n := range perClient {
		total += n
	}
	_, dropped := m.EventStats()
	var b strings.Builder
	b.WriteString("\n## Event fan-out\n\n")
	b.WriteString("Target: with 1,000 websocket subscribers and a task reporting progress 10 times a second, the time from a report to a subscriber receiving it: **p99 < 50 ms**.\n\n")
	b.WriteString("Command: `go -C bench run ./fanoutbench` (run by `scripts/bench.sh`). The real stack in one process (SQLite, River, manager, API on a loopback listener) with 1,000 clients of github.com/coder/websocket on `/:/websockets/notifications` (they pick the event and progress out of each frame without decoding the JSON, to leave the shared CPU to the server); the task reports progress 1..100 every 100 ms and notes when it reported each value; each client notes when it read each `updated` frame. The server publishes at most one update per run every 250 ms (progress in between is merged), so a client sees about 4 updates a second.\n\n")
	b.WriteString("| measured | p50 ms | p90 ms | p99 ms | max ms | samples |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
	fmt.Fprintf(&b, "| report → subscriber read | %.1f | %.1f | %.1f | %.1f | %d |\n",
		ms(p(.5)), ms(p(.9)), ms(p(.99)), ms(p(1)), len(lat))
	verdict := "**met**"
	if p(.99) >= 50*time.Millisecond {
		verdict = "**not met**"
	}
	fmt.Fprintf(&b, "\nUpdates per subscriber: %.1f on average over %.1f s; updates merged or dropped for slow readers: %d. CPU during the run: %.0f%% of one core for the whole process — server and the 1,000 clients together (they share the process and the machine's 2 cores).\n",
		float64(total)/subscribers, wall.Seconds(), dropped, 100*cpu.Seconds()/wall.Seconds())
	fmt.Fprintf(&b, "\nResult: p99 %.1f ms against 50 ms: %s.\n", ms(p(.99)), verdict)
	return b.String(), nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// intAfter returns the integer that follows the first key in data, or -1.
func intAfter(data, key []byte) int {
	i := bytes.Index(data, key)
	if i < 0 {
		return -1
	}
	n, seen := 0, false
	for _, c := range data[i+len(key):] {
		if c < '0' || c > '9' {
			break
		}
		n, seen = n*10+int(c-'0'), true
	}
	if !seen {
		return -1
	}
	return n
}
