package main

import (
	"fmt"
	"strings"
	"time"
)

// Targets.
const (
	scanTarget   = 1.2          // first scan over find
	rescanTarget = 0.5          // rescan over first scan
	rssTargetKiB = 150e6 / 1024 // 150 MB
	itemsTarget  = 1.0          // Butler's items/s over xargs's
	pauseTarget  = 15 * time.Second
	redoneTarget = 0 // files redone beyond those in flight
)

func verdict(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

// report writes the markdown fragment.
func (b *bench) report() string {
	var w strings.Builder
	f := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	m := b.machine
	f("## Media library (mediabench)\n\n")
	f("Produced by `scripts/bench-media.sh`, which runs `go -C bench run ./mediabench -out FILE`, on %s (UTC), in %.0f s. ",
		b.start.UTC().Format("2006-01-02 15:04"), b.elapsed.Seconds())
	f("The program's doc comment says exactly what each number is. One run on the machine below; every measurement gives its median and its spread (the fastest and the slowest run).\n\n")
	f("| machine | |\n| --- | --- |\n%s", m.Rows())
	f("| `ffprobe -version` | %s |\n", b.ffprobeVersion)
	f("| `find --version` | %s |\n", b.findVersion)
	f("| temporary directory | %s, %.0f GiB free at the start |\n", b.fs, float64(b.free)/(1<<30))
	switch {
	case b.dropped+b.notDropped == 0:
		f("| page cache | no cold runs measured |\n")
	case b.notDropped == 0:
		f("| page cache | dropped before each of the %d cold runs of section 1 (`sync`, then `3` into `/proc/sys/vm/drop_caches`) |\n", b.dropped)
	case b.dropped == 0:
		f("| page cache | **not dropped** (writing `/proc/sys/vm/drop_caches` failed: not root?): the \"cold\" runs of section 1 are warm |\n")
	default:
		f("| page cache | dropped before %d of the %d cold runs, not before the other %d |\n", b.dropped, b.dropped+b.notDropped, b.notDropped)
	}
	f("| commit | %s |\n", m.Commit)
	if b.server.binSize > 0 {
		f("| `butler` binary (section 4) | %.1f MiB, built with `go build` |\n", float64(b.server.binSize)/(1<<20))
	}
	f("| load average (1, 5, 15 min) | %s before, %s after |\n\n", b.loadBefore, b.loadAfter)

	// Summary.
	type line struct{ what, target, result, verdict string }
	var lines []line
	sc := b.scan
	hasScan, hasServer := len(sc.cold.find) > 0, b.server.binSize > 0
	for _, c := range []struct {
		name string
		t    scanTimes
	}{{"cold", sc.cold}, {"warm", sc.warm}} {
		if !hasScan {
			break
		}
		r := ratio(c.t.first, c.t.find)
		lines = append(lines, line{"Scan of 100,000 files into SQLite, first scan, " + c.name + " cache", "≤ 1.2× `find`", fmt.Sprintf("%.2f× (%.2f s against %.2f s)", r, c.t.first.median().Seconds(), c.t.find.median().Seconds()), verdict(r <= scanTarget)})
	}
	for _, c := range []struct {
		name string
		t    scanTimes
	}{{"cold", sc.cold}, {"warm", sc.warm}} {
		if !hasScan {
			break
		}
		r := ratio(c.t.again, c.t.first)
		lines = append(lines, line{"Rescan, nothing changed, " + c.name + " cache", "≤ 0.5× the first scan", fmt.Sprintf("%.2f× (%.2f s)", r, c.t.again.median().Seconds()), verdict(r <= rescanTarget)})
	}
	if hasScan {
		lines = append(lines, line{"Peak RSS of the first scan", "< 150 MB", fmt.Sprintf("%.1f MB", mb(sc.firstHWM)), verdict(float64(sc.firstHWM) < rssTargetKiB)})
		lines = append(lines, line{"Peak RSS of the rescan", "< 150 MB", fmt.Sprintf("%.1f MB", mb(sc.againHWM)), verdict(float64(sc.againHWM) < rssTargetKiB)})
	}
	for _, a := range b.analysis {
		ref := a.tools[0].itemsPerSecond()
		for _, t := range a.tools[1:] {
			r := t.itemsPerSecond() / ref
			lines = append(lines, line{fmt.Sprintf("Analysis, P = %d: %s", a.p, t.label), "≥ 1.0× xargs's items/s", fmt.Sprintf("%.2f× (%.1f against %.1f items/s)", r, t.itemsPerSecond(), ref), verdict(r >= itemsTarget)})
		}
	}
	ps := b.server.pauses
	shown, worst := 0, time.Duration(0)
	for _, p := range ps {
		if p.shown {
			shown++
			worst = max(worst, p.shownIn)
		}
	}
	pauseResult := fmt.Sprintf("%d of %d shown paused, the slowest after %.1f s", shown, len(ps), worst.Seconds())
	if shown == 0 {
		pauseResult = fmt.Sprintf("none of %d shown paused within %s", len(ps), pauseLimit)
	}
	k := b.server.kill
	if hasServer {
		lines = append(lines, line{"Pause latency (the run shows \"paused: \")", "< 15 s", pauseResult, verdict(shown == len(ps) && worst < pauseTarget)})
		var workStop time.Duration
		for _, p := range ps {
			workStop = max(workStop, p.lastStart)
		}
		lines = append(lines, line{"Work paused (the last ffprobe started after t0)", "(no target)", fmt.Sprintf("at most %.1f s after t0", workStop.Seconds()), ""})
		lines = append(lines, line{"kill -9 mid-analysis: files redone beyond those in flight", "0", fmt.Sprintf("%d (%d redone, %d in flight)", len(k.redoneOther), len(k.redone), len(k.inFlight)), verdict(len(k.redoneOther) <= redoneTarget && k.analysed == k.items)})
	}

	f("#### Summary\n\n| measurement | target | result | |\n| --- | --- | --- | --- |\n")
	for _, l := range lines {
		f("| %s | %s | %s | %s |\n", cell(l.what), l.target, l.result, l.verdict)
	}
	f("\nTimes are medians, ratios the ratio of the medians; MB are 10^6 bytes.\n\n")

	if hasScan {
		b.reportScan(f)
	}
	if len(b.analysis) > 0 {
		b.reportAnalysis(f)
	}
	if hasServer {
		b.reportServer(f)
	}
	return w.String()
}

// reportScan writes sections 1 and 2.
func (b *bench) reportScan(f func(string, ...any)) {
	sc := b.scan
	f("### 1. Scan of 100,000 files\n\n")
	f("Targets: the first scan **at most 1.2×** `find ROOT -type f -printf '%%s %%T@ %%p\\n' > /dev/null`; the rescan with nothing changed **at most 0.5×** the first scan.\n\n")
	f("The tree: 100 shows × 10 seasons × 100 empty episodes (`Show 000/Season 00/Episode 00000.mkv`), written once in %.1f s. ", sc.treeBuild.Seconds())
	f("Butler: `mediascan.Scanner{Index: db}.Scan` of a shows library into a SQLite index in a file, in a child process (this program re-executed); the first scan on a fresh database (%s; the database then %.1f MiB), the rescan on the database the first scan left (%s). ",
		sc.firstSummary, float64(sc.dbSize)/(1<<20), sc.againSummary)
	f("A time is the child's, from exec to exit (start, opening and migrating the database and closing it included); \"Scan call\" is the time of the call alone, measured inside the child. %d repetitions of each, cold (page cache dropped before every run) then warm (after one untimed run of each).\n\n", scanReps)
	f("| measured | cache | median s | fastest s | slowest s | × find | Scan call, median s |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, c := range []struct {
		name string
		t    scanTimes
	}{{"cold", sc.cold}, {"warm", sc.warm}} {
		row := func(label string, s stats, inside stats) {
			lo, hi := s.spread()
			in := ""
			if inside != nil {
				in = fmt.Sprintf("%.2f", inside.median().Seconds())
			}
			f("| %s | %s | %.2f | %.2f | %.2f | %.2f | %s |\n", label, c.name, s.median().Seconds(), lo.Seconds(), hi.Seconds(), ratio(s, c.t.find), in)
		}
		row("`find -printf`", c.t.find, nil)
		row("Butler, first scan", c.t.first, c.t.firstInside)
		row("Butler, rescan", c.t.again, c.t.againInside)
	}
	f("\nPer file (medians): first scan %.1f µs cold, %.1f µs warm; rescan %.1f µs cold, %.1f µs warm; `find` %.1f µs cold, %.1f µs warm.\n\n",
		perFile(sc.cold.first), perFile(sc.warm.first), perFile(sc.cold.again), perFile(sc.warm.again), perFile(sc.cold.find), perFile(sc.warm.find))

	// 2. Memory.
	f("### 2. Peak RSS of the scan\n\n")
	f("Target: **under 150 MB**. VmHWM of the scan child, read from `/proc/self/status` just before it exits; the largest of its %d runs.\n\n", 2*scanReps+1)
	f("| scan | peak RSS MB | MiB | |\n| --- | ---: | ---: | --- |\n")
	f("| first scan (100,000 files added) | %.1f | %.1f | %s |\n", mb(sc.firstHWM), float64(sc.firstHWM)/1024, verdict(float64(sc.firstHWM) < rssTargetKiB))
	f("| rescan (100,000 files unchanged) | %.1f | %.1f | %s |\n\n", mb(sc.againHWM), float64(sc.againHWM)/1024, verdict(float64(sc.againHWM) < rssTargetKiB))

}

// reportAnalysis writes section 3.
func (b *bench) reportAnalysis(f func(string, ...any)) {
	f("### 3. Analysis throughput\n\n")
	f("Target: Butler's items/s **at least 1.0×** those of `find DIR -type f -print0 | xargs -0 -P P -n 1 ffprobe -v error -print_format json -show_format -show_streams -show_chapters > /dev/null`, at P = 2 and 4 (`-print0` and `-0` because the files' names have spaces, as a library's do).\n\n")
	f("%d files, the four kinds below in turn (each made once by ffmpeg from `testsrc=duration=2:size=320x240:rate=25` and `sine=duration=2`, then copied), just written, so in the page cache:\n\n", analysisFiles)
	f("| kind | bytes |\n| --- | ---: |\n")
	for _, k := range b.mediaKinds {
		f("| %s | %d |\n", k.name, k.size)
	}
	f("\nButler through the Manager: `DeepMediaAnalysis` started with `Manager.StartTask` on a Manager with the River engine over a SQLite file and P item workers, as `butler serve` builds them, the files scanned into that database beforehand (untimed); the time is from the start to the run's ended event, every run checked to have analysed all %d files. **Defaults** is the Prober `butler serve` uses when `media.nice` and `media.io_class` are not set: ffprobe at niceness 10 and the best-effort I/O class at level 7, inherited from a thread of its own whose priorities Butler lowers (no `nice` or `ionice` is run). The direct run calls the action's `Run` with a reporter that offers no item queue (P goroutines, no River). Each tool ran %d times at each P, in turn, the order rotated. The CPU columns are medians of the user and system time read with getrusage around each run, per file: own is this program's (RUSAGE_SELF: for Butler in process, its Manager, River, SQLite and the parsing of ffprobe's report; for xargs next to nothing), children's that of the processes it started and waited for (RUSAGE_CHILDREN: ffprobe; sh, find and xargs for the reference).\n\n", analysisFiles, analysisReps)
	for _, a := range b.analysis {
		f("P = %d:\n\n| tool | median s | fastest s | slowest s | items/s | × xargs | own CPU ms/item | children's CPU ms/item |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n", a.p)
		ref := a.tools[0].itemsPerSecond()
		for _, t := range a.tools {
			lo, hi := t.times.spread()
			f("| %s | %.2f | %.2f | %.2f | %.1f | %.2f | %.1f | %.1f |\n", cell(t.label), t.times.median().Seconds(), lo.Seconds(), hi.Seconds(), t.itemsPerSecond(), t.itemsPerSecond()/ref,
				msPerItem(t.self), msPerItem(t.children))
		}
		f("\n")
	}

}

// reportServer writes section 4.
func (b *bench) reportServer(f func(string, ...any)) {
	ps, k := b.server.pauses, b.server.kill
	f("### 4. Pausing while someone watches, and a kill -9\n\n")
	f("A real `butler serve` process, `media.parallel: %d`, `busy.plex` pointing at a fake Plex served by the benchmark, `busy.check_every` left at its default (5 s); `media.ffprobe` a wrapper that logs each start and end and sleeps %s s before running ffprobe (at the default priorities). `DeepMediaAnalysis` over %d files, their items queued as item jobs (River over the server's SQLite database).\n\n", serverParallel, probeSleep, pauseFiles)
	f("Pause: target **under 15 s** from the moment the fake Plex answers one session playing (t0) to `GET /butler/runs/{id}` showing a step that begins `paused: `, polled every 50 ms, given up after %s.\n\n", pauseLimit)
	f("| repetition | shown paused after s | ffprobe started after t0 | the last one started after s | the run's step at the end |\n| ---: | ---: | ---: | ---: | --- |\n")
	// The starts are timed by the polls, every 50 ms.
	for i, p := range ps {
		shownIn := "not within " + pauseLimit.String()
		if p.shown {
			shownIn = fmt.Sprintf("%.2f", p.shownIn.Seconds())
		}
		last := "none"
		if p.startedIn > 0 {
			last = fmt.Sprintf("%.2f", p.lastStart.Seconds())
		}
		f("| %d | %s | %d | %s | `%s` |\n", i+1, shownIn, p.startedIn, last, p.lastStep)
	}
	f("\nKill: `DeepMediaAnalysis` over %d files; once %d had been started the server was killed with SIGKILL (%d ffprobe started, %d in flight: started and not ended). Restarted on the same data directory, a new run went to its end: %s. The killed run ended %s. ",
		killFiles, killAfter, k.startedBefore, len(k.inFlight), k.summary, k.killedOutcome)
	f("Files probed both before the kill and after the restart: %d, of which %d were not in flight; the most starts of one file: %d. Items analysed in the end: %d of %d.\n\n",
		len(k.redone), len(k.redoneOther), k.maxStarts, k.analysed, k.items)
	f("Result: %d redone beyond those in flight against 0: %s.\n", len(k.redoneOther), verdict(len(k.redoneOther) <= redoneTarget && k.analysed == k.items))
}

// cell escapes the pipes of a table cell's text (GitHub's tables end a
// cell at a pipe, even inside backquotes).
func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// msPerItem is the median of s per analysed file, in milliseconds.
func msPerItem(s stats) float64 { return float64(s.median().Microseconds()) / 1000 / analysisFiles }

func ratio(a, b stats) float64 { return a.median().Seconds() / b.median().Seconds() }

func mb(kib int64) float64 { return float64(kib) * 1024 / 1e6 }

func perFile(s stats) float64 { return float64(s.median().Microseconds()) / scanFiles }
