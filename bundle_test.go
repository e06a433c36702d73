package butler_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/plexbutler/butler"
)

func TestBundleDir(t *testing.T) {
	for _, tt := range []struct {
		id   int64
		want string
	}{
		{1, "01/0000000000000001.bundle"},
		{0x1234, "34/0000000000001234.bundle"},
		{255, "ff/00000000000000ff.bundle"},
		{256, "00/0000000000000100.bundle"},
	} {
		got := butler.BundleDir(tt.id)
		if got != filepath.FromSlash(tt.want) {
			t.Errorf("BundleDir(%d) = %q, want %q", tt.id, got, tt.want)
		}
		shard, name := filepath.Split(got)
		if id, ok := butler.ParseBundleDir(filepath.Clean(shard), name); !ok || id != tt.id {
			t.Errorf("ParseBundleDir(%q, %q) = %d, %v; want %d", shard, name, id, ok, tt.id)
		}
	}
	for _, bad := range [][2]string{
		{"35", "0000000000001234.bundle"},  // the wrong shard
		{"34", "0000000000001234"},         // no suffix
		{"34", "000000000001234.bundle"},   // 15 digits
		{"34", "00000000000012G4.bundle"},  // not hexadecimal
		{"ab", "00000000000000AB.bundle"},  // upper case
		{"00", "0000000000000000.bundle"},  // item 0
		{"ff", "ffffffffffffffff.bundle"},  // beyond int64
		{"34", ".0000000000001234.bundle"}, // hidden
	} {
		if id, ok := butler.ParseBundleDir(bad[0], bad[1]); ok {
			t.Errorf("ParseBundleDir(%q, %q) = %d; want no bundle", bad[0], bad[1], id)
		}
	}
}

func TestBundleManifest_RoundTrip(t *testing.T) {
	b := butler.Bundles{Root: filepath.Join(t.TempDir(), "Media")}
	m := butler.BundleManifest{Item: 0x1234, Path: "/media/movies/Alien.mkv", Files: []string{"thumbs/0002.jpg", "index.bif", "thumbs/0001.jpg"}}
	if err := b.WriteManifest(m); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(b.Root, "34", "0000000000001234.bundle")
	if b.Dir(0x1234) != dir {
		t.Errorf("Dir = %s, want %s", b.Dir(0x1234), dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 || entries[0].Name() != butler.BundleManifestName {
		t.Fatalf("bundle folder holds %v (%v); want the manifest alone (no temporary file left)", entries, err)
	}
	got, err := b.ReadManifest(0x1234)
	if err != nil {
		t.Fatal(err)
	}
	want := m
	want.Format = butler.BundleFormat
	want.Files = []string{"index.bif", "thumbs/0001.jpg", "thumbs/0002.jpg"}
	if got.Format != want.Format || got.Item != want.Item || got.Path != want.Path || !slices.Equal(got.Files, want.Files) {
		t.Errorf("ReadManifest = %+v, want %+v", got, want)
	}
	// Another item's manifest in this item's place.
	if err := os.MkdirAll(b.Dir(0x1334), 0o755); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, butler.BundleManifestName))
	if err := os.WriteFile(filepath.Join(b.Dir(0x1334), butler.BundleManifestName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadManifest(0x1334); butler.ErrorCode(err) != butler.EINVALID {
		t.Errorf("ReadManifest of a manifest naming another item: %v; want EINVALID", err)
	}
	if _, err := b.ReadManifest(7); !os.IsNotExist(err) {
		t.Errorf("ReadManifest of no bundle: %v; want not exist", err)
	}
}

func TestBundleManifest_Invalid(t *testing.T) {
	b := butler.Bundles{Root: t.TempDir()}
	for name, m := range map[string]butler.BundleManifest{
		"no item":           {Path: "/m/a.mkv"},
		"a relative path":   {Item: 1, Path: "m/a.mkv"},
		"a file outside":    {Item: 1, Path: "/m/a.mkv", Files: []string{"../a.jpg"}},
		"an absolute file":  {Item: 1, Path: "/m/a.mkv", Files: []string{"/etc/passwd"}},
		"a hidden file":     {Item: 1, Path: "/m/a.mkv", Files: []string{"thumbs/.a.jpg.123.tmp"}},
		"the manifest":      {Item: 1, Path: "/m/a.mkv", Files: []string{butler.BundleManifestName}},
		"a file twice":      {Item: 1, Path: "/m/a.mkv", Files: []string{"a.jpg", "a.jpg"}},
		"an unclean path":   {Item: 1, Path: "/m/a.mkv", Files: []string{"thumbs//a.jpg"}},
		"a backslash":       {Item: 1, Path: "/m/a.mkv", Files: []string{`thumbs\a.jpg`}},
		"an empty name":     {Item: 1, Path: "/m/a.mkv", Files: []string{""}},
		"a trailing slash":  {Item: 1, Path: "/m/a.mkv", Files: []string{"thumbs/"}},
		"a dot folder name": {Item: 1, Path: "/m/a.mkv", Files: []string{"./a.jpg"}},
	} {
		if err := b.WriteManifest(m); butler.ErrorCode(err) != butler.EINVALID {
			t.Errorf("%s: WriteManifest = %v; want EINVALID", name, err)
		}
	}
	if err := (butler.Bundles{Root: "Media"}).WriteManifest(butler.BundleManifest{Item: 1, Path: "/m/a.mkv"}); butler.ErrorCode(err) != butler.EINVALID {
		t.Errorf("a relative root: %v; want EINVALID", err)
	}
	if entries, _ := os.ReadDir(b.Root); len(entries) != 0 {
		t.Errorf("refused manifests left %v in the root", entries)
	}
}

func TestParseBundleManifest(t *testing.T) {
	for _, tt := range []struct {
		data   string
		format int
		ok     bool
	}{
		{`{"format":1,"item":3,"path":"/m/a.mkv","files":["a.jpg"]}`, 1, true},
		{`{"format":0,"item":3,"path":"/m/a.mkv"}`, 0, true},   // an older, unnumbered format
		{`{"item":3,"path":"/m/a.mkv"}`, 0, true},              // no format: the same
		{`{"format":-1,"item":3,"path":"/m/a.mkv"}`, 0, false}, // negative
		{`[1, 2]`, 0, false}, // not an object
		{`{"format":2,"item":3,"whatever":[1,2]}`, 2, true},                    // a newer format: not checked further
		{`{"format":1,"item":3,"path":"/m/a.mkv","files":["../x"]}`, 1, false}, // current and invalid
		{`{"format":1,"item":3,"path":"/m/a.mkv"`, 0, false},                   // cut short
		{``, 0, false},
		{"\x00\x01garbage", 0, false},
	} {
		m, err := butler.ParseBundleManifest([]byte(tt.data))
		if (err == nil) != tt.ok || (err != nil && butler.ErrorCode(err) != butler.EINVALID) {
			t.Errorf("ParseBundleManifest(%q): %v; want ok %v (or EINVALID)", tt.data, err, tt.ok)
		}
		if tt.ok && m.Format != tt.format {
			t.Errorf("ParseBundleManifest(%q).Format = %d, want %d", tt.data, m.Format, tt.format)
		}
		if err != nil && !strings.Contains(err.Error(), "bundle manifest") {
			t.Errorf("ParseBundleManifest(%q): error %q does not say what it was reading", tt.data, err)
		}
	}
}
