package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/apitype"
)

func TestActivities(t *testing.T) {
	s := newServer(t)
	b := s.actions[butler.TaskBackupDatabase]
	_, body := s.do(t, req{method: "GET", path: "/activities"})
	if !strings.Contains(body, `<MediaContainer size="0">`) {
		t.Fatalf("no activity yet: %s", body)
	}
	resp, _ := s.do(t, req{method: "POST", path: "/butler/BackupDatabase"})
	runID := resp.Header.Get(apitype.HeaderRunID)
	wait(t, b.entered, "the task")
	_, body = s.do(t, req{method: "GET", path: "/activities", header: map[string]string{"Accept": "application/json"}})
	var got apitype.ActivitiesResponse
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.MediaContainer.Size != 1 || len(got.MediaContainer.Activity) != 1 {
		t.Fatalf("activities: %s", body)
	}
	a := got.MediaContainer.Activity[0]
	if a.Type != "butler.task" || !bool(a.Cancellable) || a.UserID != 1 || a.Title != "Backup Database" ||
		a.Subtitle != "blocking" || a.Progress != 10 || a.Context == nil || a.Context.TaskName != "BackupDatabase" ||
		fmt.Sprint(a.Context.RunID) != runID || a.Context.Trigger != "start_task" {
		t.Fatalf("activity: %+v %+v", a, a.Context)
	}
	_, xmlBody := s.do(t, req{method: "GET", path: "/activities"})
	if !strings.Contains(xmlBody, `type="butler.task" cancellable="1" userID="1" title="Backup Database" subtitle="blocking" progress="10"><Context taskName="BackupDatabase"`) {
		t.Fatalf("activities XML: %s", xmlBody)
	}
	for _, tc := range []struct {
		id     string
		status int
	}{{"not-a-uuid", 400}, {"00000000-0000-4000-8000-000000000000", 404}, {a.UUID, 200}, {a.UUID, 404}} {
		if resp, body := s.do(t, req{method: "DELETE", path: "/activities/" + tc.id}); resp.StatusCode != tc.status {
			t.Fatalf("DELETE /activities/%s: %d %s, want %d", tc.id, resp.StatusCode, body, tc.status)
		}
	}
	if err := <-b.ended; err == nil {
		t.Fatal("DELETE /activities did not cancel the task")
	}
}

func dial(t *testing.T, s *server, path string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+path, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	return c
}

func readNotification(t *testing.T, c *websocket.Conn) apitype.ActivityNotification {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("frame type %v, want text", typ)
	}
	var n apitype.Notification
	if err := json.Unmarshal(b, &n); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if n.NotificationContainer.Type != "activity" || n.NotificationContainer.Size != 1 || len(n.NotificationContainer.ActivityNotification) != 1 {
		t.Fatalf("message %s", b)
	}
	return n.NotificationContainer.ActivityNotification[0]
}

func TestWebsocketNotifications(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := newServer(t)
	// Both paths, the token in the query as python-plexapi sends it.
	plural := dial(t, s, "/:/websockets/notifications?X-Plex-Token="+token)
	singular := dial(t, s, "/:/websocket/notifications?filters=&X-Plex-Token="+token)
	// Subscribed once the server has them: a start now reaches both.
	deadline := time.Now().Add(10 * time.Second)
	for subs, _ := s.m.EventStats(); subs < 2; subs, _ = s.m.EventStats() {
		if time.Now().After(deadline) {
			t.Fatal("the websocket clients never subscribed")
		}
		time.Sleep(time.Millisecond) // waits for the server to register the subscriptions
	}
	b := s.actions[butler.TaskBackupDatabase]
	s.do(t, req{method: "POST", path: "/butler/BackupDatabase"})
	wait(t, b.entered, "the task")
	s.do(t, req{method: "DELETE", path: "/butler/BackupDatabase"})
	for _, c := range []*websocket.Conn{plural, singular} {
		// Updates of one run that wait for a slow reader are merged: the
		// progress update may be merged into the stopping one.
		started := readNotification(t, c)
		var updates []apitype.ActivityNotification
		ended := readNotification(t, c)
		for ended.Event == "updated" {
			updates = append(updates, ended)
			ended = readNotification(t, c)
		}
		if started.Event != "started" || len(updates) == 0 || len(updates) > 2 || ended.Event != "ended" {
			t.Fatalf("events %s, %d updates, %s; want started, one or two updates, ended", started.Event, len(updates), ended.Event)
		}
		stopping := updates[len(updates)-1]
		if sc := stopping.Activity.Context; sc == nil || sc.State != "stopping" || bool(stopping.Activity.Cancellable) {
			t.Fatalf("the last update: %+v, want the activity stopping and no longer cancellable", stopping.Activity)
		}
		updated := updates[0]
		if len(updates) == 2 {
			if sc := updated.Activity.Context; sc == nil || sc.State != "running" {
				t.Fatalf("the first update: %+v, want the activity running", updated.Activity)
			}
		}
		if started.UUID == "" || started.UUID != ended.UUID || started.Activity.UUID != started.UUID {
			t.Fatalf("uuids %s %s", started.UUID, ended.UUID)
		}
		// The stopping activity's subtitle says so: "Stopping: blocking"
		// when the progress update was merged into it.
		wantSub := "blocking"
		if len(updates) == 1 {
			wantSub = "Stopping: blocking"
		}
		if updated.Activity.Progress != 10 || updated.Activity.Subtitle != wantSub {
			t.Fatalf("update %+v, want progress 10 and subtitle %q", updated.Activity, wantSub)
		}
		if ended.Activity.Context.Outcome != "stopped" {
			t.Fatalf("ended %+v", ended.Activity.Context)
		}
		c.Close(websocket.StatusNormalClosure, "")
	}
	// Without the token: refused before the upgrade.
	resp, _ := s.do(t, req{method: "GET", path: "/:/websockets/notifications", noToken: true})
	if resp.StatusCode != 401 {
		t.Fatalf("websocket without a token: %d", resp.StatusCode)
	}
	s.shutdown()
}

func TestEventSource(t *testing.T) {
	s := newServer(t)
	// A deadline: a missing event fails the test instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/:/eventsource/notifications", nil)
	r.Header.Set("X-Plex-Token", token)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("content type %s", resp.Header.Get("Content-Type"))
	}
	b := s.actions[butler.TaskOptimizeDatabase]
	s.do(t, req{method: "POST", path: "/butler/OptimizeDatabase"})
	wait(t, b.entered, "the task")
	s.do(t, req{method: "DELETE", path: "/butler/OptimizeDatabase"})
	sc := bufio.NewScanner(resp.Body)
	var events []string
	for (len(events) == 0 || events[len(events)-1] != "ended") && sc.Scan() {
		line := sc.Text()
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var n apitype.Notification
			if err := json.Unmarshal([]byte(data), &n); err != nil {
				t.Fatalf("decode %s: %v", data, err)
			}
			events = append(events, n.NotificationContainer.ActivityNotification[0].Event)
		}
	}
	// The progress update may be merged into the stopping one when the
	// reader is slow: one or two updates.
	if got := strings.Join(events, ","); got != "started,updated,updated,ended" && got != "started,updated,ended" {
		t.Fatalf("events %v", events)
	}
}

// TestWebsocket_ClientThatNeverReads: a client that completes the handshake
// and never reads must not slow a task that reports progress without pause,
// nor keep anything running once it goes.
func TestWebsocket_ClientThatNeverReads(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := newServer(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /:/websockets/notifications?X-Plex-Token=%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", token)
	// Read the 101 answer only; never read a frame after it.
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(status, "101") {
		t.Fatalf("handshake: %q %v", status, err)
	}
	// Many short runs, each with a burst of progress reports.
	b := s.actions[butler.TaskBackupDatabase]
	for range 30 {
		s.do(t, req{method: "POST", path: "/butler/BackupDatabase?force=1"})
		wait(t, b.entered, "the task")
		s.do(t, req{method: "DELETE", path: "/butler/BackupDatabase"})
		<-b.ended
	}
	_, dropped := s.m.EventStats()
	t.Logf("updates merged or dropped for the silent client: %d", dropped)
	conn.Close()
	s.shutdown()
}

// TestWebsocket_ThousandSubscribersJoinAndLeave has 1,000 real websocket
// clients join, wait for a progress update, and leave, 100 at a time, while
// a task reports progress without pause. Every client gets its update, the
// task is never held up, and nothing is left behind.
func TestWebsocket_ThousandSubscribersJoinAndLeave(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := newServer(t)
	b := s.actions[butler.TaskOptimizeDatabase]
	b.ticking.Store(true)
	s.do(t, req{method: "POST", path: "/butler/OptimizeDatabase"})
	wait(t, b.entered, "the task")
	const clients, wave = 1000, 100
	for start := 0; start < clients; start += wave {
		var wg sync.WaitGroup
		for i := start; i < start+wave; i++ {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/:/websockets/notifications?X-Plex-Token="+token, nil)
				if err != nil {
					t.Errorf("client %d: dial: %v", i, err)
					return
				}
				defer c.Close(websocket.StatusNormalClosure, "")
				for {
					_, data, err := c.Read(ctx)
					if err != nil {
						t.Errorf("client %d: %v", i, err)
						return
					}
					if strings.Contains(string(data), `"event":"updated"`) {
						return
					}
				}
			})
		}
		wg.Wait()
	}
	s.do(t, req{method: "DELETE", path: "/butler/OptimizeDatabase"})
	deadline := time.Now().Add(10 * time.Second)
	for subs, _ := s.m.EventStats(); subs != 0; subs, _ = s.m.EventStats() {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers left after every client went", subs)
		}
		time.Sleep(time.Millisecond) // waits for the server to see the clients go
	}
	s.shutdown()
}

func TestMetrics(t *testing.T) {
	s := newServer(t)
	if resp, _ := s.do(t, req{method: "GET", path: "/metrics", noToken: true}); resp.StatusCode != 401 {
		t.Fatalf("/metrics without a token: %d", resp.StatusCode)
	}
	b := s.actions[butler.TaskBackupDatabase]
	s.do(t, req{method: "POST", path: "/butler/BackupDatabase"})
	wait(t, b.entered, "the task")
	_, body := s.do(t, req{method: "GET", path: "/metrics"})
	for _, want := range []string{`butler_runs_active{state="running"} 1`, `butler_notification_subscribers 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	s.do(t, req{method: "DELETE", path: "/butler/BackupDatabase"})
	_, body = s.do(t, req{method: "GET", path: "/metrics"})
	for _, want := range []string{`butler_runs_total{outcome="stopped",task="BackupDatabase"} 1`,
		`butler_run_duration_seconds_count{task="BackupDatabase"} 1`, `butler_runs_active{state="running"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestRunsAndPlan(t *testing.T) {
	s := newServer(t)
	b := s.actions[butler.TaskBackupDatabase]
	for range 3 {
		s.do(t, req{method: "POST", path: "/butler/BackupDatabase?force=1"})
		wait(t, b.entered, "the task")
		s.do(t, req{method: "DELETE", path: "/butler/BackupDatabase"})
	}
	var runs apitype.RunsResponse
	_, body := s.do(t, req{method: "GET", path: "/butler/runs?task=BackupDatabase&outcome=stopped&limit=2", header: map[string]string{"Accept": "application/json"}})
	if err := json.Unmarshal([]byte(body), &runs); err != nil {
		t.Fatal(err)
	}
	list := runs.MediaContainer.Run
	if len(list) != 2 || list[0].ID <= list[1].ID || list[0].Outcome != "stopped" || list[0].Reason != "stopped by request" || list[0].StartedAt == "" {
		t.Fatalf("runs page: %s", body)
	}
	_, body = s.do(t, req{method: "GET", path: fmt.Sprintf("/butler/runs?beforeID=%d", list[1].ID), header: map[string]string{"Accept": "application/json"}})
	runs = apitype.RunsResponse{}
	json.Unmarshal([]byte(body), &runs)
	if len(runs.MediaContainer.Run) != 1 {
		t.Fatalf("next page: %s", body)
	}
	if resp, body := s.do(t, req{method: "GET", path: fmt.Sprintf("/butler/runs/%d", list[0].ID)}); resp.StatusCode != 200 || !strings.Contains(body, `outcome="stopped"`) {
		t.Fatalf("one run: %d %s", resp.StatusCode, body)
	}
	if resp, body := s.do(t, req{method: "GET", path: fmt.Sprintf("/butler/runs/%d/log", list[0].ID)}); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("run log: %d %q", resp.StatusCode, body)
	}
	for path, status := range map[string]int{
		"/butler/runs/999999":                                       404,
		"/butler/runs/abc":                                          400,
		"/butler/runs?outcome=bogus":                                400,
		"/butler/runs?limit=-1":                                     400,
		"/butler/runs?limit=5000":                                   400,
		"/butler/runs?since=yesterday":                              400,
		"/butler/runs?since=2026-01-01T00:00:00Z&before=1999999999": 200,
	} {
		if resp, body := s.do(t, req{method: "GET", path: path}); resp.StatusCode != status {
			t.Errorf("GET %s: %d %s, want %d", path, resp.StatusCode, body, status)
		}
	}
	// Times beyond what the store counts in nanoseconds (1677 to 2262)
	// are held at its ends, never wrapped round into their opposite.
	for q, want := range map[string]int{
		"since=3000-01-01T00:00:00Z":  0,
		"since=99999999999999999":     0,
		"since=1600-01-01T00:00:00Z":  3,
		"since=-99999999999":          3,
		"before=3000-01-01T00:00:00Z": 3,
		"before=99999999999999999":    3,
		"before=1600-01-01T00:00:00Z": 0,
		"before=-99999999999":         0,
	} {
		var got apitype.RunsResponse
		_, body := s.do(t, req{method: "GET", path: "/butler/runs?task=BackupDatabase&" + q, header: map[string]string{"Accept": "application/json"}})
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%s: %v: %s", q, err, body)
		}
		if n := len(got.MediaContainer.Run); n != want {
			t.Errorf("runs?%s: %d runs, want %d", q, n, want)
		}
	}
	var plan apitype.PlanResponse
	_, body = s.do(t, req{method: "GET", path: "/butler/plan", header: map[string]string{"Accept": "application/json"}})
	if err := json.Unmarshal([]byte(body), &plan); err != nil {
		t.Fatal(err)
	}
	decisions := map[string]string{}
	for _, e := range plan.MediaContainer.Task {
		decisions[e.Name] = e.Decision
	}
	// The window is twelve hours away: nothing inside; backup never
	// succeeded so it runs at the opening; cache cleaning is disabled.
	if bool(plan.MediaContainer.Inside) || decisions["BackupDatabase"] != "runs" || decisions["CleanOldCacheFiles"] != "disabled" || decisions["OptimizeDatabase"] != "runs" {
		t.Fatalf("plan: %s", body)
	}
}

func TestUpdateNotification(t *testing.T) {
	s := newServer(t)
	all := dial(t, s, "/:/websockets/notifications?X-Plex-Token="+token)
	onlyActivity := dial(t, s, "/:/websockets/notifications?filters=activity&X-Plex-Token="+token)
	deadline := time.Now().Add(10 * time.Second)
	for subs, _ := s.m.EventStats(); subs < 2; subs, _ = s.m.EventStats() {
		if time.Now().After(deadline) {
			t.Fatal("the websocket clients never subscribed")
		}
		time.Sleep(time.Millisecond) // waits for the server to register the subscriptions
	}
	s.m.AnnounceUpdate(butler.Update{Version: "9.9.9", NotesURL: "https://example.invalid/notes"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := all.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n apitype.Notification
	if err := json.Unmarshal(data, &n); err != nil {
		t.Fatal(err)
	}
	c := n.NotificationContainer
	if c.Type != "update.statechange" || len(c.AutoUpdateNotification) != 1 || c.AutoUpdateNotification[0].Version != "9.9.9" || c.AutoUpdateNotification[0].State != "available" {
		t.Fatalf("update notification: %s", data)
	}
	// The client that asked for activities only gets the next activity event first.
	b := s.actions[butler.TaskBackupDatabase]
	s.do(t, req{method: "POST", path: "/butler/BackupDatabase"})
	wait(t, b.entered, "the task")
	if got := readNotification(t, onlyActivity); got.Event != "started" {
		t.Fatalf("filtered client got %+v first", got)
	}
	all.Close(websocket.StatusNormalClosure, "")
	onlyActivity.Close(websocket.StatusNormalClosure, "")
}
