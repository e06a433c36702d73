package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/apitype"
)

// TestRepeatedParameters checks that every query parameter the API reads
// is refused (400, naming it) when it is given more than once or in
// another case, and that such a request changes nothing.
func TestRepeatedParameters(t *testing.T) {
	s := newServer(t)
	for _, c := range []struct {
		name   string
		r      req
		status int
		has    string // a part of the body
	}{
		{"force twice", req{method: "POST", path: "/butler/BackupDatabase?force=0&force=1"}, 400, "query parameter force is given 2 times; give it once"},
		{"force twice, same value", req{method: "POST", path: "/butler/BackupDatabase?force=1&force=1"}, 400, "force is given 2 times"},
		{"Force", req{method: "POST", path: "/butler/BackupDatabase?Force=1"}, 400, "query parameter Force is not known; its name is force"},
		{"limit twice", req{method: "GET", path: "/butler/runs?limit=1&limit=2"}, 400, "limit is given 2 times"},
		{"beforeID twice", req{method: "GET", path: "/butler/runs?beforeID=5&beforeID=9"}, 400, "beforeID is given 2 times"},
		{"beforeid", req{method: "GET", path: "/butler/runs?beforeid=5"}, 400, "its name is beforeID"},
		{"task twice", req{method: "GET", path: "/butler/runs?task=BackupDatabase&task=OptimizeDatabase"}, 400, "task is given 2 times"},
		{"outcome twice", req{method: "GET", path: "/butler/runs?outcome=failed&outcome=succeeded"}, 400, "outcome is given 2 times"},
		{"since and before twice", req{method: "GET", path: "/butler/runs?since=1&since=2&before=3&before=4"}, 400, "before is given 2 times; give it once; query parameter since is given 2 times"},
		{"id twice", req{method: "GET", path: "/:/prefs/get?id=ButlerStartHour&id=ButlerEndHour"}, 400, "id is given 2 times"},
		{"filters twice", req{method: "GET", path: "/:/eventsource/notifications?filters=activity&filters=-log"}, 400, "filters is given 2 times"},
		{"filters twice, websocket", req{method: "GET", path: "/:/websockets/notifications?filters=activity&filters=-log"}, 400, "filters is given 2 times"},
		{"JSON", req{method: "GET", path: "/butler/runs?limit=1&limit=2", header: map[string]string{"Accept": "application/json"}}, 400,
			`{"errors":[{"code":400,"message":"query parameter limit is given 2 times; give it once","status":400}]}`},
		// Parameters the route does not read are left alone, as Plex
		// clients add their own.
		{"not read", req{method: "GET", path: "/butler/runs?limit=1&X-Plex-Product=a&X-Plex-Product=b&Limits=2"}, 200, ""},
		{"read once", req{method: "GET", path: "/butler/runs?limit=1&beforeID=7&task=BackupDatabase"}, 200, ""},

		{"token twice in the query", req{method: "GET", path: "/butler?X-Plex-Token=" + token + "&X-Plex-Token=other", noToken: true}, 400, "query parameter X-Plex-Token is given 2 times"},
		{"token in another case", req{method: "GET", path: "/butler?x-plex-token=" + token, noToken: true}, 400, "its name is X-Plex-Token"},
		{"token in the header and the same in the query", req{method: "GET", path: "/butler?X-Plex-Token=" + token}, 200, ""},
		{"empty header field, token in the query", req{method: "GET", path: "/butler?X-Plex-Token=" + token, noToken: true, header: map[string]string{"X-Plex-Token": ""}}, 200, ""},

		{"setting twice", req{method: "PUT", path: "/:/prefs?ButlerRunRetentionDays=4&ButlerRunRetentionDays=5"}, 400,
			"nothing was changed: setting ButlerRunRetentionDays is given 2 times; give it once"},
		{"setting under two spellings", req{method: "PUT", path: "/:/prefs?butlerRunRetentionDays=4&ButlerRunRetentionDays=5"}, 400,
			"nothing was changed: setting ButlerRunRetentionDays is given 2 times (as ButlerRunRetentionDays, butlerRunRetentionDays); give it once"},
		{"setting under two spellings, same value", req{method: "PUT", path: "/:/prefs?butlerRunRetentionDays=4&ButlerRunRetentionDays=4"}, 400,
			"ButlerRunRetentionDays is given 2 times"},
		{"value without an id", req{method: "PUT", path: "/:/prefs?=4"}, 400, "a value is given without a setting id"},
		{"zone Local", req{method: "PUT", path: "/:/prefs?ButlerTimeZone=Local"}, 400, "IANA name such as Europe/Berlin"},
		{"zone empty", req{method: "PUT", path: "/:/prefs?ButlerTimeZone="}, 400, "IANA name such as Europe/Berlin"},
		{"settings in a form body", req{method: "PUT", path: "/:/prefs", body: "ButlerRunRetentionDays=4",
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 400, "settings go in the query string"},
		{"settings in a JSON body", req{method: "PUT", path: "/:/prefs?ButlerTimeZone=UTC", body: `{"ButlerRunRetentionDays":4}`,
			header: map[string]string{"Content-Type": "application/json"}}, 400, "settings go in the query string"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := doWithin(t, s, c.r)
			if resp.StatusCode != c.status || !strings.Contains(body, c.has) {
				t.Fatalf("%s %s: %d %q; want %d with %q", c.r.method, c.r.path, resp.StatusCode, body, c.status, c.has)
			}
		})
	}
	// Nothing was started or changed.
	if runs, err := s.db.Runs(context.Background(), butler.RunFilter{}); err != nil || len(runs) != 0 {
		t.Fatalf("runs %+v, %v; want none", runs, err)
	}
	set := s.m.Settings()
	if got := set.Get(butler.SettingRunRetentionDays); got != "90" {
		t.Fatalf("ButlerRunRetentionDays is %s, want the default 90", got)
	}
	if got := set.Get(butler.SettingTimeZone); got != "UTC" {
		t.Fatalf("ButlerTimeZone is %s, want UTC", got)
	}
	// One spelling of each, once: applied.
	if resp, body := s.do(t, req{method: "PUT", path: "/:/prefs?butlerRunRetentionDays=30&ButlerMaxConcurrentTasks=2"}); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	if got := s.m.Settings().Get(butler.SettingRunRetentionDays); got != "30" {
		t.Fatalf("ButlerRunRetentionDays is %s, want 30", got)
	}
}

// TestRepeatedTokenHeader checks that two X-Plex-Token header fields are
// refused, whichever is right.
func TestRepeatedTokenHeader(t *testing.T) {
	s := newServer(t)
	hr, err := http.NewRequest("GET", s.URL+"/butler", nil)
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Add("X-Plex-Token", token)
	hr.Header.Add("X-Plex-Token", "other")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(resp.Header.Get(apitype.HeaderReason), "X-Plex-Token header field is given 2 times") {
		t.Fatalf("two token fields: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestTwoDifferentTokens checks that a request with a token in the
// X-Plex-Token header field and a different one in the query gets the 401
// page, as a Plex server answers a bad token wherever it is, whichever of
// the two is right, and that such a request changes nothing; the same token
// in both places is one token.
func TestTwoDifferentTokens(t *testing.T) {
	s := newServer(t)
	const page401 = `<html><head><title>Unauthorized</title></head><body><h1>401 Unauthorized</h1></body></html>`
	for _, c := range []struct {
		name          string
		header, query string
		refused       bool
	}{
		{"right header, wrong query", token, "other-token", true},
		{"wrong header, right query", "other-token", token, true},
		{"wrong header, wrong query", "other-token", "another-token", true},
		{"right header, same query", token, token, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, accept := range []string{"", "application/json"} {
				r := req{method: "POST", path: "/butler/BackupDatabase?X-Plex-Token=" + c.query, noToken: true,
					header: map[string]string{"X-Plex-Token": c.header, "Accept": accept}}
				resp, body := doWithin(t, s, r)
				if !c.refused {
					// 200 started, then 202 already running.
					if resp.StatusCode != 200 && resp.StatusCode != 202 {
						t.Fatalf("Accept %q: %d %q; want the task started", accept, resp.StatusCode, body)
					}
					continue
				}
				if resp.StatusCode != 401 || body != page401 || resp.Header.Get("Content-Type") != "text/html" ||
					!strings.Contains(resp.Header.Get(apitype.HeaderReason), "two different tokens") {
					t.Fatalf("Accept %q: %d %q %q, reason %q; want 401, the 401 page and a reason naming the two tokens",
						accept, resp.StatusCode, resp.Header.Get("Content-Type"), body, resp.Header.Get(apitype.HeaderReason))
				}
			}
			// Refused requests start nothing; the accepted one (run last)
			// started BackupDatabase once, then found it running.
			runs, err := s.db.Runs(context.Background(), butler.RunFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 0, false: 1}[c.refused]; len(runs) != want {
				t.Fatalf("%d runs, want %d", len(runs), want)
			}
		})
	}
	// A parameter given twice is still 400, whichever copy is right.
	resp, _ := doWithin(t, s, req{method: "GET", path: "/butler?X-Plex-Token=other&X-Plex-Token=" + token, noToken: true,
		header: map[string]string{"X-Plex-Token": token}})
	if resp.StatusCode != 400 || !strings.Contains(resp.Header.Get(apitype.HeaderReason), "X-Plex-Token is given 2 times") {
		t.Fatalf("the token twice in the query and once in the header: %d %q; want 400 naming the repeated parameter",
			resp.StatusCode, resp.Header.Get(apitype.HeaderReason))
	}
}

// doWithin is s.do with a time limit: a notification stream that is not
// refused answers 200 and never ends.
func doWithin(t *testing.T, s *server, r req) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, r.method, s.URL+r.path, r.bodyOf())
	if err != nil {
		t.Fatal(err)
	}
	if !r.noToken {
		hr.Header.Set("X-Plex-Token", token)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %d, reading the body: %v", r.method, r.path, resp.StatusCode, err)
	}
	return resp, string(b)
}

// TestLongReason checks that a reason naming everything a client got wrong
// is cut in the X-Butler-Reason header field, which HTTP clients limit
// (Node.js's fetch fails on more than 16 KiB of header fields), and whole
// in the body.
func TestLongReason(t *testing.T) {
	s := newServer(t)
	var q []string
	for i := range 700 {
		q = append(q, fmt.Sprintf("Zz%03d=1", i))
	}
	resp, body := s.do(t, req{method: "PUT", path: "/:/prefs?" + strings.Join(q, "&"), header: map[string]string{"Accept": "application/json"}})
	reason := resp.Header.Get(apitype.HeaderReason)
	if resp.StatusCode != 400 || len(reason) > 1100 || !strings.HasSuffix(reason, "...; the whole message is in the body") {
		t.Fatalf("%d, reason of %d bytes: %q", resp.StatusCode, len(reason), reason)
	}
	for _, name := range []string{"Zz000", "Zz699"} {
		if !strings.Contains(body, name) {
			t.Fatalf("the body does not name %s: %s", name, body)
		}
	}
	// A short reason is whole.
	resp, _ = s.do(t, req{method: "PUT", path: "/:/prefs?Unknown=1"})
	if got := resp.Header.Get(apitype.HeaderReason); resp.StatusCode != 400 || !strings.Contains(got, "Unknown") || strings.Contains(got, "...") {
		t.Fatalf("%d %q", resp.StatusCode, got)
	}
}

// TestRunsOfUnknownTask: the runs of a task name the server never heard of,
// with none in the history, answer 404 saying why (a typo, most likely);
// a known task without runs answers an empty page.
func TestRunsOfUnknownTask(t *testing.T) {
	s := newServer(t)
	resp, _ := s.do(t, req{method: "GET", path: "/butler/runs?task=backupdatabase"})
	if want := `no task named "backupdatabase", and no run of one in the history; task names are case-sensitive, GET /butler lists them`; resp.StatusCode != 404 || resp.Header.Get(apitype.HeaderReason) != want {
		t.Errorf("runs of an unknown task: %d %q; want 404 %q", resp.StatusCode, resp.Header.Get(apitype.HeaderReason), want)
	}
	if resp, body := s.do(t, req{method: "GET", path: "/butler/runs?task=OptimizeDatabase"}); resp.StatusCode != 200 {
		t.Errorf("runs of a known task without runs: %d %s; want 200", resp.StatusCode, body)
	}
	// With a filter, an empty page says nothing about the name: 200.
	if resp, body := s.do(t, req{method: "GET", path: "/butler/runs?task=backupdatabase&since=1"}); resp.StatusCode != 200 {
		t.Errorf("runs of an unknown task since a time: %d %s; want 200", resp.StatusCode, body)
	}
}
