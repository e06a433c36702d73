package childproc

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for a server: with
// CHILDPROC_SERVE=ADDR it answers 200 on ADDR after a moment.
func TestMain(m *testing.M) {
	if addr := os.Getenv("CHILDPROC_SERVE"); addr != "" {
		fmt.Println("starting")
		time.Sleep(50 * time.Millisecond) // not yet answering: the poll must wait
		http.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {})
		fmt.Fprintln(os.Stderr, http.ListenAndServe(addr, nil))
		os.Exit(3)
	}
	os.Exit(m.Run())
}

func TestStopEndsTheChildAndKeepsItsOutput(t *testing.T) {
	g := NewGroup()
	defer g.StopAll(time.Second)
	p, err := g.Start(exec.Command("/bin/sh", "-c", "echo hello; exec sleep 30"))
	if err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(p.Output.String(), "hello") {
		if p.Exited() {
			t.Fatalf("the child ended: %v", p.Err())
		}
		time.Sleep(time.Millisecond) // polling the child's output
	}
	// A child ended by SIGTERM did not exit 0: Stop says so, with its output.
	err = g.Stop(p, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "hello") || !p.Exited() {
		t.Fatalf("Stop: %v, exited %v; want an error with the child's output", err, p.Exited())
	}
}

func TestStopKillsAChildThatIgnoresSIGTERM(t *testing.T) {
	g := NewGroup()
	p, err := g.Start(exec.Command("/bin/sh", "-c", `trap "" TERM; echo ready; while :; do sleep 0.01; done`))
	if err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(p.Output.String(), "ready") {
		if p.Exited() {
			t.Fatalf("the child ended: %v", p.Err())
		}
		time.Sleep(time.Millisecond) // polling the child's output
	}
	err = g.Stop(p, 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "killed") || !p.Exited() {
		t.Fatalf("Stop: %v; want the child killed", err)
	}
}

func TestStartUntilOK(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	g := NewGroup()
	defer g.StopAll(time.Second)
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "CHILDPROC_SERVE="+addr)
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/ok", nil)
	if err != nil {
		t.Fatal(err)
	}
	p, d, err := g.StartUntilOK(context.Background(), cmd, req, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if d < 50*time.Millisecond || p.Exited() || !strings.Contains(p.Output.String(), "starting") {
		t.Fatalf("answered after %v, exited %v, output %q; want at least 50 ms, running, its output kept", d, p.Exited(), p.Output.String())
	}

	// A child that exits before answering is an error at once.
	other, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	req, err = http.NewRequest(http.MethodGet, "http://"+other+"/ok", nil)
	if err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command("/bin/sh", "-c", "echo bye; exit 4")
	if _, _, err := g.StartUntilOK(context.Background(), cmd, req, time.Minute); err == nil ||
		!strings.Contains(err.Error(), "bye") {
		t.Fatalf("a child that exits: %v; want an error with its output", err)
	}
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	b := NewTailBuffer(5)
	for _, s := range []string{"ab", "cdef", "gh"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := b.String(); got != "defgh" {
		t.Fatalf("kept %q, want %q", got, "defgh")
	}
}
