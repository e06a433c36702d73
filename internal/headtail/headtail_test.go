package headtail

import (
	"bytes"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestBuffer(t *testing.T) {
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
		{"ring wraps", 6, []string{"abc", "de", "fg", "h", "ijklm", "n"}, "abc\n[... 8 bytes omitted ...]\nlmn"},
		// The line break before the marker is never the text's: a head
		// that ends a line is followed by an empty line.
		{"head ends a line", 8, []string{"abc\n", "0123456789", "wxyz"}, "abc\n\n[... 10 bytes omitted ...]\nwxyz"},
		{"no head", 1, []string{"abc"}, "\n[... 2 bytes omitted ...]\nc"},
		{"nothing kept", 0, []string{"abc"}, "\n[... 3 bytes omitted ...]\n"},
		{"odd limit", 5, []string{"abcdefgh"}, "ab\n[... 3 bytes omitted ...]\nfgh"},
		{"cut runes dropped", 6, []string{"ééééé"}, "é\n[... 6 bytes omitted ...]\né"},
		{"cut 4-byte runes at both sides", 8, []string{"a😀😀😀b"}, "a\n[... 12 bytes omitted ...]\nb"},
		{"only continuation bytes in the tail", 5, []string{"é😀"}, "é\n[... 4 bytes omitted ...]\n"},
		{"runes whole at the cut", 12, []string{"ab😀", "xyz", "😀"}, "ab😀\n[... 1 bytes omitted ...]\nyz😀"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := New(c.limit)
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
			if b.Written() != int64(total) {
				t.Errorf("Written = %d, want %d", b.Written(), total)
			}
		})
	}
}

// TestBufferGaps checks the markers of gaps: where they are, merged with
// the dropped middle where they fall into it or meet it.
func TestBufferGaps(t *testing.T) {
	type op struct {
		text string
		omit int64
	}
	for _, c := range []struct {
		name  string
		limit int
		ops   []op
		want  string
	}{
		{"gap in the head", 10, []op{{text: "ab"}, {omit: 7}, {text: "cd"}}, "ab\n[... 7 bytes omitted ...]\ncd"},
		{"two gaps at one place", 10, []op{{text: "ab"}, {omit: 7}, {omit: 3}, {text: "cd"}}, "ab\n[... 10 bytes omitted ...]\ncd"},
		{"gap at the end", 10, []op{{text: "ab"}, {omit: 7}}, "ab\n[... 7 bytes omitted ...]\n"},
		{"gap into the middle", 6, []op{{text: "abcd"}, {omit: 7}, {text: "efghij"}}, "abc\n[... 11 bytes omitted ...]\nhij"},
		{"gap where the head ends", 6, []op{{text: "abc"}, {omit: 5}, {text: "def"}}, "abc\n[... 5 bytes omitted ...]\ndef"},
		{"gap in the tail", 6, []op{{text: "abcdefg"}, {omit: 5}, {text: "hi"}}, "abc\n[... 3 bytes omitted ...]\ng\n[... 5 bytes omitted ...]\nhi"},
		{"gap scrolls into the middle", 6, []op{{text: "abcdefg"}, {omit: 5}, {text: "hijkl"}}, "abc\n[... 11 bytes omitted ...]\njkl"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := New(c.limit)
			for _, o := range c.ops {
				if o.omit > 0 {
					b.Omit(o.omit)
				} else {
					_, _ = b.Write([]byte(o.text))
				}
			}
			if got := b.String(); got != c.want {
				t.Errorf("String = %q, want %q", got, c.want)
			}
		})
	}
}

var markerRE = regexp.MustCompile(`\n\[\.\.\. (\d+) bytes omitted \.\.\.\]\n`)

// TestBufferUTF8 writes valid UTF-8 of characters of one to four bytes in
// writes of random sizes (which cut characters in two) with random limits,
// and checks that what is kept is valid UTF-8, the start and the end of
// what was written, and that the marker counts every byte not shown.
func TestBufferUTF8(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	chars := []string{"a", "\n", "é", "€", "😀"}
	for round := range 500 {
		var all strings.Builder
		for range rng.IntN(400) {
			all.WriteString(chars[rng.IntN(len(chars))])
		}
		text := []byte(all.String())
		limit := rng.IntN(120)
		b := New(limit)
		for p := text; len(p) > 0; {
			k := min(len(p), 1+rng.IntN(40))
			_, _ = b.Write(p[:k])
			p = p[k:]
		}
		got := b.String()
		if !utf8.ValidString(got) {
			t.Fatalf("round %d (limit %d): not valid UTF-8: %q", round, limit, got)
		}
		m := markerRE.FindStringSubmatchIndex(got)
		if m == nil {
			if got != string(text) || len(text) > limit {
				t.Fatalf("round %d (limit %d): %d bytes written, %q kept without a marker", round, limit, len(text), got)
			}
			continue
		}
		head, tail := got[:m[0]], got[m[1]:]
		n, _ := strconv.Atoi(got[m[2]:m[3]])
		if !strings.HasPrefix(string(text), head) || !strings.HasSuffix(string(text), tail) {
			t.Fatalf("round %d (limit %d): %q and %q are not the start and end of %q", round, limit, head, tail, text)
		}
		if n != len(text)-len(head)-len(tail) || len(head) > limit/2 || len(tail) > limit-limit/2 || len(head) < limit/2-3 || len(tail) < limit-limit/2-3 {
			t.Fatalf("round %d (limit %d): head %d, tail %d, marker %d of %d bytes", round, limit, len(head), len(tail), n, len(text))
		}
	}
}

// TestBufferMemory writes much more than the limit, in writes of many
// sizes, and checks that the buffer never grows past it and keeps the end.
func TestBufferMemory(t *testing.T) {
	const limit = 1000
	b := New(limit)
	var all bytes.Buffer
	for i := range 5000 {
		w := bytes.Repeat([]byte{byte('a' + i%26)}, i%700)
		_, _ = b.Write(w)
		all.Write(w)
		if cap(b.tail) > limit/2 || cap(b.head) > limit/2 {
			t.Fatalf("buffer grew: head cap %d, tail cap %d", cap(b.head), cap(b.tail))
		}
	}
	s := b.String()
	want := all.Bytes()
	if !strings.HasPrefix(s, string(want[:limit/2])) || !strings.HasSuffix(s, string(want[len(want)-limit/2:])) {
		t.Error("String does not keep the first and the last half")
	}
}
