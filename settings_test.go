package butler_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plexbutler/butler"
)

// settingDef returns the definition of the setting id.
func settingDef(t *testing.T, defs []butler.SettingDef, id string) butler.SettingDef {
	t.Helper()
	for _, d := range defs {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("no setting %s", id)
	return butler.SettingDef{}
}

// TestSettings_TimeZoneIsAnIANAName checks that ButlerTimeZone takes IANA
// names and UTC only: time.LoadLocation also takes "" and "Local".
func TestSettings_TimeZoneIsAnIANAName(t *testing.T) {
	zone := settingDef(t, butler.SettingDefs(nil, t.TempDir(), "UTC"), butler.SettingTimeZone)
	for _, c := range []struct {
		raw, want string
		err       string // a part of the error, "" for none
	}{
		{"Europe/Berlin", "Europe/Berlin", ""},
		{"America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires", ""},
		{"UTC", "UTC", ""},
		{" Asia/Tokyo ", "Asia/Tokyo", ""},
		{"Local", "", `"Local" names no zone, only the host's`},
		{" Local", "", `"Local" names no zone`},
		{"", "", "the time zone is empty"},
		{"  ", "", "the time zone is empty"},
		{"Mars/Olympus", "", `unknown time zone "Mars/Olympus"`},
		{"/etc/localtime", "", "unknown time zone"},
		{"../zoneinfo/UTC", "", "unknown time zone"},
	} {
		got, err := zone.Canonical(c.raw)
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("Canonical(%q) = %q, %v; want %q", c.raw, got, err, c.want)
		case c.err != "" && err == nil:
			t.Errorf("Canonical(%q) = %q; want an error", c.raw, got)
		case c.err != "" && (!strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "IANA name such as Europe/Berlin")):
			t.Errorf("Canonical(%q): %q; want it to say %q and to ask for an IANA name such as Europe/Berlin", c.raw, err, c.err)
		}
	}
}

// TestSettings_HostZoneMustBeAnIANAName checks the default of
// ButlerTimeZone: the host's zone when it is a name the setting takes, UTC
// otherwise (TZ=Local names none).
func TestSettings_HostZoneMustBeAnIANAName(t *testing.T) {
	for host, want := range map[string]string{"Europe/Berlin": "Europe/Berlin", " Asia/Tokyo\n": "Asia/Tokyo", "Local": "UTC", "": "UTC", "Nowhere/Land": "UTC"} {
		if got := settingDef(t, butler.SettingDefs(nil, t.TempDir(), host), butler.SettingTimeZone).Default; got != want {
			t.Errorf("host zone %q: default %q, want %q", host, got, want)
		}
	}
}

// TestSettings_StoredLocalZoneFallsBack starts a manager whose store holds
// ButlerTimeZone=Local (accepted before it was refused): the default zone
// is used.
func TestSettings_StoredLocalZoneFallsBack(t *testing.T) {
	f := start(t, nil, map[string]string{butler.SettingTimeZone: "Local", butler.SettingStartHour: "3"})
	s := f.m.Settings()
	if got := s.Get(butler.SettingTimeZone); got != "UTC" || s.Location().String() != "UTC" {
		t.Fatalf("zone %q (%s), want the default, UTC", got, s.Location())
	}
	if got := s.Get(butler.SettingStartHour); got != "3" {
		t.Fatalf("start hour %q, want the stored 3", got)
	}
}

// TestSettings_HourChoices checks the choices of the window's hours: exactly
// what a Plex server sends, which clients split at ':' into value and label
// (python-plexapi at every ':', so a label holds none).
func TestSettings_HourChoices(t *testing.T) {
	const want = "0:Midnight|1:1 am|2:2 am|3:3 am|4:4 am|5:5 am|6:6 am|7:7 am|8:8 am|9:9 am|10:10 am|11:11 am|12:Noon|" +
		"13:1 pm|14:2 pm|15:3 pm|16:4 pm|17:5 pm|18:6 pm|19:7 pm|20:8 pm|21:9 pm|22:10 pm|23:11 pm"
	defs := butler.SettingDefs(nil, t.TempDir(), "UTC")
	for _, id := range []string{butler.SettingStartHour, butler.SettingEndHour} {
		if got := settingDef(t, defs, id).EnumValues; got != want {
			t.Errorf("%s choices %q, want %q", id, got, want)
		}
	}
}

// TestSettings_FriendlyName checks FriendlyName: a Plex server's general
// setting, blank by default (the server's own name), trimmed, at most 255
// characters, no control characters, noncharacters or direction overrides.
func TestSettings_FriendlyName(t *testing.T) {
	d := settingDef(t, butler.SettingDefs(nil, t.TempDir(), "UTC"), butler.SettingFriendlyName)
	if d.Group != "general" || d.Type != butler.TypeText || d.Default != "" || d.Hidden {
		t.Fatalf("FriendlyName: %+v", d)
	}
	for _, c := range []struct{ raw, want, err string }{
		{"Kitchen", "Kitchen", ""},
		{"  Salle à manger ", "Salle à manger", ""},
		{"", "", ""},
		{strings.Repeat("é", 255), strings.Repeat("é", 255), ""},
		{strings.Repeat("é", 256), "", "has 256 characters; give at most 255"},
		{"a\tb", "", "control character"},
		{"a\x00b", "", "control character"},
		{"a\xffb", "", "not valid UTF-8"},
		{"a\uFFFEb", "", "U+FFFE at byte 1, a noncharacter"},
		{"a\U0010FFFFb", "", "U+10FFFF at byte 1, a noncharacter"},
		{"abc\u202Egpj.exe", "", "U+202E at byte 3"},
		{"a\u2066b", "", "U+2066"},
		{"Famille 👨\u200d👩\u200d👧", "Famille 👨\u200d👩\u200d👧", ""}, // joiners stay: emoji sequences use them
	} {
		got, err := d.Canonical(c.raw)
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("Canonical(%q) = %q, %v; want %q", c.raw, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err) || !strings.HasPrefix(err.Error(), "FriendlyName: ")):
			t.Errorf("Canonical(%q) = %q, %v; want an error naming FriendlyName saying %q", c.raw, got, err, c.err)
		}
	}
}

// TestBackupPathCreatesNothing: validating ButlerDatabaseBackupPath
// accepts a directory that does not exist yet without creating it, and
// refuses a path below a file or of a file, and one that cannot be made
// where it should be (in /proc, where not even root can make a directory).
func TestBackupPathCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	def := settingDef(t, butler.SettingDefs(nil, dir, "UTC"), butler.SettingBackupPath)
	newDir := filepath.Join(dir, "a", "b", "Backups")
	if got, err := def.Canonical(newDir + "/"); err != nil || got != newDir {
		t.Fatalf("Canonical(%q) = %q, %v; want it accepted", newDir+"/", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("validation created %s (stat: %v)", filepath.Join(dir, "a"), err)
	}
	if got, err := def.Canonical(dir); err != nil || got != dir {
		t.Fatalf("Canonical(%q) = %q, %v; want an existing directory accepted", dir, got, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("validation left files behind: %v", entries)
	}
	for path, want := range map[string]string{
		filepath.Join(file, "Backups"): "cannot create the backup directory: " + file + " is not a directory",
		file:                           file + " is not a directory",
		"relative/Backups":             "is not an absolute path",
	} {
		if _, err := def.Canonical(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Canonical(%q) = %v; want an error saying %q", path, err, want)
		}
	}
	if _, err := os.Stat("/proc/self"); err == nil {
		_, err := def.Canonical("/proc/butler-backups/Backups")
		if want := "cannot create the backup directory in /proc"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Canonical(/proc/butler-backups/Backups) = %v; want an error saying %q", err, want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("validation left files behind: %v", entries)
	}
}
