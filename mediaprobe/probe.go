// Package mediaprobe analyses media files with ffprobe (from FFmpeg): the
// container, duration and bit rate, every stream (codec, language,
// channels, size, frame rate, colour and HDR) and the chapters, as a
// butler.MediaAnalysis.
//
// ffprobe runs in a process group of its own, with a parent-death signal
// on Linux (if Butler dies, the kernel kills it), at a lower CPU and I/O
// priority (niceness and I/O class), and with a time limit; when the
// caller's context is done, or the limit passes, the whole group is
// killed. A file that ffprobe cannot read, or that cannot even be
// stat'ed, is a *FileError, which says why: the item failed, the run goes
// on.
package mediaprobe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/mediatool"
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

// The I/O scheduling classes of Prober.IOClass (ioprio_set(2)).
const (
	IOBestEffort = mediatool.IOBestEffort // the lowest priority of the best-effort class (the default)
	IOIdle       = mediatool.IOIdle       // only when no other program uses the disk
	IONone       = mediatool.IONone       // Butler's own class
)

// ErrTimeout is the cause of a *FileError when ffprobe ran out of time.
var ErrTimeout = errors.New("ffprobe took longer than its time limit")

// FileError is the error of Probe for a file that ffprobe could not read
// as media (not media, damaged, truncated, or too slow to read): a failure
// of that file alone.
type FileError = mediatool.FileError

// fileOp begins the message of this package's FileErrors.
const fileOp = "analyse"

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
	// Logger receives a warning when the priority cannot be lowered (once),
	// and ffprobe's complaints about files it read; nil means
	// slog.Default().
	Logger *slog.Logger

	once sync.Once
	tool *mediatool.Tool
}

// Validate reports what is wrong with p's settings.
func (p *Prober) Validate() error { return p.ffprobe().Validate() }

// ffprobe returns the tool that runs ffprobe, made from p's settings once.
func (p *Prober) ffprobe() *mediatool.Tool {
	p.once.Do(func() {
		program := p.FFprobe
		if program == "" {
			program = "ffprobe"
		}
		p.tool = &mediatool.Tool{Program: program, Nice: p.Nice, IOClass: p.IOClass, Logger: p.logger()}
	})
	return p.tool
}

// args are ffprobe's arguments for path. The file is named through the
// file protocol, and no other protocol is allowed: a playlist in a
// library cannot make ffprobe fetch a URL, and no path is taken for a
// protocol ("http:..." or "concat:...").
func args(path string) []string {
	return []string{"-v", "error", "-protocol_whitelist", "file", "-print_format", "json",
		"-show_format", "-show_streams", "-show_chapters", "-i", "file:" + path}
}

// Command returns the command line Probe runs for path: ffprobe and its
// arguments (ffprobe -v error
// -protocol_whitelist file -print_format json -show_format -show_streams
// -show_chapters -i file:PATH).
func (p *Prober) Command(path string) ([]string, error) {
	return p.ffprobe().Command(args(path)...)
}

// Probe analyses the file at path. It returns the analysis and the file
// as it was when ffprobe started (size and modification time, for the
// index to check that it analysed the file it has). A file ffprobe cannot
// read is a *FileError, and so is one that is there but cannot be
// stat'ed (permission denied, an I/O error): that file's
// failure, returned with a zero MediaFile, as its size and modification
// time are unknown. A missing file is an error that wraps
// fs.ErrNotExist; when ctx is done, ctx's error (ffprobe is killed, with
// its process group, before Probe returns); any other error means ffprobe
// could not be run at all.
func (p *Prober) Probe(ctx context.Context, path string) (butler.MediaAnalysis, butler.MediaFile, error) {
	var a butler.MediaAnalysis
	if err := ctx.Err(); err != nil {
		return a, butler.MediaFile{}, err
	}
	if _, err := p.Command(path); err != nil {
		return a, butler.MediaFile{}, err
	}
	fi, err := mediatool.Stat(fileOp, path)
	if fi == nil {
		return a, butler.MediaFile{}, err
	}
	file := butler.MediaFile{Path: path, Size: fi.Size(), ModTime: fi.ModTime()}
	if err != nil {
		return a, file, err // not a regular file
	}

	limit := cmpOr(p.Timeout, DefaultTimeout)
	perGiB := p.PerGiB
	if perGiB == 0 {
		perGiB = DefaultPerGiB
	}
	if perGiB > 0 {
		limit += time.Duration(float64(perGiB) * float64(fi.Size()) / (1 << 30))
	}
	stdout := &mediatool.LimitedBuffer{Max: cmpOr(p.MaxReport, DefaultMaxReport)}
	res, err := p.ffprobe().Run(ctx, limit, stdout, args(path)...)
	var exitErr *mediatool.ExitError
	switch {
	case ctx.Err() != nil:
		return a, file, fmt.Errorf("analysis of %s stopped: %w", path, ctx.Err())
	case errors.Is(err, mediatool.ErrTimeout):
		return a, file, &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("ffprobe did not finish within %s", limit.Round(time.Millisecond)), Err: ErrTimeout}
	case errors.As(err, &exitErr):
		problem := exitErr.Problem
		if problem == "" {
			problem = "no message"
		}
		return a, file, &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("ffprobe cannot read it (%s): %s", exitErr.State, problem)}
	case err != nil:
		return a, file, fmt.Errorf("analyse %s: %w", path, err)
	}
	problem := res.Problem()
	if stdout.Overflow {
		return a, file, &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("ffprobe's report is longer than %d bytes", stdout.Max)}
	}
	if mediatool.Damaged(problem) {
		// ffprobe read the file's headers but found it cut short or
		// damaged: its duration and streams cannot be trusted.
		return a, file, &FileError{Op: fileOp, Path: path, Reason: "ffprobe found faults: " + problem}
	}
	if problem != "" {
		// A decoder's complaint while ffprobe looked at the first packets
		// (a recording that starts mid-stream: "non-existing PPS 0
		// referenced"): the file plays, and its analysis stands.
		p.logger().Debug("ffprobe complained of a file it read", "path", path, "output", problem)
	}
	a, err = Parse(stdout.Bytes())
	if err != nil {
		return a, file, &FileError{Op: fileOp, Path: path, Reason: err.Error()}
	}
	if len(a.Streams) == 0 {
		return a, file, &FileError{Op: fileOp, Path: path, Reason: "ffprobe found no streams in it"}
	}
	return a, file, nil
}

func (p *Prober) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

// IsMissing reports whether err means the file is not there (any more).
func IsMissing(err error) bool { return errors.Is(err, fs.ErrNotExist) }

func cmpOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
