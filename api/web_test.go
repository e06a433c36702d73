package api_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/plexbutler/butler"
)

func TestDashboardNeedsToken(t *testing.T) {
	s := newServer(t)
	if resp, _ := s.do(t, req{method: "GET", path: "/web", noToken: true}); resp.StatusCode != 401 {
		t.Fatalf("GET /web without the token: %d, want 401", resp.StatusCode)
	}
	resp, body := s.do(t, req{method: "GET", path: "/web"})
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /web: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "connect-src 'self'", "script-src 'sha256-", "style-src 'sha256-", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy = %q, want no-referrer (the token is in the page's address)", got)
	}
	if strings.Contains(body, "{{") || !strings.Contains(body, "<script>'use strict';") {
		t.Errorf("the page's script is not inlined: %.300s", body)
	}
}

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
// starts a task with its button, watches the run appear live with its
// progress, stops it from the page and finds the stopped run in the list.
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
			// The one failed request the test makes on purpose, the
			// refused settings, is not an error of the page.
			if e.Entry.Level == log.EntryLevelError && !strings.Contains(e.Entry.Text, "status of 400") {
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
	do("open the dashboard", chromedp.Navigate(s.URL+"/web?X-Plex-Token="+token), chromedp.WaitVisible(chromedp.CSS(startButton)))

	if location := text("read the address", chromedp.Location()); strings.Contains(location, token) {
		t.Errorf("the token is still in the address bar: %s", location)
	}
	tasks, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(`#tasks tr`)))
	if err != nil {
		fail("list the tasks", err)
	}
	if len(tasks) != len(s.m.Tasks()) {
		t.Errorf("the page lists %d tasks, the server %d", len(tasks), len(s.m.Tasks()))
	}

	do("press Start", chromedp.Click(chromedp.CSS(startButton)))
	wait(t, b.entered, "the task started from the page")

	// The activity shows up with the progress the task reported (10).
	const activity = `#activities li[data-task="BackupDatabase"]`
	do("see the activity", chromedp.WaitVisible(chromedp.CSS(activity+` progress[value="10"]`)))
	if status := text("read the status line", chromedp.Text(chromedp.CSS(`#status`))); !strings.Contains(status, "Started BackupDatabase: started") {
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
	if status := text("read the status line", chromedp.Text(chromedp.CSS(`#status`))); status != "Saved ButlerTaskBackupDatabase." {
		t.Errorf("status after saving = %q", status)
	}
	retention := s.m.Settings().Get(butler.SettingRunRetentionDays)
	do("enter a bad retention and save",
		chromedp.SetValue(chromedp.CSS(`#setting-ButlerRunRetentionDays`), "0"),
		chromedp.Click(chromedp.CSS(`#save-settings`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="status" and contains(., "Nothing was saved")]`)))
	if status := text("read the status line", chromedp.Text(chromedp.CSS(`#status`))); !strings.Contains(status, "ButlerRunRetentionDays") {
		t.Errorf("status after a refused save = %q, want the server's reason naming the setting", status)
	}
	if got := s.m.Settings().Get(butler.SettingRunRetentionDays); got != retention {
		t.Errorf("retention after a refused save = %q, want %q unchanged", got, retention)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(browserErrs) > 0 {
		t.Errorf("the browser reported errors: %q", browserErrs)
	}
}
