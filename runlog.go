package butler

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// MaxRunLog bounds the log a run keeps: past it, the middle is dropped and
// the first and last halves are kept.
const MaxRunLog = 64 << 10

// runLog is a run's bounded log.
type runLog struct {
	mu      sync.Mutex
	head    []byte // the first MaxRunLog/2 bytes
	tail    []byte // a ring of the last MaxRunLog/2 bytes
	start   int    // where the ring starts
	dropped int64
}

func (l *runLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	const half = MaxRunLog / 2
	if room := half - len(l.head); room > 0 {
		k := min(room, len(p))
		l.head = append(l.head, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 {
		if len(l.tail) < half {
			k := min(half-len(l.tail), len(p))
			l.tail = append(l.tail, p[:k]...)
			p = p[k:]
			continue
		}
		// Full ring: overwrite the oldest bytes.
		k := min(half-l.start, len(p))
		copy(l.tail[l.start:], p[:k])
		l.dropped += int64(k)
		l.start = (l.start + k) % half
		p = p[k:]
	}
	return n, nil
}

// String returns the log; a marker stands where bytes were dropped.
func (l *runLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	b.Write(l.head)
	if l.dropped > 0 {
		fmt.Fprintf(&b, "\n[... %d bytes omitted ...]\n", l.dropped)
	}
	b.Write(l.tail[l.start:])
	b.Write(l.tail[:l.start])
	return b.String()
}

// Output adds a command's output to the run's log (tasks.Exec and
// tasks.HTTP call it through the Reporter).
func (r *reporter) Output(text string) {
	if text == "" {
		return
	}
	fmt.Fprintf(r.lr.log, "---- output ----\n%s", text)
	if !strings.HasSuffix(text, "\n") {
		r.lr.log.Write([]byte("\n"))
	}
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
	m.mu.Lock()
	lr := m.local[id]
	m.mu.Unlock()
	if lr != nil {
		return lr.log.String(), nil // still running here: the live log
	}
	return m.store.RunLog(ctx, id)
}
