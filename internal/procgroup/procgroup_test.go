package procgroup_test

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plexbutler/butler/internal/procgroup"
)

// buildMainExits compiles testdata/mainexits.c with the machine's C
// compiler (the one cgo uses).
func buildMainExits(t *testing.T) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		if cc, err = exec.LookPath("gcc"); err != nil {
			t.Skip("no C compiler to build the test program with")
		}
	}
	bin := filepath.Join(t.TempDir(), "mainexits")
	out, err := exec.Command(cc, "-pthread", "-o", bin, filepath.Join("testdata", "mainexits.c")).CombinedOutput()
	if err != nil {
		t.Fatalf("build mainexits: %v\n%s", err, out)
	}
	return bin
}

// state returns the state letter and the thread count of pid from
// /proc/PID/stat.
func state(t *testing.T, pid int) (string, string) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatalf("read stat of %d: %v", pid, err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return f[0], f[17]
}

// mainExits is a running testdata/mainexits.c whose main thread has ended:
// its second thread runs until stdin is closed.
type mainExits struct {
	pid   int
	stdin io.WriteCloser
	done  chan error // the program's Wait
}

// startMainExits starts the program in a process group of its own and
// returns once /proc shows its main thread ended (a zombie, 2 threads).
func startMainExits(t *testing.T) *mainExits {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	cmd := exec.Command(buildMainExits(t))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &mainExits{pid: cmd.Process.Pid, stdin: stdin, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		<-p.done
	})
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "up\n" {
		t.Fatalf("program said %q, %v", line, err)
	}
	// The main thread returns right after it said "up"; wait until /proc
	// shows it a zombie (bounded, polling what the tests assert on).
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, threads := state(t, p.pid)
		if st == "Z" {
			if threads != "2" {
				t.Fatalf("main thread a zombie with %s threads; want 2", threads)
			}
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("the main thread did not end: state %s", st)
		}
		runtime.Gosched()
	}
}

// A process whose main thread has ended is still alive while another of
// its threads runs: /proc shows it as a zombie, and a check that took a
// zombie for gone counted the program's work over while it went on.
func TestAlive_MainThreadEndedOthersRunning(t *testing.T) {
	p := startMainExits(t)
	if !procgroup.Alive(p.pid) {
		t.Fatal("Alive: false while the program's second thread still runs")
	}
	p.stdin.Close() // the second thread ends, and with it the process
	if err := <-p.done; err != nil {
		t.Fatalf("program: %v", err)
	}
	p.done <- nil // for the clean-up
	if procgroup.Alive(p.pid) {
		t.Fatal("Alive: true after the program was reaped")
	}
}

// End waits for a process whose main thread ended before its other
// threads: it kills the group and returns once the process is gone.
func TestEnd_KillsAProcessWhoseMainThreadEnded(t *testing.T) {
	p := startMainExits(t)
	if !procgroup.End(p.pid, time.Now(), 0, nil) {
		t.Fatal("End: no SIGKILL sent, but the program was running")
	}
	if procgroup.Alive(p.pid) {
		t.Fatal("End returned while the group is alive")
	}
	err := <-p.done
	p.done <- err
	if err == nil {
		t.Fatal("program exited 0; want killed")
	}
}
