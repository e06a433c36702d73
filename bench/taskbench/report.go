package main

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/plexbutler/butler/bench/internal/benchstat"
)

const (
	// ratioTarget is the largest accepted time of an action over the tool's.
	ratioTarget = 1.5
	// rssTargetKiB is 100 MB (10^8 bytes) in KiB; a peak must stay under it.
	rssTargetKiB = 100_000_000 / 1024
	// cliTarget is the largest accepted wall time of `butler tasks`.
	cliTarget = 50 * time.Millisecond
	// sdkTarget is the largest accepted SDK cost over a raw request's.
	sdkTarget = 1.2
)

func verdict(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

// report writes the markdown fragment.
func report(res *results) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := res.m
	c := res.cli

	w("## Task actions, command line and SDK (taskbench)\n\n")
	w("Produced by `scripts/bench-tasks.sh`, which runs `go -C bench run ./taskbench -out FILE`, on %s (UTC), in %.0f s. ",
		res.started.UTC().Format("2006-01-02 15:04"), res.elapsed.Seconds())
	w("The program's doc comment says exactly what each number is. One run on the machine below; every repetition is shown, so the tables give the spread.\n\n")
	w("| machine | |\n| --- | --- |\n")
	w("%s", m.Rows())
	w("| `sqlite3 --version` | %s (the shell and its SQLite are native C; Butler's SQLite is modernc.org/sqlite, SQLite translated to Go) |\n", m.sqlite)
	w("| GNU time | %s |\n", m.gnuTime)
	w("| temporary directory | %s, %.0f GiB free at the start |\n", m.fs, float64(m.free)/(1<<30))
	switch {
	case res.notDropped == 0:
		w("| page cache | dropped before each of the %d timed runs of sections 1–3 (`sync`, then `3` into `/proc/sys/vm/drop_caches`): cold-cache runs |\n", res.dropped)
	case res.dropped == 0:
		w("| page cache | **not dropped** (writing `/proc/sys/vm/drop_caches` failed: not root?): the runs of sections 1–3 are warm-cache, the files just written or read are in memory |\n")
	default:
		w("| page cache | dropped before %d of the %d timed runs, not before the other %d: mixed cold and warm |\n", res.dropped, res.dropped+res.notDropped, res.notDropped)
	}
	w("| commit | %s |\n", m.Commit)
	w("| binary | `%s`, %.1f MiB, built with `CGO_ENABLED=0` |\n", c.version, float64(c.binSize)/(1<<20))
	w("| load average (1, 5, 15 min) | %s before, %s after |\n\n", m.loadBefore, m.loadAfter)

	// Summary.
	type line struct{ what, target, result, verdict string }
	var lines []line
	ratioLine := func(what, ref string, tools []*tool) (float64, int64) {
		ratio := tools[0].median().Seconds() / tools[1].median().Seconds()
		lines = append(lines, line{what + ", time", "≤ 1.5× " + ref, fmt.Sprintf("%.2f×", ratio), verdict(ratio <= ratioTarget)})
		return ratio, 0
	}
	peakLine := func(what string, t *tool) {
		rus, own := t.peak()
		p := own
		how := "own peak"
		if p < 0 {
			p, how = rus, "rusage"
		}
		lines = append(lines, line{what + ", peak RSS", "< 100 MB", fmt.Sprintf("%.1f MB (%s)", float64(p)*1024/1e6, how), verdict(p < rssTargetKiB)})
	}
	cache := ""
	if res.notDropped == 0 {
		cache = ", cold cache"
	}
	ratioLine("BackupDatabase, 1 GiB"+cache, "`sqlite3 .backup`", res.backup)
	ratioLine("BackupDatabase, 1 GiB, warm cache", "`sqlite3 .backup`", res.warmBackup)
	peakLine("BackupDatabase", res.backup[0])
	ratioLine("OptimizeDatabase, 1 GiB, half deleted"+cache, "`sqlite3 \"VACUUM; ANALYZE\"`", res.optimize)
	ratioLine("OptimizeDatabase, 1 GiB, half deleted, warm cache", "`sqlite3 \"VACUUM; ANALYZE\"`", res.warmOptimize)
	peakLine("OptimizeDatabase", res.optimize[0])
	ratioLine("CleanOldCacheFiles, 200,000 files", "`find -delete`", res.clean)
	peakLine("CleanOldCacheFiles", res.clean[0])
	cliSorted := slices.Clone(c.cli)
	slices.Sort(cliSorted)
	cliMax := cliSorted[len(cliSorted)-1]
	lines = append(lines, line{"`butler tasks` wall time", "< 50 ms", fmt.Sprintf("max %.1f ms (p50 %.1f)", ms(cliMax), ms(benchstat.Percentile(cliSorted, 50))), verdict(cliMax < cliTarget)})
	sdkPer, rawPer := perCall(c.sdk), perCall(c.raw)
	sdkRatio := sdkPer.Seconds() / rawPer.Seconds()
	lines = append(lines, line{"SDK `GetButlerTasks` per call", "< 1.2× raw net/http", fmt.Sprintf("%.2f×", sdkRatio), verdict(sdkRatio < sdkTarget)})
	w("### Summary\n\n| measurement | target | result | |\n| --- | --- | --- | --- |\n")
	for _, l := range lines {
		w("| %s | %s | %s | %s |\n", l.what, l.target, l.result, l.verdict)
	}
	w("\nTimes are medians of %d runs, ratios the ratio of the medians; a peak RSS is the largest of the runs. MiB are 2^20 bytes, MB 10^6.\n\n", reps)
	w("Peak memory, two readings. **own**: the command's own peak RSS, from GNU time (`/usr/bin/time -f %%M`, under which every child ran; it forks the command afresh). **rusage**: `ru_maxrss` of the child as wait4 reports it to taskbench (`cmd.ProcessState.SysUsage()`). ")
	w("The rusage reading cannot go below taskbench's own peak, %.1f MiB in this run (the rusage of `/bin/true` run the same way): Go starts children with `clone(CLONE_VM|CLONE_VFORK)`, and Linux's exec keeps the larger of the old and the new address space's high-water mark. So a tool whose rusage reading equals that floor used at most that much. The targets are judged by the own peak.\n\n", mib(res.floorKiB))

	// 1. Backup.
	w("## 1. BackupDatabase of a 1 GiB SQLite database\n\n")
	w("Target: **at most 1.5×** the time of `sqlite3 SRC \".backup DST\"`; peak RSS **under 100 MB** whatever the database's size.\n\n")
	w("The source: %s, built once by the sqlite3 shell in one transaction (a recursive CTE inserting `randomblob(4000)` rows, one row a 4 KiB page; no index besides the rowid), then switched to WAL mode and checkpointed (journal mode | pages | free pages | rows: `%s`). ",
		gib(res.srcSize), res.srcInfo)
	w("Each run writes into an empty directory, removed afterwards; each tool first ran once untimed (a warm-up, see the program's doc comment). Butler's action (`tasks.BackupDatabase{Source, Dir, Keep}` in this program re-executed) copies the database with SQLite's online backup API from one read snapshot, %s pages a step, into a copy written without journal or syncs while a goroutine reads the source ahead into the page cache and the kernel is asked to write the copy out as it grows; then it switches the copy to rollback-journal mode, checks it with `PRAGMA integrity_check`, fsyncs it once and renames it into place. The shell's `.backup` uses the same API (100 pages a step) and syncs the copy when it commits, but checks nothing; `cp` neither checks nor syncs (its data may still be in the page cache when it exits). ", "128")
	w("Sizes of the copies: Butler %s, sqlite3 %s, cp %s.\n\n", gib(res.backupSizes[0]), gib(res.backupSizes[1]), gib(res.backupSizes[2]))
	toolTable(&b, res.backup, "sqlite3")
	phaseTable(&b, res.backup[0], map[string]string{
		"opening":                         "opening: open the source read-only, check it, begin the read transaction",
		"copying pages":                   "copying pages (online backup API)",
		"checking the backup's integrity": "checking the backup: journal mode DELETE, `PRAGMA integrity_check`, fsync, rename",
		"removing old backups":            "removing old backups",
	})
	bRatio := res.backup[0].median().Seconds() / res.backup[1].median().Seconds()
	copyPhase, checkPhase := phaseMedian(res.backup[0], "copying pages"), phaseMedian(res.backup[0], "checking the backup's integrity")
	w("Result: Butler %.2f× the sqlite3 shell against 1.5×: %s; %.2f× `cp`. ", bRatio, verdict(bRatio <= ratioTarget), res.backup[0].median().Seconds()/res.backup[2].median().Seconds())
	w("The copy alone took %.2f s (%.2f× the shell's whole `.backup`), the check of the copy %.2f s (%.0f%% of Butler's time).\n\n",
		copyPhase.Seconds(), copyPhase.Seconds()/res.backup[1].median().Seconds(), checkPhase.Seconds(), 100*checkPhase.Seconds()/res.backup[0].median().Seconds())
	warmTable(&b, "the source", res.warmBackup, map[string]string{
		"copying pages":                   "copying pages",
		"checking the backup's integrity": "checking the backup (and the fsync)",
	})

	// 2. Optimize.
	w("## 2. OptimizeDatabase of a 1 GiB database with half its rows deleted\n\n")
	w("Target: **at most 1.5×** the time of `sqlite3 DB \"VACUUM; ANALYZE\"`; peak RSS **under 100 MB**.\n\n")
	w("The database: built like section 1's, then every other row deleted before the switch to WAL mode (journal mode | pages | free pages | rows: `%s`, %s). Before every run it is copied afresh (`cp`, untimed), so every run does the same work on the same bytes; each tool first ran once untimed (a warm-up). ", res.holesInfo, gib(res.holesSize))
	w("Butler's action (`tasks.OptimizeDatabase{Path}`) runs `PRAGMA integrity_check` and refuses a damaged database, then `PRAGMA optimize`, `ANALYZE`, `VACUUM` and `PRAGMA wal_checkpoint(TRUNCATE)`; the shell runs `VACUUM; ANALYZE` and checkpoints the WAL when it closes the database. Both vacuum in WAL mode (the new content goes through the WAL). ")
	w("Size after the run: Butler %s, sqlite3 %s.\n\n", gib(res.optimizeSizes[0]), gib(res.optimizeSizes[1]))
	toolTable(&b, res.optimize, "sqlite3")
	phaseTable(&b, res.optimize[0], map[string]string{
		"opening":                 "opening",
		"checking integrity":      "`PRAGMA integrity_check`",
		"running PRAGMA optimize": "`PRAGMA optimize`",
		"analyzing":               "`ANALYZE`",
		"vacuuming":               "`VACUUM`",
		"checkpointing":           "`PRAGMA wal_checkpoint(TRUNCATE)`",
		"done":                    "closing",
	})
	oRatio := res.optimize[0].median().Seconds() / res.optimize[1].median().Seconds()
	vac, integ := phaseMedian(res.optimize[0], "vacuuming"), phaseMedian(res.optimize[0], "checking integrity")
	w("Result: Butler %.2f× the sqlite3 shell against 1.5×: %s. Its `VACUUM` alone took %.2f s (%.2f× the shell's whole `VACUUM; ANALYZE`), its integrity check %.2f s (%.0f%% of its time).\n\n",
		oRatio, verdict(oRatio <= ratioTarget), vac.Seconds(), vac.Seconds()/res.optimize[1].median().Seconds(), integ.Seconds(), 100*integ.Seconds()/res.optimize[0].median().Seconds())
	warmTable(&b, "the fresh copy of the database", res.warmOptimize, map[string]string{
		"checking integrity": "`PRAGMA integrity_check`",
		"vacuuming":          "`VACUUM`",
	})

	// Memory against size.
	w("### Peak memory against the database's size\n\n")
	w("The same two actions once more each, on databases built the same way with an eighth of the rows (128 MiB):\n\n")
	w("| action | database | time s | own peak MiB | rusage peak MiB |\n| --- | --- | ---: | ---: | ---: |\n")
	_, bOwn := res.backup[0].peak()
	bRus, _ := res.backup[0].peak()
	_, oOwn := res.optimize[0].peak()
	oRus, _ := res.optimize[0].peak()
	w("| BackupDatabase | 128 MiB | %.2f | %s | %.1f |\n", res.smallBackup.wall.Seconds(), ownMiB(res.smallBackup.ownKiB), mib(res.smallBackup.rusageKiB))
	w("| BackupDatabase | 1 GiB | %.2f | %s | %.1f |\n", res.backup[0].median().Seconds(), ownMiB(bOwn), mib(bRus))
	w("| OptimizeDatabase | 128 MiB | %.2f | %s | %.1f |\n", res.smallOptimize.wall.Seconds(), ownMiB(res.smallOptimize.ownKiB), mib(res.smallOptimize.rusageKiB))
	w("| OptimizeDatabase | 1 GiB | %.2f | %s | %.1f |\n\n", res.optimize[0].median().Seconds(), ownMiB(oOwn), mib(oRus))
	w("Eight times the data, %s: the actions' memory does not grow with the database (SQLite's page cache is bounded, 2 MiB by default, and the backup and VACUUM stream pages).\n\n",
		growth(peakOf(res.smallBackup), maxPeak(res.backup[0]), peakOf(res.smallOptimize), maxPeak(res.optimize[0])))

	// 3. Clean.
	w("## 3. CleanOldCacheFiles over 200,000 files, half older than 7 days\n\n")
	w("Target: **at most 1.5×** the time of `find DIR -type f -mtime +7 -delete`; peak RSS **under 100 MB**.\n\n")
	w("Before every run a fresh tree is written (untimed): %d directories of %d files of 7 bytes, every other file dated 30 days back with `os.Chtimes`. Only the cleaning is timed. Butler's action (`tasks.CleanOldCacheFiles{Dir, MaxAge: 7 days}`) walks the tree through an `os.Root`, `Lstat`s every entry, removes the old ones and then any directory it emptied (none here); `find` reads the entries' metadata and unlinks the old ones. After each run the tree is counted: both left %d files, none of them old, in %d directories.\n\n",
		cacheDirs, cacheFiles, res.cleanLeft[0], cacheDirs)
	toolTable(&b, res.clean, "find")
	cRatio := res.clean[0].median().Seconds() / res.clean[1].median().Seconds()
	w("Result: Butler %.2f× `find` against 1.5×: %s.\n\n", cRatio, verdict(cRatio <= ratioTarget))

	// 4. butler tasks.
	w("## 4. `butler tasks` wall time\n\n")
	w("Target: **under 50 ms**, process start included.\n\n")
	w("`butler serve --addr 127.0.0.1:PORT --data-dir TMP --token T` as a child process (fresh data directory, SQLite), ready once `GET /healthz` answered 200. `butler tasks --url http://127.0.0.1:PORT --token T` was run once untimed (its output checked: %d lines, BackupDatabase among them), then %d times, each a new process with its output to `/dev/null`; the time is `time.Since` around `cmd.Run()`, from exec to exit. The command asks for the tasks, the plan and the run history (three requests) and prints a table.\n\n",
		c.taskLines, len(c.cli))
	w("| measured | p50 ms | p90 ms | max ms | min ms | n |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
	w("| `butler tasks` wall time | %.1f | %.1f | %.1f | %.1f | %d |\n\n", ms(benchstat.Percentile(cliSorted, 50)), ms(benchstat.Percentile(cliSorted, 90)), ms(cliMax), ms(cliSorted[0]), len(cliSorted))
	w("Result: the slowest of %d runs took %.1f ms against 50 ms: %s.\n\n", len(cliSorted), ms(cliMax), verdict(cliMax < cliTarget))

	// 5. SDK.
	w("## 5. SDK per-call overhead\n\n")
	w("Target: a `client.GetButlerTasks` call **under 1.2×** the same request made with plain `net/http`.\n\n")
	w("Against the same server. SDK: `client.New(url, client.WithToken(T), client.WithHTTPClient(...))` and `GetButlerTasks(ctx)`, which builds the request with a per-call timeout context, reads the body, picks the decoder from the Content-Type and decodes it into `apitype.ButlerTasksResponse`. Raw: `http.NewRequestWithContext`, `Accept: application/json` and `X-Plex-Token` set, `Do`, `io.ReadAll`, status check, `json.Unmarshal` into `apitype.ButlerTasksResponse`. Each side has its own `http.Client` whose transport has the same settings (keep-alive, at most 4 idle connections, no proxy), so each reuses one connection. ")
	w("The answer: %d tasks, %d bytes of JSON. After %d untimed calls each, %d blocks of %d calls, SDK and raw in turn.\n\n", c.tasks, c.bodyBytes, sdkWarmup, sdkBlocks, sdkBlock)
	w("| per call | mean µs | fastest block µs/call | slowest block µs/call | calls |\n| --- | ---: | ---: | ---: | ---: |\n")
	w("| SDK `GetButlerTasks` | %.1f | %.1f | %.1f | %d |\n", us(sdkPer), us(slices.Min(c.sdk)/sdkBlock), us(slices.Max(c.sdk)/sdkBlock), len(c.sdk)*sdkBlock)
	w("| raw `net/http` + `json.Unmarshal` | %.1f | %.1f | %.1f | %d |\n\n", us(rawPer), us(slices.Min(c.raw)/sdkBlock), us(slices.Max(c.raw)/sdkBlock), len(c.raw)*sdkBlock)
	lo, hi := blockRatioRange(c.sdk, c.raw)
	w("Result: the SDK call costs %.2f× the raw request (ratio of the means) against 1.2×: %s. Block by block (each SDK block over the raw block after it) the ratio went from %.2f to %.2f.\n",
		sdkRatio, verdict(sdkRatio < sdkTarget), lo, hi)
	return b.String()
}

// toolTable writes the runs, medians, ratios and peaks of tools; tools[1]
// is the reference.
func toolTable(b *strings.Builder, tools []*tool, ref string) {
	refMed := tools[1].median().Seconds()
	fmt.Fprintf(b, "| tool | run 1 s | run 2 s | run 3 s | median s | × %s | own peak MiB | rusage peak MiB |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n", ref)
	for _, t := range tools {
		fmt.Fprintf(b, "| %s |", t.label)
		for i := range reps {
			if i < len(t.samples) {
				fmt.Fprintf(b, " %.2f |", t.samples[i].wall.Seconds())
			} else {
				b.WriteString(" |")
			}
		}
		rus, own := t.peak()
		fmt.Fprintf(b, " %.2f | %.2f | %s | %.1f |\n", t.median().Seconds(), t.median().Seconds()/refMed, ownMiB(own), mib(rus))
	}
	b.WriteString("\nRuns are numbered in the order each tool ran; the tools took turns, the order rotated at each repetition.\n\n")
}

// warmTable writes the warm-cache runs of Butler and the shell: what was
// read into the page cache before each run, the table, the median of the
// steps named in steps, and the verdict.
func warmTable(b *strings.Builder, input string, tools []*tool, steps map[string]string) {
	fmt.Fprintf(b, "### Warm page cache\n\n")
	fmt.Fprintf(b, "The same two commands again, with %s read whole into the page cache (after a `sync`) before each run instead of the cache dropped: what the actions cost when the disk is out of the way.\n\n", input)
	toolTable(b, tools, "sqlite3")
	ratio := tools[0].median().Seconds() / tools[1].median().Seconds()
	names := slices.Sorted(maps.Keys(steps))
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.2f s", steps[n], phaseMedian(tools[0], n).Seconds()))
	}
	fmt.Fprintf(b, "Result: Butler %.2f× the sqlite3 shell against 1.5×: %s. Butler's steps (medians): %s.\n\n", ratio, verdict(ratio <= ratioTarget), strings.Join(parts, ", "))
}

// phaseTable writes the median time of each step Butler's action reported.
func phaseTable(b *strings.Builder, t *tool, names map[string]string) {
	var order []string
	for _, s := range t.samples {
		for _, p := range s.phases {
			if !slices.Contains(order, p.name) {
				order = append(order, p.name)
			}
		}
	}
	b.WriteString("Where Butler's time went, from the steps it reported to its Reporter (median of each over the runs):\n\n| step | median s |\n| --- | ---: |\n")
	var sum time.Duration
	for _, name := range order {
		label := names[name]
		if label == "" {
			label = name
		}
		d := phaseMedian(t, name)
		sum += d
		fmt.Fprintf(b, "| %s | %.2f |\n", label, d.Seconds())
	}
	fmt.Fprintf(b, "| process start and exit (wall time minus the steps) | %.2f |\n\n", max(t.median()-sum, 0).Seconds())
}

// phaseMedian returns the median over t's runs of the step called name.
func phaseMedian(t *tool, name string) time.Duration {
	var ds []time.Duration
	for _, s := range t.samples {
		var d time.Duration
		for _, p := range s.phases {
			if p.name == name {
				d += p.d
			}
		}
		ds = append(ds, d)
	}
	if len(ds) == 0 {
		return 0
	}
	return benchstat.Median(ds)
}

func maxPeak(t *tool) int64 {
	rus, own := t.peak()
	if own >= 0 {
		return own
	}
	return rus
}

// growth describes how the peaks changed from the small databases to the
// 1 GiB ones.
func growth(smallB, bigB, smallO, bigO int64) string {
	return fmt.Sprintf("the backup's peak went from %.1f to %.1f MiB and the optimization's from %.1f to %.1f MiB",
		mib(smallB), mib(bigB), mib(smallO), mib(bigO))
}

func ownMiB(kib int64) string {
	if kib < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", mib(kib))
}

func gib(n int64) string { return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30)) }

func perCall(blocks []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range blocks {
		sum += d
	}
	return sum / time.Duration(len(blocks)*sdkBlock)
}

func blockRatioRange(sdk, raw []time.Duration) (lo, hi float64) {
	lo = math.Inf(1)
	for i := range min(len(sdk), len(raw)) {
		r := sdk[i].Seconds() / raw[i].Seconds()
		lo, hi = min(lo, r), max(hi, r)
	}
	return lo, hi
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
