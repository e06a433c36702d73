package tasks

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
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

// boundedBuffer is an io.Writer that keeps at most limit bytes of what is
// written to it: the first half and the last half. It never holds more
// than 2*limit bytes, however much is written. It is safe for concurrent
// use.
type boundedBuffer struct {
	mu      sync.Mutex
	headCap int
	tailCap int
	head    []byte
	tail    []byte // its last tailCap bytes are the tail; compacted when full
	total   int64
}

func newBoundedBuffer(limit int) *boundedBuffer {
	if limit <= 0 {
		limit = defaultMaxOutput
	}
	headCap := limit / 2
	tailCap := limit - headCap
	return &boundedBuffer{
		headCap: headCap, tailCap: tailCap,
		head: make([]byte, 0, headCap),
		tail: make([]byte, 0, 2*tailCap),
	}
}

// Write keeps what of p fits in the head and the tail. It never fails.
func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	b.total += int64(n)
	if room := b.headCap - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	if len(p) == 0 || b.tailCap == 0 {
		return n, nil
	}
	if len(p) >= b.tailCap {
		b.tail = append(b.tail[:0], p[len(p)-b.tailCap:]...)
		return n, nil
	}
	if len(b.tail)+len(p) > cap(b.tail) {
		// Keep only what can still be part of the tail after p.
		keep := b.tailCap - len(p)
		copy(b.tail, b.tail[len(b.tail)-keep:])
		b.tail = b.tail[:keep]
	}
	b.tail = append(b.tail, p...)
	return n, nil
}

// Total returns how many bytes were written.
func (b *boundedBuffer) Total() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}

// String returns what was kept: everything when it all fit, otherwise the
// head, a line break, a line "[... N bytes omitted ...]", a line break and
// the tail (the form [OutputReporter] documents), N counting every byte
// written that is not in the head or the tail. Runes cut in two at either
// side of the gap are dropped (and counted in N).
func (b *boundedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	tail := b.tail
	if len(tail) > b.tailCap {
		tail = tail[len(tail)-b.tailCap:]
	}
	kept := int64(len(b.head) + len(tail))
	if kept >= b.total {
		return string(b.head) + string(tail)
	}
	head := trimCutRuneEnd(b.head)
	tail = trimCutRuneStart(tail)
	omitted := b.total - int64(len(head)) - int64(len(tail))
	var s strings.Builder
	s.Grow(len(head) + len(tail) + 48)
	s.Write(head)
	// The line break before the marker is there even when the head ends
	// one: a reader of the text can tell which bytes are the output's.
	fmt.Fprintf(&s, "\n[... %d bytes omitted ...]\n", omitted)
	s.Write(tail)
	return s.String()
}

// trimCutRuneEnd drops an incomplete UTF-8 sequence at the end of p.
func trimCutRuneEnd(p []byte) []byte {
	for i := 1; i <= utf8.UTFMax && i <= len(p); i++ {
		c := p[len(p)-i]
		if c < utf8.RuneSelf {
			return p // ASCII: nothing cut
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(p[len(p)-i:]) {
				return p[:len(p)-i]
			}
			return p
		}
	}
	return p
}

// trimCutRuneStart drops UTF-8 continuation bytes at the start of p.
func trimCutRuneStart(p []byte) []byte {
	for i := 0; i < utf8.UTFMax && i < len(p); i++ {
		if utf8.RuneStart(p[i]) {
			return p[i:]
		}
	}
	return p
}

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
		s = "…" + string(trimCutRuneStart([]byte(s[len(s)-maxSummaryBytes:])))
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
