package main

import (
	"fmt"
	"strings"
	"time"
)

// report writes the markdown section.
func report(res *results) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := res.m

	w("## Start-up check of the database (checkbench)\n\n")
	w("Produced by `scripts/bench-check.sh`, which runs `go -C bench run ./checkbench -out FILE`, on %s (UTC), in %.0f s. ",
		res.started.UTC().Format("2006-01-02 15:04"), res.elapsed.Seconds())
	w("The program's doc comment says exactly what each number is. One run on the machine below; every repetition is shown.\n\n")
	w("| machine | |\n| --- | --- |\n")
	w("%s", m.Rows())
	w("| `sqlite3 --version` | %s (native C; Butler's SQLite is modernc.org/sqlite, SQLite translated to Go) |\n", m.sqlite)
	w("| temporary directory | %s, %.0f GiB free at the start |\n", m.fs, float64(m.free)/(1<<30))
	switch {
	case res.notDr == 0:
		w("| page cache | dropped before each of the %d cold runs (`sync`, then `3` into `/proc/sys/vm/drop_caches`) |\n", res.dropped)
	case res.dropped == 0:
		w("| page cache | **not dropped** (writing `/proc/sys/vm/drop_caches` failed: not root?): the \"cold\" runs are warm |\n")
	default:
		w("| page cache | dropped before %d of the %d cold runs only |\n", res.dropped, res.dropped+res.notDr)
	}
	w("| commit | %s |\n", m.Commit)
	w("| binary | `%s`, %.1f MiB, built with `CGO_ENABLED=0` |\n", res.version, float64(res.binSize)/(1<<20))
	w("| load average (1, 5, 15 min) | %s before, %s after |\n\n", m.loadBefore, m.loadAfter)

	w("Before the migrations, `butler serve` checks an existing SQLite database: its first 16 bytes must be SQLite's header and `PRAGMA quick_check` must answer `ok` (`sqlite.Check`, called by `sqlite.Open`). quick_check reads every page, in b-tree order, so its cost grows with the database; meanwhile Butler reads the file ahead into the page cache from both ends in 1 MiB reads (skipping what is cached), so that a cold check does not read the disk one page at a time. ")
	w("The database: Butler's, plus a table the sqlite3 shell filled with %d rows of `randomblob(4000)`, one a page, %.2f GiB in all (journal mode | pages | rows: `%s`). ",
		ballastRows, float64(res.size)/(1<<30), res.info)
	w("The small reference is Butler's database without that table, %.0f KiB.\n\n", float64(res.smallSz)/1024)

	section := func(title, how string, tools []*tool) {
		w("### %s\n\n%s\n\n", title, how)
		reps := len(tools[0].samples)
		w("| measured |")
		for i := range reps {
			w(" run %d s |", i+1)
		}
		w(" median s | × sqlite3 |\n| --- |")
		for range reps {
			w(" ---: |")
		}
		w(" ---: | ---: |\n")
		ref := tools[1].median()
		for i, t := range tools {
			w("| %s |", t.label)
			for _, s := range t.samples {
				w(" %.3f |", s.wall.Seconds())
			}
			ratio := "—"
			if i < 2 {
				ratio = fmt.Sprintf("%.2f", t.median().Seconds()/ref.Seconds())
			}
			w(" %.3f | %s |\n", t.median().Seconds(), ratio)
		}
		w("\nRuns are numbered in the order each tool ran; the tools took turns, the order rotated at each repetition.\n\n")
		check, shell, bigServe, smallServe := tools[0], tools[1], tools[2], tools[3]
		w("Result: Butler's check took %.3f s (median; the `Check` call alone %.3f s, the rest is the process's start and exit), %.2f× the sqlite3 shell's %.3f s. ",
			check.median().Seconds(), check.medianCheck().Seconds(), check.median().Seconds()/shell.median().Seconds(), shell.median().Seconds())
		w("`butler serve` answered its first 200 after %s on the 1 GiB database against %s on the small one: the check adds about %s to the start.\n\n",
			secs(bigServe.median()), secs(smallServe.median()), secs(bigServe.median()-smallServe.median()))
	}
	section("Cold page cache", "The page cache dropped before every run: the check reads the whole file from the disk.", res.cold)
	section("Warm page cache", "The database read whole into the page cache (after a `sync`) before every run instead: what the check costs when the disk is out of the way.", res.warm)
	return b.String()
}

func secs(d time.Duration) string {
	if d < time.Second && d > -time.Second {
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
