package tasks

import (
	"strings"

	"github.com/plexbutler/butler/internal/headtail"
)

// OutputReporter is implemented by a [butler.Reporter] that keeps the
// output of a run (a run log). The actions that produce output — [Exec]'s
// program output, [HTTP]'s status and response body — call Output once, at
// the end of the run whatever its outcome, with that output, already
// bounded (see [Exec.MaxOutput] and [HTTP.MaxBody]). Reporters that do not
// implement it see only the run's summary.
//
// Where [Exec] left out the middle of a program's output, text is the kept
// first half, a line break, the line "[... N bytes omitted ...]", a line
// break and the kept last half: N is the number of bytes of the program's
// output missing there, and the line breaks around the marker line are not
// part of the output. A reporter that cuts the text again (Butler's run log
// does) can so count those N bytes with the ones it drops.
type OutputReporter interface {
	Output(text string)
}

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

// reportOutput hands text to r when r keeps output.
func reportOutput(r any, text string) {
	if o, ok := r.(OutputReporter); ok {
		o.Output(text)
	}
}
