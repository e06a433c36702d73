package api

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"strings"
)

// webFiles are the dashboard's sources: index.html (the dashboard) and
// signin.html (its sign-in page), with the style and script put inline
// where they say {{STYLE}} and {{SCRIPT}}, so that each page is one
// response.
//
//go:embed web/index.html web/signin.html web/style.css web/app.js
var webFiles embed.FS

// dashboard serves the dashboard's pages, sign-in and sign-out. page and
// signIn are the built pages, each with its Content-Security-Policy, which
// allows the inline style and script by their hashes and nothing else but
// requests and forms to this server. token, sessions and logger are set by
// NewHandler.
type dashboard struct {
	page, signIn       []byte
	pageCSP, signInCSP string
	token              string
	sessions           *sessions
	logger             *slog.Logger
}

// routes adds the dashboard's routes to the public group.
func (web *dashboard) routes(pub *routeGroup) {
	pub.handle(http.MethodGet, "/web", web.ServeHTTP)
	pub.handle(http.MethodPost, "/web/signin", web.handleSignIn)
	pub.handle(http.MethodPost, "/web/signout", web.handleSignOut)
}

// signInMessage is where signin.html says why the last sign-in failed.
const signInMessage = "{{MESSAGE}}"

// newDashboard builds the pages from webFiles.
func newDashboard() (*dashboard, error) {
	read := func(name string) (string, error) {
		b, err := webFiles.ReadFile("web/" + name)
		return string(b), err
	}
	files := map[string]string{}
	for _, name := range []string{"index.html", "signin.html", "style.css", "app.js"} {
		b, err := read(name)
		if err != nil {
			return nil, err
		}
		files[name] = b
	}
	page, style, script, signIn := files["index.html"], files["style.css"], files["app.js"], files["signin.html"]
	if strings.Count(page, "{{STYLE}}") != 1 || strings.Count(page, "{{SCRIPT}}") != 1 {
		return nil, fmt.Errorf("dashboard: index.html must hold {{STYLE}} and {{SCRIPT}} once each")
	}
	if strings.Count(signIn, "{{STYLE}}") != 1 || strings.Count(signIn, signInMessage) != 1 || strings.Contains(signIn, "<script") {
		return nil, fmt.Errorf("dashboard: signin.html must hold {{STYLE}} and %s once each, and no script", signInMessage)
	}
	page = strings.Replace(page, "{{STYLE}}", style, 1)
	page = strings.Replace(page, "{{SCRIPT}}", script, 1)
	signIn = strings.Replace(signIn, "{{STYLE}}", style, 1)
	hash := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	base := "default-src 'none'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; style-src " + hash(style)
	return &dashboard{
		page: []byte(page), pageCSP: base + "; connect-src 'self'; script-src " + hash(script),
		signIn: []byte(signIn), signInCSP: base,
	}, nil
}

// pageHeaders sets the headers of both pages: no caching, no framing, no
// sniffing, and a Referer to this server's own origin only (checkOrigin
// reads it where a browser sends neither Origin nor Sec-Fetch-Site).
func pageHeaders(w http.ResponseWriter, csp string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}

// ServeHTTP answers GET /web: the dashboard for a browser with a session,
// else the sign-in page. No token is read here: a browser signs in with
// the form, and its session cookie opens the page from then on.
func (d *dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, ok := d.sessions.sessionOf(r); ok {
		pageHeaders(w, d.pageCSP)
		_, _ = w.Write(d.page)
		return
	}
	d.writeSignIn(w, http.StatusOK, "")
}

// writeSignIn writes the sign-in page with status and the message msg
// (none when empty).
func (d *dashboard) writeSignIn(w http.ResponseWriter, status int, msg string) {
	pageHeaders(w, d.signInCSP)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(strings.Replace(string(d.signIn), signInMessage, html.EscapeString(msg), 1)))
}

// handleSignIn answers POST /web/signin, the sign-in form: with the
// server's token in its token field, it starts a session, sets its cookie
// (see sessionCookieOf) and sends the browser to /web (303); with another
// token, the sign-in page again with 401 and why. The form must come from
// this server's own page (checkOrigin), and the token only in the body,
// never in the address.
func (d *dashboard) handleSignIn(w http.ResponseWriter, r *http.Request) {
	if err := checkOrigin(r); err != nil {
		refuseCrossOrigin(w, r, err)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		d.writeSignIn(w, http.StatusUnsupportedMediaType, "The sign-in form was sent as "+fmt.Sprintf("%q", ct)+"; send it from this page.")
		return
	}
	if err := r.ParseForm(); err != nil {
		d.writeSignIn(w, http.StatusBadRequest, "The sign-in form could not be read ("+err.Error()+"); send it again from this page.")
		return
	}
	got := strings.TrimSpace(r.PostForm.Get("token"))
	if got == "" {
		d.writeSignIn(w, http.StatusUnauthorized, "Enter the access token.")
		return
	}
	if !tokenMatches(got, d.token) {
		d.logger.WarnContext(r.Context(), "api: dashboard sign-in with a wrong token", slog.String("remote_addr", r.RemoteAddr))
		d.writeSignIn(w, http.StatusUnauthorized, "That is not this server's access token. It is in the file token in Butler's data directory (or the file --token-file names).")
		return
	}
	// A browser signing in again starts afresh: its previous session, if
	// any, ends, so that an id set in the browser by someone else before
	// the sign-in (session fixation) is never the one signed in.
	if old, _ := d.sessions.sessionOf(r); old != "" {
		d.sessions.end(old)
	}
	id, ends := d.sessions.create()
	http.SetCookie(w, sessionCookieOf(r, id, ends))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/web", http.StatusSeeOther)
}

// handleSignOut answers POST /web/signout: it ends the browser's session,
// removes its cookie and sends the browser to the sign-in page (303). It
// must come from this server's own page (checkOrigin), so that another
// page cannot sign the browser out.
func (d *dashboard) handleSignOut(w http.ResponseWriter, r *http.Request) {
	if err := checkOrigin(r); err != nil {
		refuseCrossOrigin(w, r, err)
		return
	}
	if id, _ := d.sessions.sessionOf(r); id != "" {
		d.sessions.end(id)
	}
	http.SetCookie(w, endedCookie(r))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/web", http.StatusSeeOther)
}
