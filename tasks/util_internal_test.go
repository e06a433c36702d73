package tasks

import (
	"testing"
	"time"
)

func TestFormatBytes(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{1023, "1023 B"},
		{1024, "1 KiB"},
		{1536, "1.5 KiB"},
		{12 * 1024, "12 KiB"},
		{1024*1024 - 1, "1 MiB"},
		{1258291, "1.2 MiB"},
		{5 << 30, "5 GiB"},
		{3 << 40, "3 TiB"},
		{1 << 62, "4 EiB"},
		{-5, "-5 B"},
	} {
		if got := formatBytes(c.n); got != c.want {
			t.Errorf("formatBytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

func TestBackupBaseName(t *testing.T) {
	for _, c := range []struct{ source, want string }{
		{"/x/butler.db", "butler"},
		{"/x/com.plexapp.plugins.library.db", "com.plexapp.plugins.library"},
		{"butler", "butler"},
		{"/x/.db", ".db"},
	} {
		if got := backupBaseName(c.source); got != c.want {
			t.Errorf("backupBaseName(%q) = %q, want %q", c.source, got, c.want)
		}
	}
}

func TestParseBackupName(t *testing.T) {
	want := time.Date(2026, 11, 28, 3, 15, 0, 0, time.UTC)
	if got, ok := parseBackupName("butler-20261128-031500.db", "butler"); !ok || !got.Equal(want) {
		t.Errorf("parseBackupName = %v, %v; want %v, true", got, ok, want)
	}
	for _, name := range []string{
		"butler-20261128-031500.db.bak",
		"butler-20261128-0315.db",
		"butler-20261328-031500.db",
		"butler-x-20261128-031500.db",
		"other-20261128-031500.db",
		".butler-20261128-031500-1.tmp",
		"butler-20261128-031500.tmp",
	} {
		if _, ok := parseBackupName(name, "butler"); ok {
			t.Errorf("parseBackupName(%q) matched", name)
		}
	}
}

func TestIsBackupTemp(t *testing.T) {
	for _, name := range []string{
		".butler-20261128-031500-123.tmp",
		".butler-20261128-031500-4170928134.tmp-journal",
		".butler-20261128-031500-1.tmp-wal",
		".butler-20261128-031500-1.tmp-shm",
	} {
		if !isBackupTemp(name, "butler") {
			t.Errorf("isBackupTemp(%q) = false", name)
		}
	}
	for _, name := range []string{
		"butler-20261128-031500-123.tmp",
		".butler-20261128-031500-.tmp",
		".butler-20261128-031500-12a.tmp",
		".butler-20261128-031500.tmp",
		".butler-x-20261128-031500-1.tmp",
		".other-20261128-031500-1.tmp",
		".butler-20261128-031500-1.tmp-other",
		".butler-20261128-031500-1.tmp.db",
	} {
		if isBackupTemp(name, "butler") {
			t.Errorf("isBackupTemp(%q) = true", name)
		}
	}
}

func TestPercentOf(t *testing.T) {
	for _, c := range []struct{ done, total, want int }{
		{0, 0, 100}, {0, 10, 0}, {5, 10, 50}, {10, 10, 100}, {1, 3, 33},
	} {
		if got := percentOf(c.done, c.total); got != c.want {
			t.Errorf("percentOf(%d, %d) = %d, want %d", c.done, c.total, got, c.want)
		}
	}
}
