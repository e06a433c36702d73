package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/apitype"
)

// The small types of the file's values. Each decodes and checks itself
// (the value interface); those whose value a later check may question
// (paths, durations, sizes, URLs) carry their line.

var (
	databaseName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	taskName     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	envName      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	settingID    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
)

// ExampleAddr is the listen address the messages show.
const ExampleAddr = "127.0.0.1:28400"

// Text is a string value; want describes it in messages.
type Text string

func (t *Text) decode(d *decoder, n *yaml.Node, key, want string) {
	s, _ := d.str(n, key, want)
	*t = Text(s)
}

// Label is a title or description: a string that is not blank.
type Label string

func (l *Label) decode(d *decoder, n *yaml.Node, key, want string) {
	s, ok := d.str(n, key, want)
	if ok && strings.TrimSpace(s) == "" {
		d.errf(n, key, "is blank; give %s or leave the key out", want)
		return
	}
	*l = Label(s)
}

// Addr is a listen address, HOST:PORT.
type Addr string

func (a *Addr) decode(d *decoder, n *yaml.Node, key, _ string) {
	s, ok := d.str(n, key, "HOST:PORT, such as "+ExampleAddr)
	if !ok {
		return
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		d.errf(n, key, "%q is not HOST:PORT; use an address such as %s", s, ExampleAddr)
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		d.errf(n, key, "%q: the port %q is not a number from 0 to 65535; use an address such as %s", s, port, ExampleAddr)
		return
	}
	*a = Addr(s)
}

// DatabaseURL is Butler's own database: a SQLite file's absolute path,
// sqlite:// and that path, or a PostgreSQL URL (postgres:// or
// postgresql://). Messages never quote a URL, which may hold a password.
type DatabaseURL string

func (u *DatabaseURL) decode(d *decoder, n *yaml.Node, key, _ string) {
	const allowed = "give a SQLite file's absolute path (/var/lib/butler/butler.db, or sqlite:///var/lib/butler/butler.db) or a PostgreSQL URL (postgres://USER@HOST:5432/DATABASE)"
	s, ok := d.str(n, key, allowed)
	if !ok {
		return
	}
	path := s
	switch scheme, _, found := strings.Cut(s, "://"); {
	case found && (scheme == "postgres" || scheme == "postgresql"):
		if _, err := url.Parse(s); err != nil {
			d.errf(n, key, "is not a URL; %s", allowed)
			return
		}
		*u = DatabaseURL(s)
		return
	case found && scheme == "sqlite":
		path = strings.TrimPrefix(s, "sqlite://")
	case found:
		d.errf(n, key, "names a database of another kind (%s://); %s", scheme, allowed)
		return
	}
	if !filepath.IsAbs(path) || strings.IndexByte(path, 0) >= 0 {
		d.errf(n, key, "%q is not an absolute path; %s", path, allowed)
		return
	}
	*u = DatabaseURL(s)
}

// NodeName is a server's name in a cluster (butler.ValidNodeName).
type NodeName string

func (nn *NodeName) decode(d *decoder, n *yaml.Node, key, _ string) {
	s, ok := d.str(n, key, "this server's name in a cluster")
	if !ok {
		return
	}
	if err := butler.ValidNodeName(s); err != nil {
		d.errf(n, key, "%v", err)
		return
	}
	*nn = NodeName(s)
}

// Token is an access token, at least MinTokenLen characters. Messages
// never quote it.
type Token string

func (t *Token) decode(d *decoder, n *yaml.Node, key, _ string) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errf(n, key, "is %s; want the access token, at least %d characters", kindOnly(n), MinTokenLen)
		return
	}
	if err := CheckToken(n.Value); err != nil {
		d.errf(n, key, "%v", err)
		return
	}
	*t = Token(n.Value)
}

// LogLevel is debug, info, warn or error, in any case.
type LogLevel string

func (l *LogLevel) decode(d *decoder, n *yaml.Node, key, _ string) {
	s, ok := d.str(n, key, "debug, info, warn or error")
	if !ok {
		return
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(s)); err != nil {
		d.errf(n, key, "%q is not a log level; use debug, info, warn or error", s)
		return
	}
	*l = LogLevel(s)
}

// Bool is true or false (YAML's yes/no/on/off are refused: they read as
// strings in YAML 1.2).
type Bool bool

func (b *Bool) decode(d *decoder, n *yaml.Node, key, _ string) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		var v bool
		if err := n.Decode(&v); err == nil {
			*b = Bool(v)
			return
		}
	}
	d.errf(n, key, "is %s; want true or false", describe(n))
}

// Keep is how many backups of a database are kept, 1..MaxKeep.
type Keep int

func (k *Keep) decode(d *decoder, n *yaml.Node, key, _ string) {
	v, _ := d.integer(n, key, 1, MaxKeep, " (backups kept)")
	*k = Keep(v)
}

// MaxAgeDays is a cache file's age, in days, 1..MaxMaxAgeDays.
type MaxAgeDays int

func (m *MaxAgeDays) decode(d *decoder, n *yaml.Node, key, _ string) {
	v, _ := d.integer(n, key, 1, MaxMaxAgeDays, " (days)")
	*m = MaxAgeDays(v)
}

// Interval is how often a task is due, in days, 1..MaxInterval.
type Interval int

func (i *Interval) decode(d *decoder, n *yaml.Node, key, _ string) {
	v, _ := d.integer(n, key, 1, MaxInterval, " (days)")
	*i = Interval(v)
}

// Duration is a positive Go duration ("5m", "1h30m").
type Duration struct {
	time.Duration
	// Line is the value's line in the file.
	Line int
}

func (t *Duration) decode(d *decoder, n *yaml.Node, key, _ string) {
	const allowed = "use Go form like 5m or 1h30m"
	s, ok := d.str(n, key, "a duration; "+allowed)
	if !ok {
		return
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.errf(n, key, "%q is not a duration; %s", s, allowed)
		return
	}
	if v <= 0 {
		d.errf(n, key, "%q is not more than 0; %s", s, allowed)
		return
	}
	*t = Duration{v, n.Line}
}

// Path is an absolute path, cleaned; want names what it is the path of
// ("the cache directory"). The zero Path is no path.
type Path struct {
	Value string
	// Line is the value's line in the file.
	Line int
}

func (p *Path) decode(d *decoder, n *yaml.Node, key, what string) {
	s, ok := d.str(n, key, "the absolute path of "+what)
	if !ok {
		return
	}
	if !filepath.IsAbs(s) {
		d.errf(n, key, "%q is not an absolute path; give the full path of %s, starting with /", s, what)
		return
	}
	if strings.IndexByte(s, 0) >= 0 {
		d.errf(n, key, "holds a NUL byte; give the full path of %s", what)
		return
	}
	*p = Path{filepath.Clean(s), n.Line}
}

// URL is an absolute http or https URL.
type URL struct {
	Value string
	// Line is the value's line in the file.
	Line int
}

func (u *URL) decode(d *decoder, n *yaml.Node, key, _ string) {
	const allowed = "write it like http://127.0.0.1:32400/path or https://example.com/feed.json"
	s, ok := d.str(n, key, "an http or https URL; "+allowed)
	if !ok {
		return
	}
	if err := checkHTTPURL(s); err != nil {
		d.errf(n, key, "%q is not an absolute http or https URL; %s", s, allowed)
		return
	}
	*u = URL{s, n.Line}
}

// RequestURL is the URL of an http task: an absolute http or https URL,
// or in the file a path starting with "/" on the server plex_url names
// (which Parse resolves).
type RequestURL URL

func (u *RequestURL) decode(d *decoder, n *yaml.Node, key, want string) {
	if n.Kind == yaml.ScalarNode && strings.HasPrefix(n.Value, "/") && !strings.HasPrefix(n.Value, "//") {
		if _, err := url.Parse(n.Value); err != nil {
			d.errf(n, key, "%q is not a valid path; write it like /library/sections/all/refresh", n.Value)
			return
		}
		*u = RequestURL{n.Value, n.Line}
		return
	}
	(*URL)(u).decode(d, n, key, want)
}

// checkHTTPURL reports whether s is an absolute http or https URL.
func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("not an absolute http or https URL")
	}
	return nil
}

// Size is an amount of bytes, more than 0, written with a unit ("10GiB").
// The zero Size is no size.
type Size struct {
	Bytes int64
	// Line is the value's line in the file.
	Line int
}

func (z *Size) decode(d *decoder, n *yaml.Node, key, _ string) {
	const allowed = "use a number and a unit, like 10GiB or 500MB (units: B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"
	s, ok := d.str(n, key, "a size; "+allowed)
	if !ok {
		return
	}
	v, err := ParseSize(s)
	if err != nil {
		d.errf(n, key, "%q %v; %s", s, err, allowed)
		return
	}
	*z = Size{v, n.Line}
}

// sizeUnits are the units of a size, in bytes.
var sizeUnits = map[string]float64{
	"b":   1,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
}

var sizeRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)$`)

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

// DatabaseName names an entry of databases: letters, digits, '_' and '-'.
type DatabaseName string

func (nm *DatabaseName) decode(d *decoder, n *yaml.Node, key, _ string) {
	s, ok := d.str(n, key, "a name of letters, digits, '_' and '-'")
	if !ok {
		return
	}
	if !databaseName.MatchString(s) {
		d.errf(n, key, "%q is not a valid name; use letters, digits, '_' and '-'", s)
		return
	}
	*nm = DatabaseName(s)
}

// Method is an HTTP method Butler sends, upper case.
type Method string

func (m *Method) decode(d *decoder, n *yaml.Node, key, _ string) {
	const allowed = "use GET, POST, PUT, PATCH, DELETE or HEAD"
	s, ok := d.str(n, key, "a method; "+allowed)
	if !ok {
		return
	}
	if !slices.Contains(httpMethods, strings.ToUpper(s)) {
		d.errf(n, key, "%q is not a method Butler sends; %s", s, allowed)
		return
	}
	*m = Method(strings.ToUpper(s))
}

// Body is a request body; "" for none.
type Body string

func (b *Body) decode(d *decoder, n *yaml.Node, key, _ string) {
	s, _ := d.str(n, key, `a string (write "" for none)`)
	*b = Body(s)
}

// Statuses are the HTTP statuses that mean success.
type Statuses []int

func (st *Statuses) decode(d *decoder, n *yaml.Node, key, _ string) {
	if !d.isList(n, key, "a list of HTTP statuses, like [200, 204]") {
		return
	}
	for i, c := range n.Content {
		v, _ := d.integer(resolve(c), fmt.Sprintf("%s[%d]", key, i), 100, 599, " (an HTTP status)")
		*st = append(*st, v)
	}
}

// Argv is a program, an absolute path, and its arguments.
type Argv []string

const argvWant = "the program and its arguments, like [/usr/local/bin/nightly.sh, --fast]"

func (a *Argv) decode(d *decoder, n *yaml.Node, key, _ string) {
	if !d.isList(n, key, "a list: "+argvWant) {
		return
	}
	if len(n.Content) == 0 {
		d.errf(n, key, "is empty; give %s", argvWant)
		return
	}
	for i, item := range n.Content {
		item = resolve(item)
		akey := fmt.Sprintf("%s[%d]", key, i)
		s, good := d.str(item, akey, "a string")
		switch {
		case !good:
		case strings.IndexByte(s, 0) >= 0:
			d.errf(item, akey, "holds a NUL byte")
		case i == 0 && !filepath.IsAbs(s):
			d.errf(item, akey, "%q is not an absolute path; give the program's full path (it is run without a shell or PATH look-up)", s)
		}
		*a = append(*a, s)
	}
}

// Env is a program's added environment, KEY=VALUE sorted by key, with
// ${VAR} expanded.
type Env []string

func (e *Env) decode(d *decoder, n *yaml.Node, key, _ string) {
	if isNull(n) {
		return
	}
	if !d.isMapping(n, key, "a mapping of variable names to values") {
		return
	}
	ps, _ := d.pairs(n, key)
	for _, p := range ps {
		vkey := join(key, p.name)
		if !envName.MatchString(p.name) {
			d.errf(p.key, vkey, "%q is not a valid environment variable name; use letters, digits and '_', not starting with a digit", p.name)
			continue
		}
		s, good := d.str(p.val, vkey, `a string (write "" for an empty value)`)
		if good {
			s, good = d.expand(p.val, vkey, s)
		}
		if good && strings.IndexByte(s, 0) >= 0 {
			d.errf(p.val, vkey, "holds a NUL byte")
			good = false
		}
		if !good {
			continue
		}
		*e = append(*e, p.name+"="+s)
	}
	slices.Sort(*e)
}

// Header is a request's header fields, ${VAR} expanded.
type Header http.Header

func (h *Header) decode(d *decoder, n *yaml.Node, key, _ string) {
	if isNull(n) {
		return
	}
	if !d.isMapping(n, key, "a mapping of header names to values") {
		return
	}
	*h = Header{}
	hh := http.Header(*h)
	ps, _ := d.pairs(n, key)
	for _, p := range ps {
		hkey := join(key, p.name)
		switch {
		case !validHeaderName(p.name):
			d.errf(p.key, hkey, "%q is not a valid header name; use letters, digits and '-'", p.name)
			continue
		case hh.Values(p.name) != nil:
			d.errf(p.key, hkey, "given twice (header names ignore case); give each header once")
			continue
		case p.val.Kind != yaml.ScalarNode || isNull(p.val):
			d.errf(p.val, hkey, `is %s; want a string (write "" for an empty value)`, kindOnly(p.val))
			continue
		}
		s, good := d.expand(p.val, hkey, p.val.Value)
		if good && strings.ContainsAny(s, "\r\n\x00") {
			d.errf(p.val, hkey, "the value holds a line break or NUL (after ${VAR} expansion); header values are one line")
			good = false
		}
		if !good {
			continue
		}
		hh.Set(p.name, s)
	}
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

// Settings are the settings a file fixes, in file order.
type Settings []Setting

func (s *Settings) decode(d *decoder, n *yaml.Node, key, _ string) {
	if isNull(n) {
		return
	}
	if !d.isMapping(n, key, "a mapping of setting ids to values, like ButlerStartHour: 2") {
		return
	}
	ps, _ := d.pairs(n, key)
	for _, p := range ps {
		skey := join(key, p.name)
		if !settingID.MatchString(p.name) {
			d.errf(p.key, skey, "%q is not a setting id; use the ids GET /:/prefs and butler settings list, like ButlerStartHour", p.name)
			continue
		}
		if p.val.Kind != yaml.ScalarNode || isNull(p.val) {
			d.errf(p.val, skey, "is %s; want the setting's value, like 2, true or Europe/Berlin", describe(p.val))
			continue
		}
		*s = append(*s, Setting{ID: p.name, Value: p.val.Value, Line: p.key.Line})
	}
}

// Databases are the entries of databases.
type Databases []Database

func (ds *Databases) decode(d *decoder, n *yaml.Node, key, _ string) {
	if isNull(n) {
		return
	}
	if !d.isList(n, key, "a list of databases, each with name and path") {
		return
	}
	names := map[DatabaseName]string{} // name -> key of the first
	paths := map[string]string{}
	backups := map[string]DatabaseName{} // backup dir and file stem -> name
	for i, item := range n.Content {
		item = resolve(item)
		path := fmt.Sprintf("%s[%d]", key, i)
		if !d.isMapping(item, path, "a database: a mapping with name and path") {
			continue
		}
		db := Database{Keep: DefaultKeep, Line: item.Line}
		before := len(d.errs)
		given, keysOK := d.object(item, path, &db)
		if keysOK {
			d.missing(item, given, path, "name", "give each database a unique name of letters, digits, '_' and '-'")
			d.missing(item, given, path, "path", "give the absolute path of the SQLite database file")
		}
		if len(d.errs) > before {
			continue
		}
		if db.LockTimeout.Duration > MaxLockTimeout {
			d.errAt(db.LockTimeout.Line, join(path, "lock_timeout"), "%s is more than %s; a maintenance task should not wait longer for another program's lock", db.LockTimeout.Duration, MaxLockTimeout)
			continue
		}
		if first := names[db.Name]; first != "" {
			d.errf(item, join(path, "name"), "%q is the name of %s too; names must be unique", db.Name, first)
			continue
		}
		names[db.Name] = path
		if first := paths[db.Path.Value]; first != "" {
			d.errAt(db.Path.Line, join(path, "path"), "%s is the path of %s too; list each database once", db.Path.Value, first)
			continue
		}
		paths[db.Path.Value] = path
		// Backups of two databases with the same file name in one
		// directory would be taken for each other's.
		if db.BackupDir.Value != "" {
			k := db.BackupDir.Value + "\x00" + BackupStem(db.Path.Value)
			if first, dup := backups[k]; dup {
				d.errAt(db.BackupDir.Line, join(path, "backup_dir"), "%s holds the backups of %s, whose file has the same name; give each its own backup_dir", db.BackupDir.Value, first)
				continue
			}
			backups[k] = db.Name
		}
		*ds = append(*ds, db)
	}
}

// BackupStem is the name BackupDatabase gives the backups of path: its
// file name without its extension.
func BackupStem(path string) string {
	name := filepath.Base(path)
	if stem := strings.TrimSuffix(name, filepath.Ext(name)); stem != "" {
		return stem
	}
	return name
}

// Caches are the entries of caches.
type Caches []Cache

func (cs *Caches) decode(d *decoder, n *yaml.Node, key, _ string) {
	if isNull(n) {
		return
	}
	if !d.isList(n, key, "a list of cache directories, each with path") {
		return
	}
	paths := map[string]string{}
	for i, item := range n.Content {
		item = resolve(item)
		path := fmt.Sprintf("%s[%d]", key, i)
		if !d.isMapping(item, path, "a cache directory: a mapping with path") {
			continue
		}
		c := Cache{MaxAgeDays: DefaultMaxAgeDays, Line: item.Line}
		before := len(d.errs)
		given, keysOK := d.object(item, path, &c)
		if keysOK {
			d.missing(item, given, path, "path", "give the absolute path of the cache directory")
		}
		if len(d.errs) > before {
			continue
		}
		if first := paths[c.Path.Value]; first != "" {
			d.errAt(c.Path.Line, join(path, "path"), "%s is the path of %s too; list each directory once", c.Path.Value, first)
			continue
		}
		paths[c.Path.Value] = path
		*cs = append(*cs, c)
	}
}

func (f *UpdateFeed) decode(d *decoder, n *yaml.Node, key, _ string) {
	if isNull(n) {
		return
	}
	if !d.isMapping(n, key, "a mapping with url") {
		return
	}
	f.Line = n.Line
	if given, keysOK := d.object(n, key, f); keysOK {
		d.missing(n, given, key, "url", "give the URL of the JSON update feed")
	}
}

// Tasks are the entries of tasks, in file order.
type Tasks []Task

func (ts *Tasks) decode(d *decoder, n *yaml.Node, key, _ string) {
	if isNull(n) {
		return
	}
	if !d.isMapping(n, key, "a mapping of task names to their exec or http action") {
		return
	}
	builtin := map[string]string{} // lower case -> name
	for _, t := range apitype.TaskNames() {
		builtin[strings.ToLower(string(t))] = string(t)
	}
	ps, _ := d.pairs(n, key)
	for _, p := range ps {
		name, path := p.name, join(key, p.name)
		lower := strings.ToLower(name)
		switch {
		case !taskName.MatchString(name):
			d.errf(p.key, path, "%q is not a valid task name; start with a letter, then letters, digits or '_'", name)
		case len(name) > MaxTaskNameLen:
			d.errf(p.key, path, "the name is longer than %d characters; choose a shorter one", MaxTaskNameLen)
		case slices.Contains(apitype.ReservedTaskNames(), lower):
			d.errf(p.key, path, "%q is reserved (GET /butler/%s is an API route); choose another name", name, lower)
		case builtin[lower] != "" && builtin[lower] != name:
			d.errf(p.key, path, "%q differs from the Plex task %s only in case; write %s or choose another name", name, builtin[lower], builtin[lower])
		default:
			t := Task{Name: name, Line: p.key.Line}
			before := len(d.errs)
			if t.decode(d, p.val, path, ""); len(d.errs) == before {
				*ts = append(*ts, t)
			}
		}
	}
}

func (t *Task) decode(d *decoder, n *yaml.Node, key, _ string) {
	if !d.isMapping(n, key, "a mapping with exec or http") {
		return
	}
	given, keysOK := d.object(n, key, t)
	switch {
	case !keysOK:
	case !given["exec"] && !given["http"]:
		d.errs = append(d.errs, &Error{File: d.file, Line: t.Line, Key: key, Msg: "no action; give exactly one of exec or http"})
	case given["exec"] && given["http"]:
		d.errs = append(d.errs, &Error{File: d.file, Line: t.Line, Key: key, Msg: "both exec and http; give exactly one of them"})
	}
}

func (e *Exec) decode(d *decoder, n *yaml.Node, key, _ string) {
	if !d.isMapping(n, key, "a mapping with argv") {
		return
	}
	e.Grace = Duration{Duration: DefaultGrace}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := resolve(n.Content[i]); k.Value == "argv" {
			e.ArgvLine = resolve(n.Content[i+1]).Line
		}
	}
	if given, keysOK := d.object(n, key, e); keysOK {
		d.missing(n, given, key, "argv", "give %s", argvWant)
	}
}

func (h *HTTP) decode(d *decoder, n *yaml.Node, key, _ string) {
	if !d.isMapping(n, key, "a mapping with url") {
		return
	}
	h.Method = http.MethodGet
	if given, keysOK := d.object(n, key, h); keysOK {
		d.missing(n, given, key, "url", "give the request's http or https URL")
	}
}
