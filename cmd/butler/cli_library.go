package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/client"
)

// itemStates are the states `butler library items --state` takes.
var itemStates = []string{apitype.ItemPresent, apitype.ItemGone}

func (c *cli) libraryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "library",
		Short: "List the libraries of the media index with their counts; list and show its items",
		Long: `List the libraries the server's media index has files of (GET /butler/library):
the files present and their size, how many are analysed, waiting for their
analysis (pending) or whose analysis failed, and the files gone since the
last scan. RefreshLibraries fills the index from the libraries of the
config; DeepMediaAnalysis analyses its files.`,
		Example: `  butler library
  butler library items --library Movies --analysis failed
  butler library item 42`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cn, err := c.connect()
			if err != nil {
				return err
			}
			libs, err := cn.Libraries(ctxOf(cmd))
			if err != nil {
				return libraryFail(cn, err)
			}
			out := cmd.OutOrStdout()
			if cn.json {
				return printJSON(out, libs)
			}
			if len(libs) == 0 {
				_, err := fmt.Fprintln(out, "the media index has no files yet: RefreshLibraries fills it from the libraries of the server's config")
				return err
			}
			t := &table{header: []string{"LIBRARY", "FILES", "SIZE", "ANALYSED", "PENDING", "FAILED", "GONE"}}
			for _, l := range libs {
				t.add(plain(l.Name), plain(strconv.Itoa(l.Present)), plain(showBytes(l.Bytes)), plain(strconv.Itoa(l.Analysed)),
					plain(strconv.Itoa(l.Pending)), countCell(l.Failed, styleRed), countCell(l.Gone, styleYellow))
			}
			return t.write(out, newPainter(out, c.getenv))
		},
	}
	cmd.AddCommand(c.libraryItemsCmd(), c.libraryItemCmd())
	c.clientFlags(cmd)
	return cmd
}

// countCell is a count, in style when it is not 0.
func countCell(n int, style string) cell {
	if n == 0 {
		return plain("0")
	}
	return cell{text: strconv.Itoa(n), style: style}
}

// analysisStyle is the colour of an analysis state.
func analysisStyle(s string) string {
	switch s {
	case apitype.AnalysisAnalysed:
		return styleGreen
	case apitype.AnalysisFailed:
		return styleRed
	case apitype.ItemGone:
		return styleYellow
	}
	return styleDim
}

// libraryFail is cn.fail, saying so when the server has no media index
// (a Butler older than this one, or a Plex Media Server): its answer to
// the library routes is 404 or 405.
func libraryFail(cn *conn, err error) error {
	var ce *client.Error
	if errors.As(err, &ce) && ce.StatusCode == http.StatusMethodNotAllowed ||
		errors.As(err, &ce) && ce.StatusCode == http.StatusNotFound && strings.HasPrefix(ce.Message, "no such route") {
		return &exitError{1, fmt.Errorf("the server at %s keeps no media index (it is older than this butler, or not a Butler)", cn.url)}
	}
	return cn.fail(err)
}

func (c *cli) libraryItemsCmd() *cobra.Command {
	var q client.MediaItemsQuery
	var all bool
	cmd := &cobra.Command{
		Use:   "items",
		Short: "List the files of the media index, in library and path order",
		Long: `List the files of the media index (GET /butler/library/items), a page at a
time in library and path order: id, library, state (present or gone),
analysis (analysed, pending or failed), size, modification time and path.
When more follow, a last line on standard error gives the --after value of
the next page; --all reads every page.`,
		Example: `  butler library items --library Movies
  butler library items --analysis failed --all
  butler library items --prefix "/media/Movies/Alien (1979)/"
  butler library items --state gone -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if q.Limit < 1 || q.Limit > 1000 {
				return usageErr("--limit %d: want 1 to 1000", q.Limit)
			}
			if q.State != "" && !slices.Contains(itemStates, q.State) {
				return usageErr("--state %q: want present or gone", q.State)
			}
			if q.Analysis != "" && !slices.Contains(apitype.AnalysisStates(), q.Analysis) {
				return usageErr("--analysis %q: want analysed, pending or failed", q.Analysis)
			}
			if q.Prefix != "" && !strings.HasPrefix(q.Prefix, "/") {
				return usageErr("--prefix %q: want the start of an absolute path, such as /media/Movies/", q.Prefix)
			}
			cn, err := c.connect()
			if err != nil {
				return err
			}
			ctx := ctxOf(cmd)
			var page apitype.MediaItemContainer
			if all {
				page.Item = []apitype.MediaItem{}
				for it, err := range cn.MediaItemsAll(ctx, q) {
					if err != nil {
						return libraryFail(cn, err)
					}
					page.Item = append(page.Item, it)
				}
			} else {
				p, err := cn.MediaItems(ctx, q)
				var ce *client.Error
				if q.After != "" && errors.As(err, &ce) && ce.StatusCode == http.StatusBadRequest && strings.HasPrefix(ce.Message, "after:") {
					return &exitError{1, fmt.Errorf("--after %q is not a cursor of this listing; give the value the previous page printed, with the same --library", q.After)}
				}
				if err != nil {
					return libraryFail(cn, err)
				}
				page.Item, page.TotalSize, page.Next = p.Items, p.TotalSize, p.Next
			}
			page.Size = len(page.Item)
			out := cmd.OutOrStdout()
			if cn.json {
				return printJSON(out, page)
			}
			if err := writeItems(out, page.Item, newPainter(out, c.getenv)); err != nil {
				return err
			}
			if page.Next != "" {
				more := "more files follow"
				if page.TotalSize != nil {
					more = fmt.Sprintf("%d of %d files", len(page.Item), *page.TotalSize)
				}
				_, err = fmt.Fprintf(cmd.ErrOrStderr(), "%s: the next page is --after %s (--all reads every page)\n", more, page.Next)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Library, "library", "", "only the files of this library (names are case-sensitive)")
	f.StringVar(&q.State, "state", "", "only the files in this state: present or gone")
	f.StringVar(&q.Analysis, "analysis", "", "only the files in this analysis state: analysed, pending or failed")
	f.StringVar(&q.Prefix, "prefix", "", "only the files whose path starts with this")
	f.IntVarP(&q.Limit, "limit", "n", 50, "at most this many files per page (1 to 1000)")
	f.StringVar(&q.After, "after", "", "the page after this cursor (as the previous page gives it)")
	f.BoolVar(&all, "all", false, "read every page")
	_ = cmd.RegisterFlagCompletionFunc("library", c.completeLibraries)
	_ = cmd.RegisterFlagCompletionFunc("state", cobra.FixedCompletions(itemStates, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("analysis", cobra.FixedCompletions(apitype.AnalysisStates(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// completeLibraries completes library names from the server.
func (c *cli) completeLibraries(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	cn, err := c.connect()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(ctxOf(cmd), 5*time.Second)
	defer cancel()
	libs, err := cn.Libraries(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, l := range libs {
		if strings.HasPrefix(l.Name, toComplete) {
			out = append(out, cobra.CompletionWithDesc(l.Name, files(l.Present)))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// files says "1 file" or "N files".
func files(n int) string {
	if n == 1 {
		return "1 file"
	}
	return fmt.Sprintf("%d files", n)
}

// writeItems writes the items as a table, or says there are none.
func writeItems(out io.Writer, items []apitype.MediaItem, p painter) error {
	if len(items) == 0 {
		_, err := fmt.Fprintln(out, "no files")
		return err
	}
	t := &table{header: []string{"ID", "LIBRARY", "STATE", "ANALYSIS", "SIZE", "MODIFIED", "PATH"}}
	for _, it := range items {
		state := plain(it.State)
		if it.State == apitype.ItemGone {
			state.style = styleYellow
		}
		t.add(plain(strconv.FormatInt(it.ID, 10)), plain(it.Library), state, cell{text: it.Analysis, style: analysisStyle(it.Analysis)},
			plain(showBytes(it.Size)), plain(showTime(it.ModifiedAt)), plain(it.Path))
	}
	return t.write(out, p)
}

func (c *cli) libraryItemCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "item ID",
		Short: "Show one file of the media index with its analysis: streams and chapters",
		Long: `Show one file of the media index (GET /butler/library/items/{id}): its state,
size and times, and its stored analysis — container, duration and bit rate,
each stream (codec, language, channels, resolution, frame rate, HDR) and the
chapters — or why its analysis failed. The ids are those of butler library
items.`,
		Example: `  butler library items --library Movies --prefix /media/Movies/A
  butler library item 42`,
		Args: nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id < 1 {
				return usageErr("item %q: want a file's id, as butler library items lists them", args[0])
			}
			cn, err := c.connect()
			if err != nil {
				return err
			}
			it, err := cn.MediaItem(ctxOf(cmd), id)
			if err != nil {
				return libraryFail(cn, err)
			}
			out := cmd.OutOrStdout()
			if cn.json {
				return printJSON(out, it)
			}
			return writeItem(out, it, newPainter(out, c.getenv))
		},
	}
}

// writeItem writes one item and its analysis in readable form.
func writeItem(out io.Writer, it *apitype.MediaItem, p painter) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", p.paint(styleBold, it.Path))
	fmt.Fprintf(&b, "id %d, library %s, %s, %s (%d bytes)\n", it.ID, it.Library, it.Kind, showBytes(it.Size), it.Size)
	fmt.Fprintf(&b, "modified %s, added %s", showTime(it.ModifiedAt), showTime(it.AddedAt))
	if it.ChangedAt != it.AddedAt {
		fmt.Fprintf(&b, ", changed %s", showTime(it.ChangedAt))
	}
	b.WriteString("\n")
	if it.State == apitype.ItemGone {
		fmt.Fprintf(&b, "%s since %s: the file was not found at the last scan\n", p.paint(styleYellow, "gone"), showTime(it.GoneAt))
	}
	switch it.Analysis {
	case apitype.AnalysisPending:
		fmt.Fprintf(&b, "analysis: %s (DeepMediaAnalysis analyses it)\n", p.paint(styleDim, "pending"))
	case apitype.AnalysisFailed:
		fmt.Fprintf(&b, "analysis: %s %d times in a row, next try after %s: %s\n", p.paint(styleRed, "failed"),
			it.AnalysisFailures, showTime(it.AnalysisRetryAt), it.AnalysisError)
	case apitype.AnalysisAnalysed:
		fmt.Fprintf(&b, "analysis: version %d, %s\n", it.AnalysisVersion, showTime(it.AnalysedAt))
	}
	if _, err := io.WriteString(out, b.String()); err != nil {
		return err
	}
	if err := writeMedia(out, it.Media, p); err != nil {
		return err
	}
	return writeOutputs(out, it.Output, p)
}

// writeOutputs writes what the media tasks made for an item, one line
// each: its kind, version and time, its files and values, or its failures.
func writeOutputs(out io.Writer, outs []apitype.MediaOutput, p painter) error {
	if len(outs) == 0 {
		return nil
	}
	if _, err := io.WriteString(out, "\n"); err != nil {
		return err
	}
	t := &table{header: []string{"OUTPUT", "VERSION", "MADE", "FILES", "STATE"}}
	for _, o := range outs {
		state := plain("made")
		switch {
		case bool(o.Stale):
			state = cell{text: "stale (the file changed)", style: styleYellow}
		case o.Failures > 0:
			times := "once"
			if o.Failures > 1 {
				times = fmt.Sprintf("%d times", o.Failures)
			}
			state = cell{text: fmt.Sprintf("failed %s, next try after %s: %s", times, showTime(o.RetryAt), o.Error), style: styleRed}
		}
		files := "-"
		switch len(o.File) {
		case 0:
		case 1:
			files = o.File[0].Path
		default:
			files = fmt.Sprintf("%d files", len(o.File))
		}
		made := "-"
		if o.MadeAt != "" {
			made = showTime(o.MadeAt)
		}
		t.add(plain(o.Kind), plain(strconv.Itoa(o.Version)), plain(made), plain(files), state)
	}
	return t.write(out, p)
}

// writeMedia writes an item's analysis: its container, streams and
// chapters; nothing when it has none.
func writeMedia(out io.Writer, m *apitype.MediaAnalysis, p painter) error {
	if m == nil {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\ncontainer %s, %s, %s", m.Container, showMillis(m.Duration), showBitRate(m.BitRate))
	if m.Title != "" {
		fmt.Fprintf(&b, ", title %q", m.Title)
	}
	b.WriteString("\n\n")
	if _, err := io.WriteString(out, b.String()); err != nil {
		return err
	}
	t := &table{header: []string{"#", "TYPE", "CODEC", "LANGUAGE", "DETAIL"}}
	for _, s := range m.Stream {
		codec := s.Codec
		if s.Profile != "" {
			codec += " (" + s.Profile + ")"
		}
		t.add(plain(strconv.Itoa(s.Index)), plain(s.Type), plain(codec), plain(orDash(s.Language)), plain(orDash(streamDetail(s))))
	}
	if err := t.write(out, p); err != nil {
		return err
	}
	if len(m.Chapter) == 0 {
		return nil
	}
	if _, err := io.WriteString(out, "\n"); err != nil {
		return err
	}
	ct := &table{header: []string{"CHAPTER", "START", "END", "TITLE"}}
	for _, ch := range m.Chapter {
		ct.add(plain(strconv.Itoa(ch.Index)), plain(showMillis(ch.StartTimeOffset)), plain(showMillis(ch.EndTimeOffset)), plain(orDash(ch.Tag)))
	}
	return ct.write(out, p)
}

// streamDetail describes a stream after its type: a video's size, frame
// rate, bit depth and HDR format; an audio's channels and sample rate;
// then its bit rate, title and flags.
func streamDetail(s apitype.MediaStream) string {
	var parts []string
	if s.Width > 0 && s.Height > 0 {
		parts = append(parts, fmt.Sprintf("%dx%d", s.Width, s.Height))
	}
	if s.FrameRate > 0 {
		parts = append(parts, strconv.FormatFloat(s.FrameRate, 'f', -1, 64)+" fps")
	}
	if s.BitDepth > 0 {
		parts = append(parts, fmt.Sprintf("%d-bit", s.BitDepth))
	}
	if s.HDR != "" {
		parts = append(parts, s.HDR)
	}
	switch {
	case s.ChannelLayout != "":
		parts = append(parts, s.ChannelLayout)
	case s.Channels > 0:
		parts = append(parts, fmt.Sprintf("%d channels", s.Channels))
	}
	if s.SamplingRate > 0 {
		parts = append(parts, strconv.FormatFloat(float64(s.SamplingRate)/1000, 'f', -1, 64)+" kHz")
	}
	if s.BitRate > 0 {
		parts = append(parts, showBitRate(s.BitRate))
	}
	if s.Title != "" {
		parts = append(parts, strconv.Quote(s.Title))
	}
	if s.Default {
		parts = append(parts, "default")
	}
	if s.Forced {
		parts = append(parts, "forced")
	}
	return strings.Join(parts, ", ")
}

// showBytes formats a size in bytes with a binary unit: 512 B, 2.0 KiB,
// 4.7 GiB.
func showBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// showMillis formats milliseconds as 1h57m00s, 10m00s or 3.5s (the
// seconds with their fraction when it is not 0).
func showMillis(ms int64) string {
	h, m := ms/3_600_000, ms/60_000%60
	sec := strconv.FormatFloat(float64(ms%60_000)/1000, 'f', -1, 64)
	if h > 0 || m > 0 {
		if ms%60_000 < 10_000 {
			sec = "0" + sec
		}
		if h > 0 {
			return fmt.Sprintf("%dh%02dm%ss", h, m, sec)
		}
		return fmt.Sprintf("%dm%ss", m, sec)
	}
	return sec + "s"
}

// showBitRate formats bits per second: 768 kb/s, 9.8 Mb/s; when
// unknown, "bit rate unknown".
func showBitRate(bps int64) string {
	switch {
	case bps <= 0:
		return "bit rate unknown"
	case bps < 1_000_000:
		return fmt.Sprintf("%d kb/s", (bps+500)/1000)
	}
	return fmt.Sprintf("%.1f Mb/s", float64(bps)/1e6)
}
