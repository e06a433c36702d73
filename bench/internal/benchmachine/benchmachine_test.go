package benchmachine

import (
	"errors"
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	m := Describe()
	if m.NProc < 1 || !strings.HasPrefix(m.Kernel, "Linux ") || m.Memory == "unknown" || !strings.HasSuffix(m.Memory, " GiB") {
		t.Fatalf("Describe() = %+v; want the processors, the kernel and the memory read", m)
	}
	rows := m.Rows()
	for _, want := range []string{"| CPU (`/proc/cpuinfo`) | " + m.CPU + " |", "| `nproc` |", "| memory | " + m.Memory + " |", "| kernel | " + m.Kernel + " |"} {
		if !strings.Contains(rows, want) {
			t.Errorf("Rows() lacks %q:\n%s", want, rows)
		}
	}
	if n := strings.Count(rows, "\n"); n != 5 {
		t.Errorf("Rows() has %d lines, want 5", n)
	}
}

func TestSmallReaders(t *testing.T) {
	if got := FirstLine([]byte("  one \ntwo\n"), nil); got != "one" {
		t.Errorf("FirstLine = %q, want %q", got, "one")
	}
	if got := FirstLine([]byte("x"), errors.New("failed")); got != "" {
		t.Errorf("FirstLine with an error = %q, want empty", got)
	}
	if f := strings.Fields(LoadAverage()); len(f) != 3 {
		t.Errorf("LoadAverage() = %q, want three figures", LoadAverage())
	}
	free, fs, err := FreeSpace(t.TempDir())
	if err != nil || free <= 0 || fs == "" {
		t.Errorf("FreeSpace = %d, %q, %v; want the space and a name", free, fs, err)
	}
	if _, _, err := FreeSpace("/no/such/dir"); err == nil {
		t.Error("FreeSpace of a missing directory: no error")
	}
}
