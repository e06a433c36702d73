// Command taskbench measures the built-in task actions against the tools a
// person would use instead, side by side in one run: BackupDatabase against
// `sqlite3 SRC ".backup DST"` and `cp`, OptimizeDatabase against
// `sqlite3 DB "VACUUM; ANALYZE"`, CleanOldCacheFiles against
// `find DIR -type f -mtime +7 -delete`, with each one's peak memory. Every
// measured thing runs as a child process (Butler's actions in this program
// re-executed), so that its peak RSS can be read from its rusage. It writes
// a markdown section for BENCHMARKS.md.
//
//	go run ./internal/taskbench -out FRAGMENT.md
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite"

	"github.com/plexbutler/butler/tasks"
)

const reps = 3

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		if err := child(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "taskbench child:", err)
			os.Exit(1)
		}
		return
	}
	out := flag.String("out", "", "write the markdown section here (default stdout)")
	flag.Parse()
	text, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "taskbench:", err)
		os.Exit(1)
	}
	if *out == "" {
		fmt.Print(text)
		return
	}
	if err := os.WriteFile(*out, []byte(text), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "taskbench:", err)
		os.Exit(1)
	}
}

// reporter is the Reporter the actions see here.
type reporter struct{}

func (reporter) Progress(int, string) {}
func (reporter) Summary(string)       {}
func (reporter) Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// child runs one Butler action: backup SRC DIR | optimize DB | clean DIR.
func child(args []string) error {
	ctx := context.Background()
	switch args[0] {
	case "backup":
		return (&tasks.BackupDatabase{Source: args[1], Dir: func() string { return args[2] }, Keep: 100}).Run(ctx, reporter{})
	case "optimize":
		return (&tasks.OptimizeDatabase{Path: args[1]}).Run(ctx, reporter{})
	case "clean":
		return (&tasks.CleanOldCacheFiles{Dir: args[1], MaxAge: 7 * 24 * time.Hour}).Run(ctx, reporter{})
	}
	return fmt.Errorf("unknown child %q", args[0])
}

type sample struct {
	wall time.Duration
	rss  int64 // KiB
}

// measure runs a command and returns its wall time and peak RSS.
func measure(name string, args ...string) (sample, error) {
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return sample{}, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	wall := time.Since(t0)
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	var rss int64
	if ru != nil {
		rss = ru.Maxrss
	}
	return sample{wall: wall, rss: rss}, nil
}

func dropCaches() bool {
	exec.Command("sync").Run()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200) == nil
}

type row struct {
	name    string
	samples []sample
}

func median(s []sample) sample {
	w := make([]time.Duration, len(s))
	var rss int64
	for i, x := range s {
		w[i] = x.wall
		rss = max(rss, x.rss)
	}
	slices.Sort(w)
	return sample{wall: w[len(w)/2], rss: rss}
}

func run() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	sqlite3, err := exec.LookPath("sqlite3")
	if err != nil {
		return "", errors.New("sqlite3 is not installed (Debian: sqlite3); scripts/bench.sh installs it")
	}
	tmp, err := os.MkdirTemp("", "taskbench-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	var st syscall.Statfs_t
	if err := syscall.Statfs(tmp, &st); err == nil && int64(st.Bavail)*int64(st.Bsize) < 6<<30 {
		return "", fmt.Errorf("less than 6 GiB free in %s", tmp)
	}
	src := filepath.Join(tmp, "src.db")
	fmt.Fprintln(os.Stderr, "taskbench: building a 1 GiB database")
	if err := buildDB(src, 1<<30, false); err != nil {
		return "", err
	}
	dropped := dropCaches()

	// 1. Backup.
	backup := []row{{name: "Butler BackupDatabase"}, {name: "`sqlite3 SRC \".backup DST\"`"}, {name: "`cp SRC DST`"}}
	for i := range reps {
		fmt.Fprintf(os.Stderr, "taskbench: backup %d/%d\n", i+1, reps)
		dir := filepath.Join(tmp, fmt.Sprintf("backups%d", i))
		os.MkdirAll(dir, 0o700)
		runs := []func() (sample, error){
			func() (sample, error) { return measure(self, "child", "backup", src, dir) },
			func() (sample, error) { return measure(sqlite3, src, ".backup "+filepath.Join(dir, "cli.db")) },
			func() (sample, error) { return measure("cp", src, filepath.Join(dir, "cp.db")) },
		}
		for j, f := range runs {
			dropCaches()
			s, err := f()
			if err != nil {
				return "", err
			}
			backup[j].samples = append(backup[j].samples, s)
		}
		os.RemoveAll(dir)
	}

	// 2. Optimize: a database with half its rows deleted, copied fresh each time.
	fmt.Fprintln(os.Stderr, "taskbench: building a database with deleted rows")
	holes := filepath.Join(tmp, "holes.db")
	if err := buildDB(holes, 1<<30, true); err != nil {
		return "", err
	}
	optimize := []row{{name: "Butler OptimizeDatabase"}, {name: "`sqlite3 DB \"VACUUM; ANALYZE\"`"}}
	for i := range reps {
		fmt.Fprintf(os.Stderr, "taskbench: optimize %d/%d\n", i+1, reps)
		for j := range optimize {
			work := filepath.Join(tmp, "work.db")
			if _, err := measure("cp", holes, work); err != nil {
				return "", err
			}
			dropCaches()
			var s sample
			if j == 0 {
				s, err = measure(self, "child", "optimize", work)
			} else {
				s, err = measure(sqlite3, work, "VACUUM; ANALYZE")
			}
			if err != nil {
				return "", err
			}
			optimize[j].samples = append(optimize[j].samples, s)
			os.Remove(work)
		}
	}

	// 3. Cache clean over 200,000 files, half of them old.
	clean := []row{{name: "Butler CleanOldCacheFiles"}, {name: "`find DIR -type f -mtime +7 -delete`"}}
	for i := range reps {
		fmt.Fprintf(os.Stderr, "taskbench: clean %d/%d\n", i+1, reps)
		for j := range clean {
			dir := filepath.Join(tmp, "cache")
			if err := buildCache(dir); err != nil {
				return "", err
			}
			dropCaches()
			var s sample
			if j == 0 {
				s, err = measure(self, "child", "clean", dir)
			} else {
				s, err = measure("find", dir, "-type", "f", "-mtime", "+7", "-delete")
			}
			if err != nil {
				return "", err
			}
			clean[j].samples = append(clean[j].samples, s)
			os.RemoveAll(dir)
		}
	}

	var b strings.Builder
	b.WriteString("\n## Task actions against the usual tools\n\n")
	b.WriteString("Targets: each Butler action **at most 1.5×** the time of the tool a person would use (`sqlite3` CLI, `find`); peak RSS **under 100 MB** whatever the database size.\n\n")
	fmt.Fprintf(&b, "Command: `go run ./internal/taskbench` (run by `scripts/bench.sh`). Every measured thing is a child process (Butler's actions are this program re-executed), timed from start to exit, its peak RSS from its rusage; %d alternating repetitions, the median time and the largest peak shown. Page cache dropped before each run: %v. %s, %d cores.\n\n", reps, dropped, sqliteVersion(sqlite3), runtime.NumCPU())
	verdicts := []string{}
	section := func(title string, rows []row, refIdx int) {
		fmt.Fprintf(&b, "### %s\n\n| tool | median s | × reference | peak RSS MB |\n| --- | ---: | ---: | ---: |\n", title)
		ref := median(rows[refIdx].samples).wall
		for _, r := range rows {
			m := median(r.samples)
			fmt.Fprintf(&b, "| %s | %.2f | %.2f | %.1f |\n", r.name, m.wall.Seconds(), m.wall.Seconds()/ref.Seconds(), float64(m.rss)/1024)
		}
		m := median(rows[0].samples)
		ratio := m.wall.Seconds() / ref.Seconds()
		ok := ratio <= 1.5 && m.rss < 100*1024
		v := "**met**"
		if !ok {
			v = "**not met**"
		}
		verdicts = append(verdicts, fmt.Sprintf("%s %.2f× and %.0f MB: %s", strings.ToLower(title), ratio, float64(m.rss)/1024, v))
		b.WriteString("\n")
	}
	section("Backup of a 1 GiB database", backup, 1)
	section("Optimize of a 1 GiB database with half its rows deleted", optimize, 1)
	section("Clean of 200,000 cache files, half older than 7 days", clean, 1)
	fmt.Fprintf(&b, "Result: %s.\n", strings.Join(verdicts, "; "))
	return b.String(), nil
}

func sqliteVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "sqlite3 (version unknown)"
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return "sqlite3"
	}
	return "sqlite3 " + f[0]
}

// buildDB makes a WAL database of about size bytes of random blobs; with
// holes, half its rows are then deleted.
func buildDB(path string, size int64, holes bool) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	if err != nil {
		return err
	}
	defer db.Close()
	rows := size / 4096
	if _, err := db.Exec(`CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB)`); err != nil {
		return err
	}
	if _, err := db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO blobs (id, b) SELECT i, randomblob(4000) FROM n`, rows); err != nil {
		return err
	}
	if holes {
		if _, err := db.Exec(`DELETE FROM blobs WHERE id % 2 = 0`); err != nil {
			return err
		}
	}
	_, err = db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// buildCache makes 200 directories of 1,000 small files, every other file
// older than 7 days.
func buildCache(dir string) error {
	old := time.Now().Add(-30 * 24 * time.Hour)
	data := []byte("cached\n")
	for d := range 200 {
		sub := filepath.Join(dir, fmt.Sprintf("d%03d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		for f := range 1000 {
			p := filepath.Join(sub, fmt.Sprintf("f%04d", f))
			if err := os.WriteFile(p, data, 0o644); err != nil {
				return err
			}
			if f%2 == 0 {
				if err := os.Chtimes(p, old, old); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
