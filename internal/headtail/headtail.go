// Package headtail keeps the first and the last bytes of a stream of any
// length in bounded memory, with a marker line where bytes are missing:
// the one mechanism behind a program's kept output (package tasks) and a
// run's log (package butler).
package headtail

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// markerFormat is the marker line that stands where bytes are missing.
const markerFormat = "[... %d bytes omitted ...]"

// Marker returns the marker of n missing bytes with the line breaks around
// it, as String writes it: "\n[... n bytes omitted ...]\n". The line breaks
// are never the text's, so that a reader can tell which bytes are.
func Marker(n int64) string { return "\n" + fmt.Sprintf(markerFormat, n) + "\n" }

// Buffer is an io.Writer that keeps at most limit bytes of what is written
// to it: the first half (the head) and the last half (the tail; the larger
// one when limit is odd). It never holds more than limit bytes of text,
// however much is written. Besides the text, it knows the gaps in it:
// places where bytes are missing that never reached it (see Omit).
//
// A Buffer is not safe for concurrent use; its zero value keeps nothing.
type Buffer struct {
	headCap, tailCap int
	head             []byte
	tail             []byte // a ring of the last tailCap bytes
	start            int    // where the ring starts, once it is full
	written          int64  // bytes of text written
	gaps             []gap  // the gaps not in the dropped middle, in order
	middle           int64  // bytes of the gaps that fell into the dropped middle
}

// gap is a place in the text where bytes are missing.
type gap struct {
	at int64 // offset in the text written
	n  int64 // bytes missing
}

// New returns a Buffer that keeps at most limit bytes.
func New(limit int) *Buffer {
	limit = max(limit, 0)
	return &Buffer{headCap: limit / 2, tailCap: limit - limit/2}
}

// Write keeps what of p fits in the head and the tail. It never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	n := len(p)
	b.written += int64(n)
	if room := b.headCap - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = appendCapped(b.head, p[:k], b.headCap)
		p = p[k:]
	}
	if len(p) >= b.tailCap {
		// p alone fills the tail.
		b.tail = appendCapped(b.tail[:0], p[len(p)-b.tailCap:], b.tailCap)
		b.start = 0
	}
	for len(p) > 0 && len(p) < b.tailCap {
		if len(b.tail) < b.tailCap {
			k := min(b.tailCap-len(b.tail), len(p))
			b.tail = appendCapped(b.tail, p[:k], b.tailCap)
			p = p[k:]
			continue
		}
		// A full ring: overwrite the oldest bytes.
		k := min(b.tailCap-b.start, len(p))
		copy(b.tail[b.start:], p[:k])
		b.start = (b.start + k) % b.tailCap
		p = p[k:]
	}
	if len(b.head) == b.headCap {
		// Gaps now in the dropped middle stay there: fold them into one
		// count, so that the list of gaps stays short however much is
		// written.
		i := 0
		for i < len(b.gaps) && b.gaps[i].at < int64(b.headCap) {
			i++
		}
		j := i
		for j < len(b.gaps) && b.gaps[j].at <= b.tailStart() {
			b.middle += b.gaps[j].n
			j++
		}
		b.gaps = slices.Delete(b.gaps, i, j)
	}
	return n, nil
}

// appendCapped appends p to dst, growing dst to at most limit bytes of
// capacity.
func appendCapped(dst, p []byte, limit int) []byte {
	if need := len(dst) + len(p); need > cap(dst) {
		grown := make([]byte, len(dst), min(max(2*cap(dst), need, 512), max(limit, need)))
		copy(grown, dst)
		dst = grown
	}
	return append(dst, p...)
}

// Omit records that n bytes are missing at the end of the text written so
// far (bytes that were cut before they came). Consecutive gaps at one place
// make one.
func (b *Buffer) Omit(n int64) {
	if n <= 0 {
		return
	}
	if k := len(b.gaps); k > 0 && b.gaps[k-1].at == b.written {
		b.gaps[k-1].n += n
		return
	}
	b.gaps = append(b.gaps, gap{at: b.written, n: n})
}

// Written returns how many bytes of text were written.
func (b *Buffer) Written() int64 { return b.written }

// tailStart returns the offset of the tail's first byte in the text.
func (b *Buffer) tailStart() int64 { return b.written - int64(len(b.tail)) }

// String returns what was kept: everything when nothing is missing;
// otherwise a marker (see Marker) stands wherever bytes are missing, with
// their number: the middle dropped between the head and the tail, and
// each gap (one marker where a gap and the middle meet). A UTF-8 character
// cut in two at either side of the dropped middle is dropped whole and
// counted in its marker.
func (b *Buffer) String() string {
	var s strings.Builder
	s.Grow(len(b.head) + len(b.tail) + 64)
	gaps := b.gaps
	// text writes the bytes from offset off on, with the markers of the
	// gaps among them.
	text := func(off int64, p []byte) {
		for len(gaps) > 0 && gaps[0].at < off+int64(len(p)) {
			k := gaps[0].at - off
			s.Write(p[:k])
			s.WriteString(Marker(gaps[0].n))
			p, off, gaps = p[k:], gaps[0].at, gaps[1:]
		}
		s.Write(p)
	}
	head := b.head
	ring := append(b.tail[b.start:len(b.tail):len(b.tail)], b.tail[:b.start]...)
	ts := b.tailStart()
	if ts > int64(len(head)) {
		// Bytes were dropped between the head and the tail: no character
		// is shown in part.
		head = TrimCutRuneEnd(head)
		k := len(ring) - len(TrimCutRuneStart(ring))
		ring, ts = ring[k:], ts+int64(k)
	}
	text(0, head)
	missing := b.middle + ts - int64(len(head))
	for len(gaps) > 0 && gaps[0].at <= ts {
		missing += gaps[0].n
		gaps = gaps[1:]
	}
	if missing > 0 {
		s.WriteString(Marker(missing))
	}
	text(ts, ring)
	for _, g := range gaps { // at the very end
		s.WriteString(Marker(g.n))
	}
	return s.String()
}

// TrimCutRuneEnd returns p without an incomplete UTF-8 sequence at its end:
// the bytes to keep of a text cut right after p.
func TrimCutRuneEnd(p []byte) []byte {
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

// TrimCutRuneStart returns p without the UTF-8 continuation bytes at its
// start: the bytes to keep of a text cut right before p.
func TrimCutRuneStart(p []byte) []byte {
	for i := 0; i < utf8.UTFMax && i < len(p); i++ {
		if utf8.RuneStart(p[i]) {
			return p[i:]
		}
	}
	if len(p) < utf8.UTFMax {
		return p[len(p):] // the end of a character and nothing else
	}
	return p
}
