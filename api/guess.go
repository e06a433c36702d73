package api

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Wrong tokens a client may send by default: guessBurst at once, then one
// every guessEvery (GuessLimit). A client past that is throttled: its
// requests that carry a token (or sign in) answer 429 until it may guess
// again, and the token is not even compared, so that a guess costs time
// whether it is right or not. An 8-character token (the shortest Butler
// takes) of random letters and digits then takes millennia to guess from
// one address.
const (
	guessBurst = 10
	guessEvery = 6 * time.Second
	// guessTracked bounds the clients remembered (see prune).
	guessTracked = 10000
)

// guesses counts the wrong tokens of each client (an IPv4 address, or an
// IPv6 /64, which one machine usually has whole). Its methods are safe for
// concurrent use.
type guesses struct {
	mu        sync.Mutex
	byAddr    map[guessKey]*guesser
	burst     int
	every     time.Duration
	now       func() time.Time
	lastPrune time.Time
	logger    *slog.Logger
}

// guesser is one client's allowance, and the wrong tokens it sent last: a
// client that sends the same wrong token again and again (a script with
// an old token) is not guessing, and spends its allowance once.
type guesser struct {
	l      *rate.Limiter
	recent [4][8]byte // SHA-256 prefixes of its last wrong tokens
	next   int
}

// seen reports whether the wrong token got is one of g's last, and
// remembers it.
func (c *guesser) seen(got string) bool {
	sum := sha256.Sum256([]byte(got))
	var h [8]byte
	copy(h[:], sum[:8])
	for _, r := range c.recent {
		if r == h {
			return true
		}
	}
	c.recent[c.next] = h
	c.next = (c.next + 1) % len(c.recent)
	return false
}

func newGuesses(logger *slog.Logger, limit GuessLimit) *guesses {
	return &guesses{byAddr: map[guessKey]*guesser{}, now: time.Now, logger: logger,
		burst: cmp.Or(limit.Burst, guessBurst), every: cmp.Or(limit.Every, guessEvery)}
}

// tokenVerdict is what check found.
type tokenVerdict int

const (
	tokenRight tokenVerdict = iota
	tokenWrong
	tokenThrottled // not compared: the client sent too many wrong ones
)

// guessKey names a bucket of wrong tokens: a client's, and apart from it
// the one of its requests that show a page of another origin.
type guessKey struct {
	// client is the client's address (an IPv4 address, an IPv6 /64), or
	// foreignHosts.
	client netip.Prefix
	// page marks the requests that show a page of another origin
	// (fromOtherPage): a browser's visitor shares its address with the
	// CLI and the local Plex clients, and a page's guesses must not hold
	// those back. Anyone can send the headers: the bucket is limited like
	// any other.
	page bool
}

func (k guessKey) String() string {
	if k.page {
		return k.client.String() + " (requests from another origin's page)"
	}
	return k.client.String()
}

// check compares the token got of request r with want, unless r's client
// is throttled; wait is how long it is throttled for then. A browser's
// request that a page of another site sent (Sec-Fetch-Site: cross-site)
// gets no comparison at all: Butler answers no other site's pages (no
// CORS), so such a request with a token is a blind guess, or a page trying
// to get its visitor's address throttled. One that shows a page of
// another origin of the same site, or another Origin (fromOtherPage), is
// counted in a bucket of its own, so that such a page cannot get its
// visitor's address throttled either.
func (g *guesses) check(r *http.Request, got, want string) (v tokenVerdict, wait time.Duration) {
	client, ok := clientOf(r)
	return g.checkAs(r, guessKey{client: client}, ok, got, want)
}

// foreignHosts is the one client that every request naming a foreign host
// on a loopback address counts as (loopbackHosts): a page that pointed its
// own DNS name at this machine (DNS rebinding) then drains its own bucket,
// not the one of the local clients it shares 127.0.0.1 with, and
// however many names it uses, it gets no more guesses.
var foreignHosts = netip.PrefixFrom(netip.IPv6Unspecified(), 0)

// checkAs is check with the client key (ok false: none, compared
// uncounted: not a network request).
func (g *guesses) checkAs(r *http.Request, key guessKey, ok bool, got, want string) (v tokenVerdict, wait time.Duration) {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return tokenWrong, 0
	}
	if !ok {
		if tokenMatches(got, want) {
			return tokenRight, 0
		}
		return tokenWrong, 0
	}
	key.page = fromOtherPage(r)
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.byAddr[key]
	if c != nil && c.l.TokensAt(now) < 1 {
		return tokenThrottled, g.waitFor(c.l, now)
	}
	if tokenMatches(got, want) {
		return tokenRight, 0
	}
	if c == nil {
		g.prune(now)
		c = &guesser{l: rate.NewLimiter(rate.Every(g.every), g.burst)}
		g.byAddr[key] = c
	}
	if c.seen(got) {
		return tokenWrong, 0 // the same wrong token again: no new guess
	}
	c.l.AllowN(now, 1)
	if c.l.TokensAt(now) < 1 {
		g.logger.WarnContext(r.Context(), "api: too many wrong tokens from one address: its requests with a token are refused for a while",
			slog.String("client", key.String()), slog.Duration("for", g.waitFor(c.l, now)))
	}
	return tokenWrong, 0
}

// fromOtherPage reports whether r is a request that a browser sent for a
// page of another origin than the one r names: Sec-Fetch-Site cross-site
// or same-site (another port of localhost is the same site), or an Origin
// that is not r's own (or "null": a sandboxed frame, a file). Browsers
// send neither to a plain-HTTP address other than loopback (Fetch
// Metadata goes to potentially trustworthy URLs only, and a no-cors GET
// carries no Origin): such a page's requests look like any client's.
func fromOtherPage(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return true
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	return err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host)
}

// waitFor is how long until l allows one more guess, to the millisecond
// (the limiter counts in floating point), and at least one.
func (g *guesses) waitFor(l *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - l.TokensAt(now)
	return max(time.Duration(missing*float64(g.every)).Round(time.Millisecond), time.Millisecond)
}

// prune keeps at most guessTracked clients: once that many are known, at
// most once per allowance period, it forgets those whose allowance is
// whole again, and then, should that not be enough, any (their next
// guesses start a whole allowance). Called with g.mu held.
func (g *guesses) prune(now time.Time) {
	if len(g.byAddr) < guessTracked || now.Sub(g.lastPrune) < g.every && len(g.byAddr) < 2*guessTracked {
		return
	}
	g.lastPrune = now
	for k, c := range g.byAddr {
		if c.l.TokensAt(now) >= float64(g.burst) {
			delete(g.byAddr, k)
		}
	}
	if len(g.byAddr) < guessTracked {
		return
	}
	for k := range g.byAddr { // in the map's random order
		if len(g.byAddr) < guessTracked/2 {
			break
		}
		delete(g.byAddr, k)
	}
}

// clientOf is the client a request's wrong tokens count against: its
// IPv4 address, or the /64 of its IPv6 address.
func clientOf(r *http.Request) (netip.Prefix, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Prefix{}, false
	}
	a := ap.Addr().Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, err := a.Prefix(bits)
	return p, err == nil
}

// retryAfter sets the Retry-After header to wait, in whole seconds
// rounded up, and returns them.
func retryAfter(w http.ResponseWriter, wait time.Duration) int {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return secs
}

// throttled answers 429 to a client that sent too many wrong tokens.
func throttled(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	secs := retryAfter(w, wait)
	writeError(w, r, http.StatusTooManyRequests, fmt.Sprintf(
		"refused: too many wrong tokens from this address; try again in %d s, with the right token (it is in the file token in Butler's data directory)", secs))
}
