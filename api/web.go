package api

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
)

// webFiles are the dashboard's sources: index.html (the dashboard),
// run.html (one run's page) and signin.html (the sign-in page), with the
// style and scripts put inline where they say {{STYLE}} and {{SCRIPT}}, so
// that each page is one response. common.js comes first in the script of
// both pages that have one: app.js for the dashboard, run.js for a run.
//
//go:embed web/index.html web/run.html web/signin.html web/style.css web/common.js web/app.js web/run.js
var webFiles embed.FS

// dashboard serves the dashboard's pages, sign-in and sign-out. page, run
// and signIn are the built pages, each with its Content-Security-Policy,
// which allows the inline style and script by their hashes and nothing
// else but requests and forms to this server. token, sessions and logger
// are set by NewHandler.
type dashboard struct {
	page, run, signIn          []byte
	pageCSP, runCSP, signInCSP string
	token                      string
	sessions                   *sessions
	guesses                    *guesses
	logger                     *slog.Logger
}

// routes adds the dashboard's routes to the public group. Each page
// checks the session itself: without one it answers the sign-in page,
// which signs in and comes back to the page asked for.
func (web *dashboard) routes(pub *routeGroup) {
	pub.handle(http.MethodGet, "/web", web.ServeHTTP)
	pub.handle(http.MethodGet, "/web/runs/{id}", web.serveRun)
	// The sign-in form's address, opened again (a reload after a wrong
	// token, a bookmark): the dashboard, which shows the form when needed.
	pub.handle(http.MethodGet, "/web/signin", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/web", http.StatusSeeOther)
	})
	pub.handle(http.MethodPost, "/web/signin", web.handleSignIn)
	pub.handle(http.MethodPost, "/web/signout", web.handleSignOut)
}

// The places in signin.html where the page says why the last sign-in
// failed, and where its form keeps the page to open after signing in.
const (
	signInMessage = "{{MESSAGE}}"
	signInNext    = "{{NEXT}}"
)

// webPage is one page of the dashboard to build: its HTML file and the
// scripts put inline into it, in order (none for a page without script).
type webPage struct {
	html    string
	scripts []string
}

// newDashboard builds the pages from webFiles.
func newDashboard() (*dashboard, error) {
	style, err := webFiles.ReadFile("web/style.css")
	if err != nil {
		return nil, err
	}
	base := "default-src 'none'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; style-src " + cspHash(string(style))
	build := func(p webPage) (page []byte, csp string, err error) {
		b, err := webFiles.ReadFile("web/" + p.html)
		if err != nil {
			return nil, "", err
		}
		html := string(b)
		if strings.Count(html, "{{STYLE}}") != 1 {
			return nil, "", fmt.Errorf("dashboard: %s must hold {{STYLE}} once", p.html)
		}
		html = strings.Replace(html, "{{STYLE}}", string(style), 1)
		if len(p.scripts) == 0 {
			if strings.Contains(html, "<script") || strings.Contains(html, "{{SCRIPT}}") {
				return nil, "", fmt.Errorf("dashboard: %s must hold no script", p.html)
			}
			return []byte(html), base, nil
		}
		var script strings.Builder
		for _, name := range p.scripts {
			s, err := webFiles.ReadFile("web/" + name)
			if err != nil {
				return nil, "", err
			}
			script.Write(s)
			script.WriteString("\n")
		}
		if strings.Count(html, "{{SCRIPT}}") != 1 {
			return nil, "", fmt.Errorf("dashboard: %s must hold {{SCRIPT}} once", p.html)
		}
		html = strings.Replace(html, "{{SCRIPT}}", script.String(), 1)
		return []byte(html), base + "; connect-src 'self'; script-src " + cspHash(script.String()), nil
	}
	d := &dashboard{}
	if d.page, d.pageCSP, err = build(webPage{"index.html", []string{"common.js", "app.js"}}); err != nil {
		return nil, err
	}
	if d.run, d.runCSP, err = build(webPage{"run.html", []string{"common.js", "run.js"}}); err != nil {
		return nil, err
	}
	if d.signIn, d.signInCSP, err = build(webPage{"signin.html", nil}); err != nil {
		return nil, err
	}
	if s := string(d.signIn); strings.Count(s, signInMessage) != 1 || strings.Count(s, signInNext) != 1 {
		return nil, fmt.Errorf("dashboard: signin.html must hold %s and %s once each", signInMessage, signInNext)
	}
	return d, nil
}

// cspHash is a Content-Security-Policy source that allows the inline
// style or script s.
func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
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
	d.writeSignIn(w, http.StatusOK, "", "/web")
}

// serveRun answers GET /web/runs/{id}: the page of one run for a browser
// with a session, else the sign-in page, which comes back here once
// signed in. The page reads the run from the API; an id that is not a
// run's number is not found here already.
func (d *dashboard) serveRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !runPagePath.MatchString("/web/runs/" + id) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusNotFound)
		_, _ = fmt.Fprintf(w, "There is no run %q: a run's page is /web/runs/ and the run's number (a whole number, as in the dashboard's list of runs).\n", id)
		return
	}
	if _, ok := d.sessions.sessionOf(r); ok {
		pageHeaders(w, d.runCSP)
		_, _ = w.Write(d.run)
		return
	}
	d.writeSignIn(w, http.StatusOK, "", "/web/runs/"+id)
}

// runPagePath matches the path of a run's page.
var runPagePath = regexp.MustCompile(`^/web/runs/[1-9][0-9]{0,18}$`)

// nextPage returns where a browser goes after signing in: the page the
// sign-in form came from when it is one of the dashboard's (/web or a
// run's page), else /web. Nothing else is taken, so that the form cannot
// send a browser to another site.
func nextPage(next string) string {
	if next == "/web" || runPagePath.MatchString(next) {
		return next
	}
	return "/web"
}

// writeSignIn writes the sign-in page with status and the message msg
// (none when empty); signing in there opens next (see nextPage).
func (d *dashboard) writeSignIn(w http.ResponseWriter, status int, msg, next string) {
	pageHeaders(w, d.signInCSP)
	w.WriteHeader(status)
	page := strings.Replace(string(d.signIn), signInMessage, html.EscapeString(msg), 1)
	page = strings.Replace(page, signInNext, html.EscapeString(nextPage(next)), 1)
	_, _ = w.Write([]byte(page))
}

// handleSignIn answers POST /web/signin, the sign-in form: with the
// server's token in its token field, it starts a session, sets its cookie
// (see sessionCookieOf) and sends the browser to the page its next field
// names, /web or a run's page (303; see nextPage); with another
// token, the sign-in page again with 401 and why. The form must come from
// this server's own page (checkOrigin), and the token only in the body,
// never in the address.
func (d *dashboard) handleSignIn(w http.ResponseWriter, r *http.Request) {
	if err := checkOrigin(r); err != nil {
		refuseCrossOrigin(w, r, err)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		d.writeSignIn(w, http.StatusUnsupportedMediaType, "The sign-in form was sent as "+fmt.Sprintf("%q", ct)+"; send it from this page.", "/web")
		return
	}
	if err := r.ParseForm(); err != nil {
		d.writeSignIn(w, http.StatusBadRequest, "The sign-in form could not be read ("+err.Error()+"); send it again from this page.", "/web")
		return
	}
	next := nextPage(r.PostForm.Get("next"))
	got := strings.TrimSpace(r.PostForm.Get("token"))
	if got == "" {
		d.writeSignIn(w, http.StatusUnauthorized, "Enter the access token.", next)
		return
	}
	switch v, wait := d.guesses.check(r, got, d.token); v {
	case tokenThrottled:
		secs := retryAfter(w, wait)
		d.writeSignIn(w, http.StatusTooManyRequests, fmt.Sprintf("Too many wrong tokens from this address: try again in %d s.", secs), next)
		return
	case tokenWrong:
		d.logger.WarnContext(r.Context(), "api: dashboard sign-in with a wrong token", slog.String("remote_addr", r.RemoteAddr))
		d.writeSignIn(w, http.StatusUnauthorized, "That is not this server's access token. It is in the file token in Butler's data directory (or the file --token-file names).", next)
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
	http.Redirect(w, r, next, http.StatusSeeOther)
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
