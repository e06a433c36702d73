package butler

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/plexbutler/butler/schedule"
)

// Setting ids of the Butler (real server ids, and the project's own).
const (
	SettingStartHour          = "ButlerStartHour"
	SettingEndHour            = "ButlerEndHour"
	SettingBackupPath         = "ButlerDatabaseBackupPath"
	SettingMaxConcurrentTasks = "ButlerMaxConcurrentTasks"
	SettingTimeZone           = "ButlerTimeZone"
	SettingRunRetentionDays   = "ButlerRunRetentionDays"
	// SettingFriendlyName is the server's name, as a Plex server names the
	// setting; blank means the name the server was started with.
	SettingFriendlyName = "FriendlyName"
)

// MaxFriendlyNameLength bounds FriendlyName, in characters.
const MaxFriendlyNameLength = 255

// Setting types, as Plex names them.
const (
	TypeBool = "bool"
	TypeInt  = "int"
	TypeText = "text"
)

// SettingDef describes one setting: what GET /:/prefs lists and what PUT
// validates.
type SettingDef struct {
	ID         string
	Label      string
	Summary    string
	Type       string // bool, int or text
	Default    string // canonical form: "true"/"false", a decimal integer, or text
	Hidden     bool
	Advanced   bool
	Group      string
	EnumValues string // "value:label|value:label", or ""
	// Min and Max bound an int setting.
	Min, Max int
	// CheckFunc validates a text setting's value and returns its canonical
	// form; nil accepts any text.
	CheckFunc func(string) (string, error)
	// FixedBy, when not "", names the config file that fixes the
	// setting: its value is Fixed at every start, and the API cannot
	// change it (see FixSettings). Default stays the built-in default.
	FixedBy string
	Fixed   string
}

// Canonical validates a raw value (as it comes in a query string) and returns
// it in canonical form, or an error saying what is wrong and what is allowed.
func (d SettingDef) Canonical(raw string) (string, error) {
	switch d.Type {
	case TypeBool:
		switch strings.ToLower(strings.TrimSpace(raw)) {
		case "1", "true":
			return "true", nil
		case "0", "false":
			return "false", nil
		}
		return "", fmt.Errorf("%s: %q is not a bool; use 1, 0, true or false", d.ID, raw)
	case TypeInt:
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil {
			return "", fmt.Errorf("%s: %q is not a whole number; use %d..%d", d.ID, raw, d.Min, d.Max)
		}
		if n < d.Min || n > d.Max {
			return "", fmt.Errorf("%s: %d is out of range; use %d..%d", d.ID, n, d.Min, d.Max)
		}
		return strconv.Itoa(n), nil
	default:
		if d.CheckFunc != nil {
			v, err := d.CheckFunc(raw)
			if err != nil {
				return "", fmt.Errorf("%s: %w", d.ID, err)
			}
			return v, nil
		}
		return raw, nil
	}
}

// hourEnum returns the choices of ButlerStartHour and ButlerEndHour exactly
// as a Plex server sends them: "0:Midnight|1:1 am|...|12:Noon|13:1 pm|...|23:11 pm".
// Clients split each choice at its first ':' (python-plexapi at every ':'),
// so a label must not hold one.
func hourEnum() string {
	var b strings.Builder
	for h := range 24 {
		if h > 0 {
			b.WriteByte('|')
		}
		switch {
		case h == 0:
			b.WriteString("0:Midnight")
		case h == 12:
			b.WriteString("12:Noon")
		case h < 12:
			fmt.Fprintf(&b, "%d:%d am", h, h)
		default:
			fmt.Fprintf(&b, "%d:%d pm", h, h-12)
		}
	}
	return b.String()
}

// SettingDefs returns the definitions of every Butler setting for a catalog
// of offered tasks (one enable setting each), in the order GET /:/prefs lists
// them. dataDir gives the default backup path; hostZone the default zone,
// UTC when it is not a zone ButlerTimeZone accepts (an IANA name).
func SettingDefs(catalog []Task, dataDir, hostZone string) []SettingDef {
	hostZone, err := checkZone(hostZone)
	if err != nil {
		hostZone = "UTC"
	}
	defs := []SettingDef{
		{ID: SettingFriendlyName, Label: "Friendly name", Summary: "This name will be used to identify this server to Plex clients. If you leave it blank, the friendly_name of the config file is used, else the host name.",
			Type: TypeText, Default: "", Group: "general", CheckFunc: checkFriendlyName},
		{ID: SettingStartHour, Label: "Time at which tasks start to run", Summary: "The time at which the server starts running background maintenance tasks.",
			Type: TypeInt, Default: "2", Group: "butler", EnumValues: hourEnum(), Min: 0, Max: 23},
		{ID: SettingEndHour, Label: "Time at which tasks stop running", Summary: "The time at which the background maintenance tasks stop running.",
			Type: TypeInt, Default: "5", Group: "butler", EnumValues: hourEnum(), Min: 0, Max: 23},
		{ID: SettingBackupPath, Label: "Backup directory", Summary: "The directory in which database backups are stored.",
			Type: TypeText, Default: filepath.Join(dataDir, "Backups"), Group: "butler", Advanced: true, CheckFunc: checkBackupPath},
		{ID: SettingMaxConcurrentTasks, Label: "Maximum concurrent tasks", Summary: "How many queued maintenance tasks may run at the same time on this server.",
			Type: TypeInt, Default: "1", Group: "butler", Advanced: true, Min: 1, Max: 16},
		{ID: SettingTimeZone, Label: "Time zone", Summary: "The time zone of the maintenance window, as an IANA name such as Europe/Berlin.",
			Type: TypeText, Default: hostZone, Group: "butler", Advanced: true, CheckFunc: checkZone},
		{ID: SettingRunRetentionDays, Label: "Run history retention (days)", Summary: "How many days finished runs are kept in the history.",
			Type: TypeInt, Default: "90", Group: "butler", Advanced: true, Min: 1, Max: 3650},
	}
	for _, t := range catalog {
		if t.Action == nil {
			continue
		}
		defs = append(defs, SettingDef{ID: t.Setting, Label: t.SettingLabel, Summary: t.Description,
			Type: TypeBool, Default: strconv.FormatBool(t.EnabledDefault), Group: "butler"})
	}
	return defs
}

// checkZone accepts an IANA time zone name, such as Europe/Berlin, or UTC,
// and returns it without surrounding spaces. time.LoadLocation also takes
// "" (UTC) and "Local" (the zone of the host, whatever it is): neither names
// a zone, and the window of a cluster's servers must not depend on their
// hosts, so both are refused.
func checkZone(raw string) (string, error) {
	name := strings.TrimSpace(raw)
	switch name {
	case "":
		return "", fmt.Errorf("the time zone is empty; give an IANA name such as Europe/Berlin, or UTC")
	case "Local":
		return "", fmt.Errorf("%q names no zone, only the host's (which may differ between servers); give an IANA name such as Europe/Berlin, or UTC", name)
	}
	if _, err := time.LoadLocation(name); err != nil {
		return "", fmt.Errorf("unknown time zone %q; give an IANA name such as Europe/Berlin, or UTC", name)
	}
	return name, nil
}

// checkFriendlyName accepts a name of at most MaxFriendlyNameLength
// characters without control characters, and returns it without
// surrounding spaces; blank is allowed (the server's own name is used).
func checkFriendlyName(raw string) (string, error) {
	name := strings.TrimSpace(raw)
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("the name is not valid UTF-8; send it percent-encoded as UTF-8")
	}
	if n := utf8.RuneCountInString(name); n > MaxFriendlyNameLength {
		return "", fmt.Errorf("the name has %d characters; give at most %d", n, MaxFriendlyNameLength)
	}
	if i := strings.IndexFunc(name, unicode.IsControl); i >= 0 {
		return "", fmt.Errorf("the name holds a control character (%U at byte %d); give a name of printable characters", []rune(name[i:])[0], i)
	}
	if i := strings.IndexFunc(name, unfitForName); i >= 0 {
		return "", fmt.Errorf("the name holds %U at byte %d, a noncharacter (which XML cannot carry: XML and JSON clients would read different names) or a direction override (which can show the name reversed); leave it out", []rune(name[i:])[0], i)
	}
	return name, nil
}

// unfitForName reports whether r is a Unicode noncharacter (U+FDD0 to
// U+FDEF, and the last two code points of each plane: XML 1.0 allows
// neither U+FFFE nor U+FFFF) or a bidirectional embedding, override or
// isolate (U+202A to U+202E, U+2066 to U+2069).
func unfitForName(r rune) bool {
	switch {
	case r >= 0xFDD0 && r <= 0xFDEF, r&0xFFFE == 0xFFFE:
		return true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// checkBackupPath accepts the absolute path of a writable directory, or of
// one that does not exist yet below a writable directory (the first backup
// creates it). It leaves nothing behind: the writability of the directory,
// or of its nearest existing ancestor, is tested with a file or directory
// made and removed at once.
func checkBackupPath(raw string) (string, error) {
	p := strings.TrimSpace(raw)
	if p == "" || !filepath.IsAbs(p) {
		return "", fmt.Errorf("%q is not an absolute path; give the full path of a directory", raw)
	}
	p = filepath.Clean(p)
	// missing: no such file, or a file where a directory of the path
	// should be.
	missing := func(err error) bool { return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) }
	fi, err := os.Stat(p)
	switch {
	case missing(err):
		// The nearest existing ancestor must be a directory.
		for dir := filepath.Dir(p); ; dir = filepath.Dir(dir) {
			fi, err := os.Stat(dir)
			if missing(err) && dir != filepath.Dir(dir) {
				continue
			}
			if err != nil {
				return "", fmt.Errorf("cannot create the backup directory: %v", err)
			}
			if !fi.IsDir() {
				return "", fmt.Errorf("cannot create the backup directory: %s is not a directory", dir)
			}
			probe, err := os.MkdirTemp(dir, ".butler-write-check-*")
			if err != nil {
				return "", fmt.Errorf("cannot create the backup directory in %s: %v; give a directory Butler can create or write", dir, err)
			}
			os.Remove(probe)
			return p, nil
		}
	case err != nil:
		return "", fmt.Errorf("cannot use the backup directory: %v", err)
	case !fi.IsDir():
		return "", fmt.Errorf("%s is not a directory; give the path of a directory", p)
	}
	f, err := os.CreateTemp(p, ".butler-write-check-*")
	if err != nil {
		return "", fmt.Errorf("the backup directory is not writable: %v", err)
	}
	f.Close()
	os.Remove(f.Name())
	return p, nil
}

// Settings is a validated snapshot of every setting value.
type Settings struct {
	values map[string]string
	loc    *time.Location
	gen    uint64
}

// Generation numbers the snapshot: it changes whenever a setting changes, so
// that what is derived from settings can be cached.
func (s Settings) Generation() uint64 { return s.gen }

// Get returns the canonical value of a setting.
func (s Settings) Get(id string) string { return s.values[id] }

// Values returns a copy of every value by id.
func (s Settings) Values() map[string]string {
	out := make(map[string]string, len(s.values))
	for k, v := range s.values {
		out[k] = v
	}
	return out
}

func (s Settings) int(id string) int {
	n, _ := strconv.Atoi(s.values[id])
	return n
}

// Window returns the maintenance window.
func (s Settings) Window() schedule.Window {
	return schedule.Window{Start: s.int(SettingStartHour), End: s.int(SettingEndHour), Loc: s.loc}
}

// Location returns the zone of the window.
func (s Settings) Location() *time.Location { return s.loc }

// MaxConcurrent returns ButlerMaxConcurrentTasks.
func (s Settings) MaxConcurrent() int { return s.int(SettingMaxConcurrentTasks) }

// Retention returns how long finished runs are kept.
func (s Settings) Retention() time.Duration {
	return time.Duration(s.int(SettingRunRetentionDays)) * 24 * time.Hour
}

// BackupPath returns ButlerDatabaseBackupPath.
func (s Settings) BackupPath() string { return s.values[SettingBackupPath] }

// FriendlyName returns the FriendlyName setting: the server's name, or ""
// when the name the server was started with is to be used.
func (s Settings) FriendlyName() string { return s.values[SettingFriendlyName] }

// Enabled reports whether the task's enable setting is on.
func (s Settings) Enabled(t Task) bool { return s.values[t.Setting] == "true" }

// buildSettings merges stored values over defaults. A stored value that no
// longer validates (a zone removed from the host's database) falls back to
// its default, and is reported.
func buildSettings(defs []SettingDef, stored map[string]string) (Settings, []error) {
	var problems []error
	values := make(map[string]string, len(defs))
	for _, d := range defs {
		values[d.ID] = d.Default
		if d.FixedBy != "" {
			values[d.ID] = d.Fixed
			continue
		}
		raw, ok := stored[d.ID]
		if !ok {
			continue
		}
		if d.Type == TypeText && d.CheckFunc == nil {
			values[d.ID] = raw
			continue
		}
		// The backup path is checked (and created) when it is set, not at
		// every start.
		if d.ID == SettingBackupPath {
			values[d.ID] = raw
			continue
		}
		v, err := d.Canonical(raw)
		if err != nil {
			problems = append(problems, fmt.Errorf("stored setting ignored, default used: %w", err))
			continue
		}
		values[d.ID] = v
	}
	loc, err := time.LoadLocation(values[SettingTimeZone])
	if err != nil {
		loc = time.Local
	}
	return Settings{values: values, loc: loc}, problems
}

// FixSettings returns defs with the settings of fixed fixed by source (a
// config file's path): each takes its value there (Fixed), which stored
// values do not override and the API cannot change. An unknown id
// or an invalid value is an error naming it.
func FixSettings(defs []SettingDef, fixed map[string]string, source string) ([]SettingDef, error) {
	if len(fixed) == 0 {
		return defs, nil
	}
	out := append([]SettingDef(nil), defs...)
	seen := 0
	for i, d := range out {
		raw, ok := fixed[d.ID]
		if !ok {
			continue
		}
		seen++
		v, err := d.Canonical(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		out[i].Fixed, out[i].FixedBy = v, source
	}
	if seen != len(fixed) {
		for id := range fixed {
			if !slices.ContainsFunc(out, func(d SettingDef) bool { return d.ID == id }) {
				return nil, fmt.Errorf("%s: unknown setting %q; GET /:/prefs lists them", source, id)
			}
		}
	}
	return out, nil
}

// fixedConflict returns an ECONFLICT error when canon (valid values by
// id) would change a setting a config file fixes; nil when it changes
// none (giving a fixed setting the value it has is no change).
func fixedConflict(defs map[string]SettingDef, canon map[string]string) error {
	var problems []string
	for id, v := range canon {
		if d := defs[id]; d.FixedBy != "" && v != d.Fixed {
			problems = append(problems, fmt.Sprintf("%s is fixed to %q by the config file %s (settings: %s); change it there and restart the server", id, d.Fixed, d.FixedBy, id))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	slices.Sort(problems)
	return Errorf(ECONFLICT, "nothing was changed: %s", strings.Join(problems, "; "))
}
