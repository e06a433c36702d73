package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/plexbutler/butler/client/clienttest"
)

// TestCLIHealth: `butler health` exits 0 on a healthy server (without a
// token), 1 with the server's reason when it answers 503, and 3 when
// nothing listens.
func TestCLIHealth(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	// No token anywhere: /healthz needs none.
	code, out, errOut := runCmd(t, nil, "health", "--url", s.URL)
	if code != 0 || strings.TrimSpace(out) != "ok" {
		t.Fatalf("healthy server: exit %d, stdout %q, stderr %q; want 0 and ok", code, out, errOut)
	}

	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		http.Error(w, "the database cannot write: disk full", http.StatusServiceUnavailable)
	}))
	defer sick.Close()
	code, _, errOut = runCmd(t, map[string]string{"BUTLER_URL": sick.URL}, "health")
	if code != 1 || !strings.Contains(errOut, "503") || !strings.Contains(errOut, "disk full") {
		t.Fatalf("sick server: exit %d, stderr %q; want 1 with the status and the reason", code, errOut)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	code, _, errOut = runCmd(t, nil, "health", "--url", dead)
	if code != 3 || !strings.Contains(errOut, "cannot reach") {
		t.Fatalf("nothing listening: exit %d, stderr %q; want 3, cannot reach", code, errOut)
	}
}
