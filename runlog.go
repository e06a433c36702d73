package butler

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/plexbutler/butler/internal/headtail"
)

// MaxRunLog bounds the log a run keeps: past it, the middle is dropped and
// the first and last halves are kept.
const MaxRunLog = 64 << 10

// runLog is a run's bounded log (a headtail.Buffer of MaxRunLog bytes),
// safe for concurrent use. Besides the text written to it, it knows the
// gaps in that text: where an action's output was cut before it came (see
// reporter.Output). Where its own middle is dropped, the one marker counts
// the bytes it dropped and those of the gaps that were there, so that
// every number shown is the number of bytes missing at that place. Its
// zero value is an empty log.
type runLog struct {
	mu  sync.Mutex
	buf *headtail.Buffer
}

func (l *runLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.write(p)
	return len(p), nil
}

// write adds p to the log; l.mu is held.
func (l *runLog) write(p []byte) {
	if l.buf == nil {
		l.buf = headtail.New(MaxRunLog)
	}
	_, _ = l.buf.Write(p)
}

// omit records that n bytes are missing at the end of the log; l.mu is held.
func (l *runLog) omit(n int64) {
	l.write(nil)
	l.buf.Omit(n)
}

// String returns the log; a marker line stands where bytes are missing,
// with their number: dropped from the middle of the log, or missing from
// an action's output (one marker for both where they are at the same
// place). The line breaks around a marker line are not the log's.
func (l *runLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf == nil {
		return ""
	}
	return l.buf.String()
}

// Output adds an action's output to the run's log (tasks.Exec, tasks.HTTP
// and the sequences of package tasks call it through the Reporter). Where
// the output holds the marker line of bytes an action left out (see
// cutOmitted), the log keeps a gap in its place, so that the bytes are
// counted where the log drops that part of the output too.
func (r *reporter) Output(text string) {
	if text == "" {
		return
	}
	l := r.lr.log
	l.mu.Lock()
	defer l.mu.Unlock()
	l.write([]byte("---- output ----\n"))
	if before, n, after, ok := cutOmitted(text); ok {
		l.write([]byte(before))
		l.omit(n)
		l.write([]byte(after))
	} else {
		l.write([]byte(text))
	}
	if !strings.HasSuffix(text, "\n") {
		l.write([]byte("\n"))
	}
}

// OutputStream returns a writer that adds an action's output to the run's
// log as it comes (OutputStreamer): the first write puts the output's
// heading, Close ends its last line.
func (r *reporter) OutputStream() io.WriteCloser { return &outputStream{log: r.lr.log} }

// outputStream is the writer of OutputStream.
type outputStream struct {
	log     *runLog
	started bool
	last    byte
}

func (o *outputStream) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	o.log.mu.Lock()
	defer o.log.mu.Unlock()
	if !o.started {
		o.started = true
		o.log.write([]byte("---- output ----\n"))
	}
	o.log.write(p)
	o.last = p[len(p)-1]
	return len(p), nil
}

// Close ends the output's last line, if it has one that is not ended.
func (o *outputStream) Close() error {
	if o.started && o.last != '\n' {
		o.log.mu.Lock()
		o.log.write([]byte("\n"))
		o.log.mu.Unlock()
		o.last = '\n'
	}
	return nil
}

// omittedRE matches the marker tasks.Exec puts in a program's output where
// it left bytes out, with the line breaks around it.
var omittedRE = regexp.MustCompile(`\n\[\.\.\. ([1-9][0-9]{0,17}) bytes omitted \.\.\.\]\n`)

// cutOmitted finds, in an action's output, the marker tasks.Exec puts
// where it left out the middle of a program's output (Reporter.Output
// documents its form). It returns the text before and after the marker and
// the number of bytes left out.
//
// A program may print such a line itself, so a marker line is taken only
// where Exec puts it: between the halves Exec keeps, whose sizes differ by
// at most a few bytes (a rune cut at either side, an odd MaxOutput). A
// sequence of package tasks puts a line "== target ==" before the output
// of each of its targets; that line is not part of the first half.
func cutOmitted(text string) (before string, n int64, after string, ok bool) {
	label := 0
	if first, _, found := strings.Cut(text, "\n"); found && strings.HasPrefix(first, "== ") && strings.HasSuffix(first, " ==") {
		label = len(first) + 1
	}
	for _, m := range omittedRE.FindAllStringSubmatchIndex(text, -1) {
		head, tail := m[0], len(text)-m[1]
		if !halves(head, tail) && !(label > 0 && halves(head-label, tail)) {
			continue
		}
		v, err := strconv.ParseInt(text[m[2]:m[3]], 10, 64)
		if err != nil {
			continue
		}
		return text[:m[0]], v, text[m[1]:], true
	}
	return "", 0, "", false
}

// halves reports whether head and tail bytes can be what tasks.Exec keeps
// of an output it cut: half of its MaxOutput each (the tail a byte more
// when MaxOutput is odd), less up to 3 bytes of a rune cut in two at either
// side.
func halves(head, tail int) bool {
	d := tail - head
	return head >= 0 && d >= -3 && d <= 4
}

// logHandler copies a run's log records, as text lines, into its runLog,
// and passes them on to the server's log.
type logHandler struct {
	next slog.Handler
	log  *runLog
}

func (h *logHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.next.Enabled(ctx, l)
}

func (h *logHandler) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelInfo {
		var b bytes.Buffer
		fmt.Fprintf(&b, "%s %s %s", rec.Time.UTC().Format(time.TimeOnly), rec.Level, rec.Message)
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key != "task" && a.Key != "run" {
				fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
			}
			return true
		})
		b.WriteByte('\n')
		h.log.Write(b.Bytes())
	}
	if h.next.Enabled(ctx, rec.Level) {
		return h.next.Handle(ctx, rec)
	}
	return nil
}

func (h *logHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return &logHandler{next: h.next.WithAttrs(a), log: h.log}
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{next: h.next.WithGroup(name), log: h.log}
}

// RunLog returns the log a run kept: its task's messages and its command's
// output, at most MaxRunLog bytes. ENOTFOUND when there is no such run.
func (m *Manager) RunLog(ctx context.Context, id int64) (string, error) {
	if lr := m.runs.get(id); lr != nil {
		return lr.log.String(), nil // still running here: the live log
	}
	return m.store.RunLog(ctx, id)
}
