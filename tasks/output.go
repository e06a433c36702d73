package tasks

import (
	"strings"

	"github.com/plexbutler/butler/internal/headtail"
)

const (
	// defaultMaxOutput is how many bytes of output Exec and HTTP keep by
	// default.
	defaultMaxOutput = 64 << 10
	// maxSummaryBytes bounds the part of a summary quoted from output.
	maxSummaryBytes = 512
	// summaryLines is how many of the last lines of output a summary
	// quotes.
	summaryLines = 3
)

// lastLines returns the last n non-empty lines of text joined with " | ",
// cut to at most maxSummaryBytes bytes (keeping the end) and valid UTF-8:
// what a one-line summary quotes of a program's output.
func lastLines(text string, n int) string {
	lines := strings.Split(text, "\n")
	var picked []string
	for i := len(lines) - 1; i >= 0 && len(picked) < n; i-- {
		l := strings.TrimSpace(strings.TrimSuffix(lines[i], "\r"))
		if l == "" || strings.HasPrefix(l, "[... ") && strings.HasSuffix(l, " omitted ...]") {
			continue
		}
		picked = append(picked, l)
	}
	for i, j := 0, len(picked)-1; i < j; i, j = i+1, j-1 {
		picked[i], picked[j] = picked[j], picked[i]
	}
	s := strings.Join(picked, " | ")
	if len(s) > maxSummaryBytes {
		s = "…" + string(headtail.TrimCutRuneStart([]byte(s[len(s)-maxSummaryBytes:])))
	}
	return oneLine(s)
}

// oneLine returns s as valid UTF-8 without control characters: tabs,
// line breaks and other controls become spaces.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
