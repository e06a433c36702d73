package api

import (
	"cmp"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strconv"
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
	// guessTracked bounds the clients remembered; past it, those whose
	// allowance is whole again are forgotten.
	guessTracked = 10000
)

// guesses counts the wrong tokens of each client (an IPv4 address, or an
// IPv6 /64, which one machine usually has whole). Its methods are safe for
// concurrent use.
type guesses struct {
	mu     sync.Mutex
	byAddr map[netip.Prefix]*rate.Limiter
	burst  int
	every  time.Duration
	now    func() time.Time
	logger *slog.Logger
}

func newGuesses(logger *slog.Logger, limit GuessLimit) *guesses {
	return &guesses{byAddr: map[netip.Prefix]*rate.Limiter{}, now: time.Now, logger: logger,
		burst: cmp.Or(limit.Burst, guessBurst), every: cmp.Or(limit.Every, guessEvery)}
}

// tokenVerdict is what check found.
type tokenVerdict int

const (
	tokenRight tokenVerdict = iota
	tokenWrong
	tokenThrottled // not compared: the client sent too many wrong ones
)

// check compares the token got of request r with want, unless r's client
// is throttled; wait is how long it is throttled for then.
func (g *guesses) check(r *http.Request, got, want string) (v tokenVerdict, wait time.Duration) {
	key, ok := clientOf(r)
	if !ok {
		// No address to count against (not a network request): compared.
		if tokenMatches(got, want) {
			return tokenRight, 0
		}
		return tokenWrong, 0
	}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	l := g.byAddr[key]
	if l != nil && l.TokensAt(now) < 1 {
		return tokenThrottled, g.waitFor(l, now)
	}
	if tokenMatches(got, want) {
		return tokenRight, 0
	}
	if l == nil {
		g.forgetWhole(now)
		l = rate.NewLimiter(rate.Every(g.every), g.burst)
		g.byAddr[key] = l
	}
	l.AllowN(now, 1)
	if l.TokensAt(now) < 1 {
		g.logger.WarnContext(r.Context(), "api: too many wrong tokens from one address: its requests with a token are refused for a while",
			slog.String("client", key.String()), slog.Duration("for", g.waitFor(l, now)))
	}
	return tokenWrong, 0
}

// waitFor is how long until l allows one more guess, to the millisecond
// (the limiter counts in floating point), and at least one.
func (g *guesses) waitFor(l *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - l.TokensAt(now)
	return max(time.Duration(missing*float64(g.every)).Round(time.Millisecond), time.Millisecond)
}

// forgetWhole forgets, once guessTracked clients are remembered, those
// whose allowance is whole again. Called with g.mu held.
func (g *guesses) forgetWhole(now time.Time) {
	if len(g.byAddr) < guessTracked {
		return
	}
	for k, l := range g.byAddr {
		if l.TokensAt(now) >= float64(g.burst) {
			delete(g.byAddr, k)
		}
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
