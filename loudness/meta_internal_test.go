package loudness

import (
	"math"
	"testing"
	"time"
)

// TestMetaWriter: blocks of two streams, interleaved and written in
// pieces that split lines, are told apart by their tag; each stream keeps
// its last values, and the final block without a measurement does not
// count in the duration.
func TestMetaWriter(t *testing.T) {
	out := "frame:0    pts:0       pts_time:0\nlavfi.r128.I=-70.000\nlavfi.r128.LRA=0.000\nlavfi.r128.true_peak=0.013\nbutler.stream=1\n" +
		"frame:0    pts:0       pts_time:0\nlavfi.r128.I=-20.500\nlavfi.r128.LRA=1.000\nlavfi.r128.true_peak=0.500\nbutler.stream=0\n" +
		"frame:1    pts:4800    pts_time:0.1\nlavfi.r128.I=-41.775\nlavfi.r128.LRA=0.000\nlavfi.r128.true_peak=0.013\nbutler.stream=1\n" +
		"frame:1    pts:4800    pts_time:0.1\nlavfi.r128.I=-20.000\nlavfi.r128.LRA=2.500\nlavfi.r128.true_peak=1.122\nbutler.stream=0\n" +
		"frame:2    pts:9600    pts_time:0.2\nbutler.stream=0\n" +
		"frame:9    pts:1       pts_time:0.3\nlavfi.r128.I=-1.000\nbutler.stream=5\n" + // not one of ours
		"frame:2    pts:9600    pts_time:0.2\nbutler.stream=1"
	w := newMetaWriter(2)
	for b := []byte(out); len(b) > 0; {
		n := min(len(b), 7)
		if _, err := w.Write(b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
	w.flush()

	s0, err := w.stream(0)
	if err != nil {
		t.Fatal(err)
	}
	if s0.Integrated != -20 || s0.Range != 2.5 || s0.Peak != 1.122 || math.Abs(s0.TruePeak-1.0) > 0.001 || s0.Gain != 2 || s0.Silent {
		t.Errorf("stream 0: %+v", s0)
	}
	if s0.Duration != 200*time.Millisecond {
		t.Errorf("stream 0's duration %s, want 200ms", s0.Duration)
	}
	s1, err := w.stream(1)
	if err != nil {
		t.Fatal(err)
	}
	if s1.Integrated != -41.775 || s1.Gain != -18+41.775 || s1.Peak != 0.013 {
		t.Errorf("stream 1: %+v", s1)
	}

	empty := newMetaWriter(1)
	empty.flush()
	if _, err := empty.stream(0); err == nil {
		t.Error("a stream without measurements: no error")
	}
	bad := newMetaWriter(1)
	if _, err := bad.Write([]byte("frame:0 pts:0 pts_time:0\nlavfi.r128.I=nan\nlavfi.r128.LRA=0\nlavfi.r128.true_peak=0\nbutler.stream=0\n")); err != nil {
		t.Fatal(err)
	}
	bad.flush()
	if s, err := bad.stream(0); err == nil {
		t.Errorf("a NaN loudness: %+v, no error", s)
	}
}

// TestComplaints: a container's faults are told from a decoder's.
func TestComplaints(t *testing.T) {
	s, d := complaints("[flac @ 0x1] invalid residual\n[flac @ 0x1] decode_frame() failed\n" +
		"Error while decoding stream #0:0: Invalid data found when processing input\n")
	if s != "" || d == "" {
		t.Errorf("decoder errors: structural %q, decoding %q", s, d)
	}
	s, _ = complaints("[matroska,webm @ 0x55e8] File ended prematurely\n")
	if s != "File ended prematurely" {
		t.Errorf("a cut container: structural %q", s)
	}
}

// TestLimit: the time limit grows with the duration, or with the size
// when the analysis has none.
func TestLimit(t *testing.T) {
	var a Analyzer
	if got := a.limit(90*time.Minute, 10<<30); got != DefaultTimeout+30*time.Minute {
		t.Errorf("limit for 90 minutes: %s", got)
	}
	if got := a.limit(0, 2<<30); got != DefaultTimeout+40*time.Minute {
		t.Errorf("limit for 2 GiB of unknown duration: %s", got)
	}
	b := Analyzer{Timeout: time.Minute, PerHour: -1}
	if got := b.limit(5*time.Hour, 1<<40); got != time.Minute {
		t.Errorf("limit without PerHour: %s", got)
	}
}
