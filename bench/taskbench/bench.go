package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/plexbutler/butler/bench/internal/benchmachine"
)

// reps is how many times each tool of sections 1 to 3 runs.
const reps = 3

// results is everything the fragment reports.
type results struct {
	started  time.Time
	elapsed  time.Duration
	m        machine
	floorKiB int64 // largest rusage peak of /bin/true run like the others

	srcInfo, holesInfo string // what sqlite3 says of the two databases
	srcSize, holesSize int64
	backup             []*tool // Butler, sqlite3, cp
	backupSizes        []int64 // size of each tool's copy, last run
	optimize           []*tool // Butler, sqlite3
	// warmBackup and warmOptimize are Butler and sqlite3 again, with the
	// input read into the page cache before each run.
	warmBackup, warmOptimize []*tool
	optimizeSizes            []int64 // size of the database after each tool, last run
	clean                    []*tool // Butler, find
	cleanLeft                []int   // files left after each tool, last run

	// The same actions once on a database an eighth of the size.
	smallBackup, smallOptimize sample

	// dropped and notDropped count the timed runs before which the page
	// cache was and could not be dropped.
	dropped, notDropped int

	cli cliResult
}

func run() (string, error) {
	res := &results{started: time.Now()}
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	sqlite3, err := exec.LookPath("sqlite3")
	if err != nil {
		return "", errors.New("the sqlite3 command line shell is not installed (Debian and Ubuntu: apt-get install sqlite3; scripts/bench-tasks.sh does it)")
	}
	gnuTime := ""
	if p, err := exec.LookPath("/usr/bin/time"); err == nil {
		if out, err := exec.Command(p, "--version").CombinedOutput(); err == nil && len(out) > 0 && strings.Contains(string(out), "GNU") {
			gnuTime = p
		}
	}
	tmp, err := os.MkdirTemp("", "taskbench-")
	if err != nil {
		return "", err
	}
	defer func() {
		if err := os.RemoveAll(tmp); err != nil {
			logf("remove %s: %v", tmp, err)
		}
	}()
	free, fsName, err := benchmachine.FreeSpace(tmp)
	if err != nil {
		return "", fmt.Errorf("free space in %s: %w", tmp, err)
	}
	if free < minFree {
		return "", fmt.Errorf("only %.1f GiB free in %s (%s); the run needs %d GiB: set TMPDIR to a roomier file system",
			float64(free)/(1<<30), tmp, fsName, minFree>>30)
	}
	res.m = readMachine(sqlite3, gnuTime, tmp)
	r := &runner{tmp: tmp, gnuTime: gnuTime}
	floor := func() error {
		s, err := r.exec("/bin/true")
		if err != nil {
			return err
		}
		res.floorKiB = max(res.floorKiB, s.rusageKiB)
		return nil
	}
	if err := floor(); err != nil {
		return "", err
	}

	// 1. Backup.
	src := filepath.Join(tmp, "src.db")
	logf("building a 1 GiB database (%d rows of randomblob(4000)) with sqlite3", blobRows)
	if err := buildDB(sqlite3, src, blobRows, false); err != nil {
		return "", err
	}
	res.srcSize = fileSize(src)
	if res.srcInfo, err = dbInfo(sqlite3, src); err != nil {
		return "", err
	}
	logf("built %s: %d bytes; journal mode|pages|free pages|rows = %s", src, res.srcSize, res.srcInfo)
	res.backupSizes = make([]int64, 3)
	backupRun := func(i int, name string, args func(dir string) []string, out func(dir string) (string, error)) func(int) (sample, error) {
		return func(rep int) (sample, error) {
			dir := filepath.Join(tmp, fmt.Sprintf("backup-%d-%d", rep, i))
			if err := os.Mkdir(dir, 0o700); err != nil {
				return sample{}, err
			}
			defer os.RemoveAll(dir)
			s, err := r.measure(name, args(dir)...)
			if err != nil {
				return s, err
			}
			p, err := out(dir)
			if err != nil {
				return s, err
			}
			size := fileSize(p)
			if size < res.srcSize*99/100 {
				return s, fmt.Errorf("the copy %s has %d bytes, the source %d", p, size, res.srcSize)
			}
			res.backupSizes[i] = size
			return s, nil
		}
	}
	fixed := func(name string) func(string) (string, error) {
		return func(dir string) (string, error) { return filepath.Join(dir, name), nil }
	}
	res.backup = []*tool{
		{label: "Butler `BackupDatabase`", run: backupRun(0, self, func(dir string) []string {
			return []string{"run-backup", src, dir}
		}, func(dir string) (string, error) {
			m, err := filepath.Glob(filepath.Join(dir, "src-*.db"))
			if err != nil || len(m) != 1 {
				return "", fmt.Errorf("want one backup src-*.db in %s, found %v (%v)", dir, m, err)
			}
			return m[0], nil
		})},
		{label: "`sqlite3 SRC \".backup DST\"`", run: backupRun(1, sqlite3, func(dir string) []string {
			return []string{src, ".backup '" + filepath.Join(dir, "cli.db") + "'"}
		}, fixed("cli.db"))},
		{label: "`cp SRC DST`", run: backupRun(2, "cp", func(dir string) []string {
			return []string{src, filepath.Join(dir, "cp.db")}
		}, fixed("cp.db"))},
	}
	if err := warmUp("backup", res.backup); err != nil {
		return "", err
	}
	if err := alternate("backup", reps, res.backup); err != nil {
		return "", err
	}
	// The same, Butler and the shell, with the source in the page cache.
	if res.warmBackup, err = r.warmRuns("backup", src, res.backup[:2]); err != nil {
		return "", err
	}
	if err := floor(); err != nil {
		return "", err
	}
	if err := removeDB(src); err != nil {
		return "", err
	}

	// 2. Optimize: every run on a fresh copy of a database with holes.
	holes := filepath.Join(tmp, "holes.db")
	logf("building a 1 GiB database with every other row deleted")
	if err := buildDB(sqlite3, holes, blobRows, true); err != nil {
		return "", err
	}
	res.holesSize = fileSize(holes)
	if res.holesInfo, err = dbInfo(sqlite3, holes); err != nil {
		return "", err
	}
	logf("built %s: %d bytes; journal mode|pages|free pages|rows = %s", holes, res.holesSize, res.holesInfo)
	res.optimizeSizes = make([]int64, 2)
	work := filepath.Join(tmp, "work.db")
	optimizeRun := func(i int, name string, args func(db string) []string) func(int) (sample, error) {
		return func(rep int) (sample, error) {
			if out, err := exec.Command("cp", holes, work).CombinedOutput(); err != nil {
				return sample{}, fmt.Errorf("copy %s: %v: %s", holes, err, out)
			}
			defer removeDB(work)
			s, err := r.measure(name, args(work)...)
			if err != nil {
				return s, err
			}
			size, wal := fileSize(work), fileSize(work+"-wal")
			if size > res.holesSize*55/100 || wal > 0 {
				return s, fmt.Errorf("after the run %s has %d bytes (before %d) and a WAL file of %d bytes: not vacuumed", work, size, res.holesSize, wal)
			}
			res.optimizeSizes[i] = size
			return s, nil
		}
	}
	res.optimize = []*tool{
		{label: "Butler `OptimizeDatabase`", run: optimizeRun(0, self, func(db string) []string { return []string{"run-optimize", db} })},
		{label: "`sqlite3 DB \"VACUUM; ANALYZE\"`", run: optimizeRun(1, sqlite3, func(db string) []string { return []string{db, "VACUUM; ANALYZE"} })},
	}
	if err := warmUp("optimize", res.optimize); err != nil {
		return "", err
	}
	if err := alternate("optimize", reps, res.optimize); err != nil {
		return "", err
	}
	if res.warmOptimize, err = r.warmRuns("optimize", work, res.optimize); err != nil {
		return "", err
	}
	if err := floor(); err != nil {
		return "", err
	}
	if err := removeDB(holes); err != nil {
		return "", err
	}

	// Peak memory against the database's size: the same actions once on
	// databases an eighth of the size.
	logf("backup and optimize of 128 MiB databases, for their peak memory")
	small := filepath.Join(tmp, "small.db")
	if err := buildDB(sqlite3, small, blobRows/8, false); err != nil {
		return "", err
	}
	bdir := filepath.Join(tmp, "small-backups")
	if res.smallBackup, err = r.measure(self, "run-backup", small, bdir); err != nil {
		return "", err
	}
	if err := errors.Join(os.RemoveAll(bdir), removeDB(small)); err != nil {
		return "", err
	}
	if err := buildDB(sqlite3, small, blobRows/8, true); err != nil {
		return "", err
	}
	if res.smallOptimize, err = r.measure(self, "run-optimize", small); err != nil {
		return "", err
	}
	if err := removeDB(small); err != nil {
		return "", err
	}

	// 3. Cache cleaning: a fresh tree for every run.
	res.cleanLeft = make([]int, 2)
	cleanRun := func(i int, name string, args func(dir string) []string) func(int) (sample, error) {
		return func(rep int) (sample, error) {
			dir := filepath.Join(tmp, "cache")
			t0 := time.Now()
			if err := buildCache(dir); err != nil {
				return sample{}, fmt.Errorf("build the cache tree: %w", err)
			}
			defer os.RemoveAll(dir)
			logf("clean: built %d files in %.1f s", cacheDirs*cacheFiles, time.Since(t0).Seconds())
			s, err := r.measure(name, args(dir)...)
			if err != nil {
				return s, err
			}
			files, old, dirs, err := countTree(dir)
			if err != nil {
				return s, err
			}
			if files != cacheDirs*cacheFiles/2 || old != 0 || dirs != cacheDirs {
				return s, fmt.Errorf("after the run %s holds %d files (%d of them old) in %d directories; want %d new files in %d",
					dir, files, old, dirs, cacheDirs*cacheFiles/2, cacheDirs)
			}
			res.cleanLeft[i] = files
			return s, nil
		}
	}
	res.clean = []*tool{
		{label: "Butler `CleanOldCacheFiles`", run: cleanRun(0, self, func(dir string) []string { return []string{"run-clean", dir} })},
		{label: "`find DIR -type f -mtime +7 -delete`", run: cleanRun(1, "find", func(dir string) []string {
			return []string{dir, "-type", "f", "-mtime", "+7", "-delete"}
		})},
	}
	if err := alternate("clean", reps, res.clean); err != nil {
		return "", err
	}
	if err := floor(); err != nil {
		return "", err
	}
	res.dropped, res.notDropped = r.dropped, r.notDropped

	// 4 and 5. The command line and the SDK against a real server.
	if res.cli, err = benchCLI(tmp); err != nil {
		return "", err
	}
	res.m.loadAfter = benchmachine.LoadAverage()
	res.elapsed = time.Since(res.started)
	return report(res), nil
}
