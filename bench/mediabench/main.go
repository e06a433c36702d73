// Command mediabench measures the media library against the tools a person
// would use instead, side by side in one run, and writes a markdown fragment
// (a "## " section and its parts) for BENCHMARKS.md:
//
//	go -C bench run ./mediabench -out FRAGMENT.md [-parts scan,analysis,server]
//
// scripts/bench-media.sh runs it (and installs ffmpeg first when missing).
// It needs ffmpeg and ffprobe, GNU find and xargs, and the
// go command (to build the server); it takes about eight minutes, keeps
// everything in one directory of the temporary directory (TMPDIR), removed
// at the end (also when interrupted), and writes its progress on standard
// error. -parts measures only some of the parts below (scan: 1 and 2,
// analysis: 3, server: 4); the fragment then has only those.
//
// What is measured:
//
//  1. The scan of a library of 100,000 files. A tree is written once: 100
//     shows × 10 seasons × 100 episodes ("Show 000/Season 00/Episode
//     00000.mkv", 100 files a directory), every file empty. Butler:
//     mediascan.Scanner{Index: db}.Scan of a shows library into a SQLite
//     index in a file (store/sqlite), in a child process (this program
//     re-executed with the hidden subcommand run-scan ROOT DB): the first
//     scan on a fresh database (every file added), then the rescan, the
//     same child again on the database the first scan left (every file
//     unchanged). The reference: `find ROOT -type f -printf '%s %T@ %p\n'
//     > /dev/null`, which reads the same metadata (size, modification
//     time, path). A time is the child's wall time, from just before exec
//     to its exit (process start, opening and migrating the database, and
//     closing it included); the scan child also reports the time of the
//     Scan call alone. Five repetitions with a cold cache (sync, then 3
//     into /proc/sys/vm/drop_caches before every timed run; root only, the
//     fragment says when it could not), find first in every other one,
//     then one untimed run of each and five warm repetitions. Targets:
//     first scan at most 1.2× find; rescan at most 0.5× the first scan
//     (medians).
//  2. The peak RSS of the scan: VmHWM from /proc/self/status, read by the
//     scan child itself just before it exits (the high-water mark of its
//     resident set; exec starts a new address space, so nothing of this
//     program's own memory counts). The largest over the runs, first scans
//     and rescans apart. Target: under 150 MB (10^6 bytes).
//  3. The analysis throughput at parallelism P = 2 and 4: 120 media files
//     in one folder, four kinds made with ffmpeg from lavfi testsrc and
//     sine (2 s of 320×240 at 25 fps: Matroska with H.264, AAC and three
//     chapters; MP4 with H.264 and AAC; MP4 with H.264, AAC and three
//     chapters; Matroska with MPEG-4 part 2 and MP3), each copied 30
//     times. Butler: a real butler.Manager with the River engine over a
//     SQLite file (engine.NewSQLite, ItemWorkers P), as `butler serve`
//     builds them, offering DeepMediaAnalysis with the action
//     tasks.DeepMediaAnalysis{Index: db, Parallel: P}; the folder is
//     scanned into that database first (untimed), then the run is started
//     (Manager.StartTask), and the time is from the start to the run's
//     ended event (Manager.Subscribe), its summary checked ("analysed 120
//     items, 0 failed, 0 skipped"). Each item is an item job: the run
//     queues them through River and P item workers run ffprobe. Twice:
//     with the default mediaprobe.Prober (ffprobe at niceness 10 and
//     best-effort I/O level 7, inherited from a thread whose priorities
//     are lowered, as `butler serve` runs it by default) and with
//     Nice: -1, IOClass: mediaprobe.IONone (neither). Also the action run
//     directly (Run with a reporter that offers no item queue: P
//     goroutines, no River), with the default Prober. The reference:
//     `find DIR -type f -print0 | xargs -0 -P P -n 1 ffprobe -v error
//     -print_format json -show_format -show_streams -show_chapters
//     > /dev/null` (-print0 and -0: the names have spaces). After one
//     untimed run of xargs, every tool runs three times at each P, in
//     turn, the order rotated; the files were just written, so their pages
//     are in the cache. items/s is 120 over the median time. The CPU time
//     (user and system) of each run is read with getrusage around it: this
//     program's own (RUSAGE_SELF: Butler's work, River's and SQLite's,
//     when in process) and its children's (RUSAGE_CHILDREN: ffprobe; sh,
//     find and xargs for the reference). Target: Butler's
//     items/s at least 1.0× xargs's.
//  4. Pausing and a kill -9, through a real server: `butler serve` built
//     with `go build` into the temporary directory; its config names one
//     library of 1,200 media files (the same four kinds), media.parallel 2,
//     and busy.plex pointing at a fake Plex that this program serves
//     (GET /status/sessions answering a MediaContainer of size 0, or 1
//     while "someone watches"; busy.check_every left at its default, 5 s);
//     media.ffprobe is a shell script that appends "start PATH" to a log,
//     sleeps 0.2 s (slow-ish items), runs the real ffprobe and appends
//     "end PATH". Its settings put the maintenance window twelve hours
//     away, so that nothing starts on its own. RefreshLibraries is run,
//     then DeepMediaAnalysis. Pause latency: once the run has started 20
//     files, the fake Plex answers one session playing from t0, and
//     GET /butler/runs/{id} is polled every 50 ms until the run's step
//     begins "paused: "; the time is from t0 to that answer (given up
//     after 20 s). The polls also read the log: the last ffprobe started
//     after t0 tells when the work itself stopped. t0 is a random delay
//     of up to 5 s after the 20th start, so that it falls anywhere
//     between two questions of the busy probe. Then nobody watches
//     again, the run goes on until it has started 20 files more, and the
//     next repetition begins; five repetitions. Target: paused within 15
//     s. Kill: a second server, on a library of 150 files of its own and
//     no busy section, is killed with SIGKILL once its run has started 50
//     files; the files started and not ended at that moment are the items
//     in flight. The server is started again on the same data directory
//     and DeepMediaAnalysis run to its end. Every file's ffprobe starts
//     are then counted: a file probed both before the kill and after the
//     restart was redone. Target: no file redone beyond those in flight
//     (at most media.parallel), and every file analysed in the end.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "run-scan" {
		if err := scanChild(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "mediabench run-scan:", err)
			os.Exit(1)
		}
		return
	}
	out := flag.String("out", "", "write the markdown fragment to this file (default: standard output)")
	parts := flag.String("parts", "scan,analysis,server", "the parts to measure, comma-separated (scan: sections 1 and 2, analysis: 3, server: 4); the fragment has only those")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "mediabench: unexpected arguments; usage: mediabench [-out FILE] [-parts scan,analysis,server]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{ctx: ctx, start: time.Now(), parts: map[string]bool{}}
	for _, p := range strings.Split(*parts, ",") {
		if p = strings.TrimSpace(p); p != "scan" && p != "analysis" && p != "server" {
			fmt.Fprintf(os.Stderr, "mediabench: -parts: %q is not a part; give scan, analysis or server, comma-separated\n", p)
			os.Exit(2)
		}
		b.parts[p] = true
	}
	text, err := b.run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mediabench:", err)
		stop()
		os.Exit(1)
	}
	if *out == "" {
		fmt.Print(text)
	} else if err := os.WriteFile(*out, []byte(text), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "mediabench:", err)
		os.Exit(1)
	}
	b.logf("done in %s", time.Since(b.start).Round(time.Second))
}
