package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plexbutler/butler/bench/internal/benchstat"
)

// facts describes the machine and the build measured.
type facts struct {
	date      time.Time
	nproc     string
	goVersion string
	cpu       string
	kernel    string
	memTotal  string
	commit    string
	binary    string
	binSize   int64
	loadStart string // /proc/loadavg's first three fields before measuring
	loadEnd   string // and after
}

// loadavg returns the 1, 5 and 15 minute load averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func gatherFacts(ctx context.Context, bin string) facts {
	f := facts{date: time.Now().UTC(), loadStart: loadavg()}
	f.nproc = commandLine(ctx, "nproc")
	if f.nproc == "" {
		f.nproc = strconv.Itoa(runtime.NumCPU()) + " (runtime.NumCPU)"
	}
	f.goVersion = commandLine(ctx, "go", "version")
	if f.goVersion == "" {
		f.goVersion = runtime.Version() + " (this program's toolchain)"
	}
	f.cpu = cpuModel()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		f.kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if v, err := procMeminfo("MemTotal"); err == nil {
		f.memTotal = fmt.Sprintf("%.1f GiB", float64(v)/(1<<20))
	}
	f.commit = commandLine(ctx, "git", "rev-parse", "--short", "HEAD")
	if f.commit != "" && commandLine(ctx, "git", "status", "--porcelain", "--untracked-files=no") != "" {
		f.commit += " (with uncommitted changes in the working tree)"
	}
	f.binary = commandLine(ctx, bin, "version")
	if st, err := os.Stat(bin); err == nil {
		f.binSize = st.Size()
	}
	return f
}

// commandLine runs a command and returns the first line of its output, or ""
// when it fails.
func commandLine(ctx context.Context, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func procMeminfo(field string) (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && k == field {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/meminfo", field)
}

// dist summarizes samples.
type dist struct {
	n                            int
	min, p50, p90, p99, max, avg time.Duration
}

func summarize(samples []time.Duration) dist {
	s := slices.Clone(samples)
	slices.Sort(s)
	d := dist{n: len(s)}
	if len(s) == 0 {
		return d
	}
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	d.min, d.max, d.avg = s[0], s[len(s)-1], sum/time.Duration(len(s))
	d.p50, d.p90, d.p99 = benchstat.Percentile(s, 50), benchstat.Percentile(s, 90), benchstat.Percentile(s, 99)
	return d
}

// count returns how many samples are at least t.
func count(samples []time.Duration, t time.Duration) int {
	n := 0
	for _, v := range samples {
		if v >= t {
			n++
		}
	}
	return n
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 10:
		return fmt.Sprintf("%.3f", v)
	case v < 100:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

func verdict(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

// report is everything measured.
type report struct {
	cfg     config
	facts   facts
	stop    *loopResult
	start   *loopResult
	burst   *loopResult
	get     *getResult
	startup *startupResult
	elapsed time.Duration
}

func distRow(b *strings.Builder, what string, d dist) {
	fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %d |\n", what, ms(d.p50), ms(d.p90), ms(d.p99), ms(d.max), ms(d.min), d.n)
}

const distHeader = "| measured | p50 ms | p90 ms | p99 ms | max ms | min ms | n |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n"

func (r *report) markdown() string {
	var b strings.Builder
	f := r.facts
	b.WriteString("# Benchmarks\n\n")
	fmt.Fprintf(&b, "Produced by `%s` on %s (UTC), in %.0f s. ", r.cfg.command, f.date.Format("2006-01-02 15:04"), r.elapsed.Seconds())
	b.WriteString("The measuring program is `bench/benchtool`; its doc comment says exactly what each number is. ")
	b.WriteString("Numbers are from one run on the machine below; the spread of the throughput runs (section 3) shows how much they move.\n\n")
	b.WriteString("| machine | |\n| --- | --- |\n")
	fmt.Fprintf(&b, "| CPU (`/proc/cpuinfo`) | %s |\n", f.cpu)
	fmt.Fprintf(&b, "| `nproc` | %s |\n", f.nproc)
	if f.memTotal != "" {
		fmt.Fprintf(&b, "| memory | %s |\n", f.memTotal)
	}
	if f.kernel != "" {
		fmt.Fprintf(&b, "| kernel | %s |\n", f.kernel)
	}
	fmt.Fprintf(&b, "| `go version` | %s |\n", f.goVersion)
	if f.commit != "" {
		fmt.Fprintf(&b, "| commit | %s |\n", f.commit)
	}
	fmt.Fprintf(&b, "| binary | `%s`, %.1f MiB, built with `CGO_ENABLED=0` |\n", f.binary, float64(f.binSize)/(1<<20))
	if f.loadStart != "" {
		fmt.Fprintf(&b, "| load average (1, 5, 15 min) | %s before, %s after: the machine is shared, other work may have run meanwhile |\n", f.loadStart, f.loadEnd)
	}

	b.WriteString("\n## Summary\n\n| measurement | target | result | |\n| --- | --- | --- | --- |\n")
	stopD, startD := summarize(r.stop.stop), summarize(r.start.start)
	fmt.Fprintf(&b, "| stop latency | p99 < 5 ms | p99 %s ms | %s |\n", ms(stopD.p99), verdict(stopD.p99 < 5*time.Millisecond))
	fmt.Fprintf(&b, "| start latency | p99 < 10 ms | p99 %s ms | %s |\n", ms(startD.p99), verdict(startD.p99 < 10*time.Millisecond))
	fmt.Fprintf(&b, "| GET /butler req/s vs minimal handler | ratio >= 0.7 | %.2f | %s |\n", r.get.ratio, verdict(r.get.ratio >= 0.7))
	coldD := summarize(r.startup.cold)
	fmt.Fprintf(&b, "| cold start to first 200 | < 300 ms | max %s ms (median %s) | %s |\n", ms(coldD.max), ms(coldD.p50), verdict(coldD.max < 300*time.Millisecond))
	maxRSS := int64(0)
	for _, m := range r.startup.mem {
		maxRSS = max(maxRSS, m.rss)
	}
	fmt.Fprintf(&b, "| idle RSS %v after start | < 40 MB | %.1f MB (largest VmRSS) | %s |\n", r.cfg.idle, float64(maxRSS)*1024/1e6, verdict(maxRSS*1024 < 40e6))

	r.stopSection(&b)
	r.startSection(&b)
	r.getSection(&b)
	r.startupSection(&b)
	return b.String()
}

func (r *report) stopSection(b *strings.Builder) {
	s := r.stop
	d, rt := summarize(s.stop), summarize(s.deleteRT)
	b.WriteString("\n## 1. Stop latency\n\n")
	b.WriteString("Target: **p99 < 5 ms** from sending `DELETE /butler/BackupDatabase` to the running task seeing its context cancelled.\n\n")
	b.WriteString("The real stack in one process (SQLite file in a temporary directory, River engine, manager, API handler) behind `net/http` on a loopback TCP listener. ")
	b.WriteString("`BackupDatabase` is bound to a probe action that blocks on `ctx.Done()` and records `time.Now()` right after it returns. ")
	fmt.Fprintf(b, "Each iteration: `POST /butler/BackupDatabase?force=1`, wait until the probe is entered, t0, `DELETE /butler/BackupDatabase`. POSTs are at least %v apart (see section 2 for why). ", s.pace)
	b.WriteString("The round trip is t0 to the DELETE answer read: the server answers once the task has returned and the stopped outcome is stored.\n\n")
	b.WriteString(distHeader)
	distRow(b, "DELETE sent → task's ctx cancelled", d)
	distRow(b, "DELETE round trip (answer read)", rt)
	fmt.Fprintf(b, "\nResult: p99 %s ms against 5 ms: %s. (The round trip's p99 is %s ms.) Every POST answered `X-Butler-Outcome: started` (%d), every DELETE 200.\n",
		ms(d.p99), verdict(d.p99 < 5*time.Millisecond), ms(rt.p99), s.outcomes["started"])
}

func (r *report) startSection(b *strings.Builder) {
	s := r.start
	d, post := summarize(s.start), summarize(s.postRT)
	fromStop := summarize(r.stop.start)
	b.WriteString("\n## 2. Start latency\n\n")
	b.WriteString("Target: **p99 < 10 ms** from sending `POST /butler/BackupDatabase?force=1` to the task's `Run` being entered.\n\n")
	fmt.Fprintf(b, "Same stack. t0 just before the POST, t1 the instant the probe's `Run` is entered. The probe is then released (returns nil, the run succeeds) and the next iteration waits until the probe has returned and the store reports no active run (polled every 1 ms). POSTs are at least %v apart.\n\n", s.pace)
	b.WriteString(distHeader)
	distRow(b, fmt.Sprintf("POST sent → Run entered (paced %v)", s.pace), d)
	distRow(b, "POST round trip (answer read)", post)
	distRow(b, "POST sent → Run entered, iterations of section 1", fromStop)
	if r.burst != nil {
		distRow(b, "POST sent → Run entered, unpaced (next POST as soon as the run has ended)", summarize(r.burst.start))
	}
	fmt.Fprintf(b, "\nResult: p99 %s ms against 10 ms: %s.\n\n", ms(d.p99), verdict(d.p99 < 10*time.Millisecond))

	b.WriteString("Where the time goes. The POST stores the run, inserts its River job and answers (its round trip above); the job then reaches the worker through River's fetch path. ")
	b.WriteString("On SQLite, River learns of a new job in one of two ways:\n\n")
	b.WriteString("- with a listener (what `riversqlite` declares): the insert writes a row into the `river_notification` outbox, which River's SQLite listener polls every **50 ms** ")
	b.WriteString("(`notificationPollIntervalDefault` in `riverdriver/riversqlite/river_sqlite_listener.go`, not configurable), so a start waits 0–50 ms, 25 ms on average; ")
	b.WriteString("the producer fetches at most once per `FetchCooldown` (River's default 100 ms), and insert notifications are limited to one per queue per `FetchCooldown` (`insertNotifyLimiter` in River's `client.go`), ")
	b.WriteString("so a job inserted less than 100 ms after the previous notification waits for the periodic fetch, every `FetchPollInterval` (default 1 s);\n")
	b.WriteString("- without a listener (a driver whose `SupportsListener` is false): River's client wakes its own producer right after the insert (`notifyProducerWithoutListenerJobFetch`, then `producer.TriggerJobFetch`), subject only to `FetchCooldown`.\n\n")
	fmt.Fprintf(b, "In the paced loop (POSTs at least %s ms apart), %d of %d starts took 10 ms or more, %d took 50 ms or more; the fastest took %s ms and the median %s ms. ",
		ms(summarize(s.gaps).min), count(s.start, 10*time.Millisecond), len(s.start), count(s.start, 50*time.Millisecond), ms(d.min), ms(d.p50))
	if d.p50 >= 10*time.Millisecond {
		b.WriteString("A median of tens of milliseconds is the 50 ms outbox poll: the job waits for River's SQLite listener. ")
	} else {
		b.WriteString("A median of a few milliseconds means the job does not wait for the 50 ms outbox poll: the engine hands it to its producer directly ")
		b.WriteString("(`engine.NewSQLite` wraps the driver so that River sees no listener, and lowers `FetchCooldown`; a SQLite Butler is one process, so no other process needs the notification). ")
		b.WriteString("What is left is the POST's own work, the producer's fetch query, and `Manager.Execute` reading the run and marking it running, all on the one SQLite connection. ")
	}
	if r.burst != nil {
		bd := summarize(r.burst.start)
		slow := count(r.burst.start, 500*time.Millisecond)
		fmt.Fprintf(b, "The unpaced series (%d starts, each POST sent as soon as the previous run had ended) had a median of %s ms and a maximum of %s ms",
			bd.n, ms(bd.p50), ms(bd.max))
		if slow > 0 {
			fmt.Fprintf(b, "; %d of its starts took 500 ms or more, having waited for the periodic fetch because their insert came less than 100 ms after the previous notification and sent none. ", slow)
			fmt.Fprintf(b, "That is why the measured loops keep POSTs %v apart.\n\n", s.pace)
		} else {
			fmt.Fprintf(b, ": back-to-back starts hit no rate limit, so the %v pacing of the measured loops (a guard against River's insert-notification limit) does not change the result.\n\n", s.pace)
		}
	} else {
		b.WriteString("\n\n")
	}
	tail := count(s.start, 10*time.Millisecond)
	switch {
	case d.p99 >= 10*time.Millisecond && d.p50 >= 10*time.Millisecond:
		b.WriteString("So the Butler's own code is not where the time goes: the POST has answered long before the task starts, and the floor is River's 50 ms notification poll on SQLite. ")
		b.WriteString("Ways to meet the target, in `engine.NewSQLite`: declare no listener (a single SQLite process needs none), so that River wakes its producer on insert, and lower `FetchCooldown`; or a short `FetchPollInterval` with `FetchCooldown` lowered to match.\n")
	case d.p99 >= 10*time.Millisecond:
		fmt.Fprintf(b, "The median is within the target but the tail is not: %d of %d starts took 10 ms or more (this tool does not break those down further).\n", tail, len(s.start))
	default:
		fmt.Fprintf(b, "The target is met with room to spare at the median; the slowest of the %d paced starts took %s ms.\n", len(s.start), ms(d.max))
	}
}

func (r *report) getSection(b *strings.Builder) {
	g := r.get
	b.WriteString("\n## 3. GET /butler throughput\n\n")
	b.WriteString("Target: requests per second of `GET /butler` at least **0.7×** those of a minimal `net/http` handler serving the same bytes.\n\n")
	fmt.Fprintf(b, "The real binary (`butler serve --addr 127.0.0.1:PORT --data-dir TMP --token T`) and the reference (`benchtool static-server`, this program re-executed, a handler that sets the copied headers and writes the stored body) are separate child processes. ")
	fmt.Fprintf(b, "The body is Butler's XML answer without an `Accept` header: %d bytes, `Content-Type: %s`; the reference copies the headers %s. ", g.bodyBytes, g.contentType, backticks(g.headers))
	fmt.Fprintf(b, "Framing: butler %s, reference %s. ", g.butlerFraming, g.refFraming)
	fmt.Fprintf(b, "The load generator runs in the bench process: %d goroutines, keep-alive connections (`MaxIdleConnsPerHost` %d), each sending GETs with the token header for %v after a %v warm-up; only answers completed inside the window count. Runs alternate butler, reference, butler, reference.\n\n",
		g.concurrency, 2*g.concurrency, g.duration, g.warmup)
	b.WriteString("| run | server | 200s | req/s | p50 ms | p99 ms | server CPU | req per server CPU-second |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for i, run := range g.runs {
		cpuPct := 100 * run.serverCPU.Seconds() / run.window.Seconds()
		perCPU := 0.0
		if run.serverCPU > 0 {
			perCPU = float64(run.ok) / run.serverCPU.Seconds()
		}
		fmt.Fprintf(b, "| %d | %s | %d | %.0f | %s | %s | %.0f%% | %.0f |\n", i+1, run.target, run.ok, run.rps, ms(run.p50), ms(run.p99), cpuPct, perCPU)
	}
	fmt.Fprintf(b, "\nMeans: butler %.0f req/s, reference %.0f req/s; ratio **%.2f** against 0.7: %s. ", g.butlerMean, g.refMean, g.ratio, verdict(g.ratio >= 0.7))
	var okN, cpu [2]float64
	lo, hi := [2]float64{math.Inf(1), math.Inf(1)}, [2]float64{}
	for _, run := range g.runs {
		i := 0
		if run.target != "butler" {
			i = 1
		}
		okN[i] += float64(run.ok)
		cpu[i] += run.serverCPU.Seconds()
		lo[i], hi[i] = min(lo[i], run.rps), max(hi[i], run.rps)
	}
	if lo[1] > 0 {
		fmt.Fprintf(b, "Pairing the slowest butler run with the fastest reference run and the other way round gives ratios from %.2f to %.2f: the runs vary by up to %.0f%% (butler) and %.0f%% (reference) between themselves. ",
			lo[0]/hi[1], hi[0]/lo[1], 100*(hi[0]-lo[0])/lo[0], 100*(hi[1]-lo[1])/lo[1])
	}
	if cpu[0] > 0 && cpu[1] > 0 {
		fmt.Fprintf(b, "Per server CPU-second: butler %.0f requests, reference %.0f (ratio %.2f).\n\n", okN[0]/cpu[0], okN[1]/cpu[1], (okN[0]/cpu[0])/(okN[1]/cpu[1]))
	} else {
		b.WriteString("\n\n")
	}
	fmt.Fprintf(b, "The machine has %s cores and the load generator shares them with the server under test: absolute numbers are lower than with a separate client machine, and a server's req/s depends on how much CPU the generator leaves it. ", r.facts.nproc)
	b.WriteString("The CPU columns (user+system time of the server process over the window, from `/proc/PID/stat`, in 10 ms ticks) give each server's cost per request independently of that; their ratio is a second view of the same comparison.\n")
}

func backticks(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = "`" + v + "`"
	}
	return strings.Join(q, ", ")
}

func (r *report) startupSection(b *strings.Builder) {
	s := r.startup
	b.WriteString("\n## 4. Cold start and idle memory\n\n")
	b.WriteString("Targets: **< 300 ms** from start to the first 200, **< 40 MB** RSS 10 s after start (this run: " + r.cfg.idle.String() + ").\n\n")
	b.WriteString("`butler serve` (no `--token`) as a child process; the time is from just before `cmd.Start()` to the first 200 of `GET /healthz`, polled every 1 ms over fresh connections. ")
	fmt.Fprintf(b, "Cold: %d starts, each on a fresh data directory (creates it, generates the token and machine id, creates the SQLite file and runs Butler's and River's migrations). ", len(s.cold))
	fmt.Fprintf(b, "Warm: %d starts on the data directory of the first cold start. Each process is stopped with SIGTERM and must exit 0.\n\n", len(s.warm))
	b.WriteString("| start | min ms | median ms | max ms | n |\n| --- | ---: | ---: | ---: | ---: |\n")
	c, w := summarize(s.cold), summarize(s.warm)
	fmt.Fprintf(b, "| cold (fresh data directory) | %s | %s | %s | %d |\n", ms(c.min), ms(c.p50), ms(c.max), c.n)
	fmt.Fprintf(b, "| warm (initialized data directory) | %s | %s | %s | %d |\n", ms(w.min), ms(w.p50), ms(w.max), w.n)
	fmt.Fprintf(b, "\nResult: slowest cold start %s ms against 300 ms: %s (slowest warm start %s ms).\n\n", ms(c.max), verdict(c.max < 300*time.Millisecond), ms(w.max))
	fmt.Fprintf(b, "Memory of the last process of each series, read from `/proc/PID/status` once %v had passed since its start (idle: no requests after the readiness probe). MB are 10^6 bytes.\n\n", r.cfg.idle)
	b.WriteString("| process | read at | VmRSS MB | VmHWM MB | RssAnon MB | RssFile MB | threads |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	ok := true
	for _, m := range s.mem {
		mb := func(kb int64) string { return fmt.Sprintf("%.1f", float64(kb)*1024/1e6) }
		fmt.Fprintf(b, "| %s | %.1f s | %s | %s | %s | %s | %d |\n", m.which, m.after.Seconds(), mb(m.rss), mb(m.hwm), mb(m.anon), mb(m.file), m.threads)
		ok = ok && m.rss*1024 < 40e6
	}
	fmt.Fprintf(b, "\nResult: VmRSS against 40 MB: %s. VmHWM is the peak resident size since the start (migrations included). RssFile is the mapped binary's pages.\n", verdict(ok))
}
