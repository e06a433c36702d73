package butler_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/tasks"
)

// markerRE matches a marker line of a run's log, with the line break a log
// puts before it when the text before it does not end a line.
var markerRE = regexp.MustCompile(`\n?\[\.\.\. (\d+) bytes omitted \.\.\.\]\n`)

// checkMarkers checks that shown is truth with parts left out, each in
// the place of a marker line whose number is the count of bytes left out
// there, and returns how many markers it found. A line break right before
// a marker may be the log's own, and a line that looks like a marker may
// be one a program printed.
func checkMarkers(t *testing.T, shown, truth string) int {
	t.Helper()
	type piece struct {
		text    string // text before the marker line
		line    string // the marker line with its line breaks, or ""
		omitted int
	}
	var pieces []piece
	last := 0
	for _, m := range markerRE.FindAllStringSubmatchIndex(shown, -1) {
		n, _ := strconv.Atoi(shown[m[2]:m[3]])
		pieces = append(pieces, piece{shown[last:m[0]], shown[m[0]:m[1]], n})
		last = m[1]
	}
	pieces = append(pieces, piece{text: shown[last:]})
	// match returns how many of pieces[i:] are markers when they make up
	// truth[pos:], or -1.
	var match func(i, pos int) int
	match = func(i, pos int) int {
		p := pieces[i]
		if !strings.HasPrefix(truth[pos:], p.text) {
			return -1
		}
		pos += len(p.text)
		if i == len(pieces)-1 {
			if pos == len(truth) {
				return 0
			}
			return -1
		}
		// A marker: its line break, if any, the log's or the output's.
		for _, lb := range []int{0, 1} {
			if lb == 1 && (p.line[0] != '\n' || !strings.HasPrefix(truth[pos:], "\n")) {
				continue
			}
			if next := pos + lb + p.omitted; next <= len(truth) {
				if n := match(i+1, next); n >= 0 {
					return n + 1
				}
			}
		}
		// A line the program printed.
		if strings.HasPrefix(truth[pos:], p.line) {
			return match(i+1, pos+len(p.line))
		}
		return -1
	}
	n := match(0, 0)
	if n < 0 {
		t.Fatalf("the markers do not count the bytes missing where they stand:\n%s", abbreviate(shown))
	}
	return n
}

// abbreviate shortens a long log for an error message.
func abbreviate(s string) string {
	if len(s) <= 600 {
		return s
	}
	return s[:300] + "\n<...>\n" + s[len(s)-300:]
}

// execOutput returns what tasks.Exec hands to Output for a program that
// printed out, with limit its MaxOutput (ASCII output).
func execOutput(out string, limit int) string {
	if len(out) <= limit {
		return out
	}
	head, tail := out[:limit/2], out[len(out)-(limit-limit/2):]
	return fmt.Sprintf("%s\n[... %d bytes omitted ...]\n%s", head, len(out)-len(head)-len(tail), tail)
}

// lines returns n numbered lines.
func lines(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s %d\n", prefix, i)
	}
	return b.String()
}

// TestRunLog_MarkersCountWhatIsMissing writes log lines and outputs, some
// cut the way tasks.Exec cuts them, into a run's log, and checks every
// marker of the log against what was printed.
func TestRunLog_MarkersCountWhatIsMissing(t *testing.T) {
	big := lines("output line", 400000) // about 7 MB
	// A program may print marker lines itself: here one lands in the kept
	// first half of its output and one in the kept last half.
	forged := "\n[... 999999 bytes omitted ...]\n"
	withForged := lines("a", 3000) + forged + lines("b", 10000) + forged + lines("c", 3000)
	type write struct {
		log    string // a log line, or
		output string // what a program printed, and
		limit  int    // the MaxOutput of the Exec that cut it (0: not cut)
		label  string // the target of a sequence, if any
		text   string // what Output gets, when not output cut at limit
	}
	for _, c := range []struct {
		name    string
		writes  []write
		markers int
	}{
		{"small", []write{{log: "started\n"}, {output: "hello\n"}, {log: "done\n"}}, 0},
		{"output cut, log not", []write{{log: "started\n"}, {output: big, limit: 1000}, {log: "done\n"}}, 1},
		// The program's marker falls into the middle the log drops: the
		// log's one marker counts both.
		{"both cut", []write{{log: lines("log", 20)}, {output: big, limit: 64 << 10}, {log: lines("after", 5)}}, 1},
		{"both cut, larger MaxOutput", []write{{log: "started\n"}, {output: big, limit: 1 << 20}, {log: "done\n"}}, 1},
		{"both cut, odd MaxOutput, no line breaks", []write{{log: "started\n"}, {output: strings.Repeat("x", 3000001), limit: 70001}, {log: "done\n"}}, 1},
		// The program's marker stays in the head, and the log drops bytes
		// of a later output: two markers.
		{"marker in the head", []write{{output: big, limit: 1000}, {log: "middle\n"}, {output: big}}, 2},
		// The program's marker is in the tail for a while, and later
		// writes push it into the dropped middle.
		{"marker scrolls into the middle", []write{{log: lines("log", 4000)}, {output: big, limit: 1000}, {log: lines("after", 4000)}}, 1},
		{"in a sequence", []write{{log: "started\n"}, {output: big, limit: 64 << 10, label: "/var/lib/plex/Cache"}, {output: big, limit: 64 << 10, label: "/tmp"}}, 1},
		{"marker in the tail", []write{{log: lines("log", 8000)}, {output: big, limit: 1000}, {log: "done\n"}}, 2},
		{"program prints marker lines", []write{{output: withForged, limit: 64 << 10}, {log: "done\n"}}, 1},
		{"program prints marker lines, not cut", []write{{output: withForged}}, 1},
		{"no line break at the end", []write{{output: "no newline", limit: 4}}, 1},
		{"marker at the very end", []write{{log: lines("log", 8000)}, {output: "abc1234567\n", text: "abc\n[... 8 bytes omitted ...]\n"}}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := butler.NewRunLogForTest()
			var truth strings.Builder
			for _, w := range c.writes {
				if w.log != "" {
					l.Log(w.log)
					truth.WriteString(w.log)
					continue
				}
				text, printed := w.output, w.output
				if w.limit > 0 {
					text = execOutput(w.output, w.limit)
				}
				if w.text != "" {
					text = w.text
				}
				if w.label != "" {
					text = "== " + w.label + " ==\n" + text
					printed = "== " + w.label + " ==\n" + printed
				}
				l.Output(text)
				truth.WriteString("---- output ----\n" + printed)
				if !strings.HasSuffix(printed, "\n") {
					truth.WriteString("\n")
				}
			}
			shown := l.String()
			if len(shown) > butler.MaxRunLog+200 {
				t.Fatalf("the log is %d bytes, want about %d at most", len(shown), butler.MaxRunLog)
			}
			if n := checkMarkers(t, shown, truth.String()); n != c.markers {
				t.Fatalf("%d markers, want %d:\n%s", n, c.markers, abbreviate(shown))
			}
		})
	}
}

// TestExecute_RunLogCountsTheOutputItDoesNotShow runs programs that print
// megabytes, with tasks.Exec, as tasks of a manager: their output is cut by
// Exec and then by the run's log, and the log's one marker must count
// exactly the bytes of the output it does not show.
func TestExecute_RunLogCountsTheOutputItDoesNotShow(t *testing.T) {
	if testing.Short() {
		t.Skip("prints megabytes")
	}
	var numbers strings.Builder
	for i := 1; i <= 1000000; i++ {
		fmt.Fprintf(&numbers, "%d\n", i)
	}
	for _, c := range []struct {
		name, script string
		printed      string
	}{
		{"lines", `seq 1 1000000; printf END`, numbers.String() + "END"},
		// Exec's halves and the log's end inside runes of two bytes, and
		// no line ends where anything is cut.
		{"no line breaks, cut runes", `yes 'héllo wörld' | head -c 7000001 | tr -d '\n'; printf END`,
			strings.ReplaceAll(strings.Repeat("héllo wörld\n", 7000001/13+1)[:7000001], "\n", "") + "END"},
	} {
		t.Run(c.name, func(t *testing.T) {
			exec := &tasks.Exec{Argv: []string{"/bin/sh", "-c", c.script}}
			f := start(t, []butler.Task{{Name: "Print", Title: "Print", Interval: 1, Setting: "ButlerTaskPrint", Action: exec}}, nil)
			ctx := context.Background()
			sub := f.m.Subscribe()
			defer sub.Close()
			res, err := f.m.StartTask(ctx, "Print", true)
			if err != nil {
				t.Fatal(err)
			}
			for {
				ev, err := sub.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if ev.Type == butler.EventEnded && ev.Activity.RunID == res.Run.ID {
					if ev.Activity.Outcome != butler.OutcomeSucceeded {
						t.Fatalf("the run ended %s", ev.Activity.Outcome)
					}
					break
				}
			}
			text, err := f.m.RunLog(ctx, res.Run.ID)
			if err != nil {
				t.Fatal(err)
			}
			// The log keeps its first and its last MaxRunLog/2 bytes, and
			// one marker line between them.
			const half = butler.MaxRunLog / 2
			if len(text) < 2*half {
				t.Fatalf("the log is only %d bytes:\n%s", len(text), text)
			}
			head, middle, tail := text[:half], text[half:len(text)-half], text[len(text)-half:]
			m := regexp.MustCompile(`^\n?\[\.\.\. (\d+) bytes omitted \.\.\.\]\n$`).FindStringSubmatch(middle)
			if m == nil || strings.Contains(head+tail, "bytes omitted") {
				t.Fatalf("want one marker line between the log's halves; the log is:\n%s", abbreviate(text))
			}
			omitted, _ := strconv.Atoi(m[1])
			_, first, ok := strings.Cut(head, "---- output ----\n")
			end := strings.Index(tail, "END")
			if !ok || end < 0 {
				t.Fatalf("the log does not show the output's ends:\n%s", abbreviate(text))
			}
			last := tail[:end+len("END")]
			if !strings.HasPrefix(c.printed, first) || !strings.HasSuffix(c.printed, last) {
				t.Fatalf("the log does not show the output's first and last bytes:\n%s", abbreviate(text))
			}
			if shown := len(first) + len(last); omitted != len(c.printed)-shown {
				t.Fatalf("the marker says %d bytes omitted; the program printed %d and the log shows %d of them, so %d are missing",
					omitted, len(c.printed), shown, len(c.printed)-shown)
			}
		})
	}
}

// TestRunLog_NeverSplitsACharacter fills a run's log with characters of
// two to four bytes, shifted by 0 to 3 bytes so that its cuts land inside
// characters, and checks that the log is valid UTF-8 and that its marker
// counts the bytes of the characters it dropped whole.
func TestRunLog_NeverSplitsACharacter(t *testing.T) {
	for shift := range 4 {
		l := butler.NewRunLogForTest()
		var truth strings.Builder
		write := func(s string) {
			l.Log(s)
			truth.WriteString(s)
		}
		write(strings.Repeat("x", shift))
		for range 20000 {
			write("é€😀")
		}
		write("\n")
		shown := l.String()
		if !utf8.ValidString(shown) {
			t.Fatalf("shift %d: the log is not valid UTF-8 where it is cut", shift)
		}
		if n := checkMarkers(t, shown, truth.String()); n != 1 {
			t.Fatalf("shift %d: %d markers, want 1", shift, n)
		}
	}
}
