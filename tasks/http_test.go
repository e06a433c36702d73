package tasks_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler/tasks"
)

func TestHTTPExpected(t *testing.T) {
	type seen struct {
		method, path, token, ctype, body, host, agent string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.RequestURI(), r.Header.Get("X-Plex-Token"), r.Header.Get("Content-Type"), string(b), r.Host, r.Header.Get("User-Agent")}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	r := newOutputReporter(t)
	a := &tasks.HTTP{
		Method: http.MethodPost,
		URL:    srv.URL + "/library/sections/all/refresh?force=1",
		Header: http.Header{"X-Plex-Token": {"abc"}, "Content-Type": {"application/json"}, "Host": {"plex.local"}},
		Body:   `{"a":1}`,
		Expect: []int{200, 204},
	}
	if err := a.Run(t.Context(), r); err != nil {
		t.Fatalf("Run: %v", err)
	}
	s := <-got
	want := seen{"POST", "/library/sections/all/refresh?force=1", "abc", "application/json", `{"a":1}`, "plex.local", "butler"}
	if s != want {
		t.Errorf("server saw %+v, want %+v", s, want)
	}
	if sum := r.summary(); sum != "HTTP 204" {
		t.Errorf("summary = %q, want HTTP 204", sum)
	}
	if out := r.output(t); out != "HTTP 204 No Content\n" {
		t.Errorf("output = %q", out)
	}
}

func TestHTTPDefaultsToGetAnd2xx(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("method %s, want GET", r.Method)
		}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "queued\n")
	}))
	defer srv.Close()
	r := newOutputReporter(t)
	if err := (&tasks.HTTP{URL: srv.URL}).Run(t.Context(), r); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if sum := r.summary(); sum != "HTTP 202" {
		t.Errorf("summary = %q", sum)
	}
	if out := r.output(t); out != "HTTP 202 Accepted\nqueued\n" {
		t.Errorf("output = %q", out)
	}
}

func TestHTTPUnexpectedStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, "/elsewhere?X-Plex-Token=sekrit", http.StatusFound)
		default:
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "\n  database is locked\nmore\n")
		}
	}))
	defer srv.Close()
	for _, c := range []struct {
		name   string
		a      tasks.HTTP
		want   []string
		hidden string
	}{
		{"500", tasks.HTTP{URL: srv.URL + "/x?X-Plex-Token=sekrit"},
			[]string{"GET " + srv.URL + "/x?X-Plex-Token=xxxxx", "unexpected status 500 Internal Server Error (want 2xx): database is locked"}, "sekrit"},
		{"500 with expect", tasks.HTTP{URL: srv.URL, Expect: []int{200, 204}},
			[]string{"(want 200, 204)"}, ""},
		{"redirect not followed", tasks.HTTP{URL: srv.URL + "/moved"},
			[]string{"unexpected status 302 Found", "it redirects to /elsewhere?X-Plex-Token=xxxxx"}, "sekrit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newOutputReporter(t)
			err := c.a.Run(t.Context(), r)
			if err == nil {
				t.Fatal("Run succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if c.hidden != "" && strings.Contains(err.Error(), c.hidden) {
				t.Errorf("error %q shows the secret", err)
			}
			if !strings.HasPrefix(r.summary(), "HTTP ") {
				t.Errorf("summary = %q", r.summary())
			}
			r.output(t)
		})
	}

	// A redirect is accepted when it is expected.
	r := newOutputReporter(t)
	if err := (&tasks.HTTP{URL: srv.URL + "/moved", Expect: []int{302}}).Run(t.Context(), r); err != nil {
		t.Errorf("Run with Expect 302: %v", err)
	}
}

// TestHTTPHang stops a request to a target that never answers.
func TestHTTPHang(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	for _, c := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"time limit", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(t.Context(), 100*time.Millisecond)
		}, context.DeadlineExceeded},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := c.ctx()
			defer cancel()
			start := time.Now()
			err := (&tasks.HTTP{URL: srv.URL}).Run(ctx, newOutputReporter(t))
			if !errors.Is(err, c.want) {
				t.Fatalf("Run = %v, want %v", err, c.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Run took %s", d)
			}
		})
	}
}

// TestHTTPHugeBody reads a response of 100 MB: only MaxBody bytes are read.
func TestHTTPHugeBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000000")
		chunk := []byte(strings.Repeat("a", 64<<10))
		for sent := 0; sent < 100000000; sent += len(chunk) {
			if _, err := w.Write(chunk[:min(len(chunk), 100000000-sent)]); err != nil {
				return // the client stopped reading
			}
		}
	}))
	defer srv.Close()
	r := newOutputReporter(t)
	start := time.Now()
	if err := (&tasks.HTTP{URL: srv.URL, MaxBody: 1000}).Run(t.Context(), r); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %s", d)
	}
	out := r.output(t)
	want := "HTTP 200 OK\n" + strings.Repeat("a", 1000) + "\n[... 99999000 more bytes not read ...]\n"
	if out != want {
		t.Errorf("output = %.80q... (%d bytes), want %d bytes", out, len(out), len(want))
	}
}

func TestHTTPUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/?api_key=sekrit"
	srv.Close()
	err := (&tasks.HTTP{URL: url}).Run(t.Context(), newOutputReporter(t))
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Run = %v, want connection refused", err)
	}
	if strings.Contains(err.Error(), "sekrit") {
		t.Errorf("error %q shows the secret", err)
	}
}

func TestHTTPInvalid(t *testing.T) {
	for _, u := range []string{"", "/relative", "ftp://host/x", "http://"} {
		err := (&tasks.HTTP{URL: u}).Run(t.Context(), newOutputReporter(t))
		if err == nil || !strings.Contains(err.Error(), "not an absolute http or https URL") {
			t.Errorf("Run with URL %q = %v", u, err)
		}
	}
	err := (&tasks.HTTP{Method: "BAD METHOD", URL: "http://127.0.0.1:1/"}).Run(t.Context(), newOutputReporter(t))
	if err == nil || !strings.Contains(err.Error(), "invalid method") {
		t.Errorf("Run with a bad method = %v", err)
	}
}
