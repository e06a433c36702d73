package tasks

import (
	"bytes"
	"strings"
	"testing"
)

func TestBoundedBuffer(t *testing.T) {
	for _, c := range []struct {
		name   string
		limit  int
		writes []string
		want   string
	}{
		{"fits", 10, []string{"abc", "def"}, "abcdef"},
		{"exactly full", 10, []string{"0123456789"}, "0123456789"},
		{"one write too long", 10, []string{"0123456789AB"}, "01234\n[... 2 bytes omitted ...]\n789AB"},
		{"many small writes", 10, []string{"01", "23", "45", "67", "89", "AB", "CD"}, "01234\n[... 4 bytes omitted ...]\n9ABCD"},
		// The line break before the marker is never the output's: a head
		// that ends a line is followed by an empty line.
		{"head ends a line", 8, []string{"abc\n", "0123456789", "wxyz"}, "abc\n\n[... 10 bytes omitted ...]\nwxyz"},
		{"no head", 1, []string{"abc"}, "\n[... 2 bytes omitted ...]\nc"},
		{"odd limit", 5, []string{"abcdefgh"}, "ab\n[... 3 bytes omitted ...]\nfgh"},
		{"cut runes dropped", 6, []string{"ééééé"}, "é\n[... 6 bytes omitted ...]\né"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBoundedBuffer(c.limit)
			var total int
			for _, w := range c.writes {
				n, err := b.Write([]byte(w))
				if n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
				total += n
			}
			if got := b.String(); got != c.want {
				t.Errorf("String = %q, want %q", got, c.want)
			}
			if b.Total() != int64(total) {
				t.Errorf("Total = %d, want %d", b.Total(), total)
			}
		})
	}
}

// TestBoundedBufferMemory writes much more than the limit, in writes of
// many sizes, and checks that the buffer never grows and keeps the end.
func TestBoundedBufferMemory(t *testing.T) {
	const limit = 1000
	b := newBoundedBuffer(limit)
	var all bytes.Buffer
	for i := range 5000 {
		w := bytes.Repeat([]byte{byte('a' + i%26)}, i%700)
		b.Write(w)
		all.Write(w)
		if cap(b.tail) > limit || cap(b.head) > limit/2 {
			t.Fatalf("buffer grew: head cap %d, tail cap %d", cap(b.head), cap(b.tail))
		}
	}
	s := b.String()
	want := all.Bytes()
	if !strings.HasPrefix(s, string(want[:limit/2])) || !strings.HasSuffix(s, string(want[len(want)-limit/2:])) {
		t.Error("String does not keep the first and the last half")
	}
}

func TestParseProgressLine(t *testing.T) {
	for _, c := range []struct {
		line string
		pct  int
		msg  string
		ok   bool
	}{
		{"PROGRESS 50 halfway there\n", 50, "halfway there", true},
		{"PROGRESS 0\n", 0, "", true},
		{"PROGRESS 100 done\r\n", 100, "done", true},
		{"PROGRESS\t7\tstep\n", 7, "step", true},
		{"PROGRESS   12   spaced  \n", 12, "spaced", true},
		{"PROGRESS 101 too much\n", 0, "", false},
		{"PROGRESS -1 unknown\n", 0, "", false},
		{"PROGRESS abc\n", 0, "", false},
		{"PROGRESS\n", 0, "", false},
		{"PROGRESSED 5\n", 0, "", false},
		{"progress 5\n", 0, "", false},
		{" PROGRESS 5\n", 0, "", false},
		{"PROGRESS 5 a\x1b[31mred\n", 5, "a [31mred", true},
	} {
		pct, msg, ok := parseProgressLine([]byte(c.line))
		if pct != c.pct || msg != c.msg || ok != c.ok {
			t.Errorf("parseProgressLine(%q) = %d, %q, %v; want %d, %q, %v", c.line, pct, msg, ok, c.pct, c.msg, c.ok)
		}
	}
}

func TestLastLines(t *testing.T) {
	for _, c := range []struct {
		text string
		want string
	}{
		{"", ""},
		{"one\n", "one"},
		{"a\nb\n\n  \nc\nd\n", "b | c | d"},
		{"head\n[... 5 bytes omitted ...]\ntail\n", "head | tail"},
		{"tab\there\r\n", "tab here"},
		{strings.Repeat("x", 2000), "…" + strings.Repeat("x", maxSummaryBytes)},
	} {
		if got := lastLines(c.text, 3); got != c.want {
			t.Errorf("lastLines(%.40q) = %.60q, want %.60q", c.text, got, c.want)
		}
	}
}
