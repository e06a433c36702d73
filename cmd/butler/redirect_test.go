package main

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestCLITokenNotSentToAnotherHost: a server that redirects the CLI's
// request to another host does not get the token sent there.
func TestCLITokenNotSentToAnotherHost(t *testing.T) {
	const token = "cli-secret-token-123456"
	var mu sync.Mutex
	var got []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("X-Plex-Token"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ButlerTasks":{"ButlerTask":[]}}`))
	}))
	t.Cleanup(other.Close)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(server.Close)
	code, out, stderr := runCmd(t, map[string]string{"BUTLER_URL": server.URL, "BUTLER_TOKEN": token}, "tasks")
	mu.Lock()
	defer mu.Unlock()
	if len(got) == 0 {
		t.Fatalf("the redirect was not followed (exit %d)\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	for _, tok := range got {
		if tok != "" {
			t.Fatalf("the other host got the token %q", tok)
		}
	}
}
