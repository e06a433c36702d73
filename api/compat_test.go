package api_test

// The answers Plex clients read, as a Plex server gives them: golden files
// of the root, identity, settings, activities and the start and stop
// answers (headers and bodies, XML and JSON), and the rules every route
// keeps (HEAD, trailing slashes, the X-Plex-Protocol header, the 401 page).

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/api"
	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/client"
)

const body401 = `<html><head><title>Unauthorized</title></head><body><h1>401 Unauthorized</h1></body></html>`

// concrete fills the wildcards of a route's path with values that exist
// on the test server.
func concrete(path string) string {
	return strings.NewReplacer("{task}", "BackupDatabase", "{uuid}", "00000000-0000-4000-8000-000000000000", "{id}", "1").Replace(path)
}

// rawDo sends one request and returns the answer with its body; the body of
// an event stream is not read (it does not end).
func rawDo(t *testing.T, s *server, method, path string, header map[string]string) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, method, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		hr.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") == "text/event-stream" && method != http.MethodHead {
		return resp, ""
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp, string(b)
}

// TestRouteTable checks every route of the table, with and without a
// trailing slash: a missing or wrong token gets the 401 page (public routes
// excepted), and so do two different tokens, in the header and the query,
// whichever is right, HEAD answers as GET without a body, and every answer carries
// X-Plex-Protocol: 1.0 and Cache-Control: no-cache, as a Plex server's do.
func TestRouteTable(t *testing.T) {
	s := newServer(t)
	routes := api.Routes(api.Config{Metrics: http.NotFoundHandler()})
	if len(routes) < 20 {
		t.Fatalf("the route table lists %d routes; want them all", len(routes))
	}
	plexHeaders := func(t *testing.T, what string, resp *http.Response) {
		t.Helper()
		if resp.Header.Get("X-Plex-Protocol") != "1.0" || resp.Header.Get("Cache-Control") == "" {
			t.Errorf("%s: X-Plex-Protocol %q, Cache-Control %q; want 1.0 and a value", what, resp.Header.Get("X-Plex-Protocol"), resp.Header.Get("Cache-Control"))
		}
	}
	for _, r := range routes {
		path := concrete(r.Path)
		paths := []string{path}
		if path != "/" {
			paths = append(paths, path+"/")
		}
		methods := []string{r.Method}
		if r.Method == http.MethodGet {
			methods = append(methods, http.MethodHead)
		}
		for _, p := range paths {
			for _, m := range methods {
				what := m + " " + p
				for _, c := range []struct {
					name, header, query string
				}{
					{"no token", "", ""},
					{"wrong token", "wrong-" + token, ""},
					{"wrong query", "", "wrong"},
					{"right header, wrong query", token, "wrong"},
					{"wrong header, right query", "wrong-" + token, token},
				} {
					name, q := c.name, p
					if c.query != "" {
						q += "?X-Plex-Token=" + c.query
					}
					resp, body := rawDo(t, s, m, q, map[string]string{"X-Plex-Token": c.header})
					plexHeaders(t, what+" with "+name, resp)
					if r.Public {
						if resp.StatusCode == http.StatusUnauthorized {
							t.Errorf("%s with %s: 401 on a route that needs no token", what, name)
						}
						continue
					}
					wantBody := body401
					if m == http.MethodHead {
						wantBody = ""
					}
					if resp.StatusCode != http.StatusUnauthorized || body != wantBody || resp.Header.Get("Content-Type") != "text/html" {
						t.Errorf("%s with %s: %d %q %q; want 401 and the 401 page", what, name, resp.StatusCode, resp.Header.Get("Content-Type"), body)
					}
				}
			}
			if r.Method != http.MethodGet {
				continue
			}
			// HEAD answers as GET, without the body.
			get, getBody := rawDo(t, s, http.MethodGet, p, map[string]string{"X-Plex-Token": token})
			head, headBody := rawDo(t, s, http.MethodHead, p, map[string]string{"X-Plex-Token": token})
			plexHeaders(t, "GET "+p, get)
			plexHeaders(t, "HEAD "+p, head)
			if head.StatusCode != get.StatusCode || head.Header.Get("Content-Type") != get.Header.Get("Content-Type") || headBody != "" {
				t.Errorf("HEAD %s: %d %q with %d bytes; GET gave %d %q", p, head.StatusCode, head.Header.Get("Content-Type"), len(headBody), get.StatusCode, get.Header.Get("Content-Type"))
			}
			if cl := head.Header.Get("Content-Length"); cl != "" && get.Header.Get("Content-Type") != "text/event-stream" && cl != fmt.Sprint(len(getBody)) {
				t.Errorf("HEAD %s: Content-Length %s; GET's body has %d bytes", p, cl, len(getBody))
			}
		}
	}
	// A trailing slash changes nothing, and neither does the token's place.
	for _, p := range []string{"/butler", "/:/prefs", "/activities", "/identity", "/"} {
		a, abody := rawDo(t, s, http.MethodGet, p, map[string]string{"X-Plex-Token": token, "Accept": "application/json"})
		b, bbody := rawDo(t, s, http.MethodGet, strings.TrimSuffix(p, "/")+"/?X-Plex-Token="+token, map[string]string{"Accept": "application/json"})
		if a.StatusCode != 200 || b.StatusCode != 200 || abody != bbody {
			t.Errorf("GET %s: %d, with a trailing slash and the token in the query %d; bodies equal: %v", p, a.StatusCode, b.StatusCode, abody == bbody)
		}
	}
	// Answers that no route gives carry the Plex headers too.
	for _, c := range []struct{ method, path string }{{"GET", "/nope"}, {"PUT", "/butler"}, {"GET", "/butler?x=%zz"}} {
		resp, _ := rawDo(t, s, c.method, c.path, map[string]string{"X-Plex-Token": token})
		plexHeaders(t, c.method+" "+c.path, resp)
	}
}

// goldenHeaders are the headers of an answer that clients read.
var goldenHeaders = []string{"Content-Type", "Cache-Control", "X-Plex-Protocol", "Allow",
	apitype.HeaderOutcome, apitype.HeaderRunAt, apitype.HeaderRunID, apitype.HeaderReason}

// transcript formats one exchange for a golden file: the request, the
// status, the headers that matter and the body. X-Butler-Run-At, an
// instant, must be RFC 3339 and is written as <instant>.
func transcript(t *testing.T, method, path string, resp *http.Response, body string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n%d %s\n", method, path, resp.StatusCode, http.StatusText(resp.StatusCode))
	for _, h := range goldenHeaders {
		v := resp.Header.Get(h)
		if v == "" {
			continue
		}
		if h == apitype.HeaderRunAt {
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				t.Errorf("%s %s: %s %q: %v", method, path, h, v, err)
			}
			v = "<instant>"
		}
		fmt.Fprintf(&b, "%s: %s\n", h, v)
	}
	fmt.Fprintf(&b, "\n%s\n", body)
	return b.String()
}

var (
	acceptXML  = map[string]string{}
	acceptJSON = map[string]string{"Accept": "application/json"}
)

// both runs get once with each encoding and returns the two answers.
func both(t *testing.T, s *server, path string) (xmlBody, jsonBody string, xmlResp, jsonResp *http.Response) {
	t.Helper()
	xmlResp, xmlBody = s.do(t, req{method: "GET", path: path, header: acceptXML})
	jsonResp, jsonBody = s.do(t, req{method: "GET", path: path, header: acceptJSON})
	if xmlResp.StatusCode != 200 || jsonResp.StatusCode != 200 {
		t.Fatalf("GET %s: %d and %d", path, xmlResp.StatusCode, jsonResp.StatusCode)
	}
	if err := xml.Unmarshal([]byte(xmlBody), new(struct{})); err != nil {
		t.Fatalf("GET %s: not XML: %v\n%s", path, err, xmlBody)
	}
	if !json.Valid([]byte(jsonBody)) {
		t.Fatalf("GET %s: not JSON: %s", path, jsonBody)
	}
	return xmlBody, jsonBody, xmlResp, jsonResp
}

// TestRoot checks GET /: every attribute a Plex server sends that has a true
// value for Butler, with the JSON types a Plex server uses, ownerFeatures
// (which @ctrl/plex splits) and Directory children (which python-plexapi's
// tests list).
func TestRoot(t *testing.T) {
	s := newServer(t)
	xmlBody, jsonBody, xr, jr := both(t, s, "/")
	golden(t, "root.xml.http", transcript(t, "GET", "/", xr, xmlBody))
	golden(t, "root.json.http", transcript(t, "GET", "/", jr, jsonBody))

	var raw struct {
		MediaContainer map[string]any
	}
	if err := json.Unmarshal([]byte(jsonBody), &raw); err != nil {
		t.Fatal(err)
	}
	mc := raw.MediaContainer
	for _, k := range []string{"ownerFeatures", "diagnostics", "friendlyName", "machineIdentifier", "myPlexMappingState", "myPlexSigninState",
		"myPlexUsername", "platform", "platformVersion", "transcoderVideoBitrates", "transcoderVideoQualities", "transcoderVideoResolutions", "version"} {
		if _, ok := mc[k].(string); !ok {
			t.Errorf("%s is %T (%v), want a string", k, mc[k], mc[k])
		}
	}
	for _, k := range []string{"size", "livetv", "musicAnalysis", "offlineTranscode", "transcoderActiveVideoSessions", "updatedAt"} {
		if _, ok := mc[k].(float64); !ok {
			t.Errorf("%s is %T (%v), want a number", k, mc[k], mc[k])
		}
	}
	for _, k := range []string{"allowCameraUpload", "allowChannelAccess", "allowMediaDeletion", "allowSharing", "allowSync", "allowTuners",
		"backgroundProcessing", "certificate", "companionProxy", "eventStream", "hubSearch", "itemClusters", "mediaProviders", "multiuser",
		"myPlex", "myPlexSubscription", "photoAutoTag", "pluginHost", "pushNotifications", "readOnlyLibraries", "sync",
		"transcoderAudio", "transcoderLyrics", "transcoderPhoto", "transcoderSubtitles", "transcoderVideo", "updater", "voiceSearch"} {
		if _, ok := mc[k].(bool); !ok {
			t.Errorf("%s is %T (%v), want a bool", k, mc[k], mc[k])
		}
	}
	if mc["updatedAt"] != float64(testUpdatedAt.Unix()) || mc["transcoderActiveVideoSessions"] != float64(0) || mc["eventStream"] != true || mc["myPlex"] != false {
		t.Errorf("root: %v", mc)
	}
	var root apitype.ServerResponse
	if err := json.Unmarshal([]byte(jsonBody), &root); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, d := range root.MediaContainer.Directory {
		keys = append(keys, d.Key)
		// Each child is a part of the API that answers.
		if resp, _ := s.do(t, req{method: "GET", path: "/" + d.Key}); resp.StatusCode != 200 {
			t.Errorf("Directory %s: GET /%s answers %d", d.Key, d.Key, resp.StatusCode)
		}
	}
	if root.MediaContainer.Size != len(keys) || !slices.Contains(keys, "butler") || !slices.Contains(keys, "activities") || !slices.IsSorted(keys) {
		t.Errorf("root children %v (size %d), want butler and activities among them, sorted", keys, root.MediaContainer.Size)
	}
	// python-plexapi reads the XML: flags as 1/0, counts as text.
	for _, attr := range []string{`transcoderActiveVideoSessions="0"`, `myPlex="0"`, `eventStream="1"`, `ownerFeatures=""`, `platform="Linux"`,
		`updatedAt="1767323045"`, `<Directory count="1" key="butler" title="butler">`} {
		if !strings.Contains(xmlBody, attr) {
			t.Errorf("root XML lacks %s:\n%s", attr, xmlBody)
		}
	}
}

// TestIdentity checks GET /identity, which needs no token.
func TestIdentity(t *testing.T) {
	s := newServer(t)
	for _, c := range []struct {
		name   string
		header map[string]string
	}{{"identity.xml.http", nil}, {"identity.json.http", acceptJSON}} {
		resp, body := rawDo(t, s, "GET", "/identity", c.header)
		golden(t, c.name, transcript(t, "GET", "/identity", resp, body))
	}
}

// normalizePrefs replaces what depends on the test's clock and directory:
// the window's hours (twelve hours from now) and the data directory.
func normalizePrefs(s *server, body string) string {
	backup := s.m.Settings().Get(butler.SettingBackupPath)
	body = strings.ReplaceAll(body, strings.TrimSuffix(backup, "/Backups"), "<data-dir>")
	for _, id := range []string{butler.SettingStartHour, butler.SettingEndHour} {
		xmlValue := regexp.MustCompile(`(id="` + id + `"[^>]*? value=")\d+"`)
		jsonValue := regexp.MustCompile(`("id":"` + id + `"[^}]*?"value":)\d+`)
		body = xmlValue.ReplaceAllString(body, `${1}<hour>"`)
		body = jsonValue.ReplaceAllString(body, `${1}<hour>`)
	}
	return body
}

// TestPrefsGolden checks GET /:/prefs and the settings a Plex server has
// there too: the hour choices exactly as a Plex server sends them, and
// FriendlyName in the general group, which the root and identity follow.
func TestPrefsGolden(t *testing.T) {
	s := newServer(t)
	xmlBody, jsonBody, xr, jr := both(t, s, "/:/prefs")
	golden(t, "prefs.xml.http", normalizePrefs(s, transcript(t, "GET", "/:/prefs", xr, xmlBody)))
	golden(t, "prefs.json.http", normalizePrefs(s, transcript(t, "GET", "/:/prefs", jr, jsonBody)))

	var prefs apitype.SettingsResponse
	if err := json.Unmarshal([]byte(jsonBody), &prefs); err != nil {
		t.Fatal(err)
	}
	const hours = "0:Midnight|1:1 am|2:2 am|3:3 am|4:4 am|5:5 am|6:6 am|7:7 am|8:8 am|9:9 am|10:10 am|11:11 am|12:Noon|" +
		"13:1 pm|14:2 pm|15:3 pm|16:4 pm|17:5 pm|18:6 pm|19:7 pm|20:8 pm|21:9 pm|22:10 pm|23:11 pm"
	byID := map[string]apitype.Setting{}
	for _, st := range prefs.MediaContainer.Setting {
		byID[st.ID] = st
	}
	for _, id := range []string{butler.SettingStartHour, butler.SettingEndHour} {
		st := byID[id]
		if st.EnumValues != hours {
			t.Errorf("%s enumValues %q, want %q", id, st.EnumValues, hours)
		}
		// python-plexapi splits each choice at ':' and reads the value as an int.
		for _, choice := range strings.Split(st.EnumValues, "|") {
			parts := strings.Split(choice, ":")
			if len(parts) != 2 {
				t.Errorf("%s choice %q has %d parts split at ':'; want 2", id, choice, len(parts))
			}
		}
	}
	if fn := byID[butler.SettingFriendlyName]; fn.Group != "general" || fn.Type != "text" || fn.Value.Text != "" || fn.Default.Text != "" || bool(fn.Hidden) {
		t.Fatalf("FriendlyName: %+v; want a visible text setting of the general group, blank", fn)
	}

	// Set (as python-plexapi spells it), persisted, all or nothing.
	resp, body := s.do(t, req{method: "PUT", path: "/:/prefs?friendlyName=Kitchen%20Butler"})
	if resp.StatusCode != 200 {
		t.Fatalf("PUT FriendlyName: %d %s", resp.StatusCode, body)
	}
	stored, err := s.db.Settings(context.Background())
	if err != nil || stored[butler.SettingFriendlyName] != "Kitchen Butler" {
		t.Fatalf("stored settings %v, %v; want FriendlyName Kitchen Butler", stored, err)
	}
	_, one := s.do(t, req{method: "GET", path: "/:/prefs/get?id=FriendlyName"})
	if !strings.Contains(one, `id="FriendlyName" label="Friendly name"`) || !strings.Contains(one, `default="" value="Kitchen Butler"`) || !strings.Contains(one, `group="general"`) {
		t.Fatalf("GET /:/prefs/get?id=FriendlyName: %s", one)
	}
	_, root := s.do(t, req{method: "GET", path: "/"})
	_, id := s.do(t, req{method: "GET", path: "/identity", noToken: true})
	if !strings.Contains(root, `friendlyName="Kitchen Butler"`) || !strings.Contains(id, `friendlyName="Kitchen Butler"`) {
		t.Fatalf("the root and identity do not follow FriendlyName:\n%s\n%s", root, id)
	}
	for _, bad := range []string{"FriendlyName=" + strings.Repeat("x", 256), "FriendlyName=a%07b", "FriendlyName=a%ffb"} {
		resp, body := s.do(t, req{method: "PUT", path: "/:/prefs?ButlerMaxConcurrentTasks=2&" + bad})
		if resp.StatusCode != 400 || !strings.Contains(body, "FriendlyName: ") {
			t.Errorf("PUT %s: %d %s; want 400 naming FriendlyName", bad, resp.StatusCode, body)
		}
	}
	if got := s.m.Settings(); got.FriendlyName() != "Kitchen Butler" || got.MaxConcurrent() != 1 {
		t.Fatalf("a refused PUT changed settings: %v", got.Values())
	}
	// Blank again: the name the server was started with.
	if resp, _ := s.do(t, req{method: "PUT", path: "/:/prefs?FriendlyName="}); resp.StatusCode != 200 {
		t.Fatalf("blank FriendlyName: %d", resp.StatusCode)
	}
	if _, root := s.do(t, req{method: "GET", path: "/"}); !strings.Contains(root, `friendlyName="test"`) {
		t.Fatalf("blank FriendlyName: root %s; want the configured name, test", root)
	}
}

// uuidRE matches activity ids, which are random.
var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// TestActivitiesGolden checks GET /activities with nothing running and with
// one task running.
func TestActivitiesGolden(t *testing.T) {
	s := newServer(t)
	xmlBody, jsonBody, xr, jr := both(t, s, "/activities")
	empty := transcript(t, "GET", "/activities", xr, xmlBody) + "\n" + transcript(t, "GET", "/activities", jr, jsonBody)
	if resp, _ := s.do(t, req{method: "POST", path: "/butler/BackupDatabase"}); resp.StatusCode != 200 {
		t.Fatalf("start: %d", resp.StatusCode)
	}
	wait(t, s.actions[butler.TaskBackupDatabase].entered, "the task")
	xmlBody, jsonBody, xr, jr = both(t, s, "/activities")
	running := transcript(t, "GET", "/activities", xr, xmlBody) + "\n" + transcript(t, "GET", "/activities", jr, jsonBody)
	golden(t, "activities.http", uuidRE.ReplaceAllString(empty+"\n"+running, "<uuid>"))
}

// TestStartStopGolden records the answers of the five Butler operations
// and their refusals, with each encoding asked for.
func TestStartStopGolden(t *testing.T) {
	for _, enc := range []struct {
		name   string
		header map[string]string
	}{{"start_stop.xml.http", acceptXML}, {"start_stop.json.http", acceptJSON}} {
		t.Run(enc.name, func(t *testing.T) {
			s := newServer(t)
			var out strings.Builder
			step := func(method, path string) {
				t.Helper()
				resp, body := s.do(t, req{method: method, path: path, header: enc.header})
				out.WriteString(transcript(t, method, path, resp, body) + "\n")
			}
			step("POST", "/butler/BackupDatabase")
			wait(t, s.actions[butler.TaskBackupDatabase].entered, "BackupDatabase")
			step("POST", "/butler/BackupDatabase")
			step("DELETE", "/butler/BackupDatabase")
			step("DELETE", "/butler/BackupDatabase")
			step("POST", "/butler/CleanOldCacheFiles")
			wait(t, s.actions[butler.TaskCleanOldCacheFiles].entered, "CleanOldCacheFiles")
			step("DELETE", "/butler/CleanOldCacheFiles")
			step("POST", "/butler/NoSuchTask")
			step("POST", "/butler/BackupDatabase?force=maybe")
			step("POST", "/butler")
			step("DELETE", "/butler")
			step("PATCH", "/butler")
			golden(t, enc.name, out.String())
		})
	}
}

// TestEmptyLists checks the lists of a server that offers no task, so has
// no activity, run or plan entry: a Plex server leaves the list of an empty
// MediaContainer out of its JSON ({"MediaContainer":{"size":0}}), and its
// XML has no child element. The Go client reads them as empty lists.
func TestEmptyLists(t *testing.T) {
	s := newServerBinding(t) // no task bound: none is offered
	for _, c := range []struct{ path, list string }{
		{"/activities", "Activity"}, {"/butler/runs", "Run"}, {"/butler/plan", "Task"},
	} {
		xmlBody, jsonBody, _, _ := both(t, s, c.path)
		var body struct{ MediaContainer map[string]json.RawMessage }
		if err := json.Unmarshal([]byte(jsonBody), &body); err != nil {
			t.Fatalf("GET %s: %v", c.path, err)
		}
		if mc := body.MediaContainer; string(mc["size"]) != "0" || mc[c.list] != nil {
			t.Errorf("GET %s: %s; want size 0 and no %s key", c.path, jsonBody, c.list)
		}
		if !strings.Contains(xmlBody, `<MediaContainer size="0"`) || strings.Contains(xmlBody, "<"+c.list) {
			t.Errorf("GET %s: %s; want size 0 and no %s element", c.path, xmlBody, c.list)
		}
	}
	for path, want := range map[string]string{
		"/activities":  `{"MediaContainer":{"size":0}}`,
		"/butler/runs": `{"MediaContainer":{"size":0}}`,
	} {
		if _, body := s.do(t, req{method: "GET", path: path, header: acceptJSON}); body != want {
			t.Errorf("GET %s: %s, want %s", path, body, want)
		}
	}

	c, err := client.New(s.URL, client.WithToken(token))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if acts, err := c.Activities(ctx); err != nil || acts == nil || len(acts) != 0 {
		t.Errorf("client Activities: %v, %v; want an empty list", acts, err)
	}
	if runs, err := c.Runs(ctx, client.RunsQuery{}); err != nil || runs == nil || len(runs) != 0 {
		t.Errorf("client Runs: %v, %v; want an empty list", runs, err)
	}
	if plan, err := c.Plan(ctx); err != nil || plan.Size != 0 || len(plan.Task) != 0 || plan.Day == "" {
		t.Errorf("client Plan: %+v, %v; want a day and no task", plan, err)
	}
}

// TestPlexjsEmptyLists has the plexjs SDK, which validates every JSON
// answer against its schema, read the empty activity list and the empty
// task list of a server that offers no task.
func TestPlexjsEmptyLists(t *testing.T) {
	node, npm := nodeTools(t)
	installPlexjs(t, npm)
	s := newServerBinding(t) // no task bound: none is offered
	p := startPlexjs(t, s, node)
	// The SDK's model of this MediaContainer has an optional activity list
	// and no size.
	var acts struct {
		Object struct {
			MediaContainer *struct{ Activity []json.RawMessage }
		}
	}
	p.ok("activities.listActivities", nil, 200, &acts)
	if mc := acts.Object.MediaContainer; mc == nil || len(mc.Activity) != 0 {
		t.Fatalf("listActivities: %+v; want a MediaContainer with no activity", mc)
	}
	var tasks struct {
		Object struct {
			ButlerTasks struct{ ButlerTask []json.RawMessage }
		}
	}
	p.ok("butler.getTasks", nil, 200, &tasks)
	if list := tasks.Object.ButlerTasks.ButlerTask; len(list) != 0 {
		t.Fatalf("getTasks: %s; want no task", list)
	}
}

// TestAnswersWithoutBody checks every route of the table, asked for XML
// and for JSON, with the token: an answer without a body carries no
// Content-Type, as a Plex server's does not, and an answer with a body
// carries one. (A client that reads the type, such as the plex-api npm
// package, would parse an empty body as JSON and fail.) A run's log is a
// text document, which is empty when the run wrote nothing: it keeps its
// type.
func TestAnswersWithoutBody(t *testing.T) {
	s := newServer(t)
	bodiless := map[string]bool{}
	for _, r := range api.Routes(api.Config{Metrics: http.NotFoundHandler()}) {
		for _, accept := range []string{"", "application/json"} {
			path := concrete(r.Path)
			if r.Method == http.MethodDelete && r.Path == "/activities/{uuid}" {
				path = "/activities/" + runningActivity(t, s)
			}
			resp, body := rawDo(t, s, r.Method, path, map[string]string{"X-Plex-Token": token, "Accept": accept})
			ct := resp.Header.Get("Content-Type")
			if ct == "text/event-stream" {
				continue // a stream, not read
			}
			if r.Path == "/butler/runs/{id}/log" {
				if resp.StatusCode == 200 && ct != "text/plain; charset=utf-8" {
					t.Errorf("GET %s: Content-Type %q; want text/plain, empty log or not", path, ct)
				}
				continue
			}
			what := fmt.Sprintf("%s %s (Accept %q): %d", r.Method, path, accept, resp.StatusCode)
			switch {
			case body == "" && ct != "":
				t.Errorf("%s without a body, with Content-Type %q; want none", what, ct)
			case body != "" && ct == "":
				t.Errorf("%s with a body and no Content-Type: %.100q", what, body)
			}
			if body == "" {
				bodiless[r.Method+" "+r.Path] = true
			}
		}
	}
	// The answers without a body that the loop must have met.
	for _, want := range []string{"POST /butler", "DELETE /butler", "POST /butler/{task}", "DELETE /butler/{task}",
		"DELETE /activities/{uuid}", "PUT /:/prefs"} {
		if !bodiless[want] {
			t.Errorf("%s always answered with a body here; want one answer without, for this test to check it", want)
		}
	}
}

// runningActivity starts BackupDatabase and returns the id of its activity
// once it runs.
func runningActivity(t *testing.T, s *server) string {
	t.Helper()
	entered := s.actions[butler.TaskBackupDatabase].entered
	for len(entered) > 0 { // the starts of earlier runs
		<-entered
	}
	if resp, body := s.do(t, req{method: "POST", path: "/butler/BackupDatabase"}); resp.StatusCode/100 != 2 {
		t.Fatalf("start BackupDatabase: %d %s", resp.StatusCode, body)
	}
	wait(t, entered, "BackupDatabase")
	_, body := s.do(t, req{method: "GET", path: "/activities", header: acceptJSON})
	var acts apitype.ActivitiesResponse
	if err := json.Unmarshal([]byte(body), &acts); err != nil {
		t.Fatalf("GET /activities: %v: %s", err, body)
	}
	for _, a := range acts.MediaContainer.Activity {
		if a.Context != nil && a.Context.TaskName == "BackupDatabase" && a.Context.State == "running" {
			return a.UUID
		}
	}
	t.Fatalf("BackupDatabase runs, and GET /activities does not list it running: %s", body)
	return ""
}
