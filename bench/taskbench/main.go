// Command taskbench measures three built-in task actions against the tools a
// person would use instead, and the command line and Go SDK against a real
// server, each side by side in one run. It writes a markdown fragment (a few
// "## " sections, no title) for BENCHMARKS.md:
//
//	go -C bench run ./taskbench -out FRAGMENT.md
//
// scripts/bench-tasks.sh runs it (and installs sqlite3 first when missing).
// It needs the sqlite3 command line shell, and uses GNU time
// (/usr/bin/time) when present; it takes about five minutes and needs 6 GiB
// of free disk space in the temporary directory, where it keeps everything
// (one directory, removed at the end).
//
// What is measured:
//
//  1. tasks.BackupDatabase of a 1 GiB SQLite database (WAL mode, one table
//     of 262,144 rows of randomblob(4000), one row a page) against
//     `sqlite3 SRC ".backup DST"` and `cp SRC DST`.
//  2. tasks.OptimizeDatabase against `sqlite3 DB "VACUUM; ANALYZE"`, on a
//     fresh copy, for every run, of the same kind of database with every
//     other row deleted.
//  3. tasks.CleanOldCacheFiles (MaxAge 7 days) against
//     `find DIR -type f -mtime +7 -delete`, on a tree of 200 directories of
//     1,000 files of 7 bytes, every other file dated 30 days back, built
//     afresh for every run; only the cleaning is timed.
//  4. The wall time of `butler tasks --url ... --token ...` (built with
//     CGO_ENABLED=0; process start included) against a `butler serve`
//     child on a fresh data directory, 30 runs.
//  5. client.GetButlerTasks against the same GET /butler made with a plain
//     http.Client and json.Unmarshal into apitype.ButlerTasksResponse (same
//     Accept and X-Plex-Token headers, transports with the same settings),
//     2,000 calls each in alternating blocks of 200 after a warm-up.
//
// In 1 to 3 every measured command is a child process of this program,
// Butler's actions included (this program re-executed with a hidden
// subcommand: run-backup SRC DIR, run-optimize DB, run-clean DIR). In 1
// and 2 every tool first runs once untimed (a warm-up: the first run after
// the database is built was seen to take three times as long, whatever the
// tool). The tools are run in turn, three times each, the order rotated
// from one repetition to the next; the page cache is dropped (sync, then 3 into
// /proc/sys/vm/drop_caches, which needs root) before every timed run when
// possible. Butler and the sqlite3 shell are then run three times more each
// in 1 and 2 with a warm cache: the input (the source, or the fresh copy of
// the database) read whole after a sync, before each run. A run's time is from just before exec to its exit; the tables
// give every run, the median and the ratio of medians.
//
// Peak memory is read two ways. The child's rusage (ru_maxrss), as the
// kernel reports it to this program: Go starts children with
// clone(CLONE_VM|CLONE_VFORK) and Linux's exec keeps the larger of the old
// and the new address space's high-water mark, so that number is at least
// this program's own peak RSS at the time (the "floor", measured by running
// /bin/true the same way). When GNU time is installed every child runs under
// `/usr/bin/time -f %M`, which forks it afresh and reports the command's own
// peak; that is the number the 100 MB target is judged by (the rusage one
// when GNU time is missing).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	if len(os.Args) > 1 && len(os.Args[1]) > 4 && os.Args[1][:4] == "run-" {
		if err := child(os.Args[1], os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "taskbench "+os.Args[1]+":", err)
			os.Exit(1)
		}
		return
	}
	out := flag.String("out", "", "write the markdown fragment to this file (default: standard output)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "taskbench: unexpected arguments; usage: taskbench [-out FILE]")
		os.Exit(2)
	}
	start := time.Now()
	text, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "taskbench:", err)
		os.Exit(1)
	}
	if *out == "" {
		fmt.Print(text)
	} else if err := os.WriteFile(*out, []byte(text), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "taskbench:", err)
		os.Exit(1)
	}
	logf("done in %s", time.Since(start).Round(time.Second))
}

var begin = time.Now()

// logf prints a progress line on standard error.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "taskbench [%4.0fs]: %s\n", time.Since(begin).Seconds(), fmt.Sprintf(format, args...))
}
