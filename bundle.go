package butler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/plexbutler/butler/internal/atomicfile"
)

// The bundle layout: each media item's generated files (thumbnails, index
// files) live in a folder of their own under the bundles root,
//
//	<root>/<xx>/<id>.bundle/
//
// where <id> is the item's id in 16 hexadecimal digits and <xx> its last
// two, so that the items spread evenly over 256 folders. The bundle holds
// a manifest (BundleManifestName) that names its item and lists its files;
// a writer writes its files first and the manifest last, so that a file
// that no manifest lists an hour after it was written is an orphan
// (GarbageCollectBlobs removes those). CleanOldBundles removes the bundles
// of items no longer in the index.
const (
	// BundleFormat is the format of the manifests this Butler writes. A
	// bundle whose manifest has an older format is removed (what it holds
	// is made again); one with a newer format, left by a newer Butler, is
	// left alone.
	BundleFormat = 1
	// BundleManifestName is the name of a bundle's manifest.
	BundleManifestName = "manifest.json"
	// BundleSuffix ends the name of a bundle's folder.
	BundleSuffix = ".bundle"
)

// BundleManifest is what a bundle's manifest says.
type BundleManifest struct {
	// Format is the manifest's format (BundleFormat when written).
	Format int `json:"format"`
	// Item is the media item's id; Path its file's path when the bundle
	// was written. A bundle whose item has another path in the index is
	// another item's (an index restored or made again).
	Item int64  `json:"item"`
	Path string `json:"path"`
	// Files are the bundle's files, relative to its folder, with "/"
	// between folders ("thumbs/0001.jpg"); not the manifest, not hidden
	// (no name starts with a dot), each once.
	Files []string `json:"files"`
}

// Validate reports what is wrong with m, as an EINVALID *Error: an item id
// that is not positive, a path that is not absolute, or a file name that
// leaves the bundle, is hidden, is the manifest or is listed twice. It
// does not look at the format.
func (m BundleManifest) Validate() error {
	if m.Item <= 0 {
		return Errorf(EINVALID, "bundle manifest: item id %d is not a positive number", m.Item)
	}
	if !filepath.IsAbs(m.Path) {
		return Errorf(EINVALID, "bundle manifest of item %d: path %q is not absolute", m.Item, m.Path)
	}
	seen := map[string]bool{}
	for _, f := range m.Files {
		if !validBundleFile(f) {
			return Errorf(EINVALID, "bundle manifest of item %d: file %q must be a relative path inside the bundle, "+
				"written cleanly with \"/\", with no part starting with a dot, and not %s", m.Item, f, BundleManifestName)
		}
		if seen[f] {
			return Errorf(EINVALID, "bundle manifest of item %d: file %q is listed twice", m.Item, f)
		}
		seen[f] = true
	}
	return nil
}

// validBundleFile reports whether f may be listed in a manifest.
func validBundleFile(f string) bool {
	if f == "" || f == BundleManifestName || path.Clean(f) != f || path.IsAbs(f) || strings.Contains(f, `\`) {
		return false
	}
	for part := range strings.SplitSeq(f, "/") {
		if part == "" || strings.HasPrefix(part, ".") {
			return false
		}
	}
	return true
}

// ParseBundleManifest reads a manifest. A manifest of another format than
// BundleFormat comes back with its Format alone checked (the caller
// decides what to do with it); one without a format (0) is older than
// any. One of the current format is validated. Anything else (not a JSON
// object, a negative format) is an EINVALID *Error.
func ParseBundleManifest(data []byte) (BundleManifest, error) {
	var m BundleManifest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return m, Errorf(EINVALID, "bundle manifest: not a manifest: %v", err)
	}
	if m.Format < 0 {
		return m, Errorf(EINVALID, "bundle manifest: format %d is negative", m.Format)
	}
	if m.Format != BundleFormat {
		return m, nil
	}
	return m, m.Validate()
}

// Bundles is the bundles root: where each item's bundle is.
type Bundles struct {
	// Root is the bundles root's absolute path.
	Root string
}

// BundleDir returns the path of item id's bundle, relative to the
// bundles root ("34/0000000000001234.bundle").
func BundleDir(id int64) string {
	return filepath.Join(fmt.Sprintf("%02x", uint64(id)&0xff), fmt.Sprintf("%016x", uint64(id))+BundleSuffix)
}

// ParseBundleDir returns the item id of a bundle from its shard's name and
// its folder's name, and false when they are not a bundle's.
func ParseBundleDir(shard, name string) (int64, bool) {
	hex, ok := strings.CutSuffix(name, BundleSuffix)
	if !ok || len(hex) != 16 || len(shard) != 2 || strings.ToLower(hex) != hex {
		return 0, false
	}
	id, err := strconv.ParseUint(hex, 16, 63)
	if err != nil || id == 0 || fmt.Sprintf("%02x", id&0xff) != shard {
		return 0, false
	}
	return int64(id), true
}

// Dir returns the absolute path of item id's bundle.
func (b Bundles) Dir(id int64) string { return filepath.Join(b.Root, BundleDir(id)) }

// ReadManifest reads item id's manifest, as ParseBundleManifest does, and
// checks that it names that item.
func (b Bundles) ReadManifest(id int64) (BundleManifest, error) {
	p := filepath.Join(b.Dir(id), BundleManifestName)
	data, err := os.ReadFile(p)
	if err != nil {
		return BundleManifest{}, err
	}
	m, err := ParseBundleManifest(data)
	if err != nil {
		return m, fmt.Errorf("%s: %w", p, err)
	}
	if m.Format == BundleFormat && m.Item != id {
		return m, Errorf(EINVALID, "%s names item %d, not %d", p, m.Item, id)
	}
	return m, nil
}

// WriteManifest writes the manifest of item m.Item atomically, in the
// current format, with its files sorted, creating the bundle's folder when
// it is missing. Write the files it lists first.
func (b Bundles) WriteManifest(m BundleManifest) error {
	if !filepath.IsAbs(b.Root) {
		return Errorf(EINVALID, "bundles root %q is not an absolute path", b.Root)
	}
	m.Format = BundleFormat
	m.Files = slices.Sorted(slices.Values(m.Files))
	if err := m.Validate(); err != nil {
		return err
	}
	dir := b.Dir(m.Item)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create bundle %s: %w", dir, err)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, BundleManifestName), append(data, '\n'), 0o644)
}
