package api

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

// webFiles are the dashboard's sources: index.html, with its style and
// script put inline where it says {{STYLE}} and {{SCRIPT}}, so that the
// page is one response behind the token like every other route.
//
//go:embed web/index.html web/style.css web/app.js
var webFiles embed.FS

// dashboard is the built page and its Content-Security-Policy, which allows
// the inline style and script by their hashes and nothing else but
// requests to this server.
type dashboard struct {
	page []byte
	csp  string
}

// newDashboard builds the page from webFiles.
func newDashboard() (*dashboard, error) {
	read := func(name string) (string, error) {
		b, err := webFiles.ReadFile("web/" + name)
		return string(b), err
	}
	html, err := read("index.html")
	if err != nil {
		return nil, err
	}
	style, err := read("style.css")
	if err != nil {
		return nil, err
	}
	script, err := read("app.js")
	if err != nil {
		return nil, err
	}
	if strings.Count(html, "{{STYLE}}") != 1 || strings.Count(html, "{{SCRIPT}}") != 1 {
		return nil, fmt.Errorf("dashboard: index.html must hold {{STYLE}} and {{SCRIPT}} once each")
	}
	html = strings.Replace(html, "{{STYLE}}", style, 1)
	html = strings.Replace(html, "{{SCRIPT}}", script, 1)
	hash := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	csp := "default-src 'none'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; " +
		"style-src " + hash(style) + "; script-src " + hash(script)
	return &dashboard{page: []byte(html), csp: csp}, nil
}

// ServeHTTP answers GET /web with the page. The token comes in the query
// (X-Plex-Token), as Plex's own web app is opened; the page keeps it and
// removes it from the address bar, and no referrer carries it away.
func (d *dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", d.csp)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(d.page)
}
