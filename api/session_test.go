package api_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/api"
)

// noRedirect is a client that returns redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// send makes one request to base (with no token unless the header has
// one) and returns the answer with its body read.
func send(t *testing.T, client *http.Client, base, method, path string, body string, header map[string]string, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	hr, err := http.NewRequestWithContext(t.Context(), method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			hr.Host = v
			continue
		}
		hr.Header.Set(k, v)
	}
	for _, c := range cookies {
		hr.AddCookie(c)
	}
	resp, err := client.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// signIn posts the sign-in form to base as the dashboard's page does and
// returns the session cookie it got.
func signIn(t *testing.T, client *http.Client, base string) *http.Cookie {
	t.Helper()
	resp, body := send(t, client, base, "POST", "/web/signin", url.Values{"token": {token}}.Encode(),
		map[string]string{"Origin": base, "Content-Type": "application/x-www-form-urlencoded"})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/web" {
		t.Fatalf("sign in: %d, Location %q, want 303 to /web: %.300s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	cs := resp.Cookies()
	if len(cs) != 1 {
		t.Fatalf("sign in set %d cookies, want 1: %v", len(cs), resp.Header.Values("Set-Cookie"))
	}
	return cs[0]
}

func portOf(t *testing.T, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

// TestDashboard_SignInPage: without a session, GET /web is the sign-in
// page, a form that posts the token to /web/signin, with no script, and a
// token in the address does not open the dashboard.
func TestDashboard_SignInPage(t *testing.T) {
	s := newServer(t)
	// /web/signin, the form's address opened again, leads to it too.
	for _, path := range []string{"/web", "/web/", "/web?X-Plex-Token=" + token, "/web/signin"} {
		resp, body := send(t, http.DefaultClient, s.URL, "GET", path, "", nil)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if !strings.Contains(body, `<form id="signin" method="post" action="/web/signin">`) || !strings.Contains(body, `type="password"`) {
			t.Errorf("GET %s without a session is not the sign-in form: %.400s", path, body)
		}
		if strings.Contains(body, "<script") || strings.Contains(body, "{{") {
			t.Errorf("GET %s: the sign-in page has a script or a placeholder left", path)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "form-action 'self'", "style-src 'sha256-", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("sign-in page's Content-Security-Policy %q lacks %q", csp, want)
			}
		}
		if strings.Contains(csp, "script-src") {
			t.Errorf("sign-in page's Content-Security-Policy %q allows a script", csp)
		}
		if len(resp.Cookies()) != 0 {
			t.Errorf("GET %s set a cookie: %v", path, resp.Header.Values("Set-Cookie"))
		}
	}
}

// TestDashboard_SignIn: the right token in the form gives a session cookie
// (HttpOnly, SameSite=Strict, Path=/, not Secure over plain HTTP, named
// for the port, lasting 30 days) and a redirect to /web, which is then the
// dashboard; a wrong token, an empty one, one in the address only, or a
// form of another type gets the sign-in page again and no cookie.
//
// Signing in again ends the browser's previous session.
func TestDashboard_SignIn(t *testing.T) {
	s := newServer(t)
	c := signIn(t, noRedirect, s.URL)
	if want := "butler_session_" + portOf(t, s.URL); c.Name != want {
		t.Errorf("cookie name %q, want %q", c.Name, want)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure || c.Domain != "" {
		t.Errorf("cookie HttpOnly %v SameSite %v Path %q Secure %v Domain %q; want HttpOnly, Strict, /, not Secure over HTTP, no Domain",
			c.HttpOnly, c.SameSite, c.Path, c.Secure, c.Domain)
	}
	if c.MaxAge < 29*24*3600 || c.MaxAge > 30*24*3600 {
		t.Errorf("cookie Max-Age %d, want 30 days", c.MaxAge)
	}
	if len(c.Value) < 26 || strings.Contains(c.Value, token) {
		t.Errorf("cookie value %q: want a random id of 128 bits, not the token", c.Value)
	}
	resp, body := send(t, http.DefaultClient, s.URL, "GET", "/web", "", nil, c)
	if resp.StatusCode != 200 || !strings.Contains(body, "<script>'use strict';") || !strings.Contains(body, `id="signout"`) {
		t.Fatalf("GET /web with the session: %d, want the dashboard: %.300s", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "connect-src 'self'", "script-src 'sha256-", "style-src 'sha256-", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("dashboard's Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if got := resp.Header.Get("Referrer-Policy"); got != "same-origin" {
		t.Errorf("Referrer-Policy %q, want same-origin", got)
	}
	if strings.Contains(body, token) {
		t.Error("the dashboard page holds the token")
	}

	form := map[string]string{"Origin": s.URL, "Content-Type": "application/x-www-form-urlencoded"}
	for name, c := range map[string]struct {
		path, body string
		header     map[string]string
		status     int
		says       string
	}{
		"Wrong":       {"/web/signin", "token=wrong-" + token, form, 401, "not this server&#39;s access token"},
		"Prefix":      {"/web/signin", "token=" + token[:len(token)-1], form, 401, "not this server&#39;s access token"},
		"Empty":       {"/web/signin", "token=", form, 401, "Enter the access token"},
		"InQueryOnly": {"/web/signin?token=" + token, "", form, 401, "Enter the access token"},
		"PlexQuery":   {"/web/signin?X-Plex-Token=" + token, "", form, 401, "Enter the access token"},
		"NotAForm":    {"/web/signin", `{"token":"` + token + `"}`, map[string]string{"Origin": s.URL, "Content-Type": "application/json"}, 415, "sign-in form was sent as"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := send(t, noRedirect, s.URL, "POST", c.path, c.body, c.header)
			if resp.StatusCode != c.status || !strings.Contains(body, c.says) || !strings.Contains(body, `action="/web/signin"`) {
				t.Errorf("%d, want %d and the sign-in page saying %q: %.600s", resp.StatusCode, c.status, c.says, body)
			}
			if len(resp.Cookies()) != 0 {
				t.Errorf("a failed sign-in set a cookie: %v", resp.Header.Values("Set-Cookie"))
			}
		})
	}
	// Signing in again from the same browser ends its previous session.
	resp, _ = send(t, noRedirect, s.URL, "POST", "/web/signin", url.Values{"token": {token}}.Encode(),
		map[string]string{"Origin": s.URL, "Content-Type": "application/x-www-form-urlencoded"}, c)
	if cs := resp.Cookies(); resp.StatusCode != http.StatusSeeOther || len(cs) != 1 || cs[0].Value == c.Value {
		t.Fatalf("sign in again: %d with cookies %v, want 303 and a new session", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	}
	if resp, _ := send(t, http.DefaultClient, s.URL, "GET", "/butler", "", nil, c); resp.StatusCode != 401 {
		t.Errorf("the previous session after signing in again: %d, want 401", resp.StatusCode)
	}
	// A made-up session id opens nothing.
	forged := &http.Cookie{Name: c.Name, Value: strings.Repeat("A", len(c.Value))}
	if _, body := send(t, http.DefaultClient, s.URL, "GET", "/web", "", nil, forged); !strings.Contains(body, `action="/web/signin"`) {
		t.Error("a made-up session id opened the dashboard")
	}
	if resp, _ := send(t, http.DefaultClient, s.URL, "GET", "/butler", "", map[string]string{"Sec-Fetch-Site": "same-origin"}, forged); resp.StatusCode != 401 {
		t.Errorf("GET /butler with a made-up session id: %d, want 401", resp.StatusCode)
	}
}

// TestDashboard_SignInOverTLS: over TLS the cookie is Secure and has the
// __Host- prefix, and the origin to come from is https.
func TestDashboard_SignInOverTLS(t *testing.T) {
	s := newServer(t)
	ts := httptest.NewTLSServer(s.Config.Handler)
	t.Cleanup(ts.Close)
	client := ts.Client()
	client.CheckRedirect = noRedirect.CheckRedirect
	c := signIn(t, client, ts.URL)
	if want := "__Host-butler_session_" + portOf(t, ts.URL); c.Name != want || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Errorf("cookie %q Secure %v HttpOnly %v SameSite %v Path %q; want %q, Secure, HttpOnly, Strict, /", c.Name, c.Secure, c.HttpOnly, c.SameSite, c.Path, want)
	}
	plain := "http://" + strings.TrimPrefix(ts.URL, "https://")
	if resp, _ := send(t, client, ts.URL, "POST", "/butler/BackupDatabase", "", map[string]string{"Origin": plain}, c); resp.StatusCode != 403 {
		t.Errorf("POST with the cookie over TLS from %s: %d, want 403 (another scheme is another origin)", plain, resp.StatusCode)
	}
	if resp, _ := send(t, client, ts.URL, "GET", "/butler", "", map[string]string{"Origin": ts.URL}, c); resp.StatusCode != 200 {
		t.Errorf("GET /butler with the cookie over TLS from its own origin: %d, want 200", resp.StatusCode)
	}
}

// TestDashboard_SignOut: sign-out ends the session on the server (the old
// cookie opens nothing any more, even if a browser kept it) and removes
// the cookie; it must come from the server's own origin.
func TestDashboard_SignOut(t *testing.T) {
	s := newServer(t)
	c := signIn(t, noRedirect, s.URL)
	other := signIn(t, noRedirect, s.URL)
	if resp, _ := send(t, noRedirect, s.URL, "POST", "/web/signout", "", map[string]string{"Origin": "http://127.0.0.1:1"}, c); resp.StatusCode != 403 {
		t.Fatalf("sign-out from another port: %d, want 403", resp.StatusCode)
	}
	if resp, _ := send(t, http.DefaultClient, s.URL, "GET", "/butler", "", map[string]string{"Sec-Fetch-Site": "same-origin"}, c); resp.StatusCode != 200 {
		t.Fatalf("the session after a refused sign-out: %d, want 200", resp.StatusCode)
	}
	resp, _ := send(t, noRedirect, s.URL, "POST", "/web/signout", "", map[string]string{"Origin": s.URL}, c)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/web" {
		t.Fatalf("sign out: %d, Location %q; want 303 to /web", resp.StatusCode, resp.Header.Get("Location"))
	}
	if cs := resp.Cookies(); len(cs) != 1 || cs[0].Name != c.Name || cs[0].MaxAge >= 0 || cs[0].Value != "" {
		t.Errorf("sign-out's cookie %v, want %s removed (Max-Age<0)", resp.Header.Values("Set-Cookie"), c.Name)
	}
	if resp, _ := send(t, http.DefaultClient, s.URL, "GET", "/butler", "", map[string]string{"Sec-Fetch-Site": "same-origin"}, c); resp.StatusCode != 401 {
		t.Errorf("GET /butler with the signed-out cookie: %d, want 401", resp.StatusCode)
	}
	if _, body := send(t, http.DefaultClient, s.URL, "GET", "/web", "", nil, c); !strings.Contains(body, `action="/web/signin"`) {
		t.Error("GET /web with the signed-out cookie is not the sign-in page")
	}
	if resp, _ := send(t, http.DefaultClient, s.URL, "GET", "/butler", "", map[string]string{"Sec-Fetch-Site": "same-origin"}, other); resp.StatusCode != 200 {
		t.Errorf("another browser's session after this one signed out: %d, want 200", resp.StatusCode)
	}
}

// TestDashboard_CrossOrigin: a state-changing request that the session
// cookie authenticates is refused (403, nothing done) unless it comes from
// the server's own origin; another site, another port of the same host,
// another scheme, an opaque origin, or no sign of where it comes from are
// all refused. The same request with the token is not asked.
func TestDashboard_CrossOrigin(t *testing.T) {
	s := newServer(t)
	b := s.actions[butler.TaskBackupDatabase]
	c := signIn(t, noRedirect, s.URL)
	otherPort := "http://127.0.0.1:" + portOf(t, s.URL) + "1"
	if portOf(t, s.URL) == "1" {
		otherPort = "http://127.0.0.1:2"
	}
	retention := s.m.Settings().Get(butler.SettingRunRetentionDays)
	states := []struct{ method, path string }{
		{"POST", "/butler/BackupDatabase?force=1"},
		{"POST", "/butler"},
		{"PUT", "/:/prefs?ButlerRunRetentionDays=7"},
		{"DELETE", "/butler/BackupDatabase"},
		{"DELETE", "/butler"},
		{"DELETE", "/butler/runs/1"},
	}
	refused := map[string]map[string]string{
		"OtherSite":         {"Origin": "https://evil.example"},
		"OtherPort":         {"Origin": otherPort},
		"OtherScheme":       {"Origin": "https://" + strings.TrimPrefix(s.URL, "http://")},
		"LocalhostName":     {"Origin": "http://localhost:" + portOf(t, s.URL)},
		"NullOrigin":        {"Origin": "null"},
		"SameSiteFetch":     {"Sec-Fetch-Site": "same-site"},
		"CrossSiteFetch":    {"Sec-Fetch-Site": "cross-site"},
		"UserNavigation":    {"Sec-Fetch-Site": "none"},
		"OtherPortReferer":  {"Referer": otherPort + "/page"},
		"NothingToShowFrom": {},
		"OriginBeatsFetch":  {"Origin": otherPort, "Sec-Fetch-Site": "same-origin"},
	}
	for name, h := range refused {
		for _, st := range states {
			resp, body := send(t, noRedirect, s.URL, st.method, st.path, "", h, c)
			if resp.StatusCode != 403 || !strings.Contains(body, "cannot act with a signed-in browser") {
				t.Errorf("%s: %s %s with the cookie: %d, want 403 saying why: %.300s", name, st.method, st.path, resp.StatusCode, body)
			}
		}
	}
	select {
	case <-b.entered:
		t.Fatal("a refused cross-origin request started the task")
	default:
	}
	if got := s.m.Settings().Get(butler.SettingRunRetentionDays); got != retention {
		t.Fatalf("a refused cross-origin PUT changed the retention to %s", got)
	}

	// From the server's own origin, each is done.
	for name, h := range map[string]map[string]string{
		"Origin":        {"Origin": s.URL},
		"SecFetchSite":  {"Sec-Fetch-Site": "same-origin"},
		"Referer":       {"Referer": s.URL + "/web"},
		"OriginDefault": {"Origin": strings.ToUpper(s.URL[:4]) + s.URL[4:]},
	} {
		resp, _ := send(t, noRedirect, s.URL, "POST", "/butler/BackupDatabase?force=1", "", h, c)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: POST /butler/BackupDatabase with the cookie from its own origin: %d, want 200", name, resp.StatusCode)
		}
		wait(t, b.entered, "the task started with the cookie")
		if resp, _ := send(t, noRedirect, s.URL, "DELETE", "/butler/BackupDatabase", "", h, c); resp.StatusCode != 200 {
			t.Fatalf("%s: DELETE /butler/BackupDatabase with the cookie from its own origin: %d, want 200", name, resp.StatusCode)
		}
		<-b.ended
	}
	if resp, _ := send(t, noRedirect, s.URL, "PUT", "/:/prefs?ButlerRunRetentionDays=7", "", map[string]string{"Origin": s.URL}, c); resp.StatusCode != 200 || s.m.Settings().Get(butler.SettingRunRetentionDays) != "7" {
		t.Fatalf("PUT /:/prefs with the cookie from its own origin: %d, retention %s", resp.StatusCode, s.m.Settings().Get(butler.SettingRunRetentionDays))
	}
	// Reading needs no sign of origin, but one that names another is refused.
	if resp, _ := send(t, noRedirect, s.URL, "GET", "/butler", "", nil, c); resp.StatusCode != 200 {
		t.Errorf("GET /butler with the cookie and no origin headers: %d, want 200", resp.StatusCode)
	}
	if resp, _ := send(t, noRedirect, s.URL, "GET", "/butler/runs", "", map[string]string{"Origin": otherPort}, c); resp.StatusCode != 403 {
		t.Errorf("GET /butler/runs with the cookie from another port: %d, want 403", resp.StatusCode)
	}

	// API clients with the token are not asked where they come from, and a
	// wrong token is not rescued by the cookie.
	resp, _ := send(t, noRedirect, s.URL, "POST", "/butler/BackupDatabase?force=1", "", map[string]string{"X-Plex-Token": token, "Origin": "https://evil.example"})
	if resp.StatusCode != 200 {
		t.Fatalf("POST with the token and another Origin: %d, want 200", resp.StatusCode)
	}
	wait(t, b.entered, "the task started with the token")
	if resp, _ := send(t, noRedirect, s.URL, "DELETE", "/butler/BackupDatabase?X-Plex-Token="+token, "", nil); resp.StatusCode != 200 {
		t.Fatalf("DELETE with the token in the query: %d, want 200", resp.StatusCode)
	}
	<-b.ended
	if resp, _ := send(t, noRedirect, s.URL, "POST", "/butler", "", map[string]string{"X-Plex-Token": "wrong", "Origin": s.URL}, c); resp.StatusCode != 401 {
		t.Errorf("POST with a wrong token and a valid cookie: %d, want 401", resp.StatusCode)
	}
	// Sign-in itself must come from the server's own page.
	resp, _ = send(t, noRedirect, s.URL, "POST", "/web/signin", "token="+token, map[string]string{"Origin": otherPort, "Content-Type": "application/x-www-form-urlencoded"})
	if resp.StatusCode != 403 || len(resp.Cookies()) != 0 {
		t.Errorf("sign-in from another port: %d with %d cookies, want 403 and none", resp.StatusCode, len(resp.Cookies()))
	}
}

// TestDashboard_StreamsCheckOrigin: the websocket and the event stream,
// opened with the session cookie, are refused from another origin (another
// site or another port) and served from the server's own.
func TestDashboard_StreamsCheckOrigin(t *testing.T) {
	s := newServer(t)
	c := signIn(t, noRedirect, s.URL)
	otherPort := "http://127.0.0.1:" + portOf(t, s.URL) + "1"
	ws := "ws" + strings.TrimPrefix(s.URL, "http")
	for _, path := range []string{"/:/websockets/notifications", "/:/websocket/notifications"} {
		for _, origin := range []string{"https://evil.example", otherPort} {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			conn, resp, err := websocket.Dial(ctx, ws+path, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}, "Cookie": {c.String()}}})
			cancel()
			if err == nil {
				conn.CloseNow()
				t.Fatalf("websocket %s with the cookie from %s was accepted", path, origin)
			}
			if resp == nil || resp.StatusCode != 403 {
				t.Errorf("websocket %s with the cookie from %s: %v, want 403", path, origin, err)
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		conn, _, err := websocket.Dial(ctx, ws+path, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {s.URL}, "Cookie": {c.String()}}})
		cancel()
		if err != nil {
			t.Fatalf("websocket %s with the cookie from its own origin: %v", path, err)
		}
		conn.CloseNow()
	}

	stream := func(h map[string]string) *http.Response {
		t.Helper()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		hr, err := http.NewRequestWithContext(ctx, "GET", s.URL+"/:/eventsource/notifications", nil)
		if err != nil {
			t.Fatal(err)
		}
		hr.Header.Set("Accept", "text/event-stream")
		for k, v := range h {
			hr.Header.Set(k, v)
		}
		hr.AddCookie(c)
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, h := range []map[string]string{{"Origin": "https://evil.example"}, {"Origin": otherPort}, {"Sec-Fetch-Site": "same-site"}, {"Sec-Fetch-Site": "cross-site"}} {
		if resp := stream(h); resp.StatusCode != 403 {
			t.Errorf("event stream with the cookie and %v: %d, want 403", h, resp.StatusCode)
		}
	}
	for _, h := range []map[string]string{{"Origin": s.URL}, {"Sec-Fetch-Site": "same-origin"}, {"Referer": s.URL + "/web"}} {
		if resp := stream(h); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Errorf("event stream with the cookie and %v: %d %s, want 200 text/event-stream", h, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

// TestLoopbackHost: a server reached on a loopback address answers only to
// Host names of this machine (DNS rebinding); another name gets 421 and
// why, unless the request carries the token.
func TestLoopbackHost(t *testing.T) {
	s := newServer(t)
	port := portOf(t, s.URL)
	for _, host := range []string{"evil.example:" + port, "evil.example", "localhost.evil.example:" + port, "192.0.2.1:" + port, "10.0.0.1"} {
		for _, path := range []string{"/identity", "/web", "/healthz"} {
			resp, body := send(t, noRedirect, s.URL, "GET", path, "", map[string]string{"Host": host})
			if resp.StatusCode != http.StatusMisdirectedRequest || !strings.Contains(body, "DNS name pointed at this machine") {
				t.Errorf("GET %s with Host %s: %d, want 421 saying why: %.200s", path, host, resp.StatusCode, body)
			}
		}
		resp, _ := send(t, noRedirect, s.URL, "POST", "/web/signin", "token="+token, map[string]string{"Host": host, "Origin": "http://" + host, "Content-Type": "application/x-www-form-urlencoded"})
		if resp.StatusCode != http.StatusMisdirectedRequest || len(resp.Cookies()) != 0 {
			t.Errorf("sign-in with Host %s: %d, want 421 and no cookie", host, resp.StatusCode)
		}
		// An API client with the token is not affected.
		if resp, _ := send(t, noRedirect, s.URL, "GET", "/butler", "", map[string]string{"Host": host, "X-Plex-Token": token}); resp.StatusCode != 200 {
			t.Errorf("GET /butler with the token and Host %s: %d, want 200", host, resp.StatusCode)
		}
		if resp, _ := send(t, noRedirect, s.URL, "GET", "/butler", "", map[string]string{"Host": host, "X-Plex-Token": "wrong"}); resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("GET /butler with a wrong token and Host %s: %d, want 421", host, resp.StatusCode)
		}
	}
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "LOCALHOST", "localhost.:" + port, "butler.localhost:" + port, "127.0.0.2:" + port, "[::1]:" + port} {
		if resp, _ := send(t, noRedirect, s.URL, "GET", "/identity", "", map[string]string{"Host": host}); resp.StatusCode != 200 {
			t.Errorf("GET /identity with Host %s: %d, want 200", host, resp.StatusCode)
		}
	}
	// The dashboard works under localhost too: its origin is the one the
	// browser used.
	local := "http://localhost:" + port
	client := &http.Client{CheckRedirect: noRedirect.CheckRedirect, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, strings.TrimPrefix(s.URL, "http://"))
		},
	}}
	c := signIn(t, client, local)
	if resp, _ := send(t, client, local, "DELETE", "/butler", "", map[string]string{"Origin": local}, c); resp.StatusCode != 200 {
		t.Errorf("DELETE /butler with the cookie at %s from its own origin: %d, want 200", local, resp.StatusCode)
	}
	if resp, _ := send(t, client, local, "DELETE", "/butler", "", map[string]string{"Origin": s.URL}, c); resp.StatusCode != 403 {
		t.Errorf("DELETE /butler with the cookie at %s from %s: %d, want 403 (another host name is another origin)", local, s.URL, resp.StatusCode)
	}
}

// TestDashboard_PageWeight: each page of the dashboard is one response,
// with its style and script inline, of less than 100 KB.
func TestDashboard_PageWeight(t *testing.T) {
	s := newServer(t)
	c := signIn(t, noRedirect, s.URL)
	for name, cookies := range map[string][]*http.Cookie{"sign-in page": nil, "dashboard": {c}} {
		resp, body := send(t, http.DefaultClient, s.URL, "GET", "/web", "", nil, cookies...)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", name, resp.StatusCode)
		}
		if len(body) >= 100_000 {
			t.Errorf("the %s weighs %d bytes, want less than 100 KB", name, len(body))
		}
		t.Logf("%s: %d bytes", name, len(body))
	}
}

// Wrong tokens that a web page makes a browser send never get the local
// clients throttled: neither a page on another port of localhost (same
// site), nor a page that pointed its own DNS name at this machine (DNS
// rebinding: its Host names it, and it counts as one client of its own,
// which it alone drains).
func TestThrottle_PagesDoNotThrottleLocalClients(t *testing.T) {
	for name, page := range map[string]map[string]string{
		"same-site page": {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors", "Referer": "http://localhost:8080/"},
		"rebinding page": {"Host": "rebind.attacker.example:28400", "Sec-Fetch-Site": "same-origin"},
	} {
		t.Run(name, func(t *testing.T) {
			srv := defaultLimitServer(t)
			for i := range 30 {
				send(t, http.DefaultClient, srv.URL, "GET", "/butler?X-Plex-Token=guess-"+strconv.Itoa(i), "", page)
			}
			if resp, _ := send(t, http.DefaultClient, srv.URL, "GET", "/butler", "", map[string]string{"X-Plex-Token": token}); resp.StatusCode != http.StatusOK {
				t.Errorf("a local client with the right token after a %s's 30 wrong tokens: %d (Retry-After %s); want 200",
					name, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
		})
	}
	// The rebinding page's own guesses are throttled all the same.
	srv := defaultLimitServer(t)
	page := map[string]string{"Host": "rebind.attacker.example:28400"}
	last := 0
	for i := range 30 {
		resp, _ := send(t, http.DefaultClient, srv.URL, "GET", "/butler?X-Plex-Token=guess-"+strconv.Itoa(i), "", page)
		last = resp.StatusCode
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("a foreign host's 30th wrong token: %d; want 429 (its guesses are throttled)", last)
	}
}

// defaultLimitServer is the real handler with the default guess limits
// (newServer's are lifted), on an httptest server (loopback).
func defaultLimitServer(t *testing.T) *httptest.Server {
	t.Helper()
	base := newServer(t)
	h, err := api.NewHandler(api.Config{Manager: base.m, Token: token, Version: "1.2.3", MachineIdentifier: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
