package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/api"
	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/engine"
	"github.com/plexbutler/butler/store/sqlite"
	"github.com/plexbutler/butler/tasks"
)

// newWebServer starts the real stack, as newServer does, with the given
// actions (real commands: tasks.Exec) bound to catalog tasks. With open,
// tonight's window is open now (from this hour for three hours), so that
// the planner runs the due tasks at once, as on a real night; else it
// opens twelve hours from now and the planner stays quiet.
func newWebServer(t *testing.T, open bool, bind map[butler.TaskName]butler.Action) *server {
	t.Helper()
	return newWebServerFixed(t, open, bind, nil)
}

// newWebServerFixed is newWebServer with settings fixed as a config file
// (/etc/butler/butler.yaml) fixes them.
func newWebServerFixed(t *testing.T, open bool, bind map[butler.TaskName]butler.Action, fixed map[string]string) *server {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "butler.db"))
	if err != nil {
		t.Fatal(err)
	}
	startHour := (time.Now().UTC().Hour() + 12) % 24
	endHour := (startHour + 1) % 24
	if open {
		startHour = time.Now().UTC().Hour()
		endHour = (startHour + 3) % 24
	}
	if err := db.SaveSettings(ctx, map[string]string{
		butler.SettingStartHour: fmt.Sprint(startHour), butler.SettingEndHour: fmt.Sprint(endHour),
	}); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.NewSQLite(ctx, db.SQL(), engine.Config{Node: "test"})
	if err != nil {
		t.Fatal(err)
	}
	catalog := butler.DefaultCatalog()
	for name, a := range bind {
		catalog = butler.Bind(catalog, name, a)
	}
	m, err := butler.NewManager(ctx, butler.Config{Catalog: catalog, Store: db, Queue: eng, HostZone: "UTC", DataDir: dir, Node: "test",
		FixedSettings: fixed, FixedBy: "/etc/butler/butler.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := api.NewHandler(api.Config{Manager: m, Token: token, Version: "1.2.3", MachineIdentifier: "abc", FriendlyName: "test",
		Platform: "Linux", PlatformVersion: "6.1.0-test", UpdatedAt: testUpdatedAt})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{Server: httptest.NewServer(h), m: m, db: db, eng: eng}
	t.Cleanup(s.shutdown)
	return s
}

// shellTask is a command task: sh -c script, with a grace of 30 s after
// SIGTERM.
func shellTask(script string) *tasks.Exec {
	return &tasks.Exec{Argv: []string{"/bin/sh", "-c", script}, Grace: 30 * time.Second}
}

// waitRun polls the server's history, until a deadline of 20 s, for the
// newest run of task that satisfies ok, and returns it.
func waitRun(t *testing.T, s *server, task butler.TaskName, what string, ok func(butler.Run) bool) butler.Run {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		runs, err := s.m.Runs(t.Context(), butler.RunFilter{Task: task, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) == 1 && ok(runs[0]) {
			return runs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last run: %+v)", what, runs)
		}
		time.Sleep(20 * time.Millisecond) // polling the history, not standing in for an event
	}
}

// webBrowser is a headless Chromium on one test's dashboard: its steps
// fail the test with what the page reported, and any script error or
// console error of the page (a Content-Security-Policy violation is one)
// fails it at the end.
type webBrowser struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu      sync.Mutex
	errs    []string
	hiccups bool     // the errors of a proxy's hiccup are expected: see forgetHiccup
	expect  []string // the errors expected, by a part of their text: see expectError
}

// newWebBrowser starts the browser for s (start s first: see browser),
// bounded to 2 minutes in all; each step of do to 20 s.
func newWebBrowser(t *testing.T, s *server) *webBrowser {
	t.Helper()
	exe := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Flag("headless", "new"))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel)
	b := &webBrowser{t: t, ctx: ctx, base: s.URL}
	if err := chromedp.Listen(b.ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			b.errs = append(b.errs, fmt.Sprintf("exception: %s %v", e.ExceptionDetails.Text, e.ExceptionDetails.Exception))
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				b.errs = append(b.errs, fmt.Sprintf("console.error: %v", e.Args))
			}
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError {
				b.errs = append(b.errs, "log: "+e.Entry.Text)
			}
		}
	}); err != nil {
		t.Fatalf("start the browser: %v", err)
	}
	for _, enable := range []cdp.Command[cdp.Empty, cdp.Empty]{log.Enable, runtime.Enable} {
		if _, err := chromedp.Call(b.ctx, enable, cdp.Empty{}); err != nil {
			t.Fatalf("enable %s: %v", enable.Method, err)
		}
	}
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.hiccups {
			b.errs = slices.DeleteFunc(b.errs, hiccupError)
		}
		b.errs = slices.DeleteFunc(b.errs, func(e string) bool {
			return slices.ContainsFunc(b.expect, func(x string) bool { return strings.Contains(e, x) })
		})
		if len(b.errs) > 0 {
			t.Errorf("the browser reported errors: %q", b.errs)
		}
	})
	return b
}

// do runs actions, within 20 s, and fails the test with what if they
// fail, showing where the browser is and the text of its page.
func (b *webBrowser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		page, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.href + '\n' + document.body.innerText`))
		b.mu.Lock()
		defer b.mu.Unlock()
		b.t.Fatalf("%s: %v (browser errors: %q)\nthe page: %s", what, err, b.errs, page)
	}
}

// eval returns what the expression js says, as a string.
func (b *webBrowser) eval(what, js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// text returns the text of the first element sel selects.
func (b *webBrowser) text(sel string) string {
	b.t.Helper()
	return b.eval("read "+sel, `document.querySelector('`+sel+`')?.textContent ?? '(no `+strings.ReplaceAll(sel, "'", "")+`)'`)
}

// signIn opens path, which without a session is the sign-in form, signs
// in there, and waits for ready (see has) on the page it comes back to.
func (b *webBrowser) signIn(path string, ready chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.do("sign in at "+path, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS(`#token`)),
		chromedp.SendKeys(chromedp.CSS(`#token`), token), chromedp.Click(chromedp.CSS(`#signin-submit`)), ready)
}

// has waits, until the browser's deadline, for an element that xpath
// selects.
func has(xpath string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.Search(xpath))
}

// axe runs axe-core (its source: see axeSource) on the page the browser
// shows, with the WCAG 2.0-2.2 A and AA rules and best practices, and
// fails the test for each serious or critical violation, naming page.
func (b *webBrowser) axe(source, page string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](source+"\n;true")); err != nil {
		b.t.Fatalf("load axe-core on the %s: %v", page, err)
	}
	found, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`axe.run(document, {
		runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
		resultTypes: ['violations'],
	}).then((r) => r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
		.map((v) => v.id + ' (' + v.impact + '): ' + v.nodes.map((n) => n.target.join(' ') + ' ' + n.failureSummary.replace(/\s+/g, ' ')).join('; ')))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("run axe-core on the %s: %v", page, err)
	}
	for _, v := range found {
		b.t.Errorf("%s: %s", page, v)
	}
}

// colours makes the browser prefer the colour scheme scheme (light or
// dark).
func (b *webBrowser) colours(scheme string) {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
		b.t.Fatal(err)
	}
}

// until waits, in the page and up to within, for the expression js to be
// true, and reports whether it became true.
func (b *webBrowser) until(what, js string, within time.Duration) bool {
	b.t.Helper()
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`new Promise((done) => {
		const deadline = performance.now() + %d;
		const look = () => {
			if (%s) done(true);
			else if (performance.now() > deadline) done(false);
			else setTimeout(look, 50);
		};
		look();
	})`, within.Milliseconds(), js), chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return ok
}

// refresh runs the page's refresh, as its poll does, and waits for it.
func (b *webBrowser) refresh() {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`refresh().then(() => true)`, chromedp.EvalAwaitPromise)); err != nil {
		b.t.Fatalf("refresh the page: %v", err)
	}
}

// expectError says that the browser will report an error whose text holds
// part (the status of an answer the test causes): it does not fail the
// test.
func (b *webBrowser) expectError(part string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expect = append(b.expect, part)
}

// forgetHiccup drops what the browser reports of a proxy's hiccup (see
// flakyProxy), now and until the end of the test: its 502 answers and the
// streams it dropped, so that only other errors fail the test.
func (b *webBrowser) forgetHiccup() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hiccups = true
	b.errs = slices.DeleteFunc(b.errs, hiccupError)
}

// hiccupError reports whether the browser's error e is one of a proxy's
// hiccup.
func hiccupError(e string) bool {
	return strings.Contains(e, "502") || strings.Contains(e, "ERR_INCOMPLETE_CHUNKED_ENCODING") ||
		strings.Contains(e, "ERR_EMPTY_RESPONSE") || strings.Contains(e, "ERR_CONNECTION")
}

// flakyProxy is a reverse proxy in front of a server, as README's "Behind
// a reverse proxy" describes (Host passed through unchanged), that can
// answer 502 Bad Gateway for a while: a proxy reload, or a moment when it
// cannot reach Butler, without Butler restarting (sessions survive).
type flakyProxy struct {
	*httptest.Server
	mu      sync.Mutex
	refused func(*http.Request) bool // the requests to answer 502, or nil
	failed  []string                 // the paths answered 502
	served  []string                 // the requests proxied and answered, as "METHOD path"
}

func newFlakyProxy(t *testing.T, s *server) *flakyProxy {
	t.Helper()
	target, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host
	}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		refuse := p.refused != nil && p.refused(r)
		if refuse {
			p.failed = append(p.failed, r.URL.Path)
		}
		p.mu.Unlock()
		if refuse {
			http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
			return
		}
		rp.ServeHTTP(w, r)
		p.mu.Lock()
		p.served = append(p.served, r.Method+" "+r.URL.Path)
		p.mu.Unlock()
	}))
	t.Cleanup(p.Close)
	return p
}

// refuse makes the proxy answer 502 to the requests that match (all with
// nil) and drops its connections (the event stream's among them), until
// refuse is called again: with nil, it proxies everything again.
func (p *flakyProxy) refuse(match func(*http.Request) bool) {
	p.mu.Lock()
	p.refused = match
	p.failed = nil
	p.mu.Unlock()
	if match != nil {
		p.CloseClientConnections()
	}
}

// hiccup makes the proxy answer 502 and drops its connections (the event
// stream's among them), until it has answered 502 to a request of each of
// paths; then it proxies again.
func (p *flakyProxy) hiccup(t *testing.T, paths ...string) {
	t.Helper()
	p.refuse(func(*http.Request) bool { return true })
	p.waitFailed(t, paths...)
	p.refuse(nil)
}

// waitFailed waits for the proxy to have answered 502 to a request of each
// of paths.
func (p *flakyProxy) waitFailed(t *testing.T, paths ...string) {
	t.Helper()
	p.waitFor(t, "a 502 answer to each of "+strings.Join(paths, ", "), func() bool {
		for _, want := range paths {
			if !slices.Contains(p.failed, want) {
				return false
			}
		}
		return true
	})
}

// waitFor polls, under p.mu and until a deadline of 20 s, for ok.
func (p *flakyProxy) waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p.mu.Lock()
		done := ok()
		failed, served := slices.Clone(p.failed), slices.Clone(p.served)
		p.mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxy saw no %s (answered 502: %q; proxied: %q)", what, failed, served)
		}
		time.Sleep(20 * time.Millisecond) // polling what the proxy saw, not standing in for an event
	}
}

// behind returns s as the browser sees it through p.
func behind(s *server, p *flakyProxy) *server {
	c := *s
	c.Server = p.Server
	return &c
}

// startByAPI starts task with the token and returns its run's id.
func startByAPI(t *testing.T, s *server, task butler.TaskName, force bool) string {
	t.Helper()
	path := "/butler/" + string(task)
	if force {
		path += "?force=1"
	}
	resp, _ := s.do(t, req{method: "POST", path: path})
	id := resp.Header.Get(apitype.HeaderRunID)
	if resp.StatusCode != http.StatusOK || resp.Header.Get(apitype.HeaderOutcome) != "started" || id == "" {
		t.Fatalf("start %s: %d %s, run %q", task, resp.StatusCode, resp.Header.Get(apitype.HeaderOutcome), id)
	}
	return id
}
