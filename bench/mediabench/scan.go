package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/mediascan"
	"github.com/plexbutler/butler/store/sqlite"
)

const (
	// scanFiles is the size of the scanned tree: 100 shows of 10 seasons of
	// 100 episodes.
	scanFiles = 100_000
	// scanReps is how many timed repetitions each scan measurement has,
	// cold and warm.
	scanReps = 5
)

// scanResults are the measurements of sections 1 and 2.
type scanResults struct {
	// cold and warm hold the wall times of find, Butler's first scan and
	// its rescan; scanOnly the time of the Scan call alone.
	cold, warm         scanTimes
	firstHWM, againHWM int64 // the largest VmHWM, KiB
	firstSummary       string
	againSummary       string
	dbSize             int64
	treeBuild          time.Duration
}

// scanTimes are the repetitions of one cache state.
type scanTimes struct {
	find, first, again       stats
	firstInside, againInside stats // the Scan call alone, from the child
}

// scanOut is what a scan child reports.
type scanOut struct {
	wall, inside time.Duration
	hwmKiB       int64
	summary      string
}

// measureScan builds the tree and measures sections 1 and 2.
func (b *bench) measureScan() error {
	root := filepath.Join(b.tmp, "shows")
	b.logf("writing the tree of %d empty files", scanFiles)
	t0 := time.Now()
	if err := buildTree(b.ctx, root, scanFiles); err != nil {
		return err
	}
	b.scan.treeBuild = time.Since(t0)
	res := &b.scan
	run := func(cold bool, times *scanTimes, rep int) error {
		db := filepath.Join(b.tmp, fmt.Sprintf("scan-%d.db", rep))
		defer func() {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				_ = os.Remove(db + suffix)
			}
		}()
		find := func() error {
			if cold {
				b.dropCaches()
			}
			d, err := b.runFind(root)
			if err != nil {
				return err
			}
			times.find = append(times.find, d)
			return nil
		}
		butlerScans := func() error {
			for i, into := range []*stats{&times.first, &times.again} {
				if cold {
					b.dropCaches()
				}
				out, err := b.runScanChild(root, db)
				if err != nil {
					return err
				}
				*into = append(*into, out.wall)
				if i == 0 {
					times.firstInside = append(times.firstInside, out.inside)
					res.firstHWM, res.firstSummary = max(res.firstHWM, out.hwmKiB), out.summary
					if fi, err := os.Stat(db); err == nil {
						res.dbSize = fi.Size()
					}
				} else {
					times.againInside = append(times.againInside, out.inside)
					res.againHWM, res.againSummary = max(res.againHWM, out.hwmKiB), out.summary
				}
			}
			return nil
		}
		steps := []func() error{find, butlerScans}
		if rep%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, s := range steps {
			if err := s(); err != nil {
				return err
			}
		}
		what := "warm"
		if cold {
			what = "cold"
		}
		n := len(times.find) - 1
		b.logf("scan, %s, repetition %d: find %.2f s, first scan %.2f s, rescan %.2f s", what, rep+1,
			times.find[n].Seconds(), times.first[n].Seconds(), times.again[n].Seconds())
		return nil
	}
	for rep := range scanReps {
		if err := run(true, &res.cold, rep); err != nil {
			return err
		}
	}
	// One untimed run of each, to fill the caches, then the warm runs.
	warmup := scanTimes{}
	if err := run(false, &warmup, 0); err != nil {
		return err
	}
	for rep := range scanReps {
		if err := run(false, &res.warm, rep); err != nil {
			return err
		}
	}
	return os.RemoveAll(root)
}

// buildTree writes n empty files under root, 100 a directory.
func buildTree(ctx context.Context, root string, n int) error {
	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := filepath.Join(root, fmt.Sprintf("Show %03d", i/1000), fmt.Sprintf("Season %02d", i/100%10), fmt.Sprintf("Episode %05d.mkv", i))
		if i%100 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// runFind runs the reference find over root and returns its wall time.
func (b *bench) runFind(root string) (time.Duration, error) {
	cmd := exec.CommandContext(b.ctx, "find", root, "-type", "f", "-printf", `%s %T@ %p\n`)
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	defer devnull.Close()
	cmd.Stdout = devnull
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t0 := time.Now()
	err = cmd.Run()
	d := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("find: %v: %s", err, stderr.String())
	}
	return d, nil
}

// runScanChild runs this program's scan child on root into db.
func (b *bench) runScanChild(root, db string) (scanOut, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.self, "run-scan", root, db)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	err := cmd.Run()
	out := scanOut{wall: time.Since(t0)}
	if err != nil {
		return out, fmt.Errorf("scan child: %v: %s", err, stderr.String())
	}
	sc := bufio.NewScanner(strings.NewReader(stdout.String()))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		switch k {
		case "inside":
			sec, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return out, fmt.Errorf("scan child's line %q: %w", sc.Text(), err)
			}
			out.inside = time.Duration(sec * float64(time.Second))
		case "vmhwm":
			if out.hwmKiB, err = strconv.ParseInt(v, 10, 64); err != nil {
				return out, fmt.Errorf("scan child's line %q: %w", sc.Text(), err)
			}
		case "summary":
			out.summary = v
		}
	}
	if out.hwmKiB == 0 || out.inside == 0 {
		return out, fmt.Errorf("scan child said nothing of its time or memory: %q", stdout.String())
	}
	return out, nil
}

// scanChild is the hidden subcommand run-scan ROOT DB: it scans ROOT as a
// library of shows into the SQLite index DB, then prints the Scan call's
// time ("inside SECONDS"), its summary and its peak RSS ("vmhwm KIB").
func scanChild(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: mediabench run-scan ROOT DB")
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, args[1])
	if err != nil {
		return err
	}
	lib := butler.Library{Name: "Shows", Kind: butler.LibraryShows, Folders: []string{args[0]}}
	s := &mediascan.Scanner{Index: db}
	t0 := time.Now()
	st, err := s.Scan(ctx, lib)
	inside := time.Since(t0)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if st.Files != scanFiles || st.ProblemCount > 0 {
		return fmt.Errorf("the scan found %s; want %d files and no problem", st, scanFiles)
	}
	hwm, err := vmHWM()
	if err != nil {
		return err
	}
	fmt.Printf("inside %.6f\nvmhwm %d\nsummary %s\n", inside.Seconds(), hwm, st)
	return nil
}

// vmHWM returns this process's peak resident set (VmHWM) in KiB.
func vmHWM() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for l := range strings.Lines(string(b)) {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}
