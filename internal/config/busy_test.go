package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseBusy(t *testing.T) {
	f, err := parseTest(t, `
plex_url: http://127.0.0.1:32400
busy:
  plex:
    token: ${PLEX_TOKEN}
  jellyfin:
    url: http://127.0.0.1:8096
    token_file: /etc/butler/jellyfin-key
  emby:
    url: http://nas:8096/
    token: " emby-key "
  load_above: 3.5
  check_every: 10s
`)
	if err != nil {
		t.Fatal(err)
	}
	b := f.Busy
	switch {
	case b == nil:
		t.Fatal("no busy section")
	case b.Plex == nil || b.Plex.URL.Value != "http://127.0.0.1:32400" || b.Plex.Token != "tok123":
		t.Errorf("plex: %+v; want plex_url and the token from PLEX_TOKEN", b.Plex)
	case b.Jellyfin == nil || b.Jellyfin.URL.Value != "http://127.0.0.1:8096" || b.Jellyfin.TokenFile.Value != "/etc/butler/jellyfin-key" || b.Jellyfin.Token != "":
		t.Errorf("jellyfin: %+v", b.Jellyfin)
	case b.Emby == nil || b.Emby.URL.Value != "http://nas:8096/" || b.Emby.Token != "emby-key":
		t.Errorf("emby: %+v", b.Emby)
	case b.LoadAbove != 3.5 || b.CheckEvery.Duration != 10*time.Second:
		t.Errorf("load_above %v, check_every %v", b.LoadAbove, b.CheckEvery.Duration)
	}
	f, err = parseTest(t, "busy:\n  plex: {url: http://plex:32400, token: abc}\n")
	if err != nil || f.Busy.Plex.URL.Value != "http://plex:32400" {
		t.Errorf("plex's own url: %+v %v", f.Busy, err)
	}
	f, err = parseTest(t, "busy:\n")
	if err != nil || f.Busy != nil {
		t.Errorf("an empty busy section: %+v %v; want none", f.Busy, err)
	}
}

func TestParseBusyErrors(t *testing.T) {
	for _, c := range []struct {
		name, src, want string
	}{
		{"busy list", "busy: [plex]\n", `butler.yaml:1: busy: is a list; want a mapping with plex, jellyfin, emby, load_above or check_every`},
		{"unknown key", "busy:\n  jelyfin: {}\n", `butler.yaml:2: busy.jelyfin: unknown key (did you mean jellyfin?); known keys under busy: plex, jellyfin, emby, load_above, check_every`},
		{"plex without url", "busy:\n  plex: {token: abc}\n", `butler.yaml:2: busy.plex.url: missing, and plex_url is not set; give the Plex server's address (like http://127.0.0.1:32400) here or as plex_url`},
		{"jellyfin without url", "busy:\n  jellyfin: {token: abc}\n", `butler.yaml:2: busy.jellyfin.url: missing; give the server's address, like http://127.0.0.1:8096`},
		{"no token", "busy:\n  emby: {url: http://e:8096}\n", `butler.yaml:2: busy.emby: has no token; give token (${NAME} reads an environment variable) or token_file`},
		{"both tokens", "busy:\n  emby: {url: http://e:8096, token: a, token_file: /k}\n", `butler.yaml:2: busy.emby: gives both token and token_file; give one`},
		{"unset variable", "busy:\n  plex: {url: http://p:32400, token: \"${NOPE}\"}\n", `butler.yaml:2: busy.plex.token: environment variable NOPE is not set; set it in Butler's environment or write the value itself`},
		{"empty token", "busy:\n  plex: {url: http://p:32400, token: \"${EMPTY}\"}\n", `butler.yaml:2: busy.plex.token: is empty; give the token, ${NAME} of a variable that holds it, or token_file`},
		{"token file relative", "busy:\n  plex: {url: http://p:32400, token_file: key}\n", `butler.yaml:2: busy.plex.token_file: "key" is not an absolute path; give the full path of a file holding the server's token, starting with /`},
		{"url", "busy:\n  jellyfin: {url: nas:8096, token: a}\n", `butler.yaml:2: busy.jellyfin.url: "nas:8096" is not an absolute http or https URL; write it like http://127.0.0.1:32400/path or https://example.com/feed.json`},
		{"load zero", "busy:\n  load_above: 0\n", `butler.yaml:2: busy.load_above: "0" is not a load average; use a number more than 0 and at most 4096, like 4 or 3.5 (a load average: about the number of CPUs kept busy)`},
		{"load text", "busy:\n  load_above: high\n", `butler.yaml:2: busy.load_above: "high" is not a load average; use a number more than 0 and at most 4096, like 4 or 3.5 (a load average: about the number of CPUs kept busy)`},
		{"check_every short", "busy:\n  check_every: 100ms\n", `butler.yaml:2: busy.check_every: 100ms is out of range; use 1s to 10m0s`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseTest(t, c.src)
			if err == nil || err.Error() != c.want {
				t.Errorf("Parse error\n got: %v\nwant: %s", err, c.want)
			}
		})
	}
}

func TestParseBusyNeverShowsTheToken(t *testing.T) {
	_, err := parseTest(t, "busy:\n  plex: {url: http://p:32400, token: s3cret-token, token_file: /k}\n")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v; want one that does not show the token", err)
	}
}
