package client_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/plexbutler/butler/client"
)

// tokenRecorder is an HTTP server that records the X-Plex-Token of every
// request it gets and answers an empty task list (JSON).
type tokenRecorder struct {
	*httptest.Server
	mu     sync.Mutex
	tokens []string // one per request; "" when it carried none
}

func newTokenRecorder(t *testing.T, handler func(w http.ResponseWriter, r *http.Request) bool) *tokenRecorder {
	rec := &tokenRecorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.tokens = append(rec.tokens, r.Header.Get("X-Plex-Token"))
		rec.mu.Unlock()
		if handler != nil && handler(w, r) {
			return
		}
		if r.URL.Path == "/:/eventsource/notifications" {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			return // ends the stream: the client sees it break
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ButlerTasks":{"ButlerTask":[]}}`))
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *tokenRecorder) seen() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.tokens...)
}

// TestTokenNotSentToAnotherHost: a server that redirects to another host
// (or another port, or from https to http) does not get the token sent
// there; a redirect within the server keeps it. With an http.Client of the
// caller's too, whose own CheckRedirect still decides.
func TestTokenNotSentToAnotherHost(t *testing.T) {
	const token = "secret-token-123456"
	var server *tokenRecorder
	// The other host sends /bounce back to the server.
	other := newTokenRecorder(t, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/bounce" {
			return false
		}
		http.Redirect(w, r, server.URL+"/butler", http.StatusFound)
		return true
	})
	server = newTokenRecorder(t, func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case r.URL.Path == "/here/butler":
			http.Redirect(w, r, server.URL+"/butler", http.StatusFound)
		case strings.HasPrefix(r.URL.Path, "/away"):
			http.Redirect(w, r, other.URL+strings.TrimPrefix(r.URL.Path, "/away"), http.StatusTemporaryRedirect)
		case r.URL.Path == "/back/butler":
			// To the other host, which sends the request back here.
			http.Redirect(w, r, other.URL+"/bounce", http.StatusFound)
		default:
			return false
		}
		return true
	})

	own := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
	for name, opts := range map[string][]client.Option{
		"default client":  nil,
		"caller's client": {client.WithHTTPClient(own)},
	} {
		t.Run(name, func(t *testing.T) {
			for _, prefix := range []string{"/away", "/here", "/back"} {
				c, err := client.New(server.URL+prefix, append([]client.Option{client.WithToken(token)}, opts...)...)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.GetButlerTasks(ctxT(t)); err != nil {
					t.Fatalf("%s: GetButlerTasks: %v", prefix, err)
				}
			}
			c, err := client.New(server.URL+"/away", append([]client.Option{client.WithToken(token)}, opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			events, _ := c.Watch(ctxT(t))
			for range events { // the other host ends the stream at once
			}
			for _, got := range other.seen() {
				if got != "" {
					t.Fatalf("the other host got the token %q", got)
				}
			}
			if len(other.seen()) == 0 {
				t.Fatal("the other host got no request: the redirects were not followed")
			}
			for _, got := range server.seen() {
				if got != token {
					t.Fatalf("the server got %q, want its token on every request (redirects within it and back to it too)", got)
				}
			}
		})
	}
}

// TestTokenNotSentOnDowngrade: the same host on plain http after https is
// another origin.
func TestTokenNotSentOnDowngrade(t *testing.T) {
	plain := newTokenRecorder(t, nil)
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/butler", http.StatusFound)
	}))
	t.Cleanup(secure.Close)
	c, err := client.New(secure.URL, client.WithToken("secret-token-123456"), client.WithHTTPClient(secure.Client()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetButlerTasks(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got := plain.seen(); len(got) != 1 || got[0] != "" {
		t.Fatalf("the plain http server got tokens %q, want one request without", got)
	}
}
