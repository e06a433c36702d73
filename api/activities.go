package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/schedule"
)

func activityOf(a butler.Activity) apitype.Activity {
	ctx := &apitype.ActivityContext{TaskName: string(a.Task), RunID: a.RunID, Trigger: string(a.Trigger), Node: a.Node, Outcome: string(a.Outcome)}
	subtitle := a.Step
	switch {
	case a.Outcome != "":
	case a.Stopping:
		ctx.State = string(butler.StateStopping)
		subtitle = "Stopping"
		if a.Step != "" {
			subtitle += ": " + a.Step
		}
	case a.Paused != "":
		ctx.State, ctx.Paused = apitype.ActivityPaused, a.Paused
		subtitle = "Paused: " + a.Paused
	default:
		ctx.State = string(butler.StateRunning)
	}
	return apitype.Activity{
		UUID: a.UUID, Type: apitype.ActivityType, Cancellable: apitype.Bool(!a.Stopping), UserID: 1,
		Title: a.Title, Subtitle: subtitle, Progress: a.Progress, Context: ctx,
	}
}

func handleActivities(m *butler.Manager, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		acts, err := m.Activities(r.Context())
		if err != nil {
			fail(log, w, r, err)
			return
		}
		var list []apitype.Activity
		for _, a := range acts {
			list = append(list, activityOf(a))
		}
		c := apitype.ActivityContainer{Size: len(list), Activity: list}
		encode(w, r, http.StatusOK, apitype.ActivitiesResponse{MediaContainer: c}, c)
	}
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func handleStopActivity(m *butler.Manager, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("uuid")
		if !uuidPattern.MatchString(id) {
			fail(log, w, r, butler.Errorf(butler.EINVALID, "%q is not an activity id (a UUID); GET /activities lists them", id))
			return
		}
		res, err := m.StopActivity(r.Context(), strings.ToLower(id))
		if err != nil {
			fail(log, w, r, err)
			return
		}
		w.Header().Set(apitype.HeaderOutcome, string(res.Outcome))
		w.WriteHeader(http.StatusOK)
	}
}

// notificationType returns the NotificationContainer type of an event.
func notificationType(ev butler.Event) string {
	if ev.Type == butler.EventUpdate {
		return "update.statechange"
	}
	return "activity"
}

// wants reads Plex's filters query: "-log" by default (every type but log),
// "a,b" only those types, "" every type, "-a,b" all but those.
func wants(r *http.Request) func(typ string) bool {
	q := r.URL.Query()
	f := "-log"
	if q.Has("filters") {
		f = q.Get("filters")
	}
	if f == "" {
		return func(string) bool { return true }
	}
	neg := strings.HasPrefix(f, "-")
	listed := map[string]bool{}
	for _, t := range strings.Split(strings.TrimPrefix(f, "-"), ",") {
		listed[strings.TrimSpace(t)] = true
	}
	return func(typ string) bool { return listed[typ] != neg }
}

// encodedEvent is the last event encoded: every subscriber receives the
// same event in turn, so it is encoded once, not once per subscriber.
type encodedEvent struct {
	ev   butler.Event
	data []byte
}

// notifier encodes the events of the notification endpoints.
type notifier struct {
	last atomic.Pointer[encodedEvent]
}

// encode returns the JSON message of one event.
func (n *notifier) encode(ev butler.Event) []byte {
	if c := n.last.Load(); c != nil && c.ev == ev {
		return c.data
	}
	data := encodeNotification(ev)
	n.last.Store(&encodedEvent{ev: ev, data: data})
	return data
}

func encodeNotification(ev butler.Event) []byte {
	var c apitype.NotificationContainer
	if ev.Type == butler.EventUpdate && ev.Update != nil {
		c = apitype.NotificationContainer{Type: "update.statechange", Size: 1,
			AutoUpdateNotification: []apitype.AutoUpdateNotification{{Key: ev.Update.NotesURL, Version: ev.Update.Version, State: "available"}}}
	} else {
		a := activityOf(ev.Activity)
		c = apitype.NotificationContainer{Type: "activity", Size: 1,
			ActivityNotification: []apitype.ActivityNotification{{Event: string(ev.Type), UUID: a.UUID, Activity: a}}}
	}
	b, _ := json.Marshal(apitype.Notification{NotificationContainer: c})
	return b
}

// writeTimeout bounds one write to a notification client; a client that
// cannot take a message in that time is dropped.
const writeTimeout = 10 * time.Second

func handleWebsocket(m *butler.Manager, n *notifier, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return // Accept has answered
		}
		defer c.CloseNow()
		sub := m.Subscribe()
		defer sub.Close()
		// Nothing is read from the client; CloseRead answers pings and
		// notices when it goes away.
		ctx := c.CloseRead(r.Context())
		want := wants(r)
		for {
			ev, err := sub.Next(ctx)
			if err != nil {
				switch {
				case errors.Is(err, butler.ErrSlowSubscriber):
					c.Close(websocket.StatusPolicyViolation, "too slow")
				case errors.Is(err, butler.ErrStopped):
					c.Close(websocket.StatusGoingAway, "the server is stopping")
				}
				return
			}
			if !want(notificationType(ev)) {
				continue
			}
			wctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err = c.Write(wctx, websocket.MessageText, n.encode(ev))
			cancel()
			if err != nil {
				log.DebugContext(r.Context(), "api: notification client gone", slog.String("error", err.Error()))
				return
			}
		}
	}
}

func handleEventSource(m *butler.Manager, n *notifier, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("X-Accel-Buffering", "no")
		if r.Method == http.MethodHead {
			// The headers of the stream, and no stream.
			w.WriteHeader(http.StatusOK)
			return
		}
		rc := http.NewResponseController(w)
		sub := m.Subscribe()
		defer sub.Close()
		w.WriteHeader(http.StatusOK)
		if err := rc.Flush(); err != nil {
			return
		}
		want := wants(r)
		for {
			ev, err := sub.Next(r.Context())
			if err != nil {
				return
			}
			if !want(notificationType(ev)) {
				continue
			}
			_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", notificationType(ev), n.encode(ev)); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				log.DebugContext(r.Context(), "api: event-stream client gone", slog.String("error", err.Error()))
				return
			}
		}
	}
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func dayText(d schedule.Day) string {
	if d.IsZero() {
		return ""
	}
	return d.String()
}

func runOf(r butler.Run) apitype.Run {
	return apitype.Run{
		ID: r.ID, UUID: r.UUID, Task: string(r.Task), Trigger: string(r.Trigger), State: string(r.State),
		Outcome: string(r.Outcome), Reason: r.Reason, Summary: r.Summary, Error: r.Error,
		Window: dayText(r.Window), Day: dayText(r.Day), Queue: r.Queue, Node: r.Node,
		Progress: r.Progress, Step: r.Step, CreatedAt: rfc3339(r.CreatedAt), ScheduledAt: rfc3339(r.ScheduledAt),
		StartedAt: rfc3339(r.StartedAt), EndedAt: rfc3339(r.EndedAt),
	}
}

func writeRuns(w http.ResponseWriter, r *http.Request, runs []butler.Run) {
	list := make([]apitype.Run, 0, len(runs))
	for _, run := range runs {
		list = append(list, runOf(run))
	}
	c := apitype.RunContainer{Size: len(list), Run: list}
	encode(w, r, http.StatusOK, apitype.RunsResponse{MediaContainer: c}, c)
}

// parseTime reads an RFC 3339 instant or a Unix time in seconds.
func parseTime(key, v string) (time.Time, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, butler.Errorf(butler.EINVALID, "%s: %q is not a time; use RFC 3339 (2026-11-28T03:00:00Z) or Unix seconds", key, v)
	}
	return t, nil
}

func handleRuns(m *butler.Manager, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := butler.RunFilter{Task: butler.TaskName(q.Get("task")), Outcome: butler.Outcome(q.Get("outcome"))}
		var err error
		for key, dst := range map[string]*time.Time{"since": &f.Since, "before": &f.Before} {
			if v := q.Get(key); v != "" && err == nil {
				*dst, err = parseTime(key, v)
			}
		}
		if err == nil {
			var n int64
			n, err = wholeNumber(q.Get("limit"), "limit")
			f.Limit = int(n)
		}
		if err == nil {
			f.BeforeID, err = wholeNumber(q.Get("beforeID"), "beforeID")
		}
		if err != nil {
			fail(log, w, r, err)
			return
		}
		runs, err := m.Runs(r.Context(), f)
		if err != nil {
			fail(log, w, r, err)
			return
		}
		writeRuns(w, r, runs)
	}
}

// wholeNumber reads an optional non-negative integer query value.
func wholeNumber(v, key string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, butler.Errorf(butler.EINVALID, "%s: %q is not a whole number", key, v)
	}
	return n, nil
}

func handleRun(m *butler.Manager, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			fail(log, w, r, butler.Errorf(butler.EINVALID, "%q is not a run id (a whole number)", r.PathValue("id")))
			return
		}
		run, err := m.Run(r.Context(), id)
		if err != nil {
			fail(log, w, r, err)
			return
		}
		writeRuns(w, r, []butler.Run{run})
	}
}

// handleRunLog answers a run's log as plain text.
func handleRunLog(m *butler.Manager, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			fail(log, w, r, butler.Errorf(butler.EINVALID, "%q is not a run id (a whole number)", r.PathValue("id")))
			return
		}
		text, err := m.RunLog(r.Context(), id)
		if err != nil {
			fail(log, w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(text))
	}
}

func handlePlan(m *butler.Manager, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := m.Plan(r.Context())
		if err != nil {
			fail(log, w, r, err)
			return
		}
		c := apitype.PlanContainer{Size: len(p.Tasks), Day: p.Day.String(), Open: rfc3339(p.Open), Close: rfc3339(p.Close),
			Inside: apitype.Bool(p.Inside)}
		for _, e := range p.Tasks {
			pt := apitype.PlanTask{Name: string(e.Task), Decision: string(e.Decision), At: rfc3339(e.At),
				Random: apitype.Bool(e.Random), NextDue: dayText(e.NextDue), Outcome: string(e.Outcome), RunID: e.RunID, Reason: e.Reason}
			if e.Items != nil {
				left := e.Items.Left
				pt.ItemsLeft, pt.EstimateSeconds = &left, int64(e.Items.Estimate.Round(time.Second)/time.Second)
			}
			c.Task = append(c.Task, pt)
		}
		encode(w, r, http.StatusOK, apitype.PlanResponse{MediaContainer: c}, c)
	}
}
