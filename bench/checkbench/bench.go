package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/bench/internal/benchmachine"
	"github.com/plexbutler/butler/bench/internal/benchserver"
	"github.com/plexbutler/butler/bench/internal/benchstat"
	"github.com/plexbutler/butler/store/sqlite"
)

const (
	// ballastRows rows of randomblob(4000), one a 4 KiB page: 1 GiB.
	ballastRows = (1 << 30) / 4096
	// minFree is the space the run needs in the temporary directory.
	minFree = 1200 << 20
	// childTimeout bounds one measured child process.
	childTimeout = 2 * time.Minute
	token        = "checkbench-token"
)

// runCheck is the hidden subcommand run-check DB: sqlite.Check, timed.
func runCheck(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: checkbench run-check DB")
	}
	t0 := time.Now()
	err := sqlite.Check(context.Background(), args[0])
	fmt.Printf("check %.6f\n", time.Since(t0).Seconds())
	return err
}

// sample is one timed run.
type sample struct {
	wall  time.Duration
	check time.Duration // Butler's check: the Check call alone
}

// tool is one of the things compared, with its runs.
type tool struct {
	label   string // markdown
	input   string // the database it reads, read ahead for warm runs
	run     func() (sample, error)
	samples []sample
}

func (t *tool) median() time.Duration {
	w := make([]time.Duration, len(t.samples))
	for i, s := range t.samples {
		w[i] = s.wall
	}
	return benchstat.Median(w)
}

func (t *tool) medianCheck() time.Duration {
	w := make([]time.Duration, len(t.samples))
	for i, s := range t.samples {
		w[i] = s.check
	}
	return benchstat.Median(w)
}

// results is what the report shows.
type results struct {
	started        time.Time
	elapsed        time.Duration
	m              machine
	size, smallSz  int64
	info           string
	binSize        int64
	version        string
	cold, warm     []*tool
	dropped, notDr int
}

func run(reps int) (string, error) {
	res := &results{started: time.Now()}
	sqlite3, err := exec.LookPath("sqlite3")
	if err != nil {
		return "", errors.New("the sqlite3 shell is not installed (apt-get install sqlite3; scripts/bench-check.sh does it)")
	}
	tmp, err := os.MkdirTemp("", "checkbench-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if free, _, err := benchmachine.FreeSpace(tmp); err == nil && free < minFree {
		return "", fmt.Errorf("%s has %d MiB free, the run needs %d MiB; set TMPDIR to a larger file system", tmp, free>>20, minFree>>20)
	}
	res.m = readMachine(sqlite3, tmp)

	logf("building butler (CGO_ENABLED=0)")
	bin := filepath.Join(tmp, "butler")
	if err := benchserver.Build(context.Background(), bin, true); err != nil {
		return "", err
	}
	if fi, err := os.Stat(bin); err == nil {
		res.binSize = fi.Size()
	}
	if out, err := exec.Command(bin, "version").Output(); err == nil {
		res.version = strings.TrimSpace(string(out))
	}

	bigDir, smallDir := filepath.Join(tmp, "big"), filepath.Join(tmp, "small")
	big, small := filepath.Join(bigDir, "butler.db"), filepath.Join(smallDir, "butler.db")
	for _, d := range []string{bigDir, smallDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", err
		}
	}
	if err := makeButlerDB(big); err != nil {
		return "", err
	}
	if err := makeButlerDB(small); err != nil {
		return "", err
	}
	logf("adding 1 GiB to %s with sqlite3", big)
	if err := addBallast(sqlite3, big); err != nil {
		return "", err
	}
	res.size, res.smallSz = fileSize(big), fileSize(small)
	out, err := exec.Command(sqlite3, "-batch", "-readonly", big,
		"SELECT (SELECT journal_mode FROM pragma_journal_mode), (SELECT page_count FROM pragma_page_count), (SELECT count(*) FROM ballast);").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("inspect %s: %v: %s", big, err, out)
	}
	res.info = strings.TrimSpace(string(out))

	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	tools := func() []*tool {
		return []*tool{
			{label: "Butler's check (`sqlite.Check`: header + `PRAGMA quick_check`)", input: big, run: func() (sample, error) {
				return timeChild(self, "run-check", big)
			}},
			{label: "`sqlite3 DB \"PRAGMA quick_check\"`", input: big, run: func() (sample, error) {
				return timeChild(sqlite3, big, "PRAGMA quick_check")
			}},
			{label: "`butler serve`, 1 GiB database: start to first 200", input: big, run: func() (sample, error) {
				return timeServe(bin, bigDir)
			}},
			{label: "`butler serve`, small database: start to first 200", input: small, run: func() (sample, error) {
				return timeServe(bin, smallDir)
			}},
		}
	}
	res.cold = tools()
	for _, t := range res.cold {
		logf("warm-up run (untimed): %s", plain(t.label))
		if _, err := t.run(); err != nil {
			return "", fmt.Errorf("warm-up of %s: %w", plain(t.label), err)
		}
	}
	for rep := range reps {
		for k := range res.cold {
			t := res.cold[(rep+k)%len(res.cold)]
			if benchmachine.DropCaches() {
				res.dropped++
			} else {
				res.notDr++
			}
			s, err := t.run()
			if err != nil {
				return "", fmt.Errorf("cold cache, %s: %w", plain(t.label), err)
			}
			logf("cold %d/%d: %s: %.3f s", rep+1, reps, plain(t.label), s.wall.Seconds())
			t.samples = append(t.samples, s)
		}
	}
	res.warm = tools()
	for rep := range reps {
		for k := range res.warm {
			t := res.warm[(rep+k)%len(res.warm)]
			if err := readAhead(t.input); err != nil {
				return "", err
			}
			s, err := t.run()
			if err != nil {
				return "", fmt.Errorf("warm cache, %s: %w", plain(t.label), err)
			}
			logf("warm %d/%d: %s: %.3f s", rep+1, reps, plain(t.label), s.wall.Seconds())
			t.samples = append(t.samples, s)
		}
	}
	res.m.loadAfter = benchmachine.LoadAverage()
	res.elapsed = time.Since(res.started)
	return report(res), nil
}

// makeButlerDB creates Butler's database at path with the maintenance
// window moved away from now (UTC, opening in two hours, one hour long),
// so that no task starts while the server is measured.
func makeButlerDB(path string) error {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	h := time.Now().UTC().Hour()
	return db.SaveSettings(ctx, map[string]string{
		butler.SettingTimeZone:  "UTC",
		butler.SettingStartHour: strconv.Itoa((h + 2) % 24),
		butler.SettingEndHour:   strconv.Itoa((h + 3) % 24),
	})
}

// addBallast adds, with the sqlite3 shell, a table of ballastRows rows of
// randomblob(4000) in one transaction written without a journal, and
// switches the database back to WAL mode.
func addBallast(sqlite3, path string) error {
	script := fmt.Sprintf(`PRAGMA journal_mode=OFF;
PRAGMA synchronous=OFF;
CREATE TABLE ballast (id INTEGER PRIMARY KEY, b BLOB NOT NULL);
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
INSERT INTO ballast (id, b) SELECT i, randomblob(4000) FROM n;
COMMIT;
PRAGMA journal_mode=WAL;
`, ballastRows)
	cmd := exec.Command(sqlite3, "-batch", path)
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("add the ballast to %s with sqlite3: %v\n%s", path, err, out)
	}
	if f := strings.Fields(string(out)); len(f) == 0 || f[len(f)-1] != "wal" {
		return fmt.Errorf("%s is not in WAL mode after the ballast: sqlite3 said %q", path, out)
	}
	return nil
}

// timeChild runs name args to its end and times it; a "check SECONDS" line
// on its standard output is the check's own time.
func timeChild(name string, args ...string) (sample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	err := cmd.Run()
	s := sample{wall: time.Since(t0)}
	if err != nil {
		return s, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	out := strings.TrimSpace(stdout.String())
	if f := strings.Fields(out); len(f) == 2 && f[0] == "check" {
		sec, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return s, fmt.Errorf("check line %q: %v", out, err)
		}
		s.check = time.Duration(sec * float64(time.Second))
	} else if out != "ok" {
		return s, fmt.Errorf("%s %s printed %q, want ok", name, strings.Join(args, " "), out)
	}
	return s, nil
}

var servingRE = regexp.MustCompile(`msg="butler: serving" addr=(\S+)`)

// timeServe starts butler serve on the data directory dir and times it
// from exec to the first 200 of GET /healthz; then it stops the server
// (SIGTERM), which must exit 0.
func timeServe(bin, dir string) (sample, error) {
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--token", token)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var log strings.Builder
	var logMu sync.Mutex
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			logMu.Lock()
			log.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	done := make(chan error, 1)
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return sample{}, err
	}
	go func() { done <- cmd.Wait(); pw.Close() }()
	output := func() string { logMu.Lock(); defer logMu.Unlock(); return log.String() }
	var a string
	select {
	case a = <-addr:
	case err := <-done:
		return sample{}, fmt.Errorf("butler serve exited before serving (%v):\n%s", err, output())
	case <-time.After(childTimeout):
		_ = cmd.Process.Kill()
		return sample{}, fmt.Errorf("butler serve did not serve within %v:\n%s", childTimeout, output())
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var wall time.Duration
	for {
		resp, err := client.Get("http://" + a + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				wall = time.Since(t0)
				break
			}
		}
		if time.Since(t0) > childTimeout {
			_ = cmd.Process.Kill()
			return sample{}, fmt.Errorf("GET /healthz of butler serve never answered 200 (last error %v):\n%s", err, output())
		}
		time.Sleep(time.Millisecond) // polling another process
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			return sample{}, fmt.Errorf("butler serve did not exit 0 after SIGTERM (%v):\n%s", err, output())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return sample{}, fmt.Errorf("butler serve did not exit within 30 s of SIGTERM:\n%s", output())
	}
	return sample{wall: wall}, nil
}

// readAhead writes out dirty pages and reads path whole into the page
// cache.
func readAhead(path string) error {
	syscall.Sync()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(io.Discard, f); err != nil {
		return fmt.Errorf("read %s into the page cache: %w", path, err)
	}
	return nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// machine is what the report says about the machine and the tools.
type machine struct {
	benchmachine.Machine
	sqlite, fs            string
	free                  int64
	loadBefore, loadAfter string
}

func readMachine(sqlite3, tmp string) machine {
	m := machine{Machine: benchmachine.Describe()}
	m.sqlite = benchmachine.FirstLine(exec.Command(sqlite3, "--version").Output())
	if f := strings.Fields(m.sqlite); len(f) >= 2 {
		m.sqlite = f[0] + " " + f[1]
	}
	if free, fsName, err := benchmachine.FreeSpace(tmp); err == nil {
		m.free, m.fs = free, fsName
	}
	m.loadBefore = benchmachine.LoadAverage()
	return m
}

func plain(l string) string { return strings.ReplaceAll(l, "`", "") }
