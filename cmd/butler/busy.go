package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/busyprobe"
	"github.com/plexbutler/butler/internal/config"
)

// busyProbe returns the busy probe the file's busy section describes, and
// how often to ask it (0: the Manager's default); nil when the file has no
// busy section or an empty one. A token file that cannot be read is an
// error naming it.
func busyProbe(f *config.File) (butler.BusyProbe, time.Duration, error) {
	b := f.Busy
	if b == nil {
		return nil, 0, nil
	}
	var probes busyprobe.Any
	for _, s := range []struct {
		name string
		key  string
		sess *config.Sessions
	}{{"Plex", "plex", b.Plex}, {"Jellyfin", "jellyfin", b.Jellyfin}, {"Emby", "emby", b.Emby}} {
		if s.sess == nil {
			continue
		}
		token, err := sessionsToken(s.sess)
		if err != nil {
			return nil, 0, fmt.Errorf("%s:%d: busy.%s.token_file: %w", f.Path, s.sess.TokenFile.Line, s.key, err)
		}
		if s.key == "plex" {
			probes = append(probes, &busyprobe.Plex{URL: s.sess.URL.Value, Token: token})
		} else {
			probes = append(probes, &busyprobe.Jellyfin{Name: s.name, URL: s.sess.URL.Value, Token: token})
		}
	}
	if b.LoadAbove > 0 {
		probes = append(probes, &busyprobe.Load{Above: float64(b.LoadAbove)})
	}
	if len(probes) == 0 {
		return nil, 0, nil
	}
	return probes, b.CheckEvery.Duration, nil
}

// sessionsToken returns the token of s: given in the file, or read from
// its token file (its first line).
func sessionsToken(s *config.Sessions) (string, error) {
	if s.TokenFile.Value == "" {
		return string(s.Token), nil
	}
	b, err := os.ReadFile(s.TokenFile.Value)
	if err != nil {
		return "", fmt.Errorf("read the token: %w", err)
	}
	token, _, _ := strings.Cut(string(b), "\n")
	if token = strings.TrimSpace(token); token == "" {
		return "", fmt.Errorf("%s is empty; write the token in it", s.TokenFile.Value)
	}
	return token, nil
}
