// Package config reads Butler's YAML config file (butler serve --config):
// the server's own keys, the extra SQLite databases and cache directories
// that the built-in maintenance tasks look after, the update feed, and
// tasks bound to programs or HTTP requests. docs/config.md describes every
// key.
//
// [Parse] checks everything it can without touching the system (paths must
// be absolute, but need not exist) and reports the first problem as an
// [*Error]: one line naming the file, the line, the key, what is wrong and
// what is allowed. [File.Catalog] turns a parsed file into the server's
// task catalog.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	butler "github.com/plexbutler/butler"
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
)

// File is a parsed and validated config file. Keys that the file leaves
// out are zero, except where a default is noted.
type File struct {
	// Path is the file's path, as given to Parse or Load.
	Path string

	// The server's own keys; "" when not set.
	Addr         string
	DataDir      string
	Database     string
	Token        string
	LogLevel     string
	FriendlyName string
	// Node names this server in a cluster.
	Node string
	// MetricsPublic serves /metrics without the token.
	MetricsPublic bool

	// Databases are SQLite databases that BackupDatabase and
	// OptimizeDatabase maintain besides Butler's own, in file order.
	Databases []Database
	// Caches are cache directories that CleanOldCacheFiles cleans besides
	// Butler's own, in file order.
	Caches []Cache
	// UpdateFeed, when set, binds CheckForUpdates to this feed.
	UpdateFeed *UpdateFeed
	// Tasks bind task names to programs or HTTP requests, in file order.
	Tasks []Task
}

// Database is an entry of databases.
type Database struct {
	// Name is unique among the databases; [A-Za-z0-9_-]+.
	Name string
	// Path is the database file's absolute path.
	Path string
	// Keep is how many backups are kept, 1..100; default 3.
	Keep int
	// BackupDir is the absolute backup directory; "" means
	// <ButlerDatabaseBackupPath>/<Name>.
	BackupDir string
	// LockTimeout is how long its backup and optimization wait for a lock
	// another connection holds, up to MaxLockTimeout; 0 means the tasks'
	// default, tasks.DefaultLockTimeout (5 s).
	LockTimeout time.Duration
	// Line is the entry's line in the file.
	Line int
}

// Cache is an entry of caches.
type Cache struct {
	// Path is the cache directory's absolute path.
	Path string
	// MaxAgeDays is how old, in days, a file must be to be removed,
	// 1..3650; default 7.
	MaxAgeDays int
	// MaxSize caps the directory's size in bytes (oldest files are removed
	// first); 0 means no cap.
	MaxSize int64
	// Line is the entry's line in the file.
	Line int
}

// UpdateFeed is the update_feed section.
type UpdateFeed struct {
	// URL is the JSON feed's absolute http or https URL.
	URL string
	// Line is the section's line in the file.
	Line int
}

// Task is an entry of tasks: a task name bound to an action, with the
// catalog fields the file sets.
type Task struct {
	// Name is the task's name: a Plex task name or a new one.
	Name string
	// Exactly one of Exec and HTTP is set.
	Exec *Exec
	HTTP *HTTP
	// Interval is how often the task is due, in days; 0 when not set
	// (a Plex task keeps its own, a new task is due every day).
	Interval int
	// Randomized, Enabled (the default of the task's enable setting) and
	// StopAtWindowEnd are nil when not set.
	Randomized      *bool
	Enabled         *bool
	StopAtWindowEnd *bool
	// Title and Description are "" when not set.
	Title       string
	Description string
	// Line is the line of the task's name in the file.
	Line int
}

// Exec is a task's exec section: a program to run, without a shell.
type Exec struct {
	// Argv is the program, an absolute path, and its arguments.
	Argv []string
	// Dir is the absolute working directory; "" means Butler's own.
	Dir string
	// Env holds the variables added to the program's minimal environment,
	// KEY=VALUE, sorted by key, with ${VAR} expanded.
	Env []string
	// TimeLimit bounds a run; 0 when not set (the task's default).
	TimeLimit time.Duration
	// Grace is how long the program has between SIGTERM and SIGKILL;
	// default 10 s.
	Grace time.Duration
}

// HTTP is a task's http section: one request to send.
type HTTP struct {
	// Method is GET, POST, PUT, PATCH, DELETE or HEAD; default GET.
	Method string
	// URL is the absolute http or https URL.
	URL string
	// Header holds the request's header fields, ${VAR} expanded.
	Header http.Header
	// Body is the request body; "" for none.
	Body string
	// Expect lists the statuses that mean success; nil means 200..299.
	Expect []int
	// TimeLimit bounds a run; 0 when not set (the task's default).
	TimeLimit time.Duration
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

// Load reads and parses the config file at path.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return Parse(data, path)
}

// Parse parses and validates a config file's content; path names it in
// errors. ${VAR} in header values and exec environment values is expanded
// from the process's environment. An empty file is valid.
func Parse(data []byte, path string) (*File, error) {
	return parse(data, path, os.LookupEnv)
}

// parse is Parse with the environment look-up given.
func parse(data []byte, path string, lookupEnv func(string) (string, bool)) (*File, error) {
	p := &parser{file: path, lookupEnv: lookupEnv}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // no effect on a yaml.Node; the walk below checks every key
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &File{Path: path}, nil
		}
		return nil, p.syntaxError(err)
	}
	var second yaml.Node
	if err := dec.Decode(&second); err == nil {
		return nil, &Error{File: path, Line: second.Line, Msg: "a second YAML document (after ---); a config file holds one"}
	} else if !errors.Is(err, io.EOF) {
		return nil, p.syntaxError(err)
	}
	f := &File{Path: path}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return f, nil
		}
		root = root.Content[0]
	}
	p.top(resolve(root), f)
	if len(p.errs) > 0 {
		// The first in the file.
		slices.SortStableFunc(p.errs, func(a, b *Error) int { return a.Line - b.Line })
		return nil, p.errs[0]
	}
	return f, nil
}

// yamlLine matches yaml.v3's "yaml: line N: message".
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a yaml.v3 error into an *Error.
func (p *parser) syntaxError(err error) *Error {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: p.file, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &Error{File: p.file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// parser walks the document and collects problems.
type parser struct {
	file      string
	lookupEnv func(string) (string, bool)
	errs      []*Error
}

func (p *parser) errf(n *yaml.Node, key, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// describe names what a node is, for messages: "a list", "a mapping",
// "empty" or the quoted value.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "empty"
		}
		return strconv.Quote(n.Value)
	}
	return "not a value"
}

// isNull reports whether n is an empty value (nothing, ~ or null).
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// join returns the path of key under parent.
func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// field is one key/value pair of a mapping.
type field struct {
	name string
	key  *yaml.Node
	val  *yaml.Node
}

// fields returns the pairs of mapping n (which must be a mapping), in
// order, reporting keys that are not plain strings, merge keys and keys
// given twice. When known is not nil, keys outside it are reported as
// unknown and left out.
func (p *parser) fields(n *yaml.Node, path string, known []string) []field {
	var out []field
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || isNull(k) {
			p.errf(k, path, "a key is %s; keys are plain names", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			p.errf(k, path, "merge keys (<<) are not supported; write the keys out")
			continue
		}
		name := k.Value
		if first, ok := seen[name]; ok {
			p.errf(k, join(path, name), "given twice (first at line %d); give each key once", first)
			continue
		}
		seen[name] = k.Line
		if known != nil && !slices.Contains(known, name) {
			msg := "unknown key"
			if s := suggest(name, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			where := "known keys"
			if path != "" {
				where += " under " + path
			}
			p.errf(k, join(path, name), "%s; %s: %s", msg, where, strings.Join(known, ", "))
			continue
		}
		out = append(out, field{name, k, v})
	}
	return out
}

// suggest returns the known key closest to name, when it is close.
func suggest(name string, known []string) string {
	best, bestD := "", 3
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	for _, k := range known {
		if norm(k) == norm(name) {
			return k
		}
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// mapping reports whether n is a mapping, and a problem when it is not.
func (p *parser) mapping(n *yaml.Node, path, want string) bool {
	if n.Kind == yaml.MappingNode {
		return true
	}
	p.errf(n, path, "is %s; want %s", describe(n), want)
	return false
}

// list reports whether n is a list, and a problem when it is not.
func (p *parser) list(n *yaml.Node, path, want string) bool {
	if n.Kind == yaml.SequenceNode {
		return true
	}
	p.errf(n, path, "is %s; want %s", describe(n), want)
	return false
}

// str returns the string value of scalar n.
func (p *parser) str(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.errf(n, path, "is %s; want %s", describe(n), want)
		return "", false
	}
	return n.Value, true
}

// boolean returns the value of a true/false scalar.
func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	}
	p.errf(n, path, "is %s; want true or false", describe(n))
	return false, false
}

// integer returns the value of a whole-number scalar within lo..hi.
func (p *parser) integer(n *yaml.Node, path string, lo, hi int, unit string) (int, bool) {
	allowed := fmt.Sprintf("use a whole number from %d to %d%s", lo, hi, unit)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		if n.Kind == yaml.ScalarNode && !isNull(n) {
			p.errf(n, path, "%q is not a whole number; %s", n.Value, allowed)
		} else {
			p.errf(n, path, "is %s; %s", describe(n), allowed)
		}
		return 0, false
	}
	var v int
	if err := n.Decode(&v); err != nil || v < lo || v > hi {
		p.errf(n, path, "%s is out of range; %s", n.Value, allowed)
		return 0, false
	}
	return v, true
}

// duration returns the value of a positive Go duration scalar.
func (p *parser) duration(n *yaml.Node, path string) (time.Duration, bool) {
	const allowed = "use Go form like 5m or 1h30m"
	s, ok := p.str(n, path, "a duration; "+allowed)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.errf(n, path, "%q is not a duration; %s", s, allowed)
		return 0, false
	}
	if d <= 0 {
		p.errf(n, path, "%q is not more than 0; %s", s, allowed)
		return 0, false
	}
	return d, true
}

// absPath returns the value of an absolute path scalar, cleaned.
func (p *parser) absPath(n *yaml.Node, path, what string) (string, bool) {
	s, ok := p.str(n, path, "the absolute path of "+what)
	if !ok {
		return "", false
	}
	if !filepath.IsAbs(s) {
		p.errf(n, path, "%q is not an absolute path; give the full path of %s, starting with /", s, what)
		return "", false
	}
	if strings.IndexByte(s, 0) >= 0 {
		p.errf(n, path, "holds a NUL byte; give the full path of %s", what)
		return "", false
	}
	return filepath.Clean(s), true
}

// httpURL returns the value of an absolute http or https URL scalar.
func (p *parser) httpURL(n *yaml.Node, path string) (string, bool) {
	const allowed = "write it like http://127.0.0.1:32400/path or https://example.com/feed.json"
	s, ok := p.str(n, path, "an http or https URL; "+allowed)
	if !ok {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.errf(n, path, "%q is not an absolute http or https URL; %s", s, allowed)
		return "", false
	}
	return s, true
}

var (
	topKeys      = []string{"addr", "data_dir", "database", "token", "log_level", "friendly_name", "node", "metrics_public", "databases", "caches", "update_feed", "tasks"}
	databaseKeys = []string{"name", "path", "keep", "backup_dir", "lock_timeout"}
	cacheKeys    = []string{"path", "max_age_days", "max_size"}
	feedKeys     = []string{"url"}
	taskKeys     = []string{"exec", "http", "interval", "randomized", "enabled", "title", "description", "stop_at_window_end"}
	execKeys     = []string{"argv", "dir", "env", "time_limit", "grace"}
	httpKeys     = []string{"method", "url", "headers", "body", "expect", "time_limit"}
	httpMethods  = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}

	databaseName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	taskName     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	envName      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// reservedTaskNames are the routes under /butler/ that are not tasks.
	reservedTaskNames = []string{"runs", "plan"}
)

// top walks the document's top-level mapping.
func (p *parser) top(n *yaml.Node, f *File) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.errf(n, "", "the file is %s; want a mapping of keys (addr: ..., tasks: ...)", describe(n))
		return
	}
	for _, fl := range p.fields(n, "", topKeys) {
		v, key := fl.val, fl.name
		switch key {
		case "addr":
			if s, ok := p.str(v, key, "HOST:PORT, such as 127.0.0.1:32400"); ok {
				if _, _, err := net.SplitHostPort(s); err != nil {
					p.errf(v, key, "%q is not HOST:PORT; use an address such as 127.0.0.1:32400", s)
				} else {
					f.Addr = s
				}
			}
		case "data_dir":
			if s, ok := p.str(v, key, "the path of Butler's data directory"); ok {
				f.DataDir = s
			}
		case "database":
			if s, ok := p.str(v, key, "a SQLite file path, sqlite://PATH or postgres://..."); ok {
				f.Database = s
			}
		case "token":
			// Never quote a token.
			if v.Kind != yaml.ScalarNode || isNull(v) {
				p.errf(v, key, "is %s; want the access token, at least 8 characters", kindOnly(v))
			} else if len(v.Value) < 8 {
				p.errf(v, key, "is shorter than 8 characters; use a longer token")
			} else {
				f.Token = v.Value
			}
		case "log_level":
			if s, ok := p.str(v, key, "debug, info, warn or error"); ok {
				var l slog.Level
				if err := l.UnmarshalText([]byte(s)); err != nil {
					p.errf(v, key, "%q is not a log level; use debug, info, warn or error", s)
				} else {
					f.LogLevel = s
				}
			}
		case "friendly_name":
			if s, ok := p.str(v, key, "the name clients show"); ok {
				f.FriendlyName = s
			}
		case "node":
			if s, ok := p.str(v, key, "this server's name in a cluster"); ok {
				f.Node = s
			}
		case "metrics_public":
			if b, ok := p.boolean(v, key); ok {
				f.MetricsPublic = b
			}
		case "databases":
			f.Databases = p.databases(v)
		case "caches":
			f.Caches = p.caches(v)
		case "update_feed":
			f.UpdateFeed = p.updateFeed(v)
		case "tasks":
			f.Tasks = p.tasks(v)
		}
	}
	if f.UpdateFeed != nil {
		for _, t := range f.Tasks {
			if t.Name == string(butler.TaskCheckForUpdates) {
				p.errs = append(p.errs, &Error{File: p.file, Line: t.Line, Key: "tasks." + t.Name,
					Msg: "update_feed binds CheckForUpdates already; remove update_feed or this task"})
			}
		}
	}
}

// kindOnly describes n without quoting its value.
func kindOnly(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		return "a value"
	}
	return describe(n)
}

// databases walks the databases list.
func (p *parser) databases(n *yaml.Node) []Database {
	const want = "a list of databases, each with name and path"
	if isNull(n) || !p.list(n, "databases", want) {
		return nil
	}
	var out []Database
	names := map[string]string{} // name -> key of the first
	paths := map[string]string{}
	for i, item := range n.Content {
		item = resolve(item)
		path := fmt.Sprintf("databases[%d]", i)
		if !p.mapping(item, path, "a database: a mapping with name and path") {
			continue
		}
		d := Database{Keep: DefaultKeep, Line: item.Line}
		ok := true
		for _, fl := range p.fields(item, path, databaseKeys) {
			key := join(path, fl.name)
			switch fl.name {
			case "name":
				if s, good := p.str(fl.val, key, "a name of letters, digits, '_' and '-'"); good {
					switch {
					case !databaseName.MatchString(s):
						p.errf(fl.val, key, "%q is not a valid name; use letters, digits, '_' and '-'", s)
						ok = false
					case names[s] != "":
						p.errf(fl.val, key, "%q is the name of %s too; names must be unique", s, names[s])
						ok = false
					default:
						names[s] = path
						d.Name = s
					}
				} else {
					ok = false
				}
			case "path":
				if s, good := p.absPath(fl.val, key, "the SQLite database file"); good {
					if paths[s] != "" {
						p.errf(fl.val, key, "%s is the path of %s too; list each database once", s, paths[s])
						ok = false
					} else {
						paths[s] = path
						d.Path = s
					}
				} else {
					ok = false
				}
			case "keep":
				if v, good := p.integer(fl.val, key, 1, MaxKeep, " (backups kept)"); good {
					d.Keep = v
				} else {
					ok = false
				}
			case "backup_dir":
				if s, good := p.absPath(fl.val, key, "the backup directory"); good {
					d.BackupDir = s
				} else {
					ok = false
				}
			case "lock_timeout":
				if v, good := p.duration(fl.val, key); !good {
					ok = false
				} else if v > MaxLockTimeout {
					p.errf(fl.val, key, "%s is more than %s; a maintenance task should not wait longer for another program's lock", v, MaxLockTimeout)
					ok = false
				} else {
					d.LockTimeout = v
				}
			}
		}
		if d.Name == "" && ok && !hasKey(item, "name") {
			p.errf(item, join(path, "name"), "missing; give each database a unique name of letters, digits, '_' and '-'")
			ok = false
		}
		if d.Path == "" && ok && !hasKey(item, "path") {
			p.errf(item, join(path, "path"), "missing; give the absolute path of the SQLite database file")
			ok = false
		}
		if ok {
			out = append(out, d)
		}
	}
	// Backups of two databases with the same file name in one directory
	// would be taken for each other's.
	dirs := map[string]string{}
	for i, d := range out {
		if d.BackupDir == "" {
			continue
		}
		k := d.BackupDir + "\x00" + backupStem(d.Path)
		if first, dup := dirs[k]; dup {
			p.errs = append(p.errs, &Error{File: p.file, Line: d.Line, Key: fmt.Sprintf("databases[%d].backup_dir", i),
				Msg: fmt.Sprintf("%s holds the backups of %s, whose file has the same name; give each its own backup_dir", d.BackupDir, first)})
			continue
		}
		dirs[k] = d.Name
	}
	return out
}

// backupStem is the name BackupDatabase gives the backups of path: its file
// name without its extension.
func backupStem(path string) string {
	name := filepath.Base(path)
	if stem := strings.TrimSuffix(name, filepath.Ext(name)); stem != "" {
		return stem
	}
	return name
}

// hasKey reports whether mapping n has key.
func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := resolve(n.Content[i]); k.Kind == yaml.ScalarNode && k.Value == key {
			return true
		}
	}
	return false
}

// caches walks the caches list.
func (p *parser) caches(n *yaml.Node) []Cache {
	const want = "a list of cache directories, each with path"
	if isNull(n) || !p.list(n, "caches", want) {
		return nil
	}
	var out []Cache
	paths := map[string]string{}
	for i, item := range n.Content {
		item = resolve(item)
		path := fmt.Sprintf("caches[%d]", i)
		if !p.mapping(item, path, "a cache directory: a mapping with path") {
			continue
		}
		c := Cache{MaxAgeDays: DefaultMaxAgeDays, Line: item.Line}
		ok := true
		for _, fl := range p.fields(item, path, cacheKeys) {
			key := join(path, fl.name)
			switch fl.name {
			case "path":
				if s, good := p.absPath(fl.val, key, "the cache directory"); good {
					if paths[s] != "" {
						p.errf(fl.val, key, "%s is the path of %s too; list each directory once", s, paths[s])
						ok = false
					} else {
						paths[s] = path
						c.Path = s
					}
				} else {
					ok = false
				}
			case "max_age_days":
				if v, good := p.integer(fl.val, key, 1, MaxMaxAgeDays, " (days)"); good {
					c.MaxAgeDays = v
				} else {
					ok = false
				}
			case "max_size":
				if v, good := p.size(fl.val, key); good {
					c.MaxSize = v
				} else {
					ok = false
				}
			}
		}
		if c.Path == "" && ok && !hasKey(item, "path") {
			p.errf(item, join(path, "path"), "missing; give the absolute path of the cache directory")
			ok = false
		}
		if ok {
			out = append(out, c)
		}
	}
	return out
}

// sizeUnits are the units of a size, in bytes.
var sizeUnits = map[string]float64{
	"b":   1,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
}

var sizeRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)$`)

// size returns the value of a size scalar ("10GiB", "500 MB") in bytes.
func (p *parser) size(n *yaml.Node, path string) (int64, bool) {
	const allowed = "use a number and a unit, like 10GiB or 500MB (units: B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"
	s, ok := p.str(n, path, "a size; "+allowed)
	if !ok {
		return 0, false
	}
	v, err := ParseSize(s)
	if err != nil {
		p.errf(n, path, "%q %v; %s", s, err, allowed)
		return 0, false
	}
	return v, true
}

// ParseSize parses a size: a number, an optional space and a unit among B,
// KiB, MiB, GiB, TiB (powers of 1024) and KB, MB, GB, TB (powers of 1000),
// in any case; "10GiB", "1.5 GB". The size must be more than 0 bytes.
func ParseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, errors.New("is not a size")
	}
	if m[2] == "" {
		return 0, errors.New("has no unit")
	}
	unit, ok := sizeUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("has an unknown unit %q", m[2])
	}
	num, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, errors.New("is not a size")
	}
	v := num * unit
	if v >= 1<<62 {
		return 0, errors.New("is too large")
	}
	if v < 1 {
		return 0, errors.New("is not more than 0 bytes")
	}
	return int64(v), nil
}

// updateFeed walks the update_feed section.
func (p *parser) updateFeed(n *yaml.Node) *UpdateFeed {
	if isNull(n) || !p.mapping(n, "update_feed", "a mapping with url") {
		return nil
	}
	var feed *UpdateFeed
	for _, fl := range p.fields(n, "update_feed", feedKeys) {
		if s, ok := p.httpURL(fl.val, "update_feed.url"); ok {
			feed = &UpdateFeed{URL: s, Line: n.Line}
		}
	}
	if feed == nil && !hasKey(n, "url") {
		p.errf(n, "update_feed.url", "missing; give the URL of the JSON update feed")
	}
	return feed
}

// tasks walks the tasks mapping.
func (p *parser) tasks(n *yaml.Node) []Task {
	if isNull(n) || !p.mapping(n, "tasks", "a mapping of task names to their exec or http action") {
		return nil
	}
	builtin := map[string]string{} // lower case -> name
	for _, t := range butler.DefaultCatalog() {
		builtin[strings.ToLower(string(t.Name))] = string(t.Name)
	}
	var out []Task
	for _, fl := range p.fields(n, "tasks", nil) {
		name, path := fl.name, "tasks."+fl.name
		switch {
		case !taskName.MatchString(name):
			p.errf(fl.key, path, "%q is not a valid task name; start with a letter, then letters, digits or '_'", name)
			continue
		case len(name) > MaxTaskNameLen:
			p.errf(fl.key, path, "the name is longer than %d characters; choose a shorter one", MaxTaskNameLen)
			continue
		case slices.Contains(reservedTaskNames, strings.ToLower(name)):
			p.errf(fl.key, path, "%q is reserved (GET /butler/%s is an API route); choose another name", name, strings.ToLower(name))
			continue
		case builtin[strings.ToLower(name)] != "" && builtin[strings.ToLower(name)] != name:
			p.errf(fl.key, path, "%q differs from the Plex task %s only in case; write %s or choose another name",
				name, builtin[strings.ToLower(name)], builtin[strings.ToLower(name)])
			continue
		}
		if t, ok := p.task(fl.val, name, path, fl.key.Line); ok {
			out = append(out, t)
		}
	}
	return out
}

// task walks one task.
func (p *parser) task(n *yaml.Node, name, path string, line int) (Task, bool) {
	t := Task{Name: name, Line: line}
	if !p.mapping(n, path, "a mapping with exec or http") {
		return t, false
	}
	ok := true
	actions := 0
	setBool := func(v *yaml.Node, key string, dst **bool) {
		if b, good := p.boolean(v, key); good {
			*dst = &b
		} else {
			ok = false
		}
	}
	setText := func(v *yaml.Node, key, what string, dst *string) {
		s, good := p.str(v, key, what)
		switch {
		case !good:
			ok = false
		case strings.TrimSpace(s) == "":
			p.errf(v, key, "is blank; give %s or leave the key out", what)
			ok = false
		default:
			*dst = s
		}
	}
	for _, fl := range p.fields(n, path, taskKeys) {
		key := join(path, fl.name)
		switch fl.name {
		case "exec":
			actions++
			if e, good := p.exec(fl.val, key); good {
				t.Exec = e
			} else {
				ok = false
			}
		case "http":
			actions++
			if h, good := p.http(fl.val, key); good {
				t.HTTP = h
			} else {
				ok = false
			}
		case "interval":
			if v, good := p.integer(fl.val, key, 1, MaxInterval, " (days)"); good {
				t.Interval = v
			} else {
				ok = false
			}
		case "randomized":
			setBool(fl.val, key, &t.Randomized)
		case "enabled":
			setBool(fl.val, key, &t.Enabled)
		case "stop_at_window_end":
			setBool(fl.val, key, &t.StopAtWindowEnd)
		case "title":
			setText(fl.val, key, "a title", &t.Title)
		case "description":
			setText(fl.val, key, "a description", &t.Description)
		}
	}
	switch {
	case actions == 0:
		p.errs = append(p.errs, &Error{File: p.file, Line: line, Key: path, Msg: "no action; give exactly one of exec or http"})
		ok = false
	case actions > 1:
		p.errs = append(p.errs, &Error{File: p.file, Line: line, Key: path, Msg: "both exec and http; give exactly one of them"})
		ok = false
	}
	return t, ok
}

// exec walks an exec section.
func (p *parser) exec(n *yaml.Node, path string) (*Exec, bool) {
	if !p.mapping(n, path, "a mapping with argv") {
		return nil, false
	}
	e := &Exec{Grace: DefaultGrace}
	ok := true
	const argvWant = "the program and its arguments, like [/usr/local/bin/nightly.sh, --fast]"
	for _, fl := range p.fields(n, path, execKeys) {
		key := join(path, fl.name)
		switch fl.name {
		case "argv":
			if !p.list(fl.val, key, "a list: "+argvWant) {
				ok = false
				continue
			}
			if len(fl.val.Content) == 0 {
				p.errf(fl.val, key, "is empty; give %s", argvWant)
				ok = false
				continue
			}
			for i, a := range fl.val.Content {
				a = resolve(a)
				akey := fmt.Sprintf("%s[%d]", key, i)
				s, good := p.str(a, akey, "a string")
				if !good {
					ok = false
					continue
				}
				if strings.IndexByte(s, 0) >= 0 {
					p.errf(a, akey, "holds a NUL byte")
					ok = false
					continue
				}
				if i == 0 && !filepath.IsAbs(s) {
					p.errf(a, akey, "%q is not an absolute path; give the program's full path (it is run without a shell or PATH look-up)", s)
					ok = false
					continue
				}
				e.Argv = append(e.Argv, s)
			}
		case "dir":
			if s, good := p.absPath(fl.val, key, "the working directory"); good {
				e.Dir = s
			} else {
				ok = false
			}
		case "env":
			if isNull(fl.val) {
				continue
			}
			if !p.mapping(fl.val, key, "a mapping of variable names to values") {
				ok = false
				continue
			}
			for _, ev := range p.fields(fl.val, key, nil) {
				vkey := join(key, ev.name)
				if !envName.MatchString(ev.name) {
					p.errf(ev.key, vkey, "%q is not a valid environment variable name; use letters, digits and '_', not starting with a digit", ev.name)
					ok = false
					continue
				}
				s, good := p.str(ev.val, vkey, `a string (write "" for an empty value)`)
				if !good {
					ok = false
					continue
				}
				if s, good = p.expand(ev.val, vkey, s); !good {
					ok = false
					continue
				}
				if strings.IndexByte(s, 0) >= 0 {
					p.errf(ev.val, vkey, "holds a NUL byte")
					ok = false
					continue
				}
				e.Env = append(e.Env, ev.name+"="+s)
			}
			slices.Sort(e.Env)
		case "time_limit":
			if d, good := p.duration(fl.val, key); good {
				e.TimeLimit = d
			} else {
				ok = false
			}
		case "grace":
			if d, good := p.duration(fl.val, key); good {
				e.Grace = d
			} else {
				ok = false
			}
		}
	}
	if ok && !hasKey(n, "argv") {
		p.errf(n, join(path, "argv"), "missing; give %s", argvWant)
		ok = false
	}
	return e, ok
}

// http walks an http section.
func (p *parser) http(n *yaml.Node, path string) (*HTTP, bool) {
	if !p.mapping(n, path, "a mapping with url") {
		return nil, false
	}
	h := &HTTP{Method: http.MethodGet}
	ok := true
	for _, fl := range p.fields(n, path, httpKeys) {
		key := join(path, fl.name)
		switch fl.name {
		case "method":
			const allowed = "use GET, POST, PUT, PATCH, DELETE or HEAD"
			s, good := p.str(fl.val, key, "a method; "+allowed)
			if !good {
				ok = false
				continue
			}
			if !slices.Contains(httpMethods, strings.ToUpper(s)) {
				p.errf(fl.val, key, "%q is not a method Butler sends; %s", s, allowed)
				ok = false
				continue
			}
			h.Method = strings.ToUpper(s)
		case "url":
			if s, good := p.httpURL(fl.val, key); good {
				h.URL = s
			} else {
				ok = false
			}
		case "headers":
			if isNull(fl.val) {
				continue
			}
			if !p.mapping(fl.val, key, "a mapping of header names to values") {
				ok = false
				continue
			}
			h.Header = http.Header{}
			for _, hv := range p.fields(fl.val, key, nil) {
				hkey := join(key, hv.name)
				if !validHeaderName(hv.name) {
					p.errf(hv.key, hkey, "%q is not a valid header name; use letters, digits and '-'", hv.name)
					ok = false
					continue
				}
				if _, dup := h.Header[http.CanonicalHeaderKey(hv.name)]; dup {
					p.errf(hv.key, hkey, "given twice (header names ignore case); give each header once")
					ok = false
					continue
				}
				if hv.val.Kind != yaml.ScalarNode || isNull(hv.val) {
					p.errf(hv.val, hkey, `is %s; want a string (write "" for an empty value)`, kindOnly(hv.val))
					ok = false
					continue
				}
				s, good := p.expand(hv.val, hkey, hv.val.Value)
				if !good {
					ok = false
					continue
				}
				if strings.ContainsAny(s, "\r\n\x00") {
					p.errf(hv.val, hkey, "the value holds a line break or NUL (after ${VAR} expansion); header values are one line")
					ok = false
					continue
				}
				h.Header.Set(hv.name, s)
			}
		case "body":
			if s, good := p.str(fl.val, key, `a string (write "" for none)`); good {
				h.Body = s
			} else {
				ok = false
			}
		case "expect":
			const want = "a list of HTTP statuses, like [200, 204]"
			if !p.list(fl.val, key, want) {
				ok = false
				continue
			}
			for i, c := range fl.val.Content {
				if v, good := p.integer(resolve(c), fmt.Sprintf("%s[%d]", key, i), 100, 599, " (an HTTP status)"); good {
					h.Expect = append(h.Expect, v)
				} else {
					ok = false
				}
			}
		case "time_limit":
			if d, good := p.duration(fl.val, key); good {
				h.TimeLimit = d
			} else {
				ok = false
			}
		}
	}
	if ok && !hasKey(n, "url") {
		p.errf(n, join(path, "url"), "missing; give the request's http or https URL")
		ok = false
	}
	return h, ok
}

// validHeaderName reports whether s is an HTTP field name (an RFC 9110
// token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// expand replaces ${NAME} in s by the environment variable NAME; "$${"
// stands for a literal "${". An unset variable is a problem naming it.
func (p *parser) expand(n *yaml.Node, path, s string) (string, bool) {
	const how = "write ${NAME}, or $${ for a literal ${"
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i]) // "$${" -> "${": keep one '$'
			b.WriteString("{")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			p.errf(n, path, `has "${" without a closing "}"; %s`, how)
			return "", false
		}
		name := s[i+2 : i+end]
		if !envName.MatchString(name) {
			p.errf(n, path, "%q does not name an environment variable; %s", "${"+name+"}", how)
			return "", false
		}
		v, ok := p.lookupEnv(name)
		if !ok {
			p.errf(n, path, "environment variable %s is not set; set it in Butler's environment or write the value itself", name)
			return "", false
		}
		b.WriteString(v)
		s = s[i+end+1:]
	}
}
