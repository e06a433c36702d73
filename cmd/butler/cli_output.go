package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// ANSI styles.
const (
	styleBold   = "1"
	styleDim    = "2"
	styleRed    = "31"
	styleGreen  = "32"
	styleYellow = "33"
	styleBlue   = "34"
	styleCyan   = "36"
)

// painter colours text when colour is on: stdout is a terminal and NO_COLOR
// is unset.
type painter struct{ on bool }

func newPainter(w io.Writer, getenv func(string) string) painter {
	return painter{on: isTerminal(w) && getenv("NO_COLOR") == ""}
}

func (p painter) paint(style, s string) string {
	if !p.on || style == "" || s == "" {
		return s
	}
	return "\x1b[" + style + "m" + s + "\x1b[0m"
}

// outcomeStyle is the colour of a run's outcome or state.
func outcomeStyle(s string) string {
	switch s {
	case "succeeded", "started", "yes":
		return styleGreen
	case "failed", "timed_out":
		return styleRed
	case "stopped", "stopping", "interrupted", "removed":
		return styleYellow
	case "skipped", "disabled", "no", "-":
		return styleDim
	case "running":
		return styleCyan
	case "scheduled", "queued":
		return styleBlue
	}
	return ""
}

// cell is one table cell: its text and its style.
type cell struct{ text, style string }

func plain(s string) cell { return cell{text: s} }

// styled is a cell coloured after its text (outcomeStyle).
func styled(s string) cell { return cell{text: s, style: outcomeStyle(s)} }

// table writes aligned columns, two spaces apart, with a header.
type table struct {
	header []string
	rows   [][]cell
}

func (t *table) add(cells ...cell) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer, p painter) error {
	widths := make([]int, len(t.header))
	for i, h := range t.header {
		widths[i] = utf8.RuneCountInString(h)
	}
	for _, r := range t.rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c.text))
		}
	}
	var b strings.Builder
	line := func(cells []cell) {
		for i, c := range cells {
			b.WriteString(p.paint(c.style, c.text))
			if i < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c.text)+2))
			}
		}
		b.WriteByte('\n')
	}
	head := make([]cell, len(t.header))
	for i, h := range t.header {
		head[i] = cell{text: h, style: styleBold}
	}
	line(head)
	for _, r := range t.rows {
		line(r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// timeLayout is how the CLI shows instants, in the local zone.
const timeLayout = "2006-01-02 15:04"

// parseAPITime reads an RFC 3339 time of the API; zero when empty or bad.
func parseAPITime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// showTime formats an API time for a table; "-" when there is none.
func showTime(s string) string {
	t := parseAPITime(s)
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(timeLayout)
}

// showDuration formats a run's length: 0.4s, 12.3s, 4m05s, 2h10m.
func showDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// runDuration is how long a run ran; "-" when it did not start.
func runDuration(startedAt, endedAt string) string {
	s, e := parseAPITime(startedAt), parseAPITime(endedAt)
	if s.IsZero() {
		return "-"
	}
	if e.IsZero() {
		e = time.Now()
	}
	return showDuration(e.Sub(s))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// orDash returns s, or "-" when it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
