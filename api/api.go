// Package api is the Butler's Plex-compatible HTTP API: the five Butler
// operations, settings, identity and health. NewHandler returns the whole
// surface as one http.Handler; routes.go lists every route.
package api

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/apitype"
)

// Config configures the handler. Manager and Token are required.
type Config struct {
	Manager *butler.Manager
	// Token is the access token every route but identity needs.
	Token  string
	Logger *slog.Logger
	// Version and MachineIdentifier answer GET / and GET /identity.
	Version           string
	MachineIdentifier string
	// FriendlyName is the server's name in GET / and GET /identity while
	// the FriendlyName setting is blank; the setting, when set, wins.
	FriendlyName string
	// Platform and PlatformVersion describe the host in GET /, as a Plex
	// server names them ("Linux", "6.8.0-55-generic"); by default they are
	// read from the host (see hostPlatform).
	Platform        string
	PlatformVersion string
	// UpdatedAt is when the server was installed or updated (updatedAt in
	// GET /); by default the modification time of the running executable.
	UpdatedAt time.Time
	// Metrics, when set, is served at GET /metrics, behind the token unless
	// MetricsPublic.
	Metrics       http.Handler
	MetricsPublic bool
	// Library, when set, is the media index that the /butler/library
	// routes read.
	Library butler.MediaIndex
	// WrongTokens bounds the wrong tokens one client may send (see
	// GuessLimit); the zero value takes the defaults.
	WrongTokens GuessLimit
}

// GuessLimit bounds the wrong tokens one client (an IPv4 address, an IPv6
// /64) may send: Burst at once, then one every Every. Past that its
// requests that carry a token, and its sign-ins, answer 429 with
// Retry-After, the token uncompared. Zero fields take the defaults: 10
// and 6 s.
type GuessLimit struct {
	Burst int
	Every time.Duration
}

// Limits on requests.
const (
	maxQueryBytes = 8 << 10
	maxBodyBytes  = 64 << 10
)

// The bodies a real server sends for 401 and 404, whatever was asked for.
const (
	body401 = `<html><head><title>Unauthorized</title></head><body><h1>401 Unauthorized</h1></body></html>`
	body404 = `<html><head><title>Not Found</title></head><body><h1>404 Not Found</h1></body></html>`
)

// NewHandler returns the API: the route table (routes.go) on a router
// (see router), behind the request limits and the Plex headers.
func NewHandler(cfg Config) (http.Handler, error) {
	if cfg.Manager == nil || cfg.Token == "" {
		return nil, errors.New("api: Config needs a Manager and a Token")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Platform == "" {
		cfg.Platform, cfg.PlatformVersion = hostPlatform()
	}
	if cfg.UpdatedAt.IsZero() {
		cfg.UpdatedAt = executableTime()
	}
	web, err := newDashboard()
	if err != nil {
		return nil, err
	}
	guesses := newGuesses(cfg.Logger, cfg.WrongTokens)
	web.token, web.sessions, web.logger, web.guesses = cfg.Token, newSessions(), cfg.Logger, guesses
	var h http.Handler = newRouter(tableOf(cfg, web), func(next http.Handler) http.Handler {
		return refuseTwoTokens(requireAuth(cfg.Token, web.sessions, guesses, next))
	})
	h = limits(h)
	hostname, _ := os.Hostname()
	h = loopbackHosts(cfg.Token, hostname, guesses, h)
	h = plexHeaders(h)
	h = recoverPanics(cfg.Logger, h)
	return h, nil
}

// route is one entry of the route table: a method, a path in the syntax of
// [http.ServeMux] patterns (literal segments and "{name}" wildcards), and
// the query parameters its handler reads.
type route struct {
	method  string
	path    string
	params  []string
	handler http.HandlerFunc
}

// pattern returns the route's [http.ServeMux] pattern. "/" names the root
// alone, as every path of the table does: "/{$}".
func (r route) pattern() string {
	if r.path == "/" {
		return r.method + " /{$}"
	}
	return r.method + " " + r.path
}

// routeGroup is a list of routes that share an access rule.
type routeGroup struct{ routes []route }

// handle adds a route; params lists the query parameters h reads, which
// are checked before h runs (see singleValues): h may read them with
// url.Values.Get.
func (g *routeGroup) handle(method, path string, h http.HandlerFunc, params ...string) {
	g.routes = append(g.routes, route{method: method, path: path, params: params, handler: h})
}

// routeTable is the whole API in two groups: public routes answer without
// a token, protected ones only with it or a dashboard session (see
// requireAuth). A request that no route takes is protected: without either
// it gets the 401 page, not a 404 that would tell which paths exist.
type routeTable struct{ public, protected routeGroup }

// router serves a routeTable with an [http.ServeMux], keeping what a Plex
// server does that the mux alone does not:
//
//   - A trailing slash is ignored ("/butler/" is "/butler"), as is a
//     leading one repeated; a path with an empty, "." or ".." segment
//     inside is not found (the mux would redirect it).
//   - A path that no route has gets the Plex 404 page, and a method that
//     the path's routes lack gets 405 with Allow listing theirs, in the
//     table's order, as an error in the asked encoding (see writeError).
//
// HEAD is served by each GET route, as the mux does for GET patterns.
type router struct {
	mux *http.ServeMux
	// methods are the table's methods, each once, in the order the table
	// first uses them: the order of Allow.
	methods []string
	// miss answers a request that no route takes: 404 or 405, behind the
	// token or a dashboard session. notFound answers 404, behind the same.
	miss, notFound http.Handler
}

// catchAll is the pattern of the mux's last resort, router.miss.
const catchAll = "/"

// newRouter serves t, with each protected route (and the answer to a
// request that no route takes) behind auth (see requireAuth).
func newRouter(t routeTable, auth func(http.Handler) http.Handler) *router {
	rt := &router{mux: http.NewServeMux()}
	add := func(r route, protected bool) {
		var h http.Handler = checkParams(r.params, r.handler)
		if protected {
			h = auth(h)
		}
		rt.mux.Handle(r.pattern(), h)
		if !slices.Contains(rt.methods, r.method) {
			rt.methods = append(rt.methods, r.method)
		}
	}
	for _, r := range t.public.routes {
		add(r, false)
	}
	for _, r := range t.protected.routes {
		add(r, true)
	}
	rt.miss = auth(http.HandlerFunc(rt.notFoundOrNotAllowed))
	rt.notFound = auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		notFound(w, "no such route: "+r.URL.Path)
	}))
	rt.mux.Handle(catchAll, rt.miss)
	return rt
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := "/" + strings.Trim(r.URL.Path, "/"); p != r.URL.Path {
		u := *r.URL
		u.Path = p
		if u.RawPath != "" {
			u.RawPath = "/" + strings.Trim(u.RawPath, "/")
		}
		r = r.WithContext(r.Context())
		r.URL = &u
	}
	if ep := r.URL.EscapedPath(); path.Clean(ep) != ep {
		rt.notFound.ServeHTTP(w, r)
		return
	}
	rt.mux.ServeHTTP(w, r)
}

// notFoundOrNotAllowed answers a request that the mux gave to catchAll:
// 405 if a route has its path with another method, else 404. It asks the
// mux once per method of the table, on this error path only.
func (rt *router) notFoundOrNotAllowed(w http.ResponseWriter, r *http.Request) {
	var allow []string
	probe := r.WithContext(r.Context())
	for _, m := range rt.methods {
		probe.Method = m
		if _, pattern := rt.mux.Handler(probe); pattern != catchAll {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		notFound(w, "no such route: "+r.URL.Path)
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeError(w, r, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, " or ")))
}

// checkParams refuses, before next runs, a query whose parameters of
// names (the ones next reads) are given more than once or in another case.
func checkParams(names []string, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := singleValues(r.URL.Query(), "query parameter", params(names...)); err != nil {
			writeError(w, r, http.StatusBadRequest, butler.ErrorMessage(err))
			return
		}
		next(w, r)
	})
}

func recoverPanics(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				logger.ErrorContext(r.Context(), "api: handler panicked", slog.Any("panic", p), slog.String("path", r.URL.Path))
				writeError(w, r, http.StatusInternalServerError, "internal error; the server log has the details")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func plexHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Plex-Protocol", "1.0")
		h.Set("Cache-Control", "no-cache")
		next.ServeHTTP(w, r)
	})
}

// limits refuses oversized and malformed requests before anything else.
func limits(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.RawQuery) > maxQueryBytes {
			writeError(w, r, http.StatusRequestURITooLong, fmt.Sprintf("the query string is longer than %d bytes", maxQueryBytes))
			return
		}
		if r.ContentLength > maxBodyBytes {
			writeError(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is larger than %d bytes; Butler routes take their input in the query string", maxBodyBytes))
			return
		}
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			writeError(w, r, http.StatusBadRequest, "malformed query string: "+err.Error()+"; escape values with percent-encoding")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// tokensOf returns the tokens a request carries: in an X-Plex-Token
// header field and in the X-Plex-Token query parameter, "" where there is
// none (an empty header field carries none). A token given twice in the
// same place is refused (EINVALID), even twice the same: two header fields,
// or two query parameters.
func tokensOf(r *http.Request) (header, query string, err error) {
	q, err := singleValues(r.URL.Query(), "query parameter", params("X-Plex-Token"))
	if err != nil {
		return "", "", err
	}
	var fields []string
	for _, f := range r.Header.Values("X-Plex-Token") {
		if f != "" {
			fields = append(fields, f)
		}
	}
	if len(fields) > 1 {
		return "", "", butler.Errorf(butler.EINVALID, "the X-Plex-Token header field is given %d times; give it once", len(fields))
	}
	if len(fields) == 1 {
		header = fields[0]
	}
	return header, q["X-Plex-Token"], nil
}

// tokenOf returns the token a request carries: in an X-Plex-Token header
// field, else in the query. A token given twice in the same place is
// refused (see tokensOf), and so are two different tokens, one in the
// header field and one in the query: which one was meant cannot be known.
// (Protected routes answer the latter 401, as a Plex server answers a bad
// token wherever it is: see refuseTwoTokens.)
func tokenOf(r *http.Request) (string, error) {
	header, query, err := tokensOf(r)
	if err != nil {
		return "", err
	}
	if twoTokens(header, query) {
		return "", butler.Errorf(butler.EINVALID, "the request carries two different tokens, in the X-Plex-Token header field and in the query; give one")
	}
	if header != "" {
		return header, nil
	}
	return query, nil
}

// twoTokens reports whether a request carries a token in its header field
// and a different one in its query.
func twoTokens(header, query string) bool {
	return header != "" && query != "" && header != query
}

// refuseTwoTokens answers the Plex 401 page to a request that carries a
// token in its X-Plex-Token header field and a different one in its query:
// at least one of them is not the server's, and a Plex server refuses a bad
// token wherever it is. The reason goes in a header, as other errors' do.
// Any other request goes on to next (requireAuth), which answers a token
// given twice in the same place 400.
func refuseTwoTokens(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" && len(r.Header.Values("X-Plex-Token")) > 0 {
			if header, query, err := tokensOf(r); err == nil && twoTokens(header, query) {
				w.Header().Set(apitype.HeaderReason, "the request carries two different tokens, in the X-Plex-Token header field and in the query; give one, the server's")
				unauthorized(w)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// wantsJSON reports whether the Accept header lists application/json.
func wantsJSON(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, params, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(mt), "application/json") {
				return !refused(params)
			}
		}
	}
	return false
}

// refused reports whether the parameters of a media range in Accept give
// it the weight 0, "not acceptable" (RFC 9110, section 12.4.2).
func refused(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err == nil && q == 0
		}
	}
	return false
}

// encode writes v as JSON (jsonBody) or XML (xmlBody) after the Accept header.
func encode(w http.ResponseWriter, r *http.Request, status int, jsonBody, xmlBody any) {
	if wantsJSON(r) {
		b, err := json.Marshal(jsonBody)
		if err != nil {
			writeError(w, r, http.StatusInternalServerError, "encode: "+err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(b)
		return
	}
	b, err := xml.Marshal(xmlBody)
	if err != nil {
		writeError(w, r, http.StatusInternalServerError, "encode: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
	_, _ = w.Write([]byte("\n"))
}

// notFound writes the real server's 404 page; the reason goes in a header.
func notFound(w http.ResponseWriter, reason string) {
	if reason != "" {
		w.Header().Set(apitype.HeaderReason, reasonHeader(reason, ""))
	}
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(body404))
}

func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r > 0x7e {
			return ' '
		}
		return r
	}, s)
}

// maxReason is the most of a reason X-Butler-Reason carries, in bytes. A
// reason can echo what the client sent (every unknown setting of a PUT, a
// task name from the path); whole, it could pass the limit HTTP clients
// put on an answer's header fields (16 KiB in all for Node.js's fetch),
// and the client would see a transport error instead of the answer.
const maxReason = 1024

// reasonHeader is msg made fit for X-Butler-Reason: printable ASCII, and
// cut to maxReason bytes, with more after "..." saying where the rest is.
func reasonHeader(msg, more string) string {
	s := headerSafe(msg)
	if len(s) <= maxReason {
		return s
	}
	return s[:maxReason] + "..." + more
}

// writeError writes an error other than 401: 404 as the real server's page,
// others as JSON errors when JSON was asked for, else an HTML page.
func writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if status == http.StatusNotFound {
		notFound(w, msg)
		return
	}
	// Also in a header, for clients that read neither JSON nor HTML bodies.
	w.Header().Set(apitype.HeaderReason, reasonHeader(msg, "; the whole message is in the body"))
	if wantsJSON(r) {
		b, _ := json.Marshal(apitype.ErrorsResponse{Errors: []apitype.ErrorItem{{Code: status, Message: msg, Status: status}}})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(b)
		return
	}
	text := fmt.Sprintf("%d %s", status, http.StatusText(status))
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<html><head><title>%s</title></head><body><h1>%s</h1><p>%s</p></body></html>",
		http.StatusText(status), text, html.EscapeString(msg))
}

// statusOf maps a domain error code to its HTTP status: the one table.
func statusOf(code string) int {
	switch code {
	case butler.EINVALID:
		return http.StatusBadRequest
	case butler.ENOTFOUND:
		return http.StatusNotFound
	case butler.ECONFLICT:
		return http.StatusConflict
	case butler.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// fail writes a domain error; internal errors are logged, never sent.
func fail(logger *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	code := butler.ErrorCode(err)
	if code == butler.EINTERNAL {
		logger.ErrorContext(r.Context(), "api: request failed", slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	}
	writeError(w, r, statusOf(code), butler.ErrorMessage(err))
}
