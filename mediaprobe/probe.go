// Package mediaprobe analyses media files with ffprobe (from FFmpeg): the
// container, duration and bit rate, every stream (codec, language,
// channels, size, frame rate, colour and HDR) and the chapters, as a
// butler.MediaAnalysis.
//
// ffprobe runs in a process group of its own, with a parent-death signal
// on Linux (if Butler dies, the kernel kills it), at a lower CPU and I/O
// priority through nice and ionice, and with a time limit; when the
// caller's context is done, or the limit passes, the whole group is
// killed. A file that ffprobe cannot read is a *FileError, which says
// why: the item failed, the run goes on.
package mediaprobe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/plexbutler/butler"
)

// Version is the version of the analysis Probe makes, stored with each
// analysis. Raise it whenever what Probe records changes: the items
// analysed by an older version are the ones UpgradeMediaAnalysis analyses
// again.
const Version = 1

// Defaults of Prober's fields.
const (
	// DefaultNice is the niceness ffprobe runs at (nice(1): 0 to 19).
	DefaultNice = 10
	// DefaultTimeout is ffprobe's time limit for a file, before PerGiB.
	DefaultTimeout = time.Minute
	// DefaultPerGiB is the time added to the limit per GiB of the file.
	DefaultPerGiB = 10 * time.Second
	// DefaultMaxReport bounds ffprobe's report (bytes).
	DefaultMaxReport = 16 << 20
)

// The I/O scheduling classes of Prober.IOClass (ionice(1)).
const (
	IOBestEffort = "best-effort" // the lowest priority of the best-effort class (the default)
	IOIdle       = "idle"        // only when no other program uses the disk
	IONone       = "none"        // Butler's own class: ionice is not used
)

// maxStderr is how much of ffprobe's error output is kept.
const maxStderr = 4096

// ErrTimeout is the cause of a *FileError when ffprobe ran out of time.
var ErrTimeout = errors.New("ffprobe took longer than its time limit")

// FileError is the error of Probe for a file that ffprobe could not read
// as media (not media, damaged, truncated, or too slow to read): a failure
// of that file alone.
type FileError struct {
	// Path is the file.
	Path string
	// Reason says what ffprobe found, in a line.
	Reason string
	// Err is ErrTimeout when ffprobe ran out of time, otherwise nil.
	Err error
}

// Error says which file and why.
func (e *FileError) Error() string { return "analyse " + e.Path + ": " + e.Reason }

// Unwrap returns the cause, if any.
func (e *FileError) Unwrap() error { return e.Err }

// Prober runs ffprobe. Its zero value is usable: ffprobe from PATH, at
// niceness 10 and the lowest best-effort I/O priority, with a limit of a
// minute plus 10 s per GiB. A Prober is safe for concurrent use and must
// not be copied after its first use.
type Prober struct {
	// FFprobe is the ffprobe program; "" looks up "ffprobe" in PATH.
	FFprobe string
	// Nice is ffprobe's niceness: 0 means DefaultNice, a negative value
	// runs it at Butler's own priority.
	Nice int
	// IOClass is IOBestEffort (""), IOIdle or IONone.
	IOClass string
	// Timeout is the time limit for a file, before PerGiB; 0 or less
	// means DefaultTimeout.
	Timeout time.Duration
	// PerGiB is added to the limit per GiB of the file (reading a large
	// file's index from a slow disk takes longer); 0 means DefaultPerGiB,
	// a negative value adds nothing.
	PerGiB time.Duration
	// MaxReport bounds ffprobe's report in bytes; 0 or less means
	// DefaultMaxReport. A longer report is a *FileError.
	MaxReport int
	// Logger receives a warning when nice or ionice cannot be found (once),
	// and ffprobe's complaints about files it read; nil means
	// slog.Default().
	Logger *slog.Logger

	once   sync.Once
	prefix []string // nice and ionice, as found
	err    error
}

// Validate reports what is wrong with p's settings.
func (p *Prober) Validate() error {
	switch {
	case p.Nice > 19:
		return fmt.Errorf("ffprobe's niceness %d: give 0 to 19 (19 is the lowest priority), or a negative value for none", p.Nice)
	case p.IOClass != "" && p.IOClass != IOBestEffort && p.IOClass != IOIdle && p.IOClass != IONone:
		return fmt.Errorf("ffprobe's I/O class %q: give %q, %q or %q", p.IOClass, IOBestEffort, IOIdle, IONone)
	}
	return nil
}

// setup finds ffprobe, nice and ionice, once.
func (p *Prober) setup() error {
	p.once.Do(func() {
		if p.err = p.Validate(); p.err != nil {
			return
		}
		log := p.logger()
		ffprobe := p.FFprobe
		if ffprobe == "" {
			ffprobe = "ffprobe"
		}
		path, err := exec.LookPath(ffprobe)
		if err != nil {
			p.err = fmt.Errorf("ffprobe not found (%v): install FFmpeg (on Debian: apt-get install ffmpeg) or give the program's path", err)
			return
		}
		nice := p.Nice
		if nice == 0 {
			nice = DefaultNice
		}
		if nice > 0 {
			if n, err := exec.LookPath("nice"); err == nil {
				p.prefix = append(p.prefix, n, "-n", strconv.Itoa(nice))
			} else {
				log.Warn("nice not found: ffprobe runs at Butler's own CPU priority", "err", err)
			}
		}
		if p.IOClass != IONone {
			args := []string{"-c", "2", "-n", "7"}
			if p.IOClass == IOIdle {
				args = []string{"-c", "3"}
			}
			if n, err := exec.LookPath("ionice"); err == nil {
				p.prefix = append(append(p.prefix, n), args...)
			} else {
				log.Warn("ionice not found: ffprobe runs at Butler's own I/O priority", "err", err)
			}
		}
		p.prefix = append(p.prefix, path)
	})
	return p.err
}

// Command returns the command line Probe runs for path: nice and ionice
// as configured, then ffprobe and its arguments (ffprobe -v error
// -protocol_whitelist file -print_format json -show_format -show_streams
// -show_chapters -i file:PATH).
func (p *Prober) Command(path string) ([]string, error) {
	if err := p.setup(); err != nil {
		return nil, err
	}
	argv := append([]string(nil), p.prefix...)
	// The file is named through the file protocol, and no other protocol
	// is allowed: a playlist in a library cannot make ffprobe fetch a URL,
	// and no path is taken for a protocol ("http:..." or "concat:...").
	return append(argv, "-v", "error", "-protocol_whitelist", "file", "-print_format", "json",
		"-show_format", "-show_streams", "-show_chapters", "-i", "file:"+path), nil
}

// Probe analyses the file at path. It returns the analysis and the file
// as it was when ffprobe started (size and modification time, for the
// index to check that it analysed the file it has). A file ffprobe cannot
// read is a *FileError; a missing file an error that wraps
// fs.ErrNotExist; when ctx is done, ctx's error (ffprobe is killed, with
// its process group, before Probe returns); any other error means ffprobe
// could not be run at all.
func (p *Prober) Probe(ctx context.Context, path string) (butler.MediaAnalysis, butler.MediaFile, error) {
	var a butler.MediaAnalysis
	if err := ctx.Err(); err != nil {
		return a, butler.MediaFile{}, err
	}
	argv, err := p.Command(path)
	if err != nil {
		return a, butler.MediaFile{}, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return a, butler.MediaFile{}, fmt.Errorf("analyse %s: %w", path, err)
	}
	file := butler.MediaFile{Path: path, Size: fi.Size(), ModTime: fi.ModTime()}
	if !fi.Mode().IsRegular() {
		return a, file, &FileError{Path: path, Reason: "not a regular file"}
	}

	limit := cmpOr(p.Timeout, DefaultTimeout)
	perGiB := p.PerGiB
	if perGiB == 0 {
		perGiB = DefaultPerGiB
	}
	if perGiB > 0 {
		limit += time.Duration(float64(perGiB) * float64(fi.Size()) / (1 << 30))
	}
	runCtx, cancel := context.WithTimeoutCause(ctx, limit, ErrTimeout)
	defer cancel()

	stdout := &limitedBuffer{max: cmpOr(p.MaxReport, DefaultMaxReport)}
	stderr := &limitedBuffer{max: maxStderr}
	cmd := exec.CommandContext(runCtx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error {
		// The whole group: nice and ionice exec ffprobe in place, but a
		// wrapper given as FFprobe may start children.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = time.Second
	// The parent-death signal follows the thread that started ffprobe:
	// this goroutine keeps that thread until ffprobe is gone.
	runtime.LockOSThread()
	err = cmd.Run()
	runtime.UnlockOSThread()

	if ctxErr := ctx.Err(); ctxErr != nil {
		return a, file, fmt.Errorf("analysis of %s stopped: %w", path, ctxErr)
	}
	if errors.Is(context.Cause(runCtx), ErrTimeout) {
		return a, file, &FileError{Path: path, Reason: fmt.Sprintf("ffprobe did not finish within %s", limit.Round(time.Millisecond)), Err: ErrTimeout}
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return a, file, fmt.Errorf("run ffprobe on %s: %w", path, err)
	}
	problem := firstProblem(stderr.String())
	if err != nil {
		if problem == "" {
			problem = "no message"
		}
		return a, file, &FileError{Path: path, Reason: fmt.Sprintf("ffprobe cannot read it (%s): %s", exitErr.ProcessState, problem)}
	}
	if stdout.overflow {
		return a, file, &FileError{Path: path, Reason: fmt.Sprintf("ffprobe's report is longer than %d bytes", stdout.max)}
	}
	if damaged(problem) {
		// ffprobe read the file's headers but found it cut short or
		// damaged: its duration and streams cannot be trusted.
		return a, file, &FileError{Path: path, Reason: "ffprobe found faults: " + problem}
	}
	if problem != "" {
		// A decoder's complaint while ffprobe looked at the first packets
		// (a recording that starts mid-stream: "non-existing PPS 0
		// referenced"): the file plays, and its analysis stands.
		p.logger().Debug("ffprobe complained of a file it read", "path", path, "output", problem)
	}
	a, err = Parse(stdout.Bytes())
	if err != nil {
		return a, file, &FileError{Path: path, Reason: err.Error()}
	}
	if len(a.Streams) == 0 {
		return a, file, &FileError{Path: path, Reason: "ffprobe found no streams in it"}
	}
	return a, file, nil
}

// damaged reports whether ffprobe's error output says the file is cut
// short or its structure damaged, as opposed to a decoder's complaints
// about a packet.
func damaged(problem string) bool {
	lower := strings.ToLower(problem)
	for _, sign := range []string{"ended prematurely", "partial file", "truncated", "end of file", "invalid data found",
		"error reading header", "moov atom not found", "ebml header parsing failed", "element exceeds containing master element"} {
		if strings.Contains(lower, sign) {
			return true
		}
	}
	return false
}

func (p *Prober) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

// IsMissing reports whether err means the file is not there (any more).
func IsMissing(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// firstProblem returns the meaningful lines of ffprobe's error output,
// without the "[matroska,webm @ 0x...]" prefixes, joined by "; ", at most
// 300 bytes.
func firstProblem(stderr string) string {
	var parts []string
	for line := range strings.Lines(stderr) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			if i := strings.Index(line, "] "); i > 0 {
				line = line[i+2:]
			}
		}
		if line == "" || strings.HasPrefix(line, "Truncating packet") {
			continue
		}
		parts = append(parts, line)
	}
	s := strings.Join(parts, "; ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func cmpOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// limitedBuffer keeps the first max bytes written to it and notes the
// rest, so that a runaway program cannot fill the memory.
type limitedBuffer struct {
	bytes.Buffer
	max      int
	overflow bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room < len(p) {
		b.overflow = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
