package tasks

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	butler "github.com/plexbutler/butler"
)

// maxFeedBytes bounds the size of an update feed.
const maxFeedBytes = 1 << 20

// Release is one release of an update feed.
type Release struct {
	// Version is the release's semantic version ("1.4.0", "v2.0.0-rc.1").
	Version string `json:"version"`
	// Date is the release date as the feed gives it ("2026-11-01").
	Date string `json:"date"`
	// NotesURL points at the release notes.
	NotesURL string `json:"notes_url"`
}

// CheckForUpdates is the action of the CheckForUpdates task: it reads a
// JSON update feed and reports whether a newer version than the running one
// is available. It installs nothing.
//
// The feed is one release object, {"version": "1.4.0", "date":
// "2026-11-01", "notes_url": "https://..."}, or a list of them, of which
// the highest version counts; other fields are ignored. Versions are
// compared as semantic versions by [CompareVersions]. The summary is "up to
// date (1.3.0)" or "1.4.0 available (running 1.3.0): <notes url>"; Notify,
// when set, is called with the newer release. A feed that cannot be
// fetched (an HTTP status other than 200), is not such JSON, is larger
// than 1 MiB or holds a version that is not a semantic version is an
// error, as is a Current that is not one.
type CheckForUpdates struct {
	// FeedURL is the feed's URL.
	FeedURL string
	// Current is the running version.
	Current string
	// Client fetches the feed; nil means http.DefaultClient (ctx bounds
	// the request).
	Client *http.Client
	// Notify, when set, is called with the latest release when it is newer
	// than Current; nil announces it to the server's clients through the
	// run's reporter (butler.UpdateAnnouncer).
	Notify func(latest Release)
}

var _ butler.Action = (*CheckForUpdates)(nil)

// Run fetches the feed and compares its latest version with Current.
func (c *CheckForUpdates) Run(ctx context.Context, r butler.Reporter) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("update check not started: %w", err)
	}
	if c.FeedURL == "" {
		return errors.New("check for updates: no feed URL set")
	}
	current, err := parseVersion(c.Current)
	if err != nil {
		return fmt.Errorf("check for updates: running version: %w", err)
	}
	shown := redactURL(c.FeedURL)
	r.Progress(-1, "fetching the update feed")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.FeedURL, nil)
	if err != nil {
		return fmt.Errorf("update feed %s: %v", shown, redactErr(err, c.FeedURL))
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "butler/"+c.Current)
	client := c.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("update check stopped: %w", ctxErr)
		}
		return fmt.Errorf("fetch update feed %s: %w", shown, redactErr(err, c.FeedURL))
	}
	defer resp.Body.Close()
	body, more, err := readBounded(resp.Body, maxFeedBytes)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("update check stopped: %w", ctxErr)
		}
		return fmt.Errorf("read update feed %s: %w", shown, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := fmt.Sprintf("fetch update feed %s: HTTP %s", shown, resp.Status)
		if first := firstLine(body); first != "" {
			msg += ": " + first
		}
		return errors.New(msg)
	}
	if more {
		return fmt.Errorf("update feed %s is larger than %s", shown, formatBytes(maxFeedBytes))
	}
	latest, err := latestRelease(body)
	if err != nil {
		return fmt.Errorf("update feed %s: %w", shown, err)
	}
	lv, _ := parseVersion(latest.Version) // checked by latestRelease
	log := r.Logger()
	r.Progress(100, "done")
	if compareParsed(lv, current) <= 0 {
		log.Info("no newer version", "running", c.Current, "latest", latest.Version)
		r.Summary(fmt.Sprintf("up to date (%s)", c.Current))
		return nil
	}
	summary := fmt.Sprintf("%s available (running %s)", latest.Version, c.Current)
	if latest.NotesURL != "" {
		summary += ": " + latest.NotesURL
	}
	log.Info("a newer version is available", "running", c.Current, "latest", latest.Version,
		"date", latest.Date, "notes_url", latest.NotesURL)
	r.Summary(oneLine(summary))
	switch a, ok := r.(butler.UpdateAnnouncer); {
	case c.Notify != nil:
		c.Notify(latest)
	case ok:
		a.AnnounceUpdate(butler.Update{Version: latest.Version, NotesURL: latest.NotesURL})
	}
	return nil
}

// latestRelease decodes a feed, one release or a list of them, and returns
// the release with the highest version.
func latestRelease(body []byte) (Release, error) {
	trimmed := bytes.TrimSpace(body)
	var rels []Release
	switch {
	case len(trimmed) == 0:
		return Release{}, errors.New("the feed is empty; want a JSON object {\"version\": ...} or a list of them")
	case trimmed[0] == '[':
		if err := json.Unmarshal(trimmed, &rels); err != nil {
			return Release{}, fmt.Errorf("not a JSON list of releases: %w", err)
		}
		if len(rels) == 0 {
			return Release{}, errors.New("the feed lists no releases")
		}
	case trimmed[0] == '{':
		var rel Release
		if err := json.Unmarshal(trimmed, &rel); err != nil {
			return Release{}, fmt.Errorf("not a JSON release object: %w", err)
		}
		rels = []Release{rel}
	default:
		return Release{}, errors.New("not JSON; want an object {\"version\": ...} or a list of them")
	}
	var best Release
	var bestV semver
	for i, rel := range rels {
		v, err := parseVersion(rel.Version)
		if err != nil {
			if len(rels) > 1 {
				return Release{}, fmt.Errorf("release %d: %w", i+1, err)
			}
			return Release{}, err
		}
		if i == 0 || compareParsed(v, bestV) > 0 {
			best, bestV = rel, v
		}
	}
	return best, nil
}

// semver is a parsed semantic version; build metadata is dropped.
type semver struct {
	major, minor, patch uint64
	pre                 []string // dot-separated prerelease identifiers
}

// CompareVersions compares two semantic versions, MAJOR.MINOR.PATCH with
// an optional leading "v", an optional "-prerelease" and optional
// "+build" metadata (ignored), by semantic-versioning precedence: it
// returns -1 when a < b, 0 when they are equal, +1 when a > b. A
// prerelease is lower than its release (1.0.0-rc.1 < 1.0.0); prerelease
// identifiers compare numerically when both are numbers, and a number is
// lower than a word. It returns an error naming the version that is not a
// semantic version.
func CompareVersions(a, b string) (int, error) {
	va, err := parseVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseVersion(b)
	if err != nil {
		return 0, err
	}
	return compareParsed(va, vb), nil
}

// parseVersion parses a semantic version.
func parseVersion(s string) (semver, error) {
	bad := func(why string) (semver, error) {
		return semver{}, fmt.Errorf("version %q is not a semantic version (MAJOR.MINOR.PATCH, like 1.4.0 or v1.4.0-rc.1): %s", s, why)
	}
	v := s
	if strings.HasPrefix(v, "v") || strings.HasPrefix(v, "V") {
		v = v[1:]
	}
	if v == "" {
		return bad("it is empty")
	}
	if i := strings.IndexByte(v, '+'); i >= 0 {
		if i == len(v)-1 {
			return bad("empty build metadata")
		}
		v = v[:i]
	}
	core, pre, hasPre := strings.Cut(v, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return bad("want three numbers separated by dots")
	}
	var nums [3]uint64
	for i, p := range parts {
		if p == "" || strings.TrimLeft(p, "0123456789") != "" {
			return bad(fmt.Sprintf("%q is not a number", p))
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return bad(fmt.Sprintf("%q is too large", p))
		}
		nums[i] = n
	}
	out := semver{major: nums[0], minor: nums[1], patch: nums[2]}
	if hasPre {
		if pre == "" {
			return bad("empty prerelease")
		}
		for id := range strings.SplitSeq(pre, ".") {
			if id == "" {
				return bad("empty prerelease identifier")
			}
			for _, c := range id {
				if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
					return bad(fmt.Sprintf("prerelease identifier %q may hold only letters, digits and '-'", id))
				}
			}
			out.pre = append(out.pre, id)
		}
	}
	return out, nil
}

// compareParsed compares two parsed versions by precedence.
func compareParsed(a, b semver) int {
	if c := cmp.Or(cmp.Compare(a.major, b.major), cmp.Compare(a.minor, b.minor), cmp.Compare(a.patch, b.patch)); c != 0 {
		return c
	}
	switch {
	case len(a.pre) == 0 && len(b.pre) == 0:
		return 0
	case len(a.pre) == 0:
		return 1 // a release is higher than its prereleases
	case len(b.pre) == 0:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		if c := comparePreID(a.pre[i], b.pre[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a.pre), len(b.pre))
}

// comparePreID compares two prerelease identifiers.
func comparePreID(a, b string) int {
	na, aNum := numericID(a)
	nb, bNum := numericID(b)
	switch {
	case aNum && bNum:
		return cmp.Compare(na, nb)
	case aNum:
		return -1
	case bNum:
		return 1
	}
	return strings.Compare(a, b)
}

// numericID reports whether id is all digits, and its value.
func numericID(id string) (uint64, bool) {
	if strings.TrimLeft(id, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		// Too large for uint64: compare such huge numbers as the largest.
		return ^uint64(0), true
	}
	return n, true
}
