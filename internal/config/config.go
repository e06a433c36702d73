// Package config reads Butler's YAML config file (butler serve --config):
// the server's own keys, settings the file fixes, the extra SQLite
// databases and cache directories that the built-in maintenance tasks look
// after, the media libraries and how their media is analysed, the update
// feed, and tasks bound to programs or HTTP requests.
// docs/config.md describes every key.
//
// [Parse] decodes the file into typed structs ([File] and the types of its
// fields, each of which decodes and checks itself) and checks everything
// it can without touching the system (paths, a library's folders among
// them, must be absolute, but need not exist). It reports every problem at
// once as [Errors]: one line each, naming the file, the line, the key,
// what is wrong and what is allowed.
// The program cmd/butler turns a parsed file into the server's task
// catalog.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults and bounds of the config file's values.
const (
	DefaultKeep       = 3
	MaxKeep           = 100
	MaxLockTimeout    = 10 * time.Minute
	DefaultMaxAgeDays = 7
	MaxMaxAgeDays     = 3650
	MaxInterval       = 365
	DefaultGrace      = 10 * time.Second
	// MaxTaskNameLen bounds a task name (its enable setting is
	// "ButlerTask<name>").
	MaxTaskNameLen = 64
	// MinTokenLen is the shortest access token Butler takes, wherever it
	// comes from (flag, environment, config file, token file).
	MinTokenLen = 8
)

// CheckToken reports whether token is long enough to be an access token;
// the error says what to do and never quotes the token: callers put the
// token's source before it ("token: is shorter than 8 characters; ...").
func CheckToken(token string) error {
	if len(token) < MinTokenLen {
		return fmt.Errorf("is shorter than %d characters; use a longer token", MinTokenLen)
	}
	return nil
}

// File is a parsed and validated config file. Keys that the file leaves
// out are zero, except where a default is noted. The yaml tags name the
// keys; the want tags say what a key takes, in messages.
type File struct {
	// Path is the file's path, as given to Parse or Load.
	Path string

	// The server's own keys; "" when not set.
	Addr         Addr        `yaml:"addr"`
	DataDir      Path        `yaml:"data_dir" want:"Butler's data directory"`
	Database     DatabaseURL `yaml:"database"`
	Token        Token       `yaml:"token"`
	LogLevel     LogLevel    `yaml:"log_level"`
	FriendlyName Text        `yaml:"friendly_name" want:"the name clients show"`
	// Node names this server in a cluster.
	Node NodeName `yaml:"node"`
	// MetricsPublic serves /metrics without the token.
	MetricsPublic Bool `yaml:"metrics_public"`
	// PlexURL is the address of the Plex Media Server (not Butler's own):
	// an http task's url that is a path ("/library/sections/all/refresh")
	// is a request to it.
	PlexURL URL `yaml:"plex_url"`

	// Settings are the settings the file fixes (the ids GET /:/prefs
	// lists), in file order; the API cannot change them.
	Settings Settings `yaml:"settings"`
	// Databases are SQLite databases that BackupDatabase and
	// OptimizeDatabase maintain besides Butler's own, in file order.
	Databases Databases `yaml:"databases"`
	// Caches are cache directories that CleanOldCacheFiles cleans besides
	// Butler's own, in file order.
	Caches Caches `yaml:"caches"`
	// Libraries are the media libraries that RefreshLibraries scans into
	// the media index, in file order.
	Libraries Libraries `yaml:"libraries"`
	// Media sets how the media analysis runs ffprobe and how long
	// GarbageCollectLibraryMedia waits; nil when not given (its accessors
	// then give the defaults).
	Media *Media `yaml:"media"`
	// Busy says what makes people busy (someone watching, a loaded
	// machine), during which the media work pauses; nil when not given.
	Busy *Busy `yaml:"busy"`
	// UpdateFeed, when set, binds CheckForUpdates to this feed.
	UpdateFeed *UpdateFeed `yaml:"update_feed"`
	// Tasks bind task names to programs or HTTP requests, in file order.
	Tasks Tasks `yaml:"tasks"`
}

// Setting is an entry of settings: a setting id and the value the file
// gives it, as text ("2", "true", "Europe/Berlin").
type Setting struct {
	ID    string
	Value string
	// Line is the entry's line in the file.
	Line int
}

// Database is an entry of databases.
type Database struct {
	// Name is unique among the databases; [A-Za-z0-9_-]+.
	Name DatabaseName `yaml:"name"`
	// Path is the database file's absolute path.
	Path Path `yaml:"path" want:"the SQLite database file"`
	// Keep is how many backups are kept, 1..100; default 3.
	Keep Keep `yaml:"keep"`
	// BackupDir is the absolute backup directory; empty means
	// <ButlerDatabaseBackupPath>/<Name>.
	BackupDir Path `yaml:"backup_dir" want:"the backup directory"`
	// LockTimeout is how long its backup and optimization wait for a lock
	// another connection holds, up to MaxLockTimeout; 0 means the tasks'
	// default (5 s).
	LockTimeout Duration `yaml:"lock_timeout"`
	// Line is the entry's line in the file.
	Line int
}

// Cache is an entry of caches.
type Cache struct {
	// Path is the cache directory's absolute path.
	Path Path `yaml:"path" want:"the cache directory"`
	// MaxAgeDays is how old, in days, a file must be to be removed,
	// 1..3650; default 7.
	MaxAgeDays MaxAgeDays `yaml:"max_age_days"`
	// MaxSize caps the directory's size (oldest files are removed first);
	// zero means no cap.
	MaxSize Size `yaml:"max_size"`
	// Line is the entry's line in the file.
	Line int
}

// UpdateFeed is the update_feed section.
type UpdateFeed struct {
	// URL is the JSON feed's absolute http or https URL.
	URL URL `yaml:"url"`
	// Line is the section's line in the file.
	Line int
}

// Task is an entry of tasks: a task name bound to an action, with the
// catalog fields the file sets.
type Task struct {
	// Name is the task's name: a Plex task name or a new one.
	Name string
	// Exactly one of Exec and HTTP is set.
	Exec *Exec `yaml:"exec"`
	HTTP *HTTP `yaml:"http"`
	// Interval is how often the task is due, in days; 0 when not set
	// (a Plex task keeps its own, a new task is due every day).
	Interval Interval `yaml:"interval"`
	// Randomized, Enabled (the default of the task's enable setting) and
	// StopAtWindowEnd are nil when not set; Title and Description are ""
	// when not set.
	Randomized      *Bool `yaml:"randomized"`
	Enabled         *Bool `yaml:"enabled"`
	Title           Label `yaml:"title" want:"a title"`
	Description     Label `yaml:"description" want:"a description"`
	StopAtWindowEnd *Bool `yaml:"stop_at_window_end"`
	// Line is the line of the task's name in the file.
	Line int
}

// Exec is a task's exec section: a program to run, without a shell.
type Exec struct {
	// Argv is the program, an absolute path, and its arguments.
	Argv Argv `yaml:"argv"`
	// ArgvLine is the line of argv's value in the file.
	ArgvLine int
	// Dir is the absolute working directory; empty means Butler's own.
	Dir Path `yaml:"dir" want:"the working directory"`
	// Env holds the variables added to the program's minimal environment,
	// KEY=VALUE, sorted by key, with ${VAR} expanded.
	Env Env `yaml:"env"`
	// TimeLimit bounds a run; 0 when not set (the task's default).
	TimeLimit Duration `yaml:"time_limit"`
	// Grace is how long the program has between SIGTERM and SIGKILL;
	// default 10 s.
	Grace Duration `yaml:"grace"`
}

// HTTP is a task's http section: one request to send.
type HTTP struct {
	// Method is GET, POST, PUT, PATCH, DELETE or HEAD; default GET.
	Method Method `yaml:"method"`
	// URL is the absolute http or https URL; a path in the file is
	// resolved against plex_url.
	URL RequestURL `yaml:"url"`
	// Header holds the request's header fields, ${VAR} expanded.
	Header Header `yaml:"headers"`
	// Body is the request body; "" for none.
	Body Body `yaml:"body"`
	// Expect lists the statuses that mean success; nil means 200..299.
	Expect Statuses `yaml:"expect"`
	// TimeLimit bounds a run; 0 when not set (the task's default).
	TimeLimit Duration `yaml:"time_limit"`
}

// TimeLimit returns the time limit the task's action sets; 0 when none.
func (t Task) TimeLimit() time.Duration {
	switch {
	case t.Exec != nil:
		return t.Exec.TimeLimit.Duration
	case t.HTTP != nil:
		return t.HTTP.TimeLimit.Duration
	}
	return 0
}

// Error is a problem with a config file, in one line:
// "FILE:LINE: KEY: MESSAGE".
type Error struct {
	// File is the file's path; Line the line (0 when unknown).
	File string
	Line int
	// Key is the key's path, like "tasks.Nightly.exec.time_limit" or
	// "databases[0].path"; "" for problems of the file as a whole.
	Key string
	// Msg says what is wrong and what is allowed.
	Msg string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors are every problem of a config file, in line order; Parse returns
// no empty Errors. errors.As finds each *Error in it.
type Errors []*Error

// Error returns the problems, one line each.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, for errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Load reads and parses the config file at path.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return Parse(data, path)
}

// Parse parses and validates a config file's content; path names it in
// errors, which are [Errors]. ${VAR} in header values and exec environment
// values is expanded from the process's environment. An empty file is
// valid.
func Parse(data []byte, path string) (*File, error) {
	return parse(data, path, os.LookupEnv)
}

// parse is Parse with the environment look-up given.
func parse(data []byte, path string, lookupEnv func(string) (string, bool)) (*File, error) {
	d := &decoder{file: path, lookupEnv: lookupEnv}
	doc := &document{d: d, f: &File{Path: path}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &File{Path: path}, nil
		}
		return nil, Errors{d.syntaxError(err, data)}
	}
	var second yaml.Node
	if err := dec.Decode(&second); err == nil {
		d.errs = append(d.errs, &Error{File: path, Line: second.Line, Msg: "a second YAML document (after ---); a config file holds one"})
	} else if !errors.Is(err, io.EOF) {
		d.errs = append(d.errs, d.syntaxError(err, data))
	}
	if len(d.errs) > 0 {
		slices.SortStableFunc(d.errs, func(a, b *Error) int { return a.Line - b.Line })
		return nil, d.errs
	}
	return doc.f, nil
}

// document is what yaml.v3 decodes a file into: its UnmarshalYAML decodes
// the file's node into f, collecting problems in d. yaml.v3 does not call
// it for an empty document, which leaves f empty.
type document struct {
	d *decoder
	f *File
}

// UnmarshalYAML decodes the file's top-level node.
func (doc *document) UnmarshalYAML(n *yaml.Node) error {
	d, f := doc.d, doc.f
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errf(n, "", "the file is %s; want a mapping of keys (addr: ..., tasks: ...)", describe(n))
		return nil
	}
	d.object(n, "", f)
	if b := f.Busy; b != nil && b.Plex != nil && b.Plex.URL.Value == "" {
		if f.PlexURL.Value == "" {
			d.errAt(b.Plex.Line, "busy.plex.url", "missing, and plex_url is not set; give the Plex server's address (like http://127.0.0.1:32400) here or as plex_url")
		} else {
			b.Plex.URL = f.PlexURL
		}
	}
	for i := range f.Tasks {
		if h := f.Tasks[i].HTTP; h != nil && strings.HasPrefix(h.URL.Value, "/") {
			key := "tasks." + f.Tasks[i].Name + ".http.url"
			if f.PlexURL.Value == "" {
				d.errAt(h.URL.Line, key, "%q is a path on the Plex server, but plex_url is not set; set plex_url (like http://127.0.0.1:32400) or give an absolute URL", h.URL.Value)
				continue
			}
			h.URL.Value = strings.TrimSuffix(f.PlexURL.Value, "/") + h.URL.Value
		}
	}
	if f.UpdateFeed != nil {
		for _, t := range f.Tasks {
			if t.Name == taskCheckForUpdates {
				d.errs = append(d.errs, &Error{File: d.file, Line: t.Line, Key: "tasks." + t.Name,
					Msg: "update_feed binds CheckForUpdates already; remove update_feed or this task"})
			}
		}
	}
	return nil
}

// taskCheckForUpdates is the task update_feed binds.
const taskCheckForUpdates = "CheckForUpdates"

// yamlLine matches yaml.v3's "yaml: line N: message".
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a yaml.v3 error into an *Error; data is the file's
// content, for a hint about the line.
func (d *decoder) syntaxError(err error, data []byte) *Error {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		e := &Error{File: d.file, Line: line, Msg: "invalid YAML: " + m[2]}
		if lines := strings.Split(string(data), "\n"); line >= 1 && line <= len(lines) {
			text := lines[line-1]
			if indent := text[:len(text)-len(strings.TrimLeft(text, " \t"))]; strings.Contains(indent, "\t") {
				e.Msg += "; the line is indented with a tab: YAML indents with spaces"
			}
		}
		return e
	}
	return &Error{File: d.file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// httpMethods are the methods an http task may send.
var httpMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead}
