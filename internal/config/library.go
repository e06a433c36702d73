package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/mediaprobe"
)

// Defaults and bounds of the libraries and media sections.
const (
	// DefaultNice is ffprobe's niceness when media.nice is not set.
	DefaultNice = mediaprobe.DefaultNice
	// DefaultIOClass is ffprobe's I/O class when media.io_class is not set:
	// mediaprobe's own default, the lowest priority of the best-effort
	// class.
	DefaultIOClass = mediaprobe.IOBestEffort
	// DefaultProbeTimeout is ffprobe's time limit per file, before the
	// allowance per GiB, when media.timeout is not set.
	DefaultProbeTimeout = mediaprobe.DefaultTimeout
	// MaxProbeTimeout bounds media.timeout: ffprobe reads a file's headers
	// and index, not the whole file.
	MaxProbeTimeout = time.Hour
	// MaxParallel bounds media.parallel.
	MaxParallel = 64
	// DefaultGraceDays is how long, in days, an item must have been gone
	// before GarbageCollectLibraryMedia removes it, when media.grace_days
	// is not set.
	DefaultGraceDays = 7
	// MaxGraceDays bounds media.grace_days.
	MaxGraceDays = 3650
)

// ioClasses are the values of media.io_class, as mediaprobe names them.
var ioClasses = []string{mediaprobe.IOIdle, mediaprobe.IOBestEffort, mediaprobe.IONone}

// DefaultParallel is how many files the media analysis probes at once when
// media.parallel is not set: half the CPUs, at least one.
func DefaultParallel() int { return max(1, runtime.NumCPU()/2) }

// Library is an entry of libraries: a named set of folders of one kind of
// media, which RefreshLibraries scans into the media index.
type Library struct {
	// Name names the library; unique among the libraries.
	Name LibraryName `yaml:"name"`
	// Kind is movies, shows, music or photos.
	Kind LibraryKind `yaml:"kind"`
	// Folders are the library's absolute folders, cleaned; none inside
	// another. They need not exist when the file is read.
	Folders Folders `yaml:"folders"`
	// Line is the entry's line in the file.
	Line int
}

// Domain returns the library as the tasks take it.
func (l Library) Domain() butler.Library {
	folders := make([]string, len(l.Folders))
	for i, f := range l.Folders {
		folders[i] = f.Value
	}
	return butler.Library{Name: string(l.Name), Kind: butler.LibraryKind(l.Kind), Folders: folders}
}

// Media is the media section: how the media analysis runs ffprobe, and how
// long a file must have been gone before its item is forgotten. Its
// accessors give the defaults for keys not set, and for a nil *Media (no
// media section).
type Media struct {
	// FFprobe is the ffprobe program: an absolute path, or a name looked
	// up in PATH; zero means "ffprobe" from PATH.
	FFprobe Program `yaml:"ffprobe" want:"the ffprobe program"`
	// Nice is ffprobe's niceness, 0..19 (0: Butler's own priority); nil
	// means DefaultNice.
	Nice *Nice `yaml:"nice"`
	// IOClass is ffprobe's I/O scheduling class; "" means DefaultIOClass.
	IOClass IOClass `yaml:"io_class"`
	// Timeout is ffprobe's time limit per file, before the allowance per
	// GiB of the file; zero means DefaultProbeTimeout.
	Timeout Duration `yaml:"timeout"`
	// Parallel is how many files are analysed at once, 1..MaxParallel; 0
	// means DefaultParallel().
	Parallel Parallel `yaml:"parallel"`
	// GraceDays is how long, in days, an item must have been gone before
	// it is removed, 0..MaxGraceDays; nil means DefaultGraceDays.
	GraceDays *GraceDays `yaml:"grace_days"`
	// FFmpeg is the ffmpeg program (the media outputs: preview pictures,
	// chapter pictures, loudness); zero means "ffmpeg" beside a
	// configured ffprobe path, or from PATH. It runs at the niceness and
	// I/O class above.
	FFmpeg Program `yaml:"ffmpeg" want:"the ffmpeg program"`
	// IndexInterval is the time between two preview pictures, whole
	// seconds from 1 s to MaxIndexInterval; zero means DefaultIndexInterval.
	IndexInterval Duration `yaml:"index_interval"`
	// IndexWidth is the preview pictures' width in pixels,
	// MinIndexWidth..MaxIndexWidth; 0 means DefaultIndexWidth.
	IndexWidth IndexWidth `yaml:"index_width"`
	// Trickplay also writes the preview pictures as Jellyfin's tiles.
	Trickplay Bool `yaml:"trickplay"`
	// IndexBesideMedia also writes each BIF next to its video, as
	// "<name>-<width>-<interval>.bif".
	IndexBesideMedia Bool `yaml:"index_beside_media"`
	// Line is the section's line in the file.
	Line int
}

// FFprobeProgram returns the ffprobe program to run: the path or name the
// file gives, "ffprobe" when it gives none.
func (m *Media) FFprobeProgram() string {
	if m == nil || m.FFprobe.Value == "" {
		return "ffprobe"
	}
	return m.FFprobe.Value
}

// Niceness returns ffprobe's niceness, 0..19; 0 runs it at Butler's own
// priority.
func (m *Media) Niceness() int {
	if m == nil || m.Nice == nil {
		return DefaultNice
	}
	return int(*m.Nice)
}

// IO returns ffprobe's I/O class: mediaprobe.IOIdle, IOBestEffort or
// IONone.
func (m *Media) IO() string {
	if m == nil || m.IOClass == "" {
		return DefaultIOClass
	}
	return string(m.IOClass)
}

// ProbeTimeout returns ffprobe's time limit per file, before the allowance
// per GiB.
func (m *Media) ProbeTimeout() time.Duration {
	if m == nil || m.Timeout.Duration <= 0 {
		return DefaultProbeTimeout
	}
	return m.Timeout.Duration
}

// Workers returns how many files the media analysis probes at once.
func (m *Media) Workers() int {
	if m == nil || m.Parallel <= 0 {
		return DefaultParallel()
	}
	return int(m.Parallel)
}

// Grace returns how long an item must have been gone before
// GarbageCollectLibraryMedia removes it; 0 removes it at the first run
// after it is found gone.
func (m *Media) Grace() time.Duration {
	days := DefaultGraceDays
	if m != nil && m.GraceDays != nil {
		days = int(*m.GraceDays)
	}
	return time.Duration(days) * 24 * time.Hour
}

// LibraryName is a library's name.
type LibraryName string

func (nm *LibraryName) decode(d *decoder, n *yaml.Node, key, _ string) {
	s, _ := d.str(n, key, `the library's name, like "Movies"`)
	*nm = LibraryName(s)
}

// LibraryKind is movies, shows, music or photos.
type LibraryKind string

// kindNames lists the library kinds, for messages: "movies, shows, music
// or photos".
func kindNames() string {
	var names []string
	for _, k := range butler.LibraryKinds() {
		names = append(names, string(k))
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func (k *LibraryKind) decode(d *decoder, n *yaml.Node, key, _ string) {
	allowed := "use " + kindNames()
	s, ok := d.str(n, key, "the library's kind; "+allowed)
	if !ok {
		return
	}
	if !slices.Contains(butler.LibraryKinds(), butler.LibraryKind(s)) {
		msg := fmt.Sprintf("%q is not a library kind", s)
		var known []string
		for _, lk := range butler.LibraryKinds() {
			known = append(known, string(lk))
		}
		if near := suggest(s, known); near != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", near)
		}
		d.errf(n, key, "%s; %s", msg, allowed)
		return
	}
	*k = LibraryKind(s)
}

// Folders are a library's folders: absolute paths, cleaned.
type Folders []Path

const foldersWant = "a list of the library's folders, like [/srv/media/movies]"

func (fs *Folders) decode(d *decoder, n *yaml.Node, key, _ string) {
	if !d.isList(n, key, foldersWant) {
		return
	}
	if len(n.Content) == 0 {
		d.errf(n, key, "is empty; give %s", foldersWant)
		return
	}
	for i, item := range n.Content {
		var p Path
		before := len(d.errs)
		p.decode(d, resolve(item), fmt.Sprintf("%s[%d]", key, i), "a library folder")
		if len(d.errs) == before {
			*fs = append(*fs, p)
		}
	}
}

// Libraries are the entries of libraries, in file order.
type Libraries []Library

// Domain returns the libraries as the tasks take them.
func (ls Libraries) Domain() []butler.Library {
	out := make([]butler.Library, len(ls))
	for i, l := range ls {
		out[i] = l.Domain()
	}
	return out
}

func (ls *Libraries) decode(d *decoder, n *yaml.Node, key, _ string) {
	if isNull(n) {
		return
	}
	if !d.isList(n, key, "a list of libraries, each with name, kind and folders") {
		return
	}
	names := map[LibraryName]string{} // name -> key of the first
	for i, item := range n.Content {
		item = resolve(item)
		path := fmt.Sprintf("%s[%d]", key, i)
		if !d.isMapping(item, path, "a library: a mapping with name, kind and folders") {
			continue
		}
		l := Library{Line: item.Line}
		before := len(d.errs)
		given, keysOK := d.object(item, path, &l)
		if keysOK {
			d.missing(item, given, path, "name", `give each library a unique name, like "Movies"`)
			d.missing(item, given, path, "kind", "give the library's kind: %s", kindNames())
			d.missing(item, given, path, "folders", "give %s", foldersWant)
		}
		if len(d.errs) > before {
			continue
		}
		if err := l.Domain().Validate(); err != nil {
			msg := err.Error()
			if be := (*butler.Error)(nil); errors.As(err, &be) {
				msg = be.Message
			}
			d.errAt(l.Line, path, "%s", msg)
			continue
		}
		if first := names[l.Name]; first != "" {
			d.errAt(l.Line, join(path, "name"), "%q is the name of %s too; names must be unique", l.Name, first)
			continue
		}
		names[l.Name] = path
		*ls = append(*ls, l)
	}
}

// Program is a program to run: an absolute path, or a name (no '/') looked
// up in PATH. The zero Program is none.
type Program struct {
	Value string
	// Line is the value's line in the file.
	Line int
}

func (p *Program) decode(d *decoder, n *yaml.Node, key, what string) {
	allowed := "give its absolute path, like /usr/bin/ffprobe, or a name to look up in PATH, like ffprobe"
	s, ok := d.str(n, key, what+"; "+allowed)
	if !ok {
		return
	}
	switch {
	case strings.IndexByte(s, 0) >= 0:
		d.errf(n, key, "holds a NUL byte; %s", allowed)
	case strings.TrimSpace(s) == "":
		d.errf(n, key, "is blank; %s", allowed)
	case strings.Contains(s, "/") && !strings.HasPrefix(s, "/"):
		d.errf(n, key, "%q is a relative path; %s", s, allowed)
	default:
		*p = Program{s, n.Line}
	}
}

// Nice is a niceness, 0..19.
type Nice int

func (v *Nice) decode(d *decoder, n *yaml.Node, key, _ string) {
	i, _ := d.integer(n, key, 0, 19, " (19 is the lowest priority; 0 is Butler's own)")
	*v = Nice(i)
}

// IOClass is an I/O scheduling class: idle, best-effort or none.
type IOClass string

func (c *IOClass) decode(d *decoder, n *yaml.Node, key, _ string) {
	const allowed = "use idle, best-effort or none"
	s, ok := d.str(n, key, "an I/O class; "+allowed)
	if !ok {
		return
	}
	if !slices.Contains(ioClasses, s) {
		msg := fmt.Sprintf("%q is not an I/O class", s)
		if near := suggest(s, ioClasses); near != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", near)
		}
		d.errf(n, key, "%s; %s", msg, allowed)
		return
	}
	*c = IOClass(s)
}

// Parallel is how many files are analysed at once, 1..MaxParallel.
type Parallel int

func (p *Parallel) decode(d *decoder, n *yaml.Node, key, _ string) {
	v, _ := d.integer(n, key, 1, MaxParallel, " (files analysed at once)")
	*p = Parallel(v)
}

// GraceDays is a number of days, 0..MaxGraceDays.
type GraceDays int

func (g *GraceDays) decode(d *decoder, n *yaml.Node, key, _ string) {
	v, _ := d.integer(n, key, 0, MaxGraceDays, " (days)")
	*g = GraceDays(v)
}

func (m *Media) decode(d *decoder, n *yaml.Node, key, _ string) {
	if isNull(n) {
		return
	}
	if !d.isMapping(n, key, "a mapping with ffprobe, ffmpeg, nice, io_class, timeout, parallel, grace_days, index_interval, index_width, trickplay or index_beside_media") {
		return
	}
	m.Line = n.Line
	d.object(n, key, m)
	if t := m.Timeout; t.Duration > MaxProbeTimeout {
		d.errAt(t.Line, join(key, "timeout"), "%s is more than %s; ffprobe reads a file's headers, not the whole file: a longer wait means it hangs", t.Duration, MaxProbeTimeout)
	}
	if t := m.IndexInterval; t.Duration != 0 && (t.Duration%time.Second != 0 || t.Duration > MaxIndexInterval) {
		d.errAt(t.Line, join(key, "index_interval"), "%s: use whole seconds from 1s to %s (10s is what Plex uses)", t.Duration, MaxIndexInterval)
	}
}

// The preview pictures' settings (media.index_interval, media.index_width).
const (
	DefaultIndexInterval = 10 * time.Second
	MaxIndexInterval     = 10 * time.Minute
	DefaultIndexWidth    = 320
	MinIndexWidth        = 64
	MaxIndexWidth        = 1920
)

// IndexWidth is the preview pictures' width, MinIndexWidth..MaxIndexWidth.
type IndexWidth int

func (w *IndexWidth) decode(d *decoder, n *yaml.Node, key, _ string) {
	v, _ := d.integer(n, key, MinIndexWidth, MaxIndexWidth, " (pixels)")
	*w = IndexWidth(v)
}

// FFmpegProgram returns the ffmpeg program to run: the path or name the
// file gives; else "ffmpeg" in the folder of an ffprobe given as a path;
// else "ffmpeg" from PATH.
func (m *Media) FFmpegProgram() string {
	switch {
	case m != nil && m.FFmpeg.Value != "":
		return m.FFmpeg.Value
	case m != nil && filepath.IsAbs(m.FFprobe.Value):
		return filepath.Join(filepath.Dir(m.FFprobe.Value), "ffmpeg")
	}
	return "ffmpeg"
}

// PreviewInterval returns the time between two preview pictures.
func (m *Media) PreviewInterval() time.Duration {
	if m == nil || m.IndexInterval.Duration == 0 {
		return DefaultIndexInterval
	}
	return m.IndexInterval.Duration
}

// PreviewWidth returns the preview pictures' width in pixels.
func (m *Media) PreviewWidth() int {
	if m == nil || m.IndexWidth == 0 {
		return DefaultIndexWidth
	}
	return int(m.IndexWidth)
}

// TrickplayOn reports whether media.trickplay is set.
func (m *Media) TrickplayOn() bool { return m != nil && bool(m.Trickplay) }

// BesideMedia reports whether media.index_beside_media is set.
func (m *Media) BesideMedia() bool { return m != nil && bool(m.IndexBesideMedia) }
