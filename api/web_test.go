package api_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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
	"github.com/plexbutler/butler/apitype"
)

// chromium returns the Chromium to test with: $BUTLER_TEST_CHROMIUM, or
// the first of the usual names on PATH. Without one the test is skipped,
// unless BUTLER_TEST_REQUIRE_CHROMIUM is set (CI sets it).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BUTLER_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("BUTLER_TEST_REQUIRE_CHROMIUM") != "" {
		t.Fatal("no Chromium found and BUTLER_TEST_REQUIRE_CHROMIUM is set: install chromium or set BUTLER_TEST_CHROMIUM")
	}
	t.Skip("no Chromium found (set BUTLER_TEST_CHROMIUM); the dashboard is tested in a real browser only")
	return ""
}

// TestDashboardInChromium opens the dashboard in a headless Chromium,
// signs in with the form (a wrong token first), reloads and is still signed
// in, starts a task with its button, watches the run appear live with its
// progress, stops it from the page and finds the stopped run in the list,
// changes the settings, and signs out.
func TestDashboardInChromium(t *testing.T) {
	exe := chromium(t)
	s := newServer(t)
	b := s.actions[butler.TaskBackupDatabase]

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Flag("headless", "new"))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	// Script errors and console errors (a Content-Security-Policy
	// violation is one) fail the test.
	var mu sync.Mutex
	var browserErrs []string
	listenErr := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			browserErrs = append(browserErrs, fmt.Sprintf("exception: %s %v", e.ExceptionDetails.Text, e.ExceptionDetails.Exception))
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				browserErrs = append(browserErrs, fmt.Sprintf("console.error: %v", e.Args))
			}
		case *log.EventEntryAdded:
			// The failed requests the test makes on purpose, the
			// refused settings and the wrong token, are not errors of the
			// page.
			if e.Entry.Level == log.EntryLevelError && !strings.Contains(e.Entry.Text, "status of 400") && !strings.Contains(e.Entry.Text, "status of 401") {
				browserErrs = append(browserErrs, "log: "+e.Entry.Text)
			}
		}
	})
	if listenErr != nil {
		t.Fatalf("start the browser: %v", listenErr)
	}
	fail := func(what string, err error) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%s: %v (browser errors: %q)", what, err, browserErrs)
	}
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			fail(what, err)
		}
	}
	text := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			fail(what, err)
		}
		return v
	}
	for _, enable := range []cdp.Command[cdp.Empty, cdp.Empty]{log.Enable, runtime.Enable} {
		if _, err := chromedp.Call(ctx, enable, cdp.Empty{}); err != nil {
			fail("enable "+enable.Method, err)
		}
	}

	const startButton = `tr[data-task="BackupDatabase"] button.start`
	// Sign in: /web is the sign-in form; a wrong token is refused on the
	// page, the right one opens the dashboard.
	do("open the sign-in page", chromedp.Navigate(s.URL+"/web"), chromedp.WaitVisible(chromedp.CSS(`#token`)))
	do("sign in with a wrong token",
		chromedp.SendKeys(chromedp.CSS(`#token`), "wrong-"+token),
		chromedp.Click(chromedp.CSS(`#signin-submit`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="signin-error" and contains(., "not this server's access token")]`)))
	do("sign in", chromedp.SendKeys(chromedp.CSS(`#token`), token),
		chromedp.Click(chromedp.CSS(`#signin-submit`)), chromedp.WaitVisible(chromedp.CSS(startButton)))

	if location := text("read the address", chromedp.Location()); strings.Contains(location, token) || !strings.HasSuffix(location, "/web") {
		t.Errorf("the address after signing in is %s, want /web without the token", location)
	}
	// The session is in an HttpOnly cookie: the page's script cannot read
	// it, and neither the token nor the session is in the page's storage.
	if seen := text("read what the page's script can see", chromedp.Evaluate[string](
		`document.cookie + '|' + JSON.stringify(Object.entries(sessionStorage)) + '|' + JSON.stringify(Object.entries(localStorage))`)); seen != "|[]|[]" {
		t.Errorf("cookie|sessionStorage|localStorage seen by the page's script = %q, want nothing", seen)
	}
	// A reload keeps the session.
	do("reload the dashboard", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(startButton)))
	// The event stream opens with the session cookie from the page's own
	// origin.
	do("see the event stream open", chromedp.WaitVisible(chromedp.Search(`//span[@id="live" and .="live"]`)))
	tasks, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(`#tasks tr`)))
	if err != nil {
		fail("list the tasks", err)
	}
	if len(tasks) != len(s.m.Tasks()) {
		t.Errorf("the page lists %d tasks, the server %d", len(tasks), len(s.m.Tasks()))
	}

	// The window in the server's zone, named, and how far it is; each
	// task's plan with its reason.
	if w := text("read the window", chromedp.Text(chromedp.CSS(`#window`))); !strings.Contains(w, " UTC: opens in ") {
		t.Errorf("window = %q, want its times in the server's zone, named (UTC), and when it opens", w)
	}
	if reason := text("read the plan's reason", chromedp.Text(chromedp.CSS(`tr[data-task="BackupDatabase"] .reason`))); reason == "" {
		t.Error("the plan's reason is not shown on the task's row")
	}
	// Only the actions that make sense now: a task that is not running
	// has Start and no Stop.
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('tr[data-task="BackupDatabase"] button.stop').length`)); err != nil || n != 0 {
		t.Errorf("a task that is not running offers %d Stop buttons (%v), want none", n, err)
	}
	do("press Start", chromedp.Click(chromedp.CSS(startButton)))
	wait(t, b.entered, "the task started from the page")

	// The activity shows up with the progress the task reported (10).
	const activity = `#activities li[data-task="BackupDatabase"]`
	do("see the activity", chromedp.WaitVisible(chromedp.CSS(activity+` progress[value="10"]`)))
	do("see the task's Stop", chromedp.WaitVisible(chromedp.CSS(`tr[data-task="BackupDatabase"] button.stop`)))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('tr[data-task="BackupDatabase"] button.start').length`)); err != nil || n != 0 {
		t.Errorf("a running task offers %d Start buttons (%v), want none", n, err)
	}
	if status := text("read the status line", chromedp.Text(chromedp.CSS(`#status`))); status != "Started BackupDatabase." {
		t.Errorf("status after Start = %q, want the outcome the server answered", status)
	}

	do("press the activity's Stop", chromedp.Click(chromedp.CSS(activity+` button.stop`)))
	select {
	case err := <-b.ended:
		if err == nil {
			t.Fatal("the task ended without being stopped")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the task was not stopped from the page")
	}
	do("see the stopped run", chromedp.WaitVisible(chromedp.CSS(`#runs tr[data-task="BackupDatabase"] td.outcome-stopped`)))
	do("see nothing running", chromedp.WaitVisible(chromedp.CSS(`#no-activities`)))

	do("open the run's log", chromedp.Click(chromedp.CSS(`#runs tr[data-task="BackupDatabase"] button`)), chromedp.WaitVisible(chromedp.CSS(`#log`)))
	if logText := text("read the log", chromedp.Text(chromedp.CSS(`#log`))); strings.TrimSpace(logText) == "" {
		t.Error("the run's log is empty on the page")
	}
	// The log is named for its run, takes the focus, and closes back to
	// the run's Log button.
	if got := text("read the log's title", chromedp.Evaluate[string](`document.getElementById('log-title').textContent + '|' + document.activeElement.id`)); !strings.Contains(got, "(BackupDatabase), stopped|log-title") {
		t.Errorf("log title|focus = %q, want the run named, its outcome, and the focus on the title", got)
	}
	do("close the log", chromedp.Click(chromedp.CSS(`#log-close`)), chromedp.WaitNotVisible(chromedp.CSS(`#log`)))
	if got := text("read the focus", chromedp.Evaluate[string](`document.activeElement.getAttribute('aria-label') || ''`)); !strings.HasPrefix(got, "Log of run ") {
		t.Errorf("after closing the log the focus is on %q, want the run's Log button", got)
	}

	// Settings: switch BackupDatabase off on the page and save; the server
	// has it off, and the task list says so. A bad value is refused and
	// shown, and nothing is changed.
	do("uncheck the BackupDatabase setting and save",
		chromedp.WaitVisible(chromedp.CSS(`#setting-ButlerTaskBackupDatabase`)),
		chromedp.Click(chromedp.CSS(`#setting-ButlerTaskBackupDatabase`)),
		chromedp.Click(chromedp.CSS(`#save-settings`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-task="BackupDatabase"] td.enabled-no`)))
	if got := s.m.Settings().Get("ButlerTaskBackupDatabase"); got != "false" {
		t.Errorf("ButlerTaskBackupDatabase on the server after saving it off on the page = %q, want false", got)
	}
	if status := text("read the settings' status", chromedp.Text(chromedp.CSS(`#settings-status`))); status != "Saved ButlerTaskBackupDatabase." {
		t.Errorf("status after saving = %q", status)
	}
	// A refused save says why next to Save and under the field it names,
	// marks the field invalid, and keeps every edit on the page.
	retention := s.m.Settings().Get(butler.SettingRunRetentionDays)
	do("enter a bad retention, change the name, and save",
		chromedp.SetValue(chromedp.CSS(`#setting-ButlerRunRetentionDays`), "0"),
		chromedp.SetValue(chromedp.CSS(`#setting-FriendlyName`), "kept edit"),
		chromedp.Click(chromedp.CSS(`#save-settings`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="settings-status" and contains(., "Nothing was saved")]`)))
	if status := text("read the settings' status", chromedp.Text(chromedp.CSS(`#settings-status`))); !strings.Contains(status, "ButlerRunRetentionDays") {
		t.Errorf("status after a refused save = %q, want the server's reason naming the setting", status)
	}
	if got := s.m.Settings().Get(butler.SettingRunRetentionDays); got != retention {
		t.Errorf("retention after a refused save = %q, want %q unchanged", got, retention)
	}
	if got := text("read the fields after the refusal", chromedp.Evaluate[string](`[
		document.getElementById('setting-ButlerRunRetentionDays').value,
		document.getElementById('setting-FriendlyName').value,
		document.getElementById('setting-ButlerRunRetentionDays').getAttribute('aria-invalid'),
		document.activeElement.id,
		document.getElementById('error-ButlerRunRetentionDays')?.textContent.includes('ButlerRunRetentionDays'),
	].join('|')`)); got != "0|kept edit|true|setting-ButlerRunRetentionDays|true" {
		t.Errorf("after a refused save: retention|name|aria-invalid|focus|field error = %q, want 0|kept edit|true|setting-ButlerRunRetentionDays|true", got)
	}

	// Sign out: the sign-in page again, and a reload stays there, as the
	// session has ended on the server.
	do("sign out", chromedp.Click(chromedp.CSS(`#signout-button`)), chromedp.WaitVisible(chromedp.CSS(`#token`)))
	do("reload after signing out", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#token`)))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#tasks').length`)); err != nil || n != 0 {
		t.Errorf("after signing out the page still has the dashboard (%d task lists, %v)", n, err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(browserErrs) > 0 {
		t.Errorf("the browser reported errors: %q", browserErrs)
	}
}

// call records one request that reached the server behind recorder.
type call struct {
	method, path, origin string
	cookie               bool
	status               int
}

// recorder serves next and records every request with the status it got.
type recorder struct {
	next  http.Handler
	mu    sync.Mutex
	calls []call
}

// statusWriter records its request's call at its first status, so that a
// stream is recorded while it is open.
type statusWriter struct {
	http.ResponseWriter
	status int
	record func(status int)
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
		w.record(status)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets the websocket's hijack and the event stream's flushes reach
// the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := call{method: r.Method, path: r.URL.Path, origin: r.Header.Get("Origin"), cookie: strings.Contains(r.Header.Get("Cookie"), "butler_session")}
	sw := &statusWriter{ResponseWriter: w, record: func(status int) {
		c.status = status
		rec.mu.Lock()
		defer rec.mu.Unlock()
		rec.calls = append(rec.calls, c)
	}}
	rec.next.ServeHTTP(sw, r)
	if sw.status == 0 {
		// Nothing written: a hijacked websocket (101), or an implicit 200.
		sw.status = http.StatusOK
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			sw.status = http.StatusSwitchingProtocols
		}
		sw.record(sw.status)
	}
}

func (rec *recorder) from(origin string) []call {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []call
	for _, c := range rec.calls {
		if c.origin == origin {
			out = append(out, c)
		}
	}
	return out
}

// attackPage is a page of another origin that tries, with the browser's
// session at target, to start a task (fetch and form), change a setting,
// stop a task, and open the websocket and the event stream; it shows what
// it saw in #done once every attempt has settled.
func attackPage(target string) string {
	return `<!doctype html><title>another origin</title>
<iframe name="sink" hidden></iframe>
<form id="f" method="post" target="sink" action="` + target + `/butler/BackupDatabase?force=1"></form>
<script>
const target = '` + target + `';
const results = {};
const settle = [
  fetch(target + '/butler/BackupDatabase?force=1', { method: 'POST', mode: 'no-cors', credentials: 'include' })
    .then(() => { results.fetchStart = 'sent'; }, () => { results.fetchStart = 'failed'; }),
  fetch(target + '/:/prefs?ButlerRunRetentionDays=7', { method: 'PUT', credentials: 'include' })
    .then((r) => { results.put = 'status ' + r.status; }, () => { results.put = 'failed'; }),
  fetch(target + '/butler', { method: 'DELETE', credentials: 'include' })
    .then((r) => { results.stop = 'status ' + r.status; }, () => { results.stop = 'failed'; }),
  new Promise((resolve) => {
    const ws = new WebSocket(target.replace(/^http/, 'ws') + '/:/websockets/notifications');
    ws.onopen = () => { results.ws = 'open'; ws.close(); resolve(); };
    ws.onerror = () => { results.ws = 'refused'; resolve(); };
  }),
  new Promise((resolve) => {
    const es = new EventSource(target + '/:/eventsource/notifications', { withCredentials: true });
    es.onopen = () => { results.es = 'open'; es.close(); resolve(); };
    es.onerror = () => { results.es = 'refused'; es.close(); resolve(); };
  }),
  new Promise((resolve) => {
    document.querySelector('iframe').onload = () => { results.form = 'sent'; resolve(); };
    document.getElementById('f').submit();
  }),
];
Promise.all(settle).then(() => {
  const p = document.createElement('p');
  p.id = 'done';
  p.textContent = JSON.stringify(results);
  document.body.append(p);
});
</script>`
}

// TestDashboardCrossOriginInChromium signs in to the dashboard in a real
// Chromium, then opens pages of another origin in the same browser, one on
// another port of the same host (the same site: the browser sends the
// session cookie, and Butler refuses it for its origin, 403) and one on
// another site (localhost against 127.0.0.1: SameSite=Strict keeps the
// cookie, 401). Neither can start or stop a task, change a setting, or
// open the websocket or the event stream.
func TestDashboardCrossOriginInChromium(t *testing.T) {
	exe := chromium(t)
	s := newServer(t)
	b := s.actions[butler.TaskBackupDatabase]
	rec := &recorder{next: s.Config.Handler}
	front := httptest.NewServer(rec)
	t.Cleanup(front.Close)
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(attackPage(front.URL)))
	}))
	t.Cleanup(attacker.Close)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Flag("headless", "new"))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	do("sign in", chromedp.Navigate(front.URL+"/web"), chromedp.SendKeys(chromedp.CSS(`#token`), token),
		chromedp.Click(chromedp.CSS(`#signin-submit`)), chromedp.WaitVisible(chromedp.CSS(`tr[data-task="BackupDatabase"] button.start`)))
	retention := s.m.Settings().Get(butler.SettingRunRetentionDays)

	u, err := url.Parse(attacker.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, page string
		cookie     bool
		status     int
	}{
		{"OtherPort", attacker.URL, true, http.StatusForbidden},
		{"OtherSite", "http://localhost:" + u.Port(), false, http.StatusUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			do("open the page of another origin", chromedp.Navigate(c.page+"/"), chromedp.WaitVisible(chromedp.CSS(`#done`)))
			seen, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#done`)))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(seen, `"open"`) {
				t.Errorf("the page of another origin opened a stream: %s", seen)
			}
			calls := rec.from(c.page)
			reached := map[string]bool{}
			for _, cl := range calls {
				if cl.method == http.MethodOptions {
					continue // a CORS preflight, which carries no cookie and is not answered with CORS headers
				}
				reached[cl.method+" "+cl.path] = true
				if cl.cookie != c.cookie || cl.status != c.status {
					t.Errorf("%s %s from %s: cookie %v, status %d; want cookie %v and %d", cl.method, cl.path, c.page, cl.cookie, cl.status, c.cookie, c.status)
				}
			}
			for _, want := range []string{"POST /butler/BackupDatabase", "GET /:/websockets/notifications", "GET /:/eventsource/notifications"} {
				if !reached[want] {
					t.Errorf("%s from %s never reached the server (the test proves nothing about it): %v; the page saw %s", want, c.page, calls, seen)
				}
			}
			if reached["PUT /:/prefs"] || reached["DELETE /butler"] {
				t.Errorf("a PUT or DELETE of another origin was sent without a preflight: %v", calls)
			}
		})
	}
	select {
	case <-b.entered:
		t.Error("a page of another origin started the task")
	default:
	}
	if got := s.m.Settings().Get(butler.SettingRunRetentionDays); got != retention {
		t.Errorf("a page of another origin changed the retention to %s", got)
	}
	// The dashboard is still signed in and works from its own origin.
	do("back to the dashboard", chromedp.Navigate(front.URL+"/web"), chromedp.Click(chromedp.CSS(`tr[data-task="BackupDatabase"] button.start`)))
	wait(t, b.entered, "the task started from the dashboard after the attacks")
}

// browser starts a headless Chromium for a test and returns its context,
// bounded to 2 minutes (a shared machine under load runs the longest of
// these tests, a dozen axe-core checks, in more than 30 s). Start the
// test's server first: cleanups run last first, and the browser must be
// gone (its event stream closed) before the server is closed.
func browser(t *testing.T) context.Context {
	t.Helper()
	exe := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Flag("headless", "new"))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestDashboardPhoneInChromium: at a phone's width (390 × 844), neither the
// sign-in page nor the dashboard scrolls sideways, and every button of the
// dashboard is big enough to touch (at least 44 px tall, WCAG 2.5.5) and
// has a name that says what it acts on.
func TestDashboardPhoneInChromium(t *testing.T) {
	s := newServer(t)
	ctx := browser(t) // after the server: its cleanup, closing the browser, runs first
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	noSideScroll := func(page string) {
		t.Helper()
		// A page wider than the screen is zoomed out on a phone, so the
		// window can grow with it: the page's width is held to the
		// screen's, 390 px.
		widths, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, screen.width]`))
		if err != nil {
			t.Fatal(err)
		}
		if widths[0] > widths[1] || widths[1] != 390 {
			t.Errorf("the %s is %d px wide on a %d px screen: it scrolls sideways", page, widths[0], widths[1])
		}
	}
	do("open the sign-in page at 390 px", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(s.URL+"/web"), chromedp.WaitVisible(chromedp.CSS(`#token`)))
	noSideScroll("sign-in page")
	do("sign in", chromedp.SendKeys(chromedp.CSS(`#token`), token), chromedp.Click(chromedp.CSS(`#signin-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-task="BackupDatabase"] button.start`)),
		chromedp.WaitVisible(chromedp.CSS(`#setting-ButlerStartHour`)))
	noSideScroll("dashboard")
	buttons, err := chromedp.Run(ctx, chromedp.Evaluate[[]map[string]any](`[...document.querySelectorAll('button')].filter((b) => b.offsetParent !== null).map((b) => ({
		name: (b.getAttribute('aria-label') || b.textContent).trim(), height: b.getBoundingClientRect().height,
		task: b.closest('[data-task]')?.dataset.task || '' }))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(buttons) < 5 {
		t.Fatalf("%d buttons visible on the dashboard: %v", len(buttons), buttons)
	}
	for _, b := range buttons {
		name, _ := b["name"].(string)
		height, _ := b["height"].(float64)
		task, _ := b["task"].(string)
		if height < 44 {
			t.Errorf("button %q is %.0f px tall, want at least 44 to touch", name, height)
		}
		if task != "" && !strings.Contains(name, task) {
			t.Errorf("button %q on the row of %s does not name it", name, task)
		}
	}
}

// TestDashboardLiveUpdatesInChromium: progress updates change the bars in
// place (the focused Stop button stays the same, focused element through
// them), starting a task from the keyboard leaves the focus on the Stop
// button that replaces its Start, and a task that is not due offers "Run
// now", which runs it.
func TestDashboardLiveUpdatesInChromium(t *testing.T) {
	s := newServer(t)
	ctx := browser(t)
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	do("sign in", chromedp.Navigate(s.URL+"/web"), chromedp.SendKeys(chromedp.CSS(`#token`), token), chromedp.Click(chromedp.CSS(`#signin-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-task="OptimizeDatabase"] button.start`)))

	// From the keyboard: Enter on OptimizeDatabase's Start.
	do("press Enter on Start", chromedp.Focus(chromedp.CSS(`tr[data-task="OptimizeDatabase"] button.start`)), chromedp.KeyEvent("\r"))
	wait(t, s.actions[butler.TaskOptimizeDatabase].entered, "the task started from the keyboard")
	do("see its Stop", chromedp.WaitVisible(chromedp.CSS(`tr[data-task="OptimizeDatabase"] button.stop`)))
	if focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.getAttribute('aria-label') || document.activeElement.tagName`)); err != nil || focused != "Stop OptimizeDatabase" {
		t.Errorf("after starting from the keyboard the focus is on %q (%v), want the row's Stop", focused, err)
	}

	// Progress without pause: the focused Stop button of the activity stays
	// the same element, and focused, through many updates.
	b := s.actions[butler.TaskBackupDatabase]
	b.ticking.Store(true)
	s.do(t, req{method: "POST", path: "/butler/BackupDatabase?force=1"})
	wait(t, b.entered, "the ticking task")
	const stop = `#activities li[data-task="BackupDatabase"] button.stop`
	do("focus the activity's Stop", chromedp.WaitVisible(chromedp.CSS(stop)), chromedp.Focus(chromedp.CSS(stop)))
	kept, err := chromedp.Run(ctx, chromedp.Evaluate[string](`new Promise((resolve) => {
		const btn = document.activeElement;
		const bar = document.querySelector('#activities li[data-task="BackupDatabase"] progress');
		const seen = new Set();
		const deadline = performance.now() + 10000;
		const look = () => {
			seen.add(bar.value);
			if (seen.size >= 5 || performance.now() > deadline) {
				resolve(seen.size + ' values, focus kept: ' + (document.activeElement === btn && btn.isConnected && bar.isConnected));
				return;
			}
			requestAnimationFrame(look);
		};
		look();
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if kept != "5 values, focus kept: true" {
		t.Errorf("through progress updates: %s; want 5 values and the focus kept on the same button", kept)
	}

	// A task that has just succeeded is not due: its row offers "Run now",
	// which starts it anyway.
	b.ticking.Store(false)
	b.release <- struct{}{}
	if err := <-b.ended; err != nil {
		t.Fatalf("the released run ended with %v", err)
	}
	const runNow = `tr[data-task="BackupDatabase"] button.force`
	do("see Run now", chromedp.WaitVisible(chromedp.CSS(runNow)))
	if label, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+runNow+`').getAttribute('aria-label')`)); err != nil || label != "Run BackupDatabase now, though it is not due" {
		t.Errorf("Run now's name %q (%v)", label, err)
	}
	do("press Run now", chromedp.Click(chromedp.CSS(runNow)))
	wait(t, b.entered, "the not-due task run now")
	do("see it started", chromedp.WaitVisible(chromedp.Search(`//p[@id="status" and .="Started BackupDatabase."]`)))
}

// TestDashboardServerDownInChromium: when the server stops answering, the
// page says so, greys out and disables its controls; when it answers
// again, the page recovers by itself (same process: the session lives on).
func TestDashboardServerDownInChromium(t *testing.T) {
	s := newServer(t)
	ctx := browser(t)
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	const start = `tr[data-task="BackupDatabase"] button.start`
	do("sign in", chromedp.Navigate(s.URL+"/web"), chromedp.SendKeys(chromedp.CSS(`#token`), token), chromedp.Click(chromedp.CSS(`#signin-submit`)),
		chromedp.WaitVisible(chromedp.CSS(start)), chromedp.WaitVisible(chromedp.Search(`//span[@id="live" and .="live"]`)))

	addr := s.Listener.Addr().String()
	s.Listener.Close()
	s.CloseClientConnections()
	do("see the server down", chromedp.WaitVisible(chromedp.Search(`//p[@id="status" and contains(., "Butler is not answering")]`)),
		chromedp.WaitVisible(chromedp.CSS(`body.offline `+start+`[disabled]`)))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('button, input, select')].filter((c) => !c.disabled).length`)); err != nil || n != 0 {
		t.Errorf("%d controls are still enabled while the server is down (%v)", n, err)
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	again := &http.Server{Handler: s.Config.Handler}
	served := make(chan error, 1)
	go func() { served <- again.Serve(ln) }()
	t.Cleanup(func() {
		again.Close()
		<-served
	})
	do("see the page recover", chromedp.WaitVisible(chromedp.Search(`//p[@id="status" and .="Butler is answering again."]`)),
		chromedp.WaitVisible(chromedp.Search(`//span[@id="live" and .="live"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`body.offline`)), chromedp.Click(chromedp.CSS(start)))
	wait(t, s.actions[butler.TaskBackupDatabase].entered, "the task started after the server came back")
}

// TestDashboardRunsInChromium: the runs list pages through the history
// (20 at a time, Older and Newer), filters by task and outcome, and says
// what made each run and how long it took.
func TestDashboardRunsInChromium(t *testing.T) {
	s := newServer(t)
	b, o := s.actions[butler.TaskBackupDatabase], s.actions[butler.TaskOptimizeDatabase]
	const stopped = 22
	for range stopped {
		s.do(t, req{method: "POST", path: "/butler/BackupDatabase?force=1"})
		wait(t, b.entered, "a BackupDatabase run")
		s.do(t, req{method: "DELETE", path: "/butler/BackupDatabase"})
		<-b.ended
	}
	s.do(t, req{method: "POST", path: "/butler/OptimizeDatabase?force=1"})
	wait(t, o.entered, "the OptimizeDatabase run")
	o.release <- struct{}{}
	<-o.ended

	ctx := browser(t)
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('`+sel+`').length`))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	choose := func(id, value string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const s = document.getElementById('`+id+`'); s.value = '`+value+`'; s.dispatchEvent(new Event('change')); return true; })()`)); err != nil {
			t.Fatal(err)
		}
	}
	do("sign in", chromedp.Navigate(s.URL+"/web"), chromedp.SendKeys(chromedp.CSS(`#token`), token), chromedp.Click(chromedp.CSS(`#signin-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#runs tr[data-task="OptimizeDatabase"]`)))
	if n := count(`#runs tr`); n != 20 {
		t.Errorf("the first page lists %d runs, want 20", n)
	}
	do("go to the older runs", chromedp.Click(chromedp.CSS(`#runs-older`)), chromedp.WaitVisible(chromedp.Search(`//span[@id="runs-page" and .="page 2"]`)))
	if n := count(`#runs tr`); n != stopped+1-20 {
		t.Errorf("the second page lists %d runs, want %d", n, stopped+1-20)
	}
	if n := count(`#runs-older:disabled`); n != 1 {
		t.Error("Older is enabled on the last page")
	}
	do("back to the newer runs", chromedp.Click(chromedp.CSS(`#runs-newer`)), chromedp.WaitVisible(chromedp.Search(`//span[@id="runs-page" and .="page 1"]`)))
	if n := count(`#runs tr`); n != 20 {
		t.Errorf("back on the first page: %d runs, want 20", n)
	}

	choose("filter-outcome", "succeeded")
	do("see the succeeded runs", chromedp.WaitNotPresent(chromedp.CSS(`#runs tr[data-task="BackupDatabase"]`)))
	row, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#runs tr')].map((tr) => tr.dataset.task + '|' +
		tr.querySelector('[data-label="Trigger"]').textContent + '|' + tr.querySelector('[data-label="Outcome"]').textContent + '|' +
		/^\d+ s$/.test(tr.querySelector('[data-label="Took"]').textContent)).join(',')`))
	if err != nil {
		t.Fatal(err)
	}
	if row != "OptimizeDatabase|run now (not due)|succeeded|true" {
		t.Errorf("succeeded runs = %q, want the one OptimizeDatabase run, its trigger in words and its duration", row)
	}
	choose("filter-outcome", "")
	choose("filter-task", "BackupDatabase")
	do("see BackupDatabase's runs", chromedp.WaitNotPresent(chromedp.CSS(`#runs tr[data-task="OptimizeDatabase"]`)))
	if n, all := count(`#runs tr`), count(`#runs td.outcome-stopped`); n != 20 || all != 20 {
		t.Errorf("BackupDatabase's first page: %d runs, %d stopped; want 20 stopped", n, all)
	}
	choose("filter-outcome", "failed")
	do("see no failed run", chromedp.WaitVisible(chromedp.CSS(`#no-runs`)))
}

// axeDir holds the npm package of axe-core, the accessibility checker
// (package.json and package-lock.json pinned; node_modules installed there
// by `npm ci` when missing, as for the plexjs test).
const axeDir = "testdata/axe"

// axeSource returns axe-core's script, installing it first if needed.
func axeSource(t *testing.T) string {
	t.Helper()
	path := filepath.Join(axeDir, "node_modules", "axe-core", "axe.min.js")
	if _, err := os.Stat(path); err != nil {
		_, npm := nodeTools(t)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = axeDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s\nrun `npm ci --prefix api/testdata/axe` by hand to see why", axeDir, err, out)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDashboardAccessibilityInChromium runs axe-core (its WCAG 2.0-2.2 A
// and AA rules and best practices) on the sign-in page, with and without
// an error, and on the dashboard with a run in progress and a refused
// setting shown, in light and dark colours, at desktop and phone widths:
// no serious or critical violation is allowed.
func TestDashboardAccessibilityInChromium(t *testing.T) {
	axe := axeSource(t)
	s := newServer(t)
	ctx := browser(t)
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	check := func(page string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](axe+"\n;true")); err != nil {
			t.Fatalf("load axe-core on the %s: %v", page, err)
		}
		found, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`axe.run(document, {
			runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
			resultTypes: ['violations'],
		}).then((r) => r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
			.map((v) => v.id + ' (' + v.impact + '): ' + v.nodes.map((n) => n.target.join(' ') + ' ' + n.failureSummary.replace(/\s+/g, ' ')).join('; ')))`,
			chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("run axe-core on the %s: %v", page, err)
		}
		for _, v := range found {
			t.Errorf("%s: %s", page, v)
		}
	}
	b := s.actions[butler.TaskBackupDatabase]
	s.do(t, req{method: "POST", path: "/butler/BackupDatabase?force=1"})
	wait(t, b.entered, "the run in progress")
	for _, scheme := range []string{"light", "dark"} {
		for _, width := range []int64{1280, 390} {
			name := fmt.Sprintf("%s, %d px", scheme, width)
			if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
				t.Fatal(err)
			}
			opts := []chromedp.EmulateViewportOption{}
			if width < 500 {
				opts = append(opts, chromedp.EmulateMobile)
			}
			do("open the sign-in page, "+name, chromedp.EmulateViewport(width, 844, opts...), chromedp.Navigate(s.URL+"/web"), chromedp.WaitVisible(chromedp.CSS(`#token`)))
			check("sign-in page, " + name)
			do("sign in with a wrong token", chromedp.SendKeys(chromedp.CSS(`#token`), "wrong"), chromedp.Click(chromedp.CSS(`#signin-submit`)),
				chromedp.WaitVisible(chromedp.Search(`//p[@id="signin-error" and normalize-space(.) != ""]`)))
			check("sign-in page with an error, " + name)
			do("sign in", chromedp.SendKeys(chromedp.CSS(`#token`), token), chromedp.Click(chromedp.CSS(`#signin-submit`)),
				chromedp.WaitVisible(chromedp.CSS(`#activities li[data-task="BackupDatabase"] progress`)),
				chromedp.WaitVisible(chromedp.CSS(`#setting-ButlerRunRetentionDays`)),
				chromedp.SetValue(chromedp.CSS(`#setting-ButlerRunRetentionDays`), "0"),
				chromedp.Click(chromedp.CSS(`#save-settings`)),
				chromedp.WaitVisible(chromedp.CSS(`#error-ButlerRunRetentionDays`)))
			check("dashboard, " + name)
			do("sign out", chromedp.Click(chromedp.CSS(`#signout-button`)), chromedp.WaitVisible(chromedp.CSS(`#token`)))
		}
	}
}

// TestDashboardScreenshots writes a PNG of each page of the dashboard (the
// sign-in page, the dashboard, a run's page), at a desktop's and a
// phone's width, into $BUTLER_SCREENSHOTS (a directory); without it the
// test is skipped. It makes the pictures for the docs:
//
//	BUTLER_SCREENSHOTS=$PWD/shots go test ./api -run TestDashboardScreenshots
//
// What they show is a night with the window open: the planner has run
// BackupDatabase, a command that failed, runs OptimizeDatabase (with its
// progress), has CleanOldCacheFiles waiting for a free place, and a random
// time drawn for RefreshLocalMedia.
func TestDashboardScreenshots(t *testing.T) {
	dir := os.Getenv("BUTLER_SCREENSHOTS")
	if dir == "" {
		t.Skip("set BUTLER_SCREENSHOTS to a directory to write the dashboard's screenshots there")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := newWebServer(t, true, map[butler.TaskName]butler.Action{
		butler.TaskBackupDatabase:     shellTask(`echo "backing up /var/lib/plex/library.db"; echo "error: disk full (wrote 812 MB of 2.1 GB)"; exit 1`),
		butler.TaskOptimizeDatabase:   shellTask(`echo "PROGRESS 40 checking integrity"; exec sleep 600`),
		butler.TaskCleanOldCacheFiles: shellTask(`true`),
		butler.TaskRefreshLocalMedia:  shellTask(`true`),
	})
	failed := waitRun(t, s, butler.TaskBackupDatabase, "BackupDatabase to fail", func(r butler.Run) bool { return r.State == butler.StateFinished })
	waitRun(t, s, butler.TaskOptimizeDatabase, "OptimizeDatabase to run", func(r butler.Run) bool { return r.State == butler.StateRunning && r.Progress == 40 })

	b := newWebBrowser(t, s)
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := fmt.Sprint(failed.ID)
	for _, width := range []int64{1280, 390} {
		opts := []chromedp.EmulateViewportOption{}
		if width < 500 {
			opts = append(opts, chromedp.EmulateMobile)
		}
		size := fmt.Sprint(width)
		b.do("open the sign-in page", chromedp.EmulateViewport(width, 800, opts...), chromedp.Navigate(s.URL+"/web"), chromedp.WaitVisible(chromedp.CSS(`#token`)))
		shot("signin-" + size)
		b.signIn("/web", has(`//ul[@id="activities"]/li[@data-task="OptimizeDatabase"]`))
		b.do("see tonight", has(`//ol[@id="timeline-list"]/li[@data-run="`+run+`"]`), has(`//tbody[@id="runs"]/tr[@data-run="`+run+`"]`))
		shot("dashboard-" + size)
		b.do("open the failed run", chromedp.Navigate(s.URL+"/web/runs/"+run), has(`//pre[@id="run-log" and contains(., "disk full")]`))
		shot("run-" + size)
		b.do("sign out", chromedp.Navigate(s.URL+"/web"), chromedp.Click(chromedp.CSS(`#signout-button`)), chromedp.WaitVisible(chromedp.CSS(`#token`)))
	}
}

// TestDashboardFailedRunInChromium: on a night with the window open, the
// planner runs BackupDatabase, a command that exits 1, OptimizeDatabase,
// which is stopped, and CleanOldCacheFiles, one that succeeds, and draws a
// random time for RefreshLocalMedia. The failed run is shown as failed, in
// words and with its sign, on the task's row (tonight and its last run),
// on the timeline and in its list, and on the run's page, which the row's
// last run and the runs list link to; the stopped run as stopped on the
// row and the timeline; the task that succeeded tonight offers "Run now"
// (it is not due), the failed one Start. At 360 px the timeline fits, and
// axe-core finds nothing serious on it.
func TestDashboardFailedRunInChromium(t *testing.T) {
	s := newWebServer(t, true, map[butler.TaskName]butler.Action{
		butler.TaskBackupDatabase:     shellTask(`echo "disk check: 3 errors"; exit 1`),
		butler.TaskOptimizeDatabase:   shellTask(`exec sleep 600`),
		butler.TaskCleanOldCacheFiles: shellTask(`echo cleaned`),
		butler.TaskRefreshLocalMedia:  shellTask(`exec sleep 600`),
	})
	failed := waitRun(t, s, butler.TaskBackupDatabase, "the nightly run of BackupDatabase to fail", func(r butler.Run) bool { return r.State == butler.StateFinished })
	if failed.Outcome != butler.OutcomeFailed || failed.Trigger != butler.TriggerWindow {
		t.Fatalf("BackupDatabase's run: %s by %s, want failed by the nightly window", failed.Outcome, failed.Trigger)
	}
	// OptimizeDatabase is stopped while it runs (it would run ten
	// minutes).
	waitRun(t, s, butler.TaskOptimizeDatabase, "the nightly run of OptimizeDatabase", func(r butler.Run) bool { return r.State == butler.StateRunning })
	if resp, _ := s.do(t, req{method: "DELETE", path: "/butler/OptimizeDatabase"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("stop OptimizeDatabase: %d", resp.StatusCode)
	}
	stopped := waitRun(t, s, butler.TaskOptimizeDatabase, "OptimizeDatabase stopped", func(r butler.Run) bool { return r.State == butler.StateFinished })
	if stopped.Outcome != butler.OutcomeStopped {
		t.Fatalf("OptimizeDatabase's run ended %s, want stopped", stopped.Outcome)
	}
	waitRun(t, s, butler.TaskCleanOldCacheFiles, "the nightly run of CleanOldCacheFiles to succeed", func(r butler.Run) bool { return r.Outcome == butler.OutcomeSucceeded })
	id, stoppedID := fmt.Sprint(failed.ID), fmt.Sprint(stopped.ID)

	b := newWebBrowser(t, s)
	const row = `#tasks tr[data-task="BackupDatabase"]`
	b.signIn("/web", has(`//tbody[@id="tasks"]/tr[@data-task="BackupDatabase"]/td[@data-label="Last run"]/a`))
	b.do("see the timeline", has(`//ol[@id="timeline-list"]/li[@data-run="`+id+`"]`))

	// The row: tonight's decision and the last run, in words and signs.
	if got := b.text(row + ` td[data-label="Tonight"]`); !strings.HasPrefix(got, "done: failed") {
		t.Errorf("BackupDatabase's tonight = %q, want done: failed and the reason", got)
	}
	if got := b.text(row + ` td[data-label="Last run"] a`); got != "✗ failed (#"+id+")" {
		t.Errorf("BackupDatabase's last run = %q, want ✗ failed (#%s)", got, id)
	}
	if got := b.eval("read the last run's link", `document.querySelector('`+row+` td[data-label="Last run"] a').getAttribute('href')`); got != "/web/runs/"+id {
		t.Errorf("the last run links to %q, want /web/runs/%s", got, id)
	}
	// Only the actions that make sense: the failed task is still due
	// (Start); the one that succeeded tonight is not (Run now).
	if got := b.eval("read the actions", `['BackupDatabase', 'CleanOldCacheFiles'].map((n) => [...document.querySelectorAll('#tasks tr[data-task="' + n + '"] td.actions button')]
		.map((x) => x.className + ':' + x.textContent).join(' ')).join('|')`); got != "start:Start|start force:Run now" {
		t.Errorf("actions of BackupDatabase|CleanOldCacheFiles = %q, want start:Start|start force:Run now", got)
	}

	// The timeline: the window open, in the server's zone, named; the
	// failed run marked ✗ on its lane and said failed in the list, with
	// a link to its page; the success ✓; RefreshLocalMedia at the time
	// drawn for it (or running, if that time has come already).
	if got := b.text(`#timeline-state`); !strings.Contains(got, "UTC: window open, closes in ") {
		t.Errorf("timeline state = %q, want the window's times in UTC, named, and open", got)
	}
	if got := b.text(`#timeline .lane[data-task="BackupDatabase"] .mark.run.outcome-failed`); got != "✗" {
		t.Errorf("the failed run's mark on the timeline = %q, want ✗", got)
	}
	if got := b.text(`#timeline .lane[data-task="CleanOldCacheFiles"] .mark.run.outcome-succeeded`); got != "✓" {
		t.Errorf("the succeeded run's mark on the timeline = %q, want ✓", got)
	}
	if got := b.text(`#timeline .lane[data-task="OptimizeDatabase"] .mark.run.outcome-stopped`); got != "■" {
		t.Errorf("the stopped run's mark on the timeline = %q, want ■", got)
	}
	if got := b.text(`#timeline-list li[data-run="` + stoppedID + `"]`); !strings.Contains(got, "OptimizeDatabase: ■ stopped (run "+stoppedID+")") {
		t.Errorf("the stopped run in the timeline's list = %q, want it said stopped with its run", got)
	}
	if got := b.text(`#tasks tr[data-task="OptimizeDatabase"] td[data-label="Tonight"]`) + "|" + b.text(`#tasks tr[data-task="OptimizeDatabase"] td[data-label="Last run"] a`); !strings.HasPrefix(got, "done: stopped") || !strings.HasSuffix(got, "|■ stopped (#"+stoppedID+")") {
		t.Errorf("OptimizeDatabase's tonight|last run = %q, want done: stopped and ■ stopped (#%s)", got, stoppedID)
	}
	item := b.text(`#timeline-list li[data-run="` + id + `"]`)
	if !strings.Contains(item, "BackupDatabase: ✗ failed (run "+id+")") {
		t.Errorf("the failed run in the timeline's list = %q, want it said failed with its run", item)
	}
	if got := b.text(`#timeline-list li[data-task="RefreshLocalMedia"]`); !regexp.MustCompile(`^\S.* RefreshLocalMedia: (◆ scheduled at its random time|▶ running) \(run \d+\)$`).MatchString(got) {
		t.Errorf("RefreshLocalMedia in the timeline's list = %q, want it at the time drawn for it", got)
	}
	if got := b.eval("read the timeline's name", `document.getElementById('timeline').getAttribute('role') + '|' + document.getElementById('timeline').getAttribute('aria-label')`); !strings.HasPrefix(got, "img|Timeline of tonight's window, ") {
		t.Errorf("the timeline drawing's role|name = %q, want an image named for what it shows", got)
	}

	// A run waiting for its random time offers Run now and Cancel; Cancel
	// removes it. (Unless its time, drawn over three hours, has come
	// already: then it runs, and offers Stop.)
	const random = `#tasks tr[data-task="RefreshLocalMedia"]`
	if got := b.eval("read RefreshLocalMedia's actions", `[...document.querySelectorAll('`+random+` td.actions button')].map((x) => x.className + ':' + x.textContent).join(' ')`); got != "stop:Stop" {
		if got != "start force:Run now cancel:Cancel" {
			t.Errorf("actions of a run scheduled at its random time = %q, want Run now and Cancel", got)
		}
		b.do("cancel the waiting run", chromedp.Click(chromedp.CSS(random+` button.cancel`)),
			has(`//p[@id="status" and .="Removed RefreshLocalMedia from the queue."]`),
			chromedp.WaitNotPresent(chromedp.CSS(random+` button.cancel`)))
	}

	// The run's page, from the row's last run.
	b.do("open the run from its row", chromedp.Click(chromedp.CSS(row+` td[data-label="Last run"] a`)),
		has(`//h1[@id="run-title" and contains(., "failed")]`), has(`//pre[@id="run-log" and contains(., "disk check: 3 errors")]`))
	if got := b.eval("read the address", `location.pathname`); got != "/web/runs/"+id {
		t.Errorf("the run's page is at %s, want /web/runs/%s", got, id)
	}
	if got := b.text(`#run-title`); got != "Run "+id+": BackupDatabase, ✗ failed" {
		t.Errorf("run page title = %q", got)
	}
	facts := b.eval("read the facts", `[...document.querySelectorAll('#run-facts dt')].map((dt) => dt.textContent + '=' + dt.nextElementSibling.textContent).join('|')`)
	for _, want := range []string{"Task=BackupDatabase", "Trigger=nightly window", "Outcome=✗ failed", "Reason=the task failed", "Error=\"/bin/sh\" exited with status 1 (last output: disk check: 3 errors)", "Took="} {
		if !strings.Contains(facts, want) {
			t.Errorf("the run's facts %q lack %q", facts, want)
		}
	}
	if got := b.eval("read the steps", `[...document.querySelectorAll('#run-steps li')].map((li) => li.textContent.split(' ')[0]).join(' → ') + '|' + document.querySelector('#run-steps li:last-child').textContent`); !regexp.MustCompile(`^Queued → Started → Ended\|Ended .*: ✗ failed$`).MatchString(got) {
		t.Errorf("the run's steps = %q, want queued, started and ended failed", got)
	}
	if got := b.eval("read Stop", `String(document.getElementById('run-stop').hidden) + '|' + document.getElementById('log-state').textContent`); got != "true|(as the run left it)" {
		t.Errorf("Stop hidden|log state of an ended run = %q, want true|(as the run left it)", got)
	}

	// The run's page, from the runs list.
	b.do("back to the dashboard, open the run from the runs list", chromedp.Navigate(s.URL+"/web"),
		chromedp.Click(chromedp.CSS(`#runs tr[data-run="`+id+`"] td[data-label="Run"] a`)),
		has(`//h1[@id="run-title" and contains(., "Run `+id+`: BackupDatabase")]`))

	// At 360 px, the smallest common phone: the dashboard with its
	// timeline does not scroll sideways, each task's name is above its
	// lane, and the lanes fill the width.
	b.do("open the dashboard at 360 px", chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile), chromedp.Navigate(s.URL+"/web"),
		has(`//ol[@id="timeline-list"]/li[@data-run="`+id+`"]`))
	if got := b.eval("measure the page", `document.documentElement.scrollWidth + ' px on a ' + screen.width + ' px screen: ' + (document.documentElement.scrollWidth <= screen.width && screen.width === 360)`); !strings.HasSuffix(got, ": true") {
		t.Errorf("the dashboard is %s, it scrolls sideways", got)
	}
	if got := b.eval("measure the lanes", `[...document.querySelectorAll('#timeline .lane')].map((l) => {
		const name = l.querySelector('.lane-name').getBoundingClientRect(), track = l.querySelector('.track').getBoundingClientRect();
		return name.bottom <= track.top + 1 && track.width >= 250;
	}).join(',')`); got != "true,true,true,true" {
		t.Errorf("lanes with their name above a track of at least 250 px at 360 px: %s, want true for each of the four", got)
	}
	// The timeline, its marks and the rows of failed and stopped runs,
	// under axe-core, light and dark.
	axe := axeSource(t)
	for _, scheme := range []string{"light", "dark"} {
		b.colours(scheme)
		b.axe(axe, "dashboard with tonight's failed and stopped runs, "+scheme+", 360 px")
	}
}

// TestDashboardRunPageInChromium: a run's page opened without a session
// signs in and comes back to the run; a reload keeps the session; the log
// of a running task follows it live, line by line as the task writes them
// (the page is not reloaded); Stop on the page stops a running command,
// whose run shows stopping, with the server's SIGTERM in its live log,
// while the command finishes after SIGTERM, and then stopped, with the
// command's output. Tonight's timeline, with the window closed, shows the
// task due at a random time as a span between the window's opening and
// close.
func TestDashboardRunPageInChromium(t *testing.T) {
	release := filepath.Join(t.TempDir(), "release")
	lines := make(chan string)
	s := newWebServer(t, false, map[butler.TaskName]butler.Action{
		butler.TaskOptimizeDatabase: shellTask(`trap 'echo "got SIGTERM, cleaning up"; while [ ! -e ` + release + ` ]; do sleep 0.05; done; echo "cleaned up"; exit 143' TERM
echo working
while :; do sleep 0.05; done`),
		butler.TaskRefreshLocalMedia: shellTask(`true`),
		// A task that writes its log a line at a time, when the test says.
		butler.TaskCleanOldCacheFiles: butler.ActionFunc(func(ctx context.Context, r butler.Reporter) error {
			for {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case line, ok := <-lines:
					if !ok {
						return nil
					}
					r.Logger().Info(line)
				}
			}
		}),
	})
	start := func(task butler.TaskName) string {
		t.Helper()
		resp, _ := s.do(t, req{method: "POST", path: "/butler/" + string(task)})
		id := resp.Header.Get(apitype.HeaderRunID)
		if resp.StatusCode != http.StatusOK || resp.Header.Get(apitype.HeaderOutcome) != "started" || id == "" {
			t.Fatalf("start %s: %d %s, run %q", task, resp.StatusCode, resp.Header.Get(apitype.HeaderOutcome), id)
		}
		waitRun(t, s, task, string(task)+" to run", func(r butler.Run) bool { return r.State == butler.StateRunning })
		return id
	}

	// The live log, a line at a time, on the same page.
	id := start(butler.TaskCleanOldCacheFiles)
	b := newWebBrowser(t, s)
	b.signIn("/web/runs/"+id, has(`//h1[@id="run-title" and contains(., "running")]`))
	if got := b.eval("read the address", `location.pathname`); got != "/web/runs/"+id {
		t.Errorf("after signing in from the run's page the browser is at %s, want /web/runs/%s", got, id)
	}
	b.do("reload the run's page", chromedp.Reload(), has(`//h1[@id="run-title" and contains(., "running")]`))
	if n := b.eval("look for the sign-in form", `String(document.querySelectorAll('#token').length)`); n != "0" {
		t.Error("a reload of the run's page asks to sign in again")
	}
	b.eval("mark the page", `window.samePage = 'yes'`)
	for _, line := range []string{"copied 1 of 2 caches", "copied 2 of 2 caches"} {
		lines <- line
		b.do("see the line "+line, has(`//pre[@id="run-log" and contains(., "`+line+`")]`))
	}
	if got := b.eval("read the live log", `document.getElementById('log-state').textContent + '|' + window.samePage + '|' + document.getElementById('run-title').textContent`); got != "(follows the run live)|yes|Run "+id+": CleanOldCacheFiles, ▶ running" {
		t.Errorf("log state|same page|title while running = %q", got)
	}
	// A run made outside the window is running, and not on tonight's
	// timeline, which has the tasks due tonight: OptimizeDatabase at the
	// opening, RefreshLocalMedia at a random time.
	b.do("open the dashboard while it runs", chromedp.Navigate(s.URL+"/web"),
		chromedp.WaitVisible(chromedp.CSS(`#activities li[data-task="CleanOldCacheFiles"]`)),
		has(`//ol[@id="timeline-list"]/li[@data-task="RefreshLocalMedia"]`))
	if got := b.eval("read tonight's list", `[...document.querySelectorAll('#timeline-list li')].map((li) => li.dataset.task + ' ' + li.textContent.replace(/^.* (RefreshLocalMedia|OptimizeDatabase): /, '')).join('|')`); got != "OptimizeDatabase ◆ planned|RefreshLocalMedia ↔ at a random time" {
		t.Errorf("tonight's list = %q, want OptimizeDatabase planned at the opening and RefreshLocalMedia's span, and no run of today", got)
	}
	b.do("back to the run", chromedp.Navigate(s.URL+"/web/runs/"+id), has(`//h1[@id="run-title" and contains(., "running")]`))
	close(lines)
	b.do("see the run succeed", has(`//h1[@id="run-title" and contains(., "succeeded")]`))

	// Stop, on another run's page.
	id = start(butler.TaskOptimizeDatabase)
	b.do("open the command's run", chromedp.Navigate(s.URL+"/web/runs/"+id), has(`//h1[@id="run-title" and contains(., "running")]`))
	if got := b.eval("read the Stop button", `document.getElementById('run-stop').hidden + '|' + document.getElementById('run-stop').getAttribute('aria-label')`); got != "false|Stop OptimizeDatabase, run "+id {
		t.Errorf("Stop hidden|name of a running run = %q", got)
	}

	// Stop: the command traps SIGTERM and holds on until released, so the
	// run is stopping meanwhile; the server's line about the SIGTERM is in
	// the live log, read again by the same page (its marker survives).
	b.eval("mark the page", `window.samePage = 'yes'`)
	b.do("press Stop", chromedp.Click(chromedp.CSS(`#run-stop`)),
		has(`//h1[@id="run-title" and contains(., "stopping")]`),
		has(`//pre[@id="run-log" and contains(., "SIGTERM to its process group")]`))
	if got := b.eval("read the Stop button", `document.getElementById('run-stop').textContent + '|' + document.getElementById('run-stop').disabled + '|' + window.samePage`); got != "Stopping…|true|yes" {
		t.Errorf("Stop's text|disabled|same page while stopping = %q, want Stopping…|true|yes", got)
	}
	if err := os.WriteFile(release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	b.do("see the run stopped", has(`//h1[@id="run-title" and contains(., "stopped")]`),
		has(`//pre[@id="run-log" and contains(., "got SIGTERM, cleaning up")]`))
	if got := b.eval("read the ended run", `document.getElementById('run-stop').hidden + '|' + document.getElementById('log-state').textContent + '|' + window.samePage + '|' +
		document.querySelector('#run-steps li:last-child').textContent.includes('■ stopped')`); got != "true|(as the run left it)|yes|true" {
		t.Errorf("Stop hidden|log state|same page|last step stopped = %q, want true|(as the run left it)|yes|true", got)
	}
	if r := waitRun(t, s, butler.TaskOptimizeDatabase, "the stopped run", func(r butler.Run) bool { return r.State == butler.StateFinished }); r.Outcome != butler.OutcomeStopped || fmt.Sprint(r.ID) != id {
		t.Errorf("run %d ended %s, want run %s stopped", r.ID, r.Outcome, id)
	}

	// The timeline with the window closed: when it opens, and the task
	// due at a random time as a span over the window.
	b.do("open the dashboard", chromedp.Navigate(s.URL+"/web"), has(`//ol[@id="timeline-list"]/li[@data-task="RefreshLocalMedia"]`))
	if got := b.text(`#timeline-state`); !strings.Contains(got, "UTC: opens in ") {
		t.Errorf("timeline state = %q, want the window's times in UTC, named, and when it opens", got)
	}
	// CleanOldCacheFiles has just succeeded: not due, with the plan's
	// reason in words (dates, not Butler days), and Run now.
	const cache = `#tasks tr[data-task="CleanOldCacheFiles"]`
	if got := b.text(cache + ` .reason`); !regexp.MustCompile(`^not due until [A-Z][a-z]{2}, .* \(every 7 days; last success on [A-Z][a-z]{2}, .*\)$`).MatchString(got) {
		t.Errorf("CleanOldCacheFiles' reason = %q, want when it is due next and its last success, as dates", got)
	}
	if got := b.eval("read the actions", `[...document.querySelectorAll('`+cache+` td.actions button')].map((x) => x.getAttribute('aria-label')).join('|')`); got != "Run CleanOldCacheFiles now, though it is not due" {
		t.Errorf("CleanOldCacheFiles' actions = %q, want Run now alone", got)
	}
	if got := b.text(`#timeline-list li[data-task="RefreshLocalMedia"]`); !regexp.MustCompile(`^between \S.* and \S.* RefreshLocalMedia: ↔ at a random time$`).MatchString(got) {
		t.Errorf("RefreshLocalMedia in the timeline's list = %q, want between the window's opening and close", got)
	}
	if got := b.eval("measure the span", `(() => { const m = document.querySelector('#timeline .lane[data-task="RefreshLocalMedia"] .mark.span'); return m ? m.style.left + ' ' + m.style.width : 'none'; })()`); got != "0% 100%" {
		t.Errorf("the random span's place on the timeline = %q, want the whole window (0%% 100%%)", got)
	}
}

// TestDashboardRunPagePhoneAndAccessibilityInChromium: a failed run's
// page, with a long unbroken line in its log, does not scroll sideways at
// a phone's width (390 and 360 px), and axe-core finds no serious or
// critical violation on it, light and dark, at desktop and phone widths.
func TestDashboardRunPagePhoneAndAccessibilityInChromium(t *testing.T) {
	axe := axeSource(t)
	s := newWebServer(t, false, map[butler.TaskName]butler.Action{
		butler.TaskBackupDatabase:   shellTask(`echo "disk check: 3 errors"; head -c 600 /dev/zero | tr '\0' x; echo; exit 1`),
		butler.TaskOptimizeDatabase: shellTask(`exec sleep 600`),
	})
	resp, _ := s.do(t, req{method: "POST", path: "/butler/BackupDatabase"})
	id := resp.Header.Get(apitype.HeaderRunID)
	if r := waitRun(t, s, butler.TaskBackupDatabase, "BackupDatabase to fail", func(r butler.Run) bool { return r.State == butler.StateFinished }); r.Outcome != butler.OutcomeFailed {
		t.Fatalf("BackupDatabase ended %s, want failed", r.Outcome)
	}
	b := newWebBrowser(t, s)
	ready := has(`//pre[@id="run-log" and contains(., "xxxxxxxx")]`)
	b.signIn("/web/runs/"+id, ready)
	for _, scheme := range []string{"light", "dark"} {
		for _, width := range []int64{1280, 390, 360} {
			name := fmt.Sprintf("run page, %s, %d px", scheme, width)
			b.colours(scheme)
			opts := []chromedp.EmulateViewportOption{}
			if width < 500 {
				opts = append(opts, chromedp.EmulateMobile)
			}
			b.do("open the "+name, chromedp.EmulateViewport(width, 844, opts...), chromedp.Navigate(s.URL+"/web/runs/"+id), ready)
			if width < 500 {
				// A page wider than the screen is zoomed out on a phone:
				// its width is held to the screen's.
				if got := b.eval("measure the page", `document.documentElement.scrollWidth + ' px on a ' + screen.width + ' px screen: ' + (document.documentElement.scrollWidth <= screen.width && screen.width === `+fmt.Sprint(width)+`)`); !strings.HasSuffix(got, ": true") {
					t.Errorf("the %s is %s, it scrolls sideways", name, got)
				}
			}
			b.axe(axe, name)
		}
	}
	// A running run's page, with its Stop button and live log.
	resp, _ = s.do(t, req{method: "POST", path: "/butler/OptimizeDatabase"})
	running := resp.Header.Get(apitype.HeaderRunID)
	waitRun(t, s, butler.TaskOptimizeDatabase, "OptimizeDatabase to run", func(r butler.Run) bool { return r.State == butler.StateRunning })
	for _, scheme := range []string{"light", "dark"} {
		b.colours(scheme)
		b.do("open the running run's page", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(s.URL+"/web/runs/"+running),
			chromedp.WaitVisible(chromedp.CSS(`#run-stop`)))
		b.axe(axe, "running run's page, "+scheme+", 390 px")
	}
}

// TestDashboardRunPageServed: GET /web/runs/{id} is the sign-in page
// without a session, whose form comes back to the run, and the run's page
// with one, under its own Content-Security-Policy and under 100 KB; an id
// that is not a run's number is not found; the sign-in form goes back
// only to the dashboard's own pages.
func TestDashboardRunPageServed(t *testing.T) {
	s := newServer(t)
	resp, body := send(t, noRedirect, s.URL, "GET", "/web/runs/42", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<input type="hidden" name="next" value="/web/runs/42">`) {
		t.Errorf("GET /web/runs/42 without a session: %d, want the sign-in form that comes back to the run: %.400s", resp.StatusCode, body)
	}
	c := signIn(t, noRedirect, s.URL)
	resp, body = send(t, noRedirect, s.URL, "GET", "/web/runs/42", "", nil, c)
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="run-log"`) || !strings.Contains(csp, "script-src 'sha256-") || strings.Contains(csp, "unsafe") {
		t.Errorf("GET /web/runs/42 with a session: %d, CSP %q: %.200s", resp.StatusCode, csp, body)
	}
	if len(body) >= 100_000 {
		t.Errorf("the run's page weighs %d bytes, want less than 100 KB", len(body))
	}
	t.Logf("run page: %d bytes", len(body))
	_, dash := send(t, noRedirect, s.URL, "GET", "/web", "", nil, c)
	if csp == "" || strings.Contains(dash, `id="run-log"`) {
		t.Error("the dashboard and the run's page are not two pages")
	}
	for _, bad := range []string{"abc", "0", "-1", "1e3", "99999999999999999999"} {
		resp, body := send(t, noRedirect, s.URL, "GET", "/web/runs/"+bad, "", nil, c)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "a run's page is /web/runs/ and the run's number") {
			t.Errorf("GET /web/runs/%s: %d %q, want 404 saying what a run's page is", bad, resp.StatusCode, body)
		}
	}
	for next, want := range map[string]string{
		"/web/runs/42": "/web/runs/42", "/web": "/web", "": "/web",
		"https://example.com/": "/web", "//example.com/web/runs/1": "/web", "/web/runs/42/../../x": "/web", "/butler": "/web",
	} {
		resp, _ := send(t, noRedirect, s.URL, "POST", "/web/signin", url.Values{"token": {token}, "next": {next}}.Encode(),
			map[string]string{"Origin": s.URL, "Content-Type": "application/x-www-form-urlencoded"})
		if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != want {
			t.Errorf("sign in with next %q: %d to %q, want 303 to %q", next, resp.StatusCode, got, want)
		}
	}
	// A wrong token keeps the page to come back to.
	resp, body = send(t, noRedirect, s.URL, "POST", "/web/signin", url.Values{"token": {"wrong"}, "next": {"/web/runs/42"}}.Encode(),
		map[string]string{"Origin": s.URL, "Content-Type": "application/x-www-form-urlencoded"})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `name="next" value="/web/runs/42"`) {
		t.Errorf("a wrong token from the run's sign-in: %d, want 401 and the form still coming back to the run", resp.StatusCode)
	}
}

// TestDashboardFixedSettingInChromium: a setting the server's config file
// fixes shows its value in a field that cannot be edited, saying where to
// change it; the others stay editable. The runs' times are in the
// server's zone (fixed here to Asia/Tokyo), which they name.
func TestDashboardFixedSettingInChromium(t *testing.T) {
	chromium(t) // skip early without a browser
	s := newWebServerFixed(t, false, map[butler.TaskName]butler.Action{butler.TaskCleanOldCacheFiles: shellTask(`true`)},
		map[string]string{butler.SettingStartHour: "1", butler.SettingTimeZone: "Asia/Tokyo"})
	// A run to show (the window may be open in Tokyo, and the planner
	// have started it already: 202).
	if resp, body := s.do(t, req{method: "POST", path: "/butler/CleanOldCacheFiles?force=1"}); resp.StatusCode != 200 && resp.StatusCode != 202 {
		t.Fatalf("start: %d %s", resp.StatusCode, body)
	}
	b := newWebBrowser(t, s)
	b.signIn("/web", chromedp.WaitVisible(chromedp.CSS(`#setting-ButlerStartHour`)))
	got := b.eval("read the fixed field", `(() => { const i = document.getElementById('setting-ButlerStartHour'); return i.disabled + '|' + i.value + '|' + i.nextElementSibling.textContent; })()`)
	if !strings.HasPrefix(got, "true|1|Fixed by the server's config file (settings: ButlerStartHour): change it there.") {
		t.Errorf("the fixed setting's field: %q; want disabled, 1, and where to change it", got)
	}
	if got := b.eval("read another field", `String(document.getElementById('setting-ButlerEndHour').disabled)`); got != "false" {
		t.Errorf("a setting the file leaves alone is disabled: %s", got)
	}
	b.do("see the run", chromedp.WaitVisible(chromedp.CSS(`#runs td[data-label="Started"]`)))
	if got := b.eval("read when the run started", `document.querySelector('#runs td[data-label="Started"]').textContent`); !strings.HasSuffix(got, "GMT+9") {
		t.Errorf("the run's start %q; want it in the server's zone, named (GMT+9)", got)
	}
}

// TestWeb_RunPageFollowsAfterBadGateway: a run's page whose reads get an
// HTTP error (here a reverse proxy's 502 for a moment, Butler itself
// running on and the session still good) keeps reading the run, as it
// does when the server does not answer at all: once the proxy answers
// again, the log follows the run again, and the error leaves the status
// line.
func TestWeb_RunPageFollowsAfterBadGateway(t *testing.T) {
	s := newWebServer(t, false, map[butler.TaskName]butler.Action{
		butler.TaskOptimizeDatabase: shellTask(`i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo "tick $i"; sleep 0.1; done`),
	})
	id := startByAPI(t, s, butler.TaskOptimizeDatabase, false)
	p := newFlakyProxy(t, s)
	b := newWebBrowser(t, behind(s, p))
	b.signIn("/web/runs/"+id, has(`//pre[@id="run-log" and contains(., "tick 3")]`))

	p.hiccup(t, "/butler/runs/"+id)
	b.forgetHiccup()
	before := b.text(`#run-log`)
	if !b.until("wait for the log to change", `document.getElementById('run-log').textContent !== `+strconv.Quote(before), 10*time.Second) {
		t.Errorf("10 s after the proxy answered again, the run's log has not changed (the run writes a line every 0.1 s); the page shows %q with %q",
			b.text(`#log-state`), b.text(`#status`))
	}
	if !b.until("wait for the error to go", `!document.getElementById('status').textContent.includes('502')`, 5*time.Second) {
		t.Errorf("the status line still says %q after the server answers again", b.text(`#status`))
	}
}

// TestWeb_RunPageStopStopsItsOwnRun: Stop on a run's page stops that run
// (DELETE /activities/{uuid}), never another run of its task. Here the
// page is behind: a proxy answers 502 to its reads of the run and to its
// event stream while its run is stopped elsewhere and the task started
// again. Stop then leaves the new run running, and the page says that its
// run had already ended.
func TestWeb_RunPageStopStopsItsOwnRun(t *testing.T) {
	s := newWebServer(t, false, map[butler.TaskName]butler.Action{
		butler.TaskOptimizeDatabase: shellTask(`echo working; sleep 60`),
	})
	first := startByAPI(t, s, butler.TaskOptimizeDatabase, false)
	p := newFlakyProxy(t, s)
	b := newWebBrowser(t, behind(s, p))
	b.signIn("/web/runs/"+first, has(`//h1[@id="run-title" and contains(., "running")]`))
	b.forgetHiccup()
	p.refuse(func(r *http.Request) bool {
		return r.Method == http.MethodGet && (r.URL.Path == "/butler/runs/"+first || r.URL.Path == "/:/eventsource/notifications")
	})
	p.waitFailed(t, "/butler/runs/"+first)

	// The first run is stopped elsewhere (the CLI, another browser), and
	// the task is started again.
	if resp, body := s.do(t, req{method: "DELETE", path: "/butler/OptimizeDatabase"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("stop: %d %s", resp.StatusCode, body)
	}
	waitRun(t, s, butler.TaskOptimizeDatabase, "the first run to end", func(r butler.Run) bool { return r.State == butler.StateFinished })
	second := startByAPI(t, s, butler.TaskOptimizeDatabase, true)
	waitRun(t, s, butler.TaskOptimizeDatabase, "the second run to run", func(r butler.Run) bool { return r.State == butler.StateRunning })
	// A read cut by the dropped connections made the page offline, until
	// its next read: the proxy's 502 is an answer.
	b.until("wait for the page to be online", `!document.body.classList.contains('offline')`, 10*time.Second)
	if got := b.eval("read the page", `document.getElementById('run-title').textContent + '|' + document.getElementById('run-stop').getAttribute('aria-label') + '|' + document.getElementById('run-stop').disabled`); got != "Run "+first+": OptimizeDatabase, ▶ running|Stop OptimizeDatabase, run "+first+"|false" {
		t.Fatalf("run %s's page, behind: %q; want it still showing the run running, with Stop", first, got)
	}

	p.refuse(nil)
	b.do("press Stop on the first run's page", chromedp.Click(chromedp.CSS(`#run-stop`)))
	// The page says what it did once the server has done it.
	if !b.until("wait for the page's answer", `document.getElementById('status').textContent.includes('had already ended')`, 10*time.Second) {
		t.Errorf("after Stop on run %s's page, which had ended, the page says %q; want that it had already ended", first, b.text(`#status`))
	}
	n, _ := strconv.ParseInt(second, 10, 64)
	r, err := s.m.Run(t.Context(), n)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != butler.StateRunning {
		t.Errorf("Stop on run %s's page left run %s %s/%s (page says %q), want it running", first, second, r.State, r.Outcome, b.text(`#status`))
	}
}

// TestWeb_RunPageCancelRemovesItsOwnWaitingRun: Cancel on the page of a
// run that waits for its time removes that run (DELETE
// /butler/runs/{id}), and the page says so and shows it skipped.
func TestWeb_RunPageCancelRemovesItsOwnWaitingRun(t *testing.T) {
	// The window is open: RefreshLocalMedia, randomized, gets a random
	// time in it and waits for it (scheduled).
	s := newWebServer(t, true, map[butler.TaskName]butler.Action{
		butler.TaskRefreshLocalMedia: shellTask(`true`),
	})
	r := waitRun(t, s, butler.TaskRefreshLocalMedia, "the run to wait for its time", func(r butler.Run) bool { return r.State == butler.StateScheduled })
	id := fmt.Sprint(r.ID)
	b := newWebBrowser(t, s)
	b.signIn("/web/runs/"+id, has(`//h1[@id="run-title" and contains(., "scheduled")]`))
	if got := b.eval("read the Cancel button", `document.getElementById('run-stop').textContent + '|' + document.getElementById('run-stop').getAttribute('aria-label')`); got != "Cancel|Cancel RefreshLocalMedia, run "+id {
		t.Errorf("the waiting run's button = %q", got)
	}
	b.do("press Cancel", chromedp.Click(chromedp.CSS(`#run-stop`)),
		has(`//p[@id="status" and contains(., "Removed run `+id+`")]`),
		has(`//h1[@id="run-title" and contains(., "skipped")]`))
	if got, err := s.m.Run(t.Context(), r.ID); err != nil || got.Outcome != butler.OutcomeSkipped {
		t.Errorf("run %s after Cancel: %+v (%v), want skipped", id, got, err)
	}
}

// TestWeb_DashboardLiveAfterBadGateway: the dashboard's event stream,
// closed by an HTTP error (a reverse proxy's 502 for a moment), is opened
// again: the live indicator comes back to "live", a run started elsewhere
// shows up under Running now at once, and the error leaves the status
// line once the page reads the server again.
func TestWeb_DashboardLiveAfterBadGateway(t *testing.T) {
	s := newWebServer(t, false, map[butler.TaskName]butler.Action{
		butler.TaskOptimizeDatabase: shellTask(`sleep 60`),
	})
	p := newFlakyProxy(t, s)
	b := newWebBrowser(t, behind(s, p))
	b.signIn("/web", has(`//span[@id="live" and .="live"]`))
	p.hiccup(t, "/:/eventsource/notifications", "/butler/plan")
	b.forgetHiccup()

	if !b.until("wait for the stream", `document.getElementById('live').textContent === 'live'`, 10*time.Second) {
		t.Errorf("10 s after the proxy answers again, the live indicator says %q, want live", b.text(`#live`))
	}
	if !b.until("wait for the error to go", `!document.getElementById('status').textContent.includes('502')`, 5*time.Second) {
		t.Errorf("the status line still says %q though the server answers again", b.text(`#status`))
	}
	// A run started elsewhere shows up at once, as it does before the
	// hiccup (the poll, every 15 s, would find it later).
	startByAPI(t, s, butler.TaskOptimizeDatabase, false)
	if !b.until("wait for the run", `!!document.querySelector('#activities li[data-task="OptimizeDatabase"]')`, 3*time.Second) {
		t.Errorf("a run started elsewhere is not under Running now 3 s later")
	}
}

// TestWeb_SettingsFormFollowsTheServer: the page reads the settings again
// when it reads the rest (its poll, every 15 s): a setting changed
// elsewhere shows its new value, unless its field holds an edit not saved
// yet, which is kept; and Save compares with the values the server has
// now, so that setting a field back to what it showed is saved.
func TestWeb_SettingsFormFollowsTheServer(t *testing.T) {
	s := newWebServer(t, false, nil)
	b := newWebBrowser(t, s)
	const field, name = `#setting-ButlerMaxConcurrentTasks`, `#setting-FriendlyName`
	b.signIn("/web", chromedp.WaitVisible(chromedp.CSS(field)))
	if got := b.eval("read the field", `document.querySelector('`+field+`').value`); got != "1" {
		t.Fatalf("the field says %q, want 1", got)
	}
	// An edit on the page, not saved yet.
	b.do("edit the name", chromedp.SendKeys(chromedp.CSS(name), "mine"))
	if resp, body := s.do(t, req{method: "PUT", path: "/:/prefs?ButlerMaxConcurrentTasks=3&FriendlyName=theirs"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("set elsewhere: %d %s", resp.StatusCode, body)
	}
	b.refresh()
	if got := b.eval("read the field", `document.querySelector('`+field+`').value`); got != "3" {
		t.Errorf("after a refresh the form says ButlerMaxConcurrentTasks %s; the server has 3", got)
	}
	if got := b.eval("read the name", `document.querySelector('`+name+`').value`); got != "mine" {
		t.Errorf("after a refresh the name being edited says %q, want the edit (mine) kept", got)
	}
	// The user wants 1, which the form showed before: Save.
	b.eval("set 1", `(() => { const i = document.querySelector('`+field+`'); i.value = '1'; return 'ok'; })()`)
	b.do("save", chromedp.Click(chromedp.CSS(`#save-settings`)), has(`//p[@id="settings-status" and normalize-space(.) != ""]`))
	if got := s.m.Settings().Get(butler.SettingMaxConcurrentTasks); got != "1" {
		t.Errorf("saving 1 answered %q and left the server at %s", b.text(`#settings-status`), got)
	}
	if got := s.m.Settings().Get(butler.SettingFriendlyName); got != "mine" {
		t.Errorf("saving the name answered %q and left the server at %q, want mine", b.text(`#settings-status`), got)
	}
}

// TestWeb_TimeZoneFollowsTheSetting: the pages show their times in the
// ButlerTimeZone setting as the server has it now: changed elsewhere,
// the dashboard's next read and a run's page's next read use the new
// zone, and name it.
func TestWeb_TimeZoneFollowsTheSetting(t *testing.T) {
	s := newWebServer(t, false, map[butler.TaskName]butler.Action{
		butler.TaskOptimizeDatabase: shellTask(`echo done`),
	})
	id := startByAPI(t, s, butler.TaskOptimizeDatabase, false)
	waitRun(t, s, butler.TaskOptimizeDatabase, "the run to end", func(r butler.Run) bool { return r.State == butler.StateFinished })
	b := newWebBrowser(t, s)
	b.signIn("/web", has(`//span[@id="window" and contains(., "UTC")]`))
	if resp, body := s.do(t, req{method: "PUT", path: "/:/prefs?ButlerTimeZone=Asia/Tokyo"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("set elsewhere: %d %s", resp.StatusCode, body)
	}
	b.refresh()
	if got := b.text(`#window`); !strings.Contains(got, "Asia/Tokyo") {
		t.Errorf("after a refresh the window reads %q, want it in Asia/Tokyo", got)
	}
	if got := b.eval("read the zone field", `document.getElementById('setting-ButlerTimeZone').value`); got != "Asia/Tokyo" {
		t.Errorf("after a refresh the zone's field says %q, want Asia/Tokyo", got)
	}
	b.do("open the run's page", chromedp.Navigate(s.URL+"/web/runs/"+id), has(`//dl[@id="run-facts" and contains(., "Asia/Tokyo")]`))
	if resp, body := s.do(t, req{method: "PUT", path: "/:/prefs?ButlerTimeZone=Europe/Paris"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("set elsewhere: %d %s", resp.StatusCode, body)
	}
	b.refresh()
	if got := b.text(`#run-facts`); !strings.Contains(got, "Europe/Paris") {
		t.Errorf("after a refresh the run's facts read %q, want them in Europe/Paris", got)
	}
}

// TestWeb_KeyboardFocusStaysOnTheSameButton: a refresh keeps the focus on
// the button that had it: on Cancel, not the row's first button (Run
// now), so that Enter still cancels; and when that button is gone, on
// the same row.
func TestWeb_KeyboardFocusStaysOnTheSameButton(t *testing.T) {
	// The window is open: RefreshLocalMedia, randomized, gets a random
	// time in it and waits for it (scheduled).
	s := newWebServer(t, true, map[butler.TaskName]butler.Action{
		butler.TaskRefreshLocalMedia: shellTask(`true`),
	})
	b := newWebBrowser(t, s)
	const row = `#tasks tr[data-task="RefreshLocalMedia"]`
	const cancel = row + ` button.cancel`
	b.signIn("/web", chromedp.WaitVisible(chromedp.CSS(cancel)))
	t.Logf("the row's buttons: %s", b.eval("read the buttons", `[...document.querySelectorAll('`+row+` button')].map((x) => x.textContent).join(', ')`))
	b.do("focus Cancel", chromedp.Focus(chromedp.CSS(cancel)))
	if got := b.eval("read the focus", `document.activeElement.getAttribute('aria-label')`); got != "Cancel the waiting run of RefreshLocalMedia" {
		t.Fatalf("focus on %q", got)
	}
	b.refresh()
	if got := b.eval("read the focus", `document.activeElement.getAttribute('aria-label')`); got != "Cancel the waiting run of RefreshLocalMedia" {
		t.Errorf("after a refresh the focus is on %q, want still on Cancel", got)
	}
	// The waiting run is removed elsewhere: Cancel is gone, and the focus
	// stays on the row.
	if resp, body := s.do(t, req{method: "DELETE", path: "/butler/RefreshLocalMedia"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("remove the waiting run: %d %s", resp.StatusCode, body)
	}
	b.refresh()
	if got := b.eval("read the focus", `(document.activeElement.closest('tr')?.dataset.task || document.activeElement.tagName) + '|' + document.activeElement.textContent`); !strings.HasPrefix(got, "RefreshLocalMedia|") || strings.HasSuffix(got, "|Cancel") {
		t.Errorf("after the waiting run went the focus is on %q, want another button of the same row", got)
	}
}

// TestWeb_RunPageWithTrailingSlash: /web/runs/{id}/ is the run's page, as
// /web/runs/{id} is (the page reads the run's number from either); a bad
// id with a slash is not found either.
func TestWeb_RunPageWithTrailingSlash(t *testing.T) {
	s := newWebServer(t, false, map[butler.TaskName]butler.Action{
		butler.TaskOptimizeDatabase: shellTask(`echo done`),
	})
	id := startByAPI(t, s, butler.TaskOptimizeDatabase, false)
	waitRun(t, s, butler.TaskOptimizeDatabase, "the run to end", func(r butler.Run) bool { return r.State == butler.StateFinished })
	b := newWebBrowser(t, s)
	b.signIn("/web/runs/"+id, has(`//h1[@id="run-title" and contains(., "succeeded")]`))
	b.do("open the run's page with a slash at the end", chromedp.Navigate(s.URL+"/web/runs/"+id+"/"),
		has(`//h1[@id="run-title" and contains(., "succeeded")] | //p[@id="status" and normalize-space(.) != ""]`))
	if got := b.text(`#run-title`); !strings.Contains(got, "Run "+id) {
		t.Errorf("/web/runs/%s/ shows %q with %q, want run %s", id, got, b.text(`#status`), id)
	}
	c := signIn(t, noRedirect, s.URL)
	for _, bad := range []string{"abc/", "0/"} {
		resp, body := send(t, noRedirect, s.URL, "GET", "/web/runs/"+bad, "", nil, c)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "a run's page is /web/runs/ and the run's number") {
			t.Errorf("GET /web/runs/%s: %d %q, want 404 saying what a run's page is", bad, resp.StatusCode, body)
		}
	}
}

// TestWeb_TaskRowCancelRemovesOnlyTheWaitingRun: a task row's Cancel
// removes the waiting run the row shows (DELETE /butler/runs/{id}), never a
// run of the task that has started since. Here the page is behind (a proxy
// answers 502 to its reads) while the waiting run is started now
// elsewhere; Cancel then leaves it running, and the page says why.
func TestWeb_TaskRowCancelRemovesOnlyTheWaitingRun(t *testing.T) {
	// The window is open: RefreshLocalMedia, randomized, gets a random
	// time in it and waits for it (scheduled).
	s := newWebServer(t, true, map[butler.TaskName]butler.Action{
		butler.TaskRefreshLocalMedia: shellTask(`sleep 60`),
	})
	waitRun(t, s, butler.TaskRefreshLocalMedia, "the run to wait for its time", func(r butler.Run) bool { return r.State == butler.StateScheduled })
	p := newFlakyProxy(t, s)
	b := newWebBrowser(t, behind(s, p))
	const cancel = `#tasks tr[data-task="RefreshLocalMedia"] button.cancel`
	b.signIn("/web", chromedp.WaitVisible(chromedp.CSS(cancel)))
	b.forgetHiccup()
	p.refuse(func(r *http.Request) bool { return r.Method == http.MethodGet })
	p.waitFailed(t, "/butler/plan")

	// Started now elsewhere ("Run now" in another browser, the CLI).
	startByAPI(t, s, butler.TaskRefreshLocalMedia, true)
	running := waitRun(t, s, butler.TaskRefreshLocalMedia, "the run to run", func(r butler.Run) bool { return r.State == butler.StateRunning })
	b.until("wait for the page to be online", `!document.body.classList.contains('offline')`, 10*time.Second)

	p.refuse(nil)
	b.expectError("status of 409 (Conflict)") // the answer to Cancel: the run is not waiting
	b.do("press the row's Cancel", chromedp.Click(chromedp.CSS(cancel)))
	if !b.until("wait for the page's answer", `document.getElementById('status').textContent.includes('not waiting')`, 10*time.Second) {
		t.Errorf("after Cancel of a run that had started, the page says %q; want that it was not waiting any more", b.text(`#status`))
	}
	r, err := s.m.Run(t.Context(), running.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != butler.StateRunning {
		t.Errorf("the row's Cancel of a waiting run left the run that had started %s/%s (%s); want it running", r.State, r.Outcome, r.Reason)
	}
}
