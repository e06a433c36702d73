package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/plexbutler/butler"
)

// Dashboard sessions.
//
// The dashboard signs in once with the access token (POST /web/signin) and
// then carries a session cookie instead: a random id that this process
// keeps in memory, as the SHA-256 of the id, with its expiry. Nothing is
// derived from the token, so a stolen cookie ends with sign-out, its expiry
// or a restart of the server, and a restart signs every browser out.
// Requests that carry the token (X-Plex-Token) are authenticated by it and
// never look at the cookie.
//
// A request authenticated by the cookie must come from the dashboard's own
// page (see checkOrigin): SameSite=Strict keeps the cookie from requests
// started by other sites, but not from another port of the same host,
// which is the same site and another origin.
const (
	// sessionLifetime is how long a session lasts from its sign-in.
	sessionLifetime = 30 * 24 * time.Hour
	// maxSessions bounds the sessions kept; signing in beyond it ends the
	// session closest to its expiry.
	maxSessions = 1000
	// sessionCookie is the cookie's name before its port suffix (see
	// cookieName).
	sessionCookie = "butler_session"
)

// sessions are the signed-in browsers of this process, by the SHA-256 of
// their session id, with the time each session ends. The zero value is
// not usable: see newSessions.
type sessions struct {
	mu     sync.Mutex
	expiry map[[sha256.Size]byte]time.Time
	now    func() time.Time
}

func newSessions() *sessions {
	return &sessions{expiry: map[[sha256.Size]byte]time.Time{}, now: time.Now}
}

// create starts a session and returns its id (128 random bits) and when it
// ends.
func (s *sessions) create() (id string, ends time.Time) {
	id = rand.Text()
	now := s.now()
	ends = now.Add(sessionLifetime)
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.expiry {
		if !now.Before(e) {
			delete(s.expiry, k)
		}
	}
	if len(s.expiry) >= maxSessions {
		var oldest [sha256.Size]byte
		first := true
		for k, e := range s.expiry {
			if first || e.Before(s.expiry[oldest]) {
				oldest, first = k, false
			}
		}
		delete(s.expiry, oldest)
	}
	s.expiry[sha256.Sum256([]byte(id))] = ends
	return id, ends
}

// valid reports whether id is a session that has not ended. The id is
// looked up by its SHA-256, so the map's comparisons of keys tell an
// observer of their timing nothing about the ids kept.
func (s *sessions) valid(id string) bool {
	if id == "" {
		return false
	}
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.expiry[k]
	if ok && !s.now().Before(e) {
		delete(s.expiry, k)
		return false
	}
	return ok
}

// end ends the session id, if there is one.
func (s *sessions) end(id string) {
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.expiry, k)
}

// tokenMatches reports whether got is the token want, in time that does
// not depend on where they differ or on their lengths (both are hashed to
// SHA-256 first, and the hashes compared with subtle.ConstantTimeCompare).
func tokenMatches(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1 && want != ""
}

// schemeOf returns the scheme the browser used to reach the server: https
// when the request came over TLS, or through a proxy that terminated TLS
// and said so (X-Forwarded-Proto: https; a page of another origin cannot
// set that header without a preflight that Butler never answers); else
// http.
func schemeOf(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if p, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ","); strings.EqualFold(strings.TrimSpace(p), "https") {
		return "https"
	}
	return "http"
}

// cookieName returns the session cookie's name for r. Browsers keep one
// jar of cookies per host whatever the port, so the name carries the port
// the browser used (butler_session_28400), and two servers on one host do
// not sign each other out. Over TLS it has the __Host- prefix, which
// browsers accept only on a Secure cookie of Path=/ without a Domain.
func cookieName(r *http.Request) string {
	name := sessionCookie
	if _, port, err := net.SplitHostPort(r.Host); err == nil && port != "" {
		name += "_" + port
	}
	if schemeOf(r) == "https" {
		name = "__Host-" + name
	}
	return name
}

// sessionCookieOf returns the session cookie to set after a sign-in: the
// id, HttpOnly (no script reads it), SameSite=Strict, Path=/, Secure when
// the browser reached the server over TLS, lasting as long as the session.
func sessionCookieOf(r *http.Request, id string, ends time.Time) *http.Cookie {
	return &http.Cookie{
		Name: cookieName(r), Value: id, Path: "/",
		Expires: ends.UTC(), MaxAge: int(time.Until(ends).Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: schemeOf(r) == "https",
	}
}

// endedCookie returns the cookie that removes the session cookie.
func endedCookie(r *http.Request) *http.Cookie {
	return &http.Cookie{
		Name: cookieName(r), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: schemeOf(r) == "https",
	}
}

// sessionOf returns the session id the request's cookie carries, and
// whether it is a valid session.
func (s *sessions) sessionOf(r *http.Request) (string, bool) {
	c, err := r.Cookie(cookieName(r))
	if err != nil {
		return "", false
	}
	return c.Value, s.valid(c.Value)
}

// isSafeMethod reports whether method changes nothing on the server.
func isSafeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// checkOrigin returns an error, saying why, unless r comes from the
// server's own origin: the scheme the browser used (schemeOf) and the Host
// it asked for, port included, so that another port of the same host is
// another origin. It is asked of every request that the session cookie
// authenticates, and of sign-in and sign-out:
//
//   - An Origin header must name the server's origin ("null" never does),
//     whatever the method: browsers send it on every cross-origin fetch,
//     every WebSocket handshake and every EventSource of another origin.
//   - Without Origin, Sec-Fetch-Site must be same-origin ("none", a
//     bookmark or typed address, is accepted for GET and HEAD).
//   - Without either, a Referer must be of the server's origin (the
//     dashboard's pages send it to their own origin only).
//   - Without any of the three, only GET, HEAD and OPTIONS pass: a browser
//     sends Origin with every other method.
func checkOrigin(r *http.Request) error {
	own := originOf(schemeOf(r) + "://" + r.Host)
	if own == "" {
		return errors.New("it names no host (Host header) to compare its origin with")
	}
	safe := isSafeMethod(r.Method)
	if o := r.Header.Get("Origin"); o != "" {
		if originOf(o) == own {
			return nil
		}
		return fmt.Errorf("it comes from %s (its Origin header), not from this server's %s", o, own)
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		if site == "same-origin" || (safe && site == "none") {
			return nil
		}
		return fmt.Errorf("the browser says it comes from a %s page (Sec-Fetch-Site), not from this server's %s", site, own)
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		if originOf(ref) == own {
			return nil
		}
		return fmt.Errorf("it comes from a page of %s (its Referer), not from this server's %s", originOf(ref), own)
	}
	if safe {
		return nil
	}
	return errors.New("it carries no Origin, Sec-Fetch-Site or Referer header that shows it comes from this server's own page")
}

// originOf returns the origin of an Origin or Referer value, scheme://host
// with the port only when it is not the scheme's default, lowercased; ""
// when it has none (such as "null").
func originOf(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if h, port, err := net.SplitHostPort(host); err == nil {
		if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
			host = h
			if strings.Contains(h, ":") {
				host = "[" + h + "]"
			}
		}
	}
	return scheme + "://" + host
}

// refuseCrossOrigin answers 403 for a request that checkOrigin refused.
func refuseCrossOrigin(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, http.StatusForbidden, "refused: this request uses the dashboard's sign-in but "+err.Error()+
		"; a page of another site or port cannot act with a signed-in browser's session; API clients send the token (X-Plex-Token) instead")
}

// requireAuth answers 401 unless the request carries the token (header or
// query; see tokenOf) or, without one, the cookie of a dashboard session.
// A request the cookie authenticates must also come from the server's own
// origin (checkOrigin), else it gets 403. A request with the token is never
// asked where it comes from, and a wrong token is not rescued by a cookie.
// A client that sent too many wrong tokens gets 429 (see guesses).
func requireAuth(token string, s *sessions, g *guesses, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, err := tokenOf(r)
		if err != nil {
			writeError(w, r, http.StatusBadRequest, butler.ErrorMessage(err))
			return
		}
		if got != "" {
			switch v, wait := g.check(r, got, token); v {
			case tokenThrottled:
				throttled(w, r, wait)
			case tokenWrong:
				unauthorized(w)
			default:
				next.ServeHTTP(w, r)
			}
			return
		}
		if _, ok := s.sessionOf(r); !ok {
			unauthorized(w)
			return
		}
		if err := checkOrigin(r); err != nil {
			refuseCrossOrigin(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// unauthorized writes a Plex server's 401 page, whatever was asked for.
func unauthorized(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(body401))
}

// loopbackHosts refuses, with 421 Misdirected Request, a request that
// reached the server on a loopback address (every request, when Butler
// listens on loopback, as it does by default) with a Host header that names
// neither localhost (or a name under .localhost), a loopback address, the
// address the request reached, nor this machine's host name (hostname).
// A web page on any site can point its own DNS name at 127.0.0.1 and then
// send requests to it as its own origin (DNS rebinding); its Host header
// still names the page's site, and is refused here. The port is not
// checked, so that a forwarded port (ssh -L) keeps working. A request with
// the right token is not checked: such a page cannot know the token, and
// API clients keep working whatever name they use.
func loopbackHosts(token, hostname string, g *guesses, next http.Handler) http.Handler {
	hostname = strings.TrimSuffix(strings.ToLower(hostname), ".")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		tcp, _ := local.(*net.TCPAddr)
		if tcp == nil || !tcp.IP.IsLoopback() || hostAllowed(r.Host, tcp.IP, hostname) {
			next.ServeHTTP(w, r)
			return
		}
		if got, err := tokenOf(r); err == nil && got != "" {
			// Counted as one client for every foreign name: a rebinding
			// page's guesses never hold back the local clients.
			switch v, wait := g.checkAs(r, guessKey{client: foreignHosts}, true, got, token); v {
			case tokenRight:
				next.ServeHTTP(w, r)
				return
			case tokenThrottled:
				throttled(w, r, wait)
				return
			}
		}
		writeError(w, r, http.StatusMisdirectedRequest, fmt.Sprintf(
			"refused: the request reached this server on the loopback address %s but names the host %q; there Butler answers only to localhost, loopback addresses and this machine's name, so that a web page cannot reach it through a DNS name pointed at this machine; open http://localhost:%d/ instead",
			tcp.IP, r.Host, tcp.Port))
	})
}

// hostAllowed reports whether the Host header value host names this
// machine's loopback interface: empty (HTTP/1.0), localhost or a name
// under .localhost, a loopback address, local, or hostname.
func hostAllowed(host string, local net.IP, hostname string) bool {
	if host == "" {
		return true
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") || (hostname != "" && h == hostname) {
		return true
	}
	if ip := net.ParseIP(h); ip != nil {
		return ip.IsLoopback() || ip.Equal(local)
	}
	return false
}
