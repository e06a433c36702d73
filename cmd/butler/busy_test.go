package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plexbutler/butler/internal/config"
)

func TestBusyProbe(t *testing.T) {
	plex := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Plex-Token") != "from-the-file" {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"MediaContainer":{"size":1}}`))
	}))
	defer plex.Close()
	jelly := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Emby-Token") != "inline-key" {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`[{"NowPlayingItem":{"Name":"x"}},{"NowPlayingItem":{"Name":"y"}}]`))
	}))
	defer jelly.Close()
	tokenFile := filepath.Join(t.TempDir(), "plex-token")
	os.WriteFile(tokenFile, []byte("from-the-file\n"), 0o600)

	f, err := config.Parse([]byte(`
plex_url: `+plex.URL+`
busy:
  plex: {token_file: `+tokenFile+`}
  emby: {url: `+jelly.URL+`, token: inline-key}
  check_every: 7s
`), "butler.yaml")
	if err != nil {
		t.Fatal(err)
	}
	probe, every, err := busyProbe(f)
	if err != nil || probe == nil || every.Seconds() != 7 {
		t.Fatalf("busyProbe = %v, %v, %v", probe, every, err)
	}
	busy, reason, err := probe.Busy(t.Context())
	if err != nil || !busy || reason != "Plex: 1 session playing; Emby: 2 sessions playing" {
		t.Errorf("Busy = %v %q %v; want both servers' sessions", busy, reason, err)
	}

	// No section, or an empty one: no probe.
	for _, src := range []string{"", "busy:\n"} {
		f, err := config.Parse([]byte(src), "butler.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if p, _, err := busyProbe(f); p != nil || err != nil {
			t.Errorf("%q: probe %v, %v; want none", src, p, err)
		}
	}

	// A token file that cannot be read stops the server, naming it.
	f, err = config.Parse([]byte("busy:\n  plex: {url: http://p:32400, token_file: /nonexistent/plex-token}\n"), "butler.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := busyProbe(f); err == nil || !strings.Contains(err.Error(), "butler.yaml:2: busy.plex.token_file") || !strings.Contains(err.Error(), "/nonexistent/plex-token") {
		t.Errorf("unreadable token file: %v; want an error naming the key and the file", err)
	}
}
