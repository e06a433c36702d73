package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestStats: the median of an odd and an even count, and the spread.
func TestStats(t *testing.T) {
	s := stats{3 * time.Second, time.Second, 2 * time.Second}
	if m := s.median(); m != 2*time.Second {
		t.Errorf("median of 3, 1, 2 s: %v; want 2 s", m)
	}
	if lo, hi := s.spread(); lo != time.Second || hi != 3*time.Second {
		t.Errorf("spread: %v, %v; want 1 s, 3 s", lo, hi)
	}
	if s[0] != 3*time.Second {
		t.Errorf("median sorted its input: %v", s)
	}
	if m := (stats{time.Second, 4 * time.Second}).median(); m != 2500*time.Millisecond {
		t.Errorf("median of 1, 4 s: %v; want 2.5 s", m)
	}
	if m := (stats{}).median(); m != 0 {
		t.Errorf("median of nothing: %v; want 0", m)
	}
}

// TestReadProbes: the wrapper's log is read line by line, paths with
// spaces kept whole, a last line without its line break (being written)
// left out, and a line of another shape refused.
func TestReadProbes(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "probes.log")
	if lines, err := readProbes(log); err != nil || lines != nil {
		t.Fatalf("no log yet: %v, %v; want nothing", lines, err)
	}
	if err := os.WriteFile(log, []byte("start /m/Film 1.mkv\nend /m/Film 1.mkv\nstart /m/Film 2.mkv\nstart /m/Fi"), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, err := readProbes(log)
	if err != nil {
		t.Fatal(err)
	}
	want := []probeLine{{true, "/m/Film 1.mkv"}, {false, "/m/Film 1.mkv"}, {true, "/m/Film 2.mkv"}}
	if len(lines) != len(want) {
		t.Fatalf("lines %+v; want %+v", lines, want)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d: %+v; want %+v", i, lines[i], want[i])
		}
	}
	if n := countStarts(lines); n != 2 {
		t.Errorf("%d starts; want 2", n)
	}
	if err := os.WriteFile(log, []byte("begin /m/x.mkv\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readProbes(log); err == nil {
		t.Error("a line that is neither start nor end was accepted")
	}
}
