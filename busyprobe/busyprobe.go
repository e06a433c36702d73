// Package busyprobe tells whether a media server's users are busy (someone
// is watching or listening) or the machine is loaded, so that heavy
// maintenance can pause meanwhile (butler.BusyProbe). It asks a Plex,
// Jellyfin or Emby server for its active sessions, and reads the load
// average.
package busyprobe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/plexbutler/butler"
)

// maxAnswer bounds a sessions answer read.
const maxAnswer = 4 << 20

// defaultTimeout bounds one question when the client has no timeout.
const defaultTimeout = 10 * time.Second

// Plex asks a Plex Media Server for its playback sessions
// (GET /status/sessions): busy while it has any.
type Plex struct {
	// URL is the server's address ("http://127.0.0.1:32400"); Token its
	// X-Plex-Token, sent in a header.
	URL, Token string
	// Client is the HTTP client; nil means one with a 10 s timeout.
	Client *http.Client
}

var _ butler.BusyProbe = (*Plex)(nil)

// Busy asks the server for its sessions.
func (p *Plex) Busy(ctx context.Context) (bool, string, error) {
	var answer struct {
		MediaContainer struct {
			Size int `json:"size"`
		} `json:"MediaContainer"`
	}
	h := http.Header{"X-Plex-Token": {p.Token}, "Accept": {"application/json"}}
	if err := getJSON(ctx, p.Client, strings.TrimRight(p.URL, "/")+"/status/sessions", h, &answer); err != nil {
		return false, "", fmt.Errorf("Plex sessions: %w", err)
	}
	if n := answer.MediaContainer.Size; n > 0 {
		return true, "Plex: " + playing(n), nil
	}
	return false, "", nil
}

// Jellyfin asks a Jellyfin or Emby server for its sessions
// (GET /Sessions): busy while one of them is playing something.
type Jellyfin struct {
	// Name names the server in the reason ("Jellyfin", "Emby"); default
	// "Jellyfin".
	Name string
	// URL is the server's address ("http://127.0.0.1:8096"); Token an API
	// key, sent in the X-Emby-Token header (both servers read it).
	URL, Token string
	// Client is the HTTP client; nil means one with a 10 s timeout.
	Client *http.Client
}

var _ butler.BusyProbe = (*Jellyfin)(nil)

// Busy asks the server for its sessions and counts those playing.
func (j *Jellyfin) Busy(ctx context.Context) (bool, string, error) {
	name := j.Name
	if name == "" {
		name = "Jellyfin"
	}
	var sessions []struct {
		NowPlayingItem json.RawMessage `json:"NowPlayingItem"`
	}
	h := http.Header{"X-Emby-Token": {j.Token}, "Accept": {"application/json"}}
	if err := getJSON(ctx, j.Client, strings.TrimRight(j.URL, "/")+"/Sessions", h, &sessions); err != nil {
		return false, "", fmt.Errorf("%s sessions: %w", name, err)
	}
	n := 0
	for _, s := range sessions {
		if len(s.NowPlayingItem) > 0 && string(s.NowPlayingItem) != "null" {
			n++
		}
	}
	if n > 0 {
		return true, name + ": " + playing(n), nil
	}
	return false, "", nil
}

// playing says how many sessions are playing.
func playing(n int) string {
	if n == 1 {
		return "1 session playing"
	}
	return strconv.Itoa(n) + " sessions playing"
}

// noRedirect is the default client's CheckRedirect: a redirect is not
// followed. net/http would copy the token's header (X-Plex-Token,
// X-Emby-Token) to whatever host a redirect names.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// getJSON gets url with header h and decodes its JSON answer into v.
func getJSON(ctx context.Context, c *http.Client, url string, h http.Header, v any) error {
	if c == nil {
		c = &http.Client{Timeout: defaultTimeout, CheckRedirect: noRedirect}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header = h
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
		// Not followed: the token would go to whatever host it names.
		return fmt.Errorf("%s, a redirect to %s, which is not followed (the token would go with it): give that address as the url", resp.Status, loc)
	}
	if resp.StatusCode != http.StatusOK {
		msg := resp.Status
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			msg += " (check the token)"
		}
		return errors.New(msg)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(v); err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	return nil
}

// Load is busy while the machine's 1-minute load average is above a
// threshold.
type Load struct {
	// Above is the threshold; busy when the load is greater.
	Above float64
	// Path is the load average file; "" means /proc/loadavg.
	Path string
}

var _ butler.BusyProbe = (*Load)(nil)

// Busy reads the load average.
func (l *Load) Busy(context.Context) (bool, string, error) {
	path := l.Path
	if path == "" {
		path = "/proc/loadavg"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return false, "", fmt.Errorf("load average: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return false, "", fmt.Errorf("load average: %s is empty", path)
	}
	load, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return false, "", fmt.Errorf("load average: %s: %w", path, err)
	}
	if load > l.Above {
		return true, fmt.Sprintf("load average %.2f above %g", load, l.Above), nil
	}
	return false, "", nil
}

// Any is busy while any of its probes is; its reason joins theirs. A probe
// that fails counts as not busy (a media server that is down has nobody
// watching), and its error is returned beside the others' answer.
type Any []butler.BusyProbe

var _ butler.BusyProbe = Any(nil)

// Busy asks every probe.
func (a Any) Busy(ctx context.Context) (bool, string, error) {
	var reasons []string
	var errs []error
	for _, p := range a {
		busy, reason, err := p.Busy(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if busy {
			reasons = append(reasons, reason)
		}
	}
	return len(reasons) > 0, strings.Join(reasons, "; "), errors.Join(errs...)
}
