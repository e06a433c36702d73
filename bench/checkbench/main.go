// Command checkbench measures what the start-up check of a SQLite
// database costs `butler serve` on a 1 GiB database, against the sqlite3
// shell doing the same check, side by side in one run, with a cold and a
// warm page cache. It writes a markdown section for BENCHMARKS.md:
//
//	go -C bench run ./checkbench -out FRAGMENT.md
//
// scripts/bench-check.sh runs it (and installs sqlite3 first when
// missing). It needs the sqlite3 shell and about 1.2 GiB free in the
// temporary directory, where it keeps everything (one directory, removed at
// the end); it takes about two minutes.
//
// The database: a Butler database (made by store/sqlite, with the
// maintenance window moved away from now so that no task starts) to which
// the sqlite3 shell adds, the way bench/taskbench builds its databases,
// a table of 262,144 rows of randomblob(4000) (one row a 4 KiB page) in
// one transaction, written without a journal, then switched back to WAL
// mode: 1 GiB. A copy of the Butler database made before the table was
// added (a few pages) is the small reference.
//
// What is measured, each a child process, the time from just before exec
// to its exit (or to the answer, for the server):
//
//  1. Butler's check: this program re-executed (hidden subcommand
//     run-check DB) calls sqlite.Check, which is what sqlite.Open, and so
//     butler serve, runs before the migrations: it reads the 16-byte header
//     and runs PRAGMA quick_check on a read-only connection while it reads
//     the file ahead into the page cache (internal/readahead). The child
//     also prints the time of the Check call alone.
//  2. sqlite3 DB "PRAGMA quick_check": the native shell's check.
//  3. butler serve (built with CGO_ENABLED=0) on the 1 GiB database, from
//     exec to the first 200 of GET /healthz (polled every millisecond);
//     then SIGTERM, and the server must exit 0 (untimed).
//  4. The same on the small reference database.
//
// Every tool first runs once untimed (a warm-up); then the four take turns,
// three times each, the order rotated at each repetition. Cold: the page
// cache is dropped (sync, then 3 into /proc/sys/vm/drop_caches, which
// needs root) before every run. Warm: the database is read whole (after a
// sync) before every run instead. The tables give every run, the median and
// the ratio of medians.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "run-check" {
		if err := runCheck(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "checkbench run-check:", err)
			os.Exit(1)
		}
		return
	}
	out := flag.String("out", "", "write the markdown fragment to this file (default: standard output)")
	reps := flag.Int("reps", 3, "timed runs of each tool, per cache state")
	flag.Parse()
	if flag.NArg() > 0 || *reps < 1 {
		fmt.Fprintln(os.Stderr, "checkbench: usage: checkbench [-out FILE] [-reps N]")
		os.Exit(2)
	}
	start := time.Now()
	text, err := run(*reps)
	if err != nil {
		fmt.Fprintln(os.Stderr, "checkbench:", err)
		os.Exit(1)
	}
	if *out == "" {
		fmt.Print(text)
	} else if err := os.WriteFile(*out, []byte(text), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "checkbench:", err)
		os.Exit(1)
	}
	logf("done in %s", time.Since(start).Round(time.Second))
}

var begin = time.Now()

// logf prints a progress line on standard error.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "checkbench [%4.0fs]: %s\n", time.Since(begin).Seconds(), fmt.Sprintf(format, args...))
}
