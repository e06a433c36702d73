package tasks

import (
	"strings"
	"testing"
)

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
