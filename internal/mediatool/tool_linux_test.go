package mediatool_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/plexbutler/butler/internal/mediatool"
)

// TestRunPriorityIsTheProgramsAlone: the program runs at the lowered
// priorities, and the thread that called Run — and so Butler — keeps its
// own, run after run.
func TestRunPriorityIsTheProgramsAlone(t *testing.T) {
	if _, err := exec.LookPath("ionice"); err != nil {
		t.Skip("no ionice")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	niceBefore, ioBefore := threadPriority(t)
	out := filepath.Join(t.TempDir(), "prio")
	tool := &mediatool.Tool{Program: script(t, `{ cut -d' ' -f19 /proc/$$/stat; ionice -p $$; } > `+out)}
	for range 3 {
		if _, err := tool.Run(t.Context(), time.Minute, nil); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(out); string(got) != "10\nbest-effort: prio 7\n" {
			t.Fatalf("the program ran at %q, want niceness 10 and best-effort 7", got)
		}
		if n, io := threadPriority(t); n != niceBefore || io != ioBefore {
			t.Fatalf("the calling thread is at niceness %d, I/O priority %#x after Run; want %d, %#x as before", n, io, niceBefore, ioBefore)
		}
	}
	// The process's first thread too.
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(stat)
	if f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]); f[16] != strconv.Itoa(niceBefore) {
		t.Errorf("the process's niceness is %s after Run, want %d", f[16], niceBefore)
	}
}

// threadPriority reads the calling thread's niceness (/proc/thread-self)
// and I/O priority (ioprio_get(2)).
func threadPriority(t *testing.T) (int, int) {
	t.Helper()
	stat, err := os.ReadFile("/proc/thread-self/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(stat)
	nice, err := strconv.Atoi(strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[16])
	if err != nil {
		t.Fatal(err)
	}
	io, _, errno := unix.Syscall(unix.SYS_IOPRIO_GET, 1, 0, 0) // IOPRIO_WHO_PROCESS, the calling thread
	if errno != 0 {
		t.Fatal(errno)
	}
	return nice, int(io)
}
