package tasks_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler/tasks"
)

// feedServer serves body with status at /feed.json.
func feedServer(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/feed.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/feed.json"
}

func TestCheckForUpdates(t *testing.T) {
	for _, c := range []struct {
		name, current, feed string
		summary             string
		notified            string // version passed to Notify, "" for none
	}{
		{"newer", "1.3.0", `{"version":"1.4.0","date":"2026-11-01","notes_url":"https://example.invalid/1.4.0"}`,
			"1.4.0 available (running 1.3.0): https://example.invalid/1.4.0", "1.4.0"},
		{"same", "1.4.0", `{"version":"1.4.0","date":"2026-11-01","notes_url":"https://example.invalid/1.4.0"}`,
			"up to date (1.4.0)", ""},
		{"older", "2.0.0", `{"version":"1.4.0"}`, "up to date (2.0.0)", ""},
		{"v prefix", "v1.3.0", `{"version":"v1.3.1"}`, "v1.3.1 available (running v1.3.0)", "v1.3.1"},
		{"list, highest wins", "1.3.0", `[{"version":"1.3.5","notes_url":"a"},{"version":"1.10.0","notes_url":"b"},{"version":"1.9.9","notes_url":"c"}]`,
			"1.10.0 available (running 1.3.0): b", "1.10.0"},
		{"prerelease running", "1.4.0-rc.2", `{"version":"1.4.0"}`, "1.4.0 available (running 1.4.0-rc.2)", "1.4.0"},
		{"prerelease offered", "1.4.0", `{"version":"1.5.0-beta.1"}`, "1.5.0-beta.1 available (running 1.4.0)", "1.5.0-beta.1"},
		{"older prerelease", "1.4.0", `{"version":"1.4.0-rc.1"}`, "up to date (1.4.0)", ""},
		{"extra fields", "1.0.0", `{"version":"1.0.1","channel":"stable","size":123}`, "1.0.1 available (running 1.0.0)", "1.0.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var notified []tasks.Release
			a := &tasks.CheckForUpdates{
				FeedURL: feedServer(t, http.StatusOK, c.feed), Current: c.current,
				Notify: func(r tasks.Release) { notified = append(notified, r) },
			}
			r := newTestReporter(t)
			if err := a.Run(t.Context(), r); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got := r.summary(); got != c.summary {
				t.Errorf("summary = %q, want %q", got, c.summary)
			}
			switch {
			case c.notified == "" && len(notified) > 0:
				t.Errorf("Notify called with %+v, want no call", notified)
			case c.notified != "" && (len(notified) != 1 || notified[0].Version != c.notified):
				t.Errorf("Notify called with %+v, want one call with %s", notified, c.notified)
			}
		})
	}
}

func TestCheckForUpdatesReleaseFields(t *testing.T) {
	var got tasks.Release
	a := &tasks.CheckForUpdates{
		FeedURL: feedServer(t, http.StatusOK, `{"version":"1.4.0","date":"2026-11-01","notes_url":"https://example.invalid/n"}`),
		Current: "1.3.0", Notify: func(r tasks.Release) { got = r },
	}
	if err := a.Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	if want := (tasks.Release{Version: "1.4.0", Date: "2026-11-01", NotesURL: "https://example.invalid/n"}); got != want {
		t.Errorf("Notify got %+v, want %+v", got, want)
	}
}

func TestCheckForUpdatesErrors(t *testing.T) {
	for _, c := range []struct {
		name, current string
		status        int
		feed          string
		want          string
	}{
		{"bad json", "1.0.0", 200, `{"version":`, "not a JSON release object"},
		{"not json", "1.0.0", 200, `<html>`, "not JSON"},
		{"empty", "1.0.0", 200, ``, "the feed is empty"},
		{"empty list", "1.0.0", 200, `[]`, "lists no releases"},
		{"wrong type", "1.0.0", 200, `{"version":140}`, "not a JSON release object"},
		{"no version", "1.0.0", 200, `{"date":"2026-11-01"}`, `version "" is not a semantic version`},
		{"bad version", "1.0.0", 200, `{"version":"1.4"}`, `version "1.4" is not a semantic version`},
		{"bad version in list", "1.0.0", 200, `[{"version":"1.4.0"},{"version":"one.two.three"}]`, `release 2: version "one.two.three"`},
		{"bad current", "dev", 200, `{"version":"1.4.0"}`, `running version: version "dev" is not a semantic version`},
		{"http 404", "1.0.0", 404, `no such feed`, "HTTP 404 Not Found: no such feed"},
		{"http 500", "1.0.0", 500, ``, "HTTP 500 Internal Server Error"},
		{"too large", "1.0.0", 200, `[` + strings.Repeat(`{"version":"1.0.0"},`, 60000) + `{"version":"1.0.0"}]`, "larger than 1 MiB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := &tasks.CheckForUpdates{FeedURL: feedServer(t, c.status, c.feed), Current: c.current}
			err := a.Run(t.Context(), newTestReporter(t))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Run = %v, want an error containing %q", err, c.want)
			}
		})
	}
	if err := (&tasks.CheckForUpdates{Current: "1.0.0"}).Run(t.Context(), newTestReporter(t)); err == nil {
		t.Error("Run without a feed URL succeeded")
	}
}

func TestCheckForUpdatesHang(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := (&tasks.CheckForUpdates{FeedURL: srv.URL, Current: "1.0.0"}).Run(ctx, newTestReporter(t))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v, want context.DeadlineExceeded", err)
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.0.0", "1.0.0", 0},
		{"v1.0.0", "1.0.0", 0},
		{"1.0.0+build.5", "1.0.0", 0},
		{"1.0.0", "2.0.0", -1},
		{"2.0.0", "1.99.99", 1},
		{"1.10.0", "1.9.0", 1},
		{"1.0.10", "1.0.9", 1},
		{"1.0.0-rc.1", "1.0.0", -1},
		{"1.0.0", "1.0.0-rc.1", 1},
		// The precedence example of the semver specification.
		{"1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
		{"1.0.0-alpha.beta", "1.0.0-beta", -1},
		{"1.0.0-beta", "1.0.0-beta.2", -1},
		{"1.0.0-beta.2", "1.0.0-beta.11", -1},
		{"1.0.0-beta.11", "1.0.0-rc.1", -1},
		{"1.0.0-rc.1", "1.0.0", -1},
		{"0.1.0-dev", "0.1.0", -1},
		{"0.1.0-dev", "0.0.9", 1},
	} {
		got, err := tasks.CompareVersions(c.a, c.b)
		if err != nil || got != c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, %v; want %d", c.a, c.b, got, err, c.want)
		}
		if back, _ := tasks.CompareVersions(c.b, c.a); back != -c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.b, c.a, back, -c.want)
		}
	}
	for _, bad := range []string{"", "v", "1", "1.2", "1.2.3.4", "1.2.x", "1.-2.3", "1.2.3-", "1.2.3-a..b", "1.2.3+", "1.2.3-a_b", " 1.2.3", "99999999999999999999.0.0", "vv1.2.3"} {
		if _, err := tasks.CompareVersions(bad, "1.0.0"); err == nil || !strings.Contains(err.Error(), "not a semantic version") {
			t.Errorf("CompareVersions(%q, ...) = %v, want an error", bad, err)
		}
		if _, err := tasks.CompareVersions("1.0.0", bad); err == nil {
			t.Errorf("CompareVersions(..., %q) succeeded", bad)
		}
	}
}
