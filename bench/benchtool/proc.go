package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/plexbutler/butler/internal/childproc"
)

// startButler starts `butler serve` on addr and dataDir (with token unless it
// is empty) and waits for the first 200 of GET /healthz, polled every 1 ms.
// It returns the time from just before cmd.Start() to that answer.
func startButler(ctx context.Context, kids *childproc.Group, bin, addr, dataDir, token string) (*childproc.Proc, time.Duration, error) {
	args := []string{"serve", "--addr", addr, "--data-dir", dataDir}
	if token != "" {
		args = append(args, "--token", token)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "BUTLER_CONFIG=") // no stray config file
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		return nil, 0, err
	}
	return kids.StartUntilOK(ctx, cmd, req, 10*time.Second)
}

// procStatus returns the kB values of the given fields of /proc/PID/status.
func procStatus(pid int, fields ...string) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := map[string]bool{}
	for _, k := range fields {
		want[k] = true
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !want[k] {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("/proc/%d/status %s: %q", pid, k, v)
		}
		out[k] = n
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, k := range fields {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("/proc/%d/status has no %s", pid, k)
		}
	}
	return out, nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; it is 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// procCPU returns the user+system CPU time a process has used so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	f := strings.Fields(s[i+1:])
	// After the command come state (field 3) ... utime (14) and stime (15).
	if len(f) < 13 {
		return 0, errors.New("short /proc/PID/stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}
