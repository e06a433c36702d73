package busyprobe_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/plexbutler/butler/busyprobe"
)

// plexServer serves GET /status/sessions as a Plex server does, with
// sessions playing, for token.
func plexServer(t *testing.T, token string, sessions *atomic.Int32) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status/sessions" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("X-Plex-Token") != token || r.URL.Query().Has("X-Plex-Token") {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		n := sessions.Load()
		body := `{"MediaContainer":{"size":` + strconv.Itoa(int(n))
		if n > 0 {
			body += `,"Metadata":[{"type":"movie","title":"A film"}]`
		}
		w.Write([]byte(body + "}}"))
	}))
	t.Cleanup(ts.Close)
	return ts
}

func TestPlex(t *testing.T) {
	var sessions atomic.Int32
	ts := plexServer(t, "secret", &sessions)
	p := &busyprobe.Plex{URL: ts.URL + "/", Token: "secret"}
	if busy, reason, err := p.Busy(t.Context()); err != nil || busy || reason != "" {
		t.Errorf("no session: %v %q %v; want not busy", busy, reason, err)
	}
	sessions.Store(2)
	if busy, reason, err := p.Busy(t.Context()); err != nil || !busy || reason != "Plex: 2 sessions playing" {
		t.Errorf("two sessions: %v %q %v; want busy, Plex: 2 sessions playing", busy, reason, err)
	}
	bad := &busyprobe.Plex{URL: ts.URL, Token: "wrong"}
	if _, _, err := bad.Busy(t.Context()); err == nil || !strings.Contains(err.Error(), "check the token") {
		t.Errorf("a wrong token: %v; want an error saying to check the token", err)
	}
}

func TestJellyfin(t *testing.T) {
	var answer atomic.Value
	answer.Store(`[]`)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/Sessions" || r.Header.Get("X-Emby-Token") != "key" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(answer.Load().(string)))
	}))
	defer ts.Close()
	j := &busyprobe.Jellyfin{URL: ts.URL, Token: "key"}
	for _, c := range []struct {
		answer string
		busy   bool
		reason string
	}{
		{`[]`, false, ""},
		// Sessions of connected clients that play nothing.
		{`[{"Client":"Web","NowPlayingItem":null},{"Client":"TV"}]`, false, ""},
		{`[{"Client":"Web","NowPlayingItem":{"Name":"A film"}},{"Client":"TV"}]`, true, "Jellyfin: 1 session playing"},
	} {
		answer.Store(c.answer)
		busy, reason, err := j.Busy(t.Context())
		if err != nil || busy != c.busy || reason != c.reason {
			t.Errorf("%s: %v %q %v; want %v %q", c.answer, busy, reason, err, c.busy, c.reason)
		}
	}
	emby := &busyprobe.Jellyfin{Name: "Emby", URL: ts.URL, Token: "key"}
	if _, reason, _ := emby.Busy(t.Context()); reason != "Emby: 1 session playing" {
		t.Errorf("named Emby: reason %q", reason)
	}
	answer.Store(`not json`)
	if _, _, err := j.Busy(t.Context()); err == nil {
		t.Error("an answer that is not JSON: no error")
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "loadavg")
	os.WriteFile(path, []byte("3.50 2.00 1.00 2/300 4242\n"), 0o644)
	if busy, reason, err := (&busyprobe.Load{Above: 3, Path: path}).Busy(context.Background()); err != nil || !busy || reason != "load average 3.50 above 3" {
		t.Errorf("load 3.5 above 3: %v %q %v", busy, reason, err)
	}
	if busy, _, err := (&busyprobe.Load{Above: 4, Path: path}).Busy(context.Background()); err != nil || busy {
		t.Errorf("load 3.5 under 4: busy %v %v", busy, err)
	}
	os.WriteFile(path, []byte("x"), 0o644)
	if _, _, err := (&busyprobe.Load{Above: 4, Path: path}).Busy(context.Background()); err == nil {
		t.Error("a load average that is not a number: no error")
	}
	if _, _, err := (&busyprobe.Load{Above: 4}).Busy(context.Background()); err != nil {
		t.Errorf("this machine's /proc/loadavg: %v", err)
	}
}

func TestAny(t *testing.T) {
	var sessions atomic.Int32
	sessions.Store(1)
	ts := plexServer(t, "secret", &sessions)
	down := &busyprobe.Plex{URL: "http://127.0.0.1:1", Token: "x"}
	path := filepath.Join(t.TempDir(), "loadavg")
	os.WriteFile(path, []byte("9.00 1 1 1/1 1\n"), 0o644)
	a := busyprobe.Any{down, &busyprobe.Plex{URL: ts.URL, Token: "secret"}, &busyprobe.Load{Above: 8, Path: path}}
	busy, reason, err := a.Busy(t.Context())
	if !busy || reason != "Plex: 1 session playing; load average 9.00 above 8" || err == nil {
		t.Errorf("Any = %v %q %v; want busy with both reasons, and the down server's error", busy, reason, err)
	}
	if busy, _, err := (busyprobe.Any{down}).Busy(t.Context()); busy || err == nil {
		t.Errorf("only a server that is down: busy %v, %v; want not busy, with its error", busy, err)
	}
}

// The Plex token and the Jellyfin/Emby API key go to the configured server
// only: a redirect to another host (a proxy's http to https, a moved
// server, whatever took the port) is not followed, and the probe says so.
// net/http would copy the token's header to the redirect's target.
func TestTokenNotSentToRedirectTarget(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got["X-Plex-Token"] += r.Header.Get("X-Plex-Token")
		got["X-Emby-Token"] += r.Header.Get("X-Emby-Token")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"MediaContainer":{"size":0}}`))
	}))
	defer other.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
	}))
	defer redirector.Close()

	for _, p := range []interface {
		Busy(context.Context) (bool, string, error)
	}{
		&busyprobe.Plex{URL: redirector.URL, Token: "plex-admin-token"},
		&busyprobe.Jellyfin{URL: redirector.URL, Token: "jellyfin-api-key"},
	} {
		if _, _, err := p.Busy(context.Background()); err == nil || !strings.Contains(err.Error(), "redirect to "+other.URL) {
			t.Errorf("%T.Busy behind a redirect: %v; want an error naming the redirect", p, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for k, v := range got {
		if v != "" {
			t.Errorf("the redirect target received %s: %q", k, v)
		}
	}
}
