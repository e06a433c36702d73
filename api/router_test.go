package api_test

import (
	"net/http"
	"testing"
)

// TestRouterPaths checks the paths that http.ServeMux alone would answer
// otherwise: repeated slashes at either end are ignored, a path with an
// empty, "." or ".." segment inside is not found rather than redirected,
// a request that no route takes needs the token before it learns so, and
// 405's Allow lists the path's methods in the table's order.
func TestRouterPaths(t *testing.T) {
	s := newServer(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, path string, withToken bool) *http.Response {
		t.Helper()
		hr, err := http.NewRequestWithContext(t.Context(), method, s.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if withToken {
			hr.Header.Set("X-Plex-Token", token)
		}
		resp, err := noRedirect.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/butler", 200, ""},
		{"GET", "//butler", 200, ""},
		{"GET", "/butler//", 200, ""},
		{"GET", "/butler/runs/", 200, ""},
		{"HEAD", "/butler/plan/", 200, ""},
		{"GET", "/butler/./runs", 404, ""},
		{"GET", "/butler/x/../runs", 404, ""},
		{"GET", "/butler/runs//log", 404, ""},
		{"GET", "/butler/runs/1/log/extra", 404, ""},
		{"PUT", "/butler/", 405, "GET, POST, DELETE"},
		{"DELETE", "/:/prefs", 405, "GET, PUT"},
		{"GET", "/activities/x", 405, "DELETE"},
		{"POST", "/identity", 405, "GET"},
		{"POST", "/", 405, "GET"},
		{"GET", "/identity/", 200, ""},
	} {
		resp := send(c.method, c.path, true)
		if resp.StatusCode != c.status || resp.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d, Allow %q; want %d, Allow %q", c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), c.status, c.allow)
		}
		if c.path == "/identity/" {
			continue
		}
		if resp := send(c.method, c.path, false); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without the token: %d, want 401", c.method, c.path, resp.StatusCode)
		}
	}
}
