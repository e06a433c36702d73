package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Limits of the busy section.
const (
	// MinBusyEvery and MaxBusyEvery bound busy.check_every.
	MinBusyEvery = time.Second
	MaxBusyEvery = 10 * time.Minute
	// MaxLoadAbove bounds busy.load_above.
	MaxLoadAbove = 4096
)

// Busy is the busy section: what tells Butler that people are busy (someone
// watching on a media server, a loaded machine), so that the media work
// pauses between items meanwhile. Every part is optional; with none,
// nothing pauses.
type Busy struct {
	// Plex, Jellyfin and Emby are media servers whose playing sessions
	// make Butler busy.
	Plex     *Sessions `yaml:"plex"`
	Jellyfin *Sessions `yaml:"jellyfin"`
	Emby     *Sessions `yaml:"emby"`
	// LoadAbove, when more than 0, makes Butler busy while the 1-minute
	// load average is above it.
	LoadAbove LoadAverage `yaml:"load_above"`
	// CheckEvery is how often the servers and the load are asked; zero
	// means the server's default (5 s).
	CheckEvery Duration `yaml:"check_every"`
	// Line is the section's line in the file.
	Line int
}

// Sessions names a media server whose sessions are asked for: its URL and
// its token, given in the file (where ${NAME} reads an environment
// variable) or in a file of its own.
type Sessions struct {
	// URL is the server's address; for plex, zero means plex_url.
	URL URL `yaml:"url"`
	// Token is the server's token or API key, with ${NAME} expanded.
	Token Secret `yaml:"token"`
	// TokenFile is a file holding the token.
	TokenFile Path `yaml:"token_file" want:"a file holding the server's token"`
	// Line is the entry's line in the file.
	Line int
}

// Secret is a text that may read environment variables (${NAME}); it is
// never shown in messages.
type Secret string

func (s *Secret) decode(d *decoder, n *yaml.Node, key, _ string) {
	v, ok := d.str(n, key, "the token, or ${NAME} to read it from the environment variable NAME")
	if !ok {
		return
	}
	if v, ok = d.expand(n, key, v); !ok {
		return
	}
	if strings.TrimSpace(v) == "" {
		d.errf(n, key, "is empty; give the token, ${NAME} of a variable that holds it, or token_file")
		return
	}
	*s = Secret(strings.TrimSpace(v))
}

// LoadAverage is a load average threshold, more than 0.
type LoadAverage float64

func (l *LoadAverage) decode(d *decoder, n *yaml.Node, key, _ string) {
	allowed := fmt.Sprintf("use a number more than 0 and at most %d, like 4 or 3.5 (a load average: about the number of CPUs kept busy)", MaxLoadAbove)
	s, ok := d.str(n, key, allowed)
	if !ok {
		return
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || v <= 0 || v > MaxLoadAbove {
		d.errf(n, key, "%q is not a load average; %s", s, allowed)
		return
	}
	*l = LoadAverage(v)
}

func (b *Busy) decode(d *decoder, n *yaml.Node, key, _ string) {
	if isNull(n) {
		return
	}
	if !d.isMapping(n, key, "a mapping with plex, jellyfin, emby, load_above or check_every") {
		return
	}
	b.Line = n.Line
	d.object(n, key, b)
	if e := b.CheckEvery; e.Duration != 0 && (e.Duration < MinBusyEvery || e.Duration > MaxBusyEvery) {
		d.errAt(e.Line, join(key, "check_every"), "%s is out of range; use %s to %s", e.Duration, MinBusyEvery, MaxBusyEvery)
	}
}

func (s *Sessions) decode(d *decoder, n *yaml.Node, key, _ string) {
	if isNull(n) {
		return
	}
	if !d.isMapping(n, key, "a mapping with url, and token or token_file") {
		return
	}
	s.Line = n.Line
	given, keysOK := d.object(n, key, s)
	if !keysOK {
		return
	}
	switch {
	case given["token"] && given["token_file"]:
		d.errf(n, key, "gives both token and token_file; give one")
	case !given["token"] && !given["token_file"]:
		d.errf(n, key, "has no token; give token (${NAME} reads an environment variable) or token_file")
	}
	// plex may leave url to plex_url (checked with the whole file).
	if !strings.HasSuffix(key, "plex") {
		d.missing(n, given, key, "url", "give the server's address, like http://127.0.0.1:8096")
	}
}
