package butler_test

import (
	"context"
	"strings"
	"testing"

	"github.com/plexbutler/butler"
)

// TestSettings_FixedByConfigFile starts a manager with settings a config
// file fixes over different stored values: the file's values win, GET
// /:/prefs (SettingDefs and Settings) shows them beside the built-in
// defaults, a change through the API
// is refused with ECONFLICT naming the file and the setting and changes
// nothing, and setting the value it has is accepted.
func TestSettings_FixedByConfigFile(t *testing.T) {
	ctx := context.Background()
	f := start(t, nil, map[string]string{butler.SettingStartHour: "3", butler.SettingEndHour: "7"}, func(c *butler.Config) {
		c.FixedSettings = map[string]string{butler.SettingStartHour: "1", butler.SettingTimeZone: "Europe/Berlin"}
		c.FixedBy = "/etc/butler.yaml"
	})
	s := f.m.Settings()
	if got := s.Get(butler.SettingStartHour); got != "1" {
		t.Errorf("start hour %q, want the file's 1 over the stored 3", got)
	}
	if got := s.Location().String(); got != "Europe/Berlin" {
		t.Errorf("zone %s, want the file's Europe/Berlin", got)
	}
	if got := s.Get(butler.SettingEndHour); got != "7" {
		t.Errorf("end hour %q, want the stored 7 (the file does not fix it)", got)
	}
	d := settingDef(t, f.m.SettingDefs(), butler.SettingStartHour)
	// The default stays the built-in one: the file's value is its own.
	if d.FixedBy != "/etc/butler.yaml" || d.Fixed != "1" || d.Default != "2" {
		t.Errorf("ButlerStartHour def: FixedBy %q, Fixed %q, Default %q; want the file, 1 and the built-in 2", d.FixedBy, d.Fixed, d.Default)
	}

	err := f.m.SetSettings(ctx, map[string]string{butler.SettingStartHour: "4", butler.SettingEndHour: "8"})
	if butler.ErrorCode(err) != butler.ECONFLICT {
		t.Fatalf("SetSettings of a fixed setting: %v, want ECONFLICT", err)
	}
	for _, want := range []string{"ButlerStartHour", "/etc/butler.yaml", "nothing was changed"} {
		if !strings.Contains(butler.ErrorMessage(err), want) {
			t.Errorf("message %q does not name %q", butler.ErrorMessage(err), want)
		}
	}
	if s := f.m.Settings(); s.Get(butler.SettingStartHour) != "1" || s.Get(butler.SettingEndHour) != "7" {
		t.Errorf("after a refused change: start %s, end %s; want 1 and 7", s.Get(butler.SettingStartHour), s.Get(butler.SettingEndHour))
	}
	// The fixed value itself, and other settings, are accepted.
	if err := f.m.SetSettings(ctx, map[string]string{butler.SettingStartHour: "1", butler.SettingEndHour: "8"}); err != nil {
		t.Fatalf("SetSettings with the fixed value: %v", err)
	}
	if got := f.m.Settings().Get(butler.SettingEndHour); got != "8" {
		t.Errorf("end hour %q, want 8", got)
	}
}

func TestFixSettings_Errors(t *testing.T) {
	defs := butler.SettingDefs(nil, "/data", "UTC")
	for fixed, want := range map[string]string{
		"ButlerStartHour=25": "/f.yaml: ButlerStartHour: 25 is out of range; use 0..23",
		"NoSuchSetting=1":    `/f.yaml: unknown setting "NoSuchSetting"; GET /:/prefs lists them`,
	} {
		id, v, _ := strings.Cut(fixed, "=")
		if _, err := butler.FixSettings(defs, map[string]string{id: v}, "/f.yaml"); err == nil || err.Error() != want {
			t.Errorf("FixSettings(%s) = %v, want %s", fixed, err, want)
		}
	}
}
