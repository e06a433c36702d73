package tasks

import (
	"errors"
	"os/exec"
	"testing"
	"time"
)

// TestLeaderExited: a running child has not exited; one that exited has,
// before and after exec.Cmd.Wait reaps it, and the look does not reap it
// (Wait still gets its status).
func TestLeaderExited(t *testing.T) {
	running := exec.Command("/bin/sleep", "30")
	if err := running.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { running.Process.Kill(); running.Wait() }()
	if leaderExited(running.Process.Pid) {
		t.Fatal("a sleeping child counted as exited")
	}
	done := exec.Command("/bin/sh", "-c", "exit 3")
	if err := done.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !leaderExited(done.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatal("an exiting child never counted as exited")
		}
		time.Sleep(time.Millisecond) // waiting on the child process
	}
	err := done.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("Wait after the look: %v; want exit status 3 (the look must not reap)", err)
	}
	if !leaderExited(done.Process.Pid) {
		t.Fatal("a reaped child counted as not exited")
	}
}
