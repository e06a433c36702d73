package api

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/apitype"
)

// tableOf lists the whole API surface: every route, public or protected,
// and the query parameters each reads (besides X-Plex-Token, which
// requireToken reads, and the settings of PUT /:/prefs, which
// handleSetPrefs reads).
func tableOf(cfg Config, web *dashboard) routeTable {
	m, log := cfg.Manager, cfg.Logger
	var t routeTable
	pub, prot := &t.public, &t.protected

	prot.handle(http.MethodGet, "/butler", handleTasks(m, log))
	prot.handle(http.MethodPost, "/butler", handleStartAll(m, log))
	prot.handle(http.MethodDelete, "/butler", handleStopAll(m, log))
	prot.handle(http.MethodPost, "/butler/{task}", handleStartTask(m, log), "force")
	prot.handle(http.MethodDelete, "/butler/{task}", handleStopTask(m, log))

	prot.handle(http.MethodGet, "/butler/runs", handleRuns(m, log), "task", "outcome", "since", "before", "limit", "beforeID")
	prot.handle(http.MethodGet, "/butler/runs/{id}", handleRun(m, log))
	prot.handle(http.MethodDelete, "/butler/runs/{id}", handleRemoveRun(m, log))
	prot.handle(http.MethodGet, "/butler/runs/{id}/log", handleRunLog(m, log))
	prot.handle(http.MethodGet, "/butler/plan", handlePlan(m, log))

	prot.handle(http.MethodGet, "/activities", handleActivities(m, log))
	prot.handle(http.MethodDelete, "/activities/{uuid}", handleStopActivity(m, log))
	n := &notifier{}
	prot.handle(http.MethodGet, "/:/websockets/notifications", handleWebsocket(m, n, log), "filters")
	prot.handle(http.MethodGet, "/:/websocket/notifications", handleWebsocket(m, n, log), "filters")
	prot.handle(http.MethodGet, "/:/eventsource/notifications", handleEventSource(m, n, log), "filters")

	prot.handle(http.MethodGet, "/:/prefs", handlePrefs(m))
	prot.handle(http.MethodPut, "/:/prefs", handleSetPrefs(m, log))
	prot.handle(http.MethodGet, "/:/prefs/get", handlePref(m), "id")

	prot.handle(http.MethodGet, "/", handleRoot(cfg))

	// Identity and health answer without a token: clients find a server
	// with the one, and a container's health check has no token.
	pub.handle(http.MethodGet, "/identity", handleIdentity(cfg))
	pub.handle(http.MethodGet, "/healthz", handleHealth(m))
	// The dashboard opens without a token: its page signs in with a form
	// and then carries a session cookie (web.go, session.go).
	web.routes(pub)
	libraryRoutes(cfg.Library, log, prot)
	if cfg.Metrics != nil {
		g := prot
		if cfg.MetricsPublic {
			g = pub
		}
		g.handle(http.MethodGet, "/metrics", cfg.Metrics.ServeHTTP)
	}
	return t
}

// handleTasks answers GET /butler. The list changes only with the settings,
// so both encodings are kept until the settings change: the most frequent
// call of Plex clients costs a copy of bytes.
func handleTasks(m *butler.Manager, log *slog.Logger) http.HandlerFunc {
	type cached struct {
		gen       uint64
		xml, json []byte
	}
	var cache atomic.Pointer[cached]
	return func(w http.ResponseWriter, r *http.Request) {
		s := m.Settings()
		c := cache.Load()
		if c == nil || c.gen != s.Generation() {
			var out apitype.ButlerTasks
			out.ButlerTask = []apitype.ButlerTask{}
			for _, t := range m.Tasks() {
				out.ButlerTask = append(out.ButlerTask, apitype.ButlerTask{
					Name: string(t.Name), Interval: t.Interval, ScheduleRandomized: apitype.Bool(t.Randomized),
					Enabled: apitype.Bool(s.Enabled(t)), Title: t.Title, Description: t.Description,
				})
			}
			jb, err := json.Marshal(apitype.ButlerTasksResponse{ButlerTasks: out})
			if err != nil {
				fail(log, w, r, err)
				return
			}
			xb, err := xml.Marshal(out)
			if err != nil {
				fail(log, w, r, err)
				return
			}
			c = &cached{gen: s.Generation(), json: jb, xml: append(append([]byte(xml.Header), xb...), '\n')}
			cache.Store(c)
		}
		if wantsJSON(r) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(c.json)
			return
		}
		w.Header().Set("Content-Type", "text/xml;charset=utf-8")
		_, _ = w.Write(c.xml)
	}
}

func handleStartAll(m *butler.Manager, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, err := m.StartAll(r.Context()); err != nil {
			fail(log, w, r, err)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

func handleStopAll(m *butler.Manager, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, err := m.StopAll(r.Context()); err != nil {
			fail(log, w, r, err)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

// parseForce reads ?force=1|true|0|false.
func parseForce(q url.Values) (bool, error) {
	v := q.Get("force")
	if v == "" {
		return false, nil
	}
	b, err := apitype.ParseBool(v)
	if err != nil {
		return false, butler.Errorf(butler.EINVALID, "force: %v", err)
	}
	return b, nil
}

func handleStartTask(m *butler.Manager, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		force, err := parseForce(r.URL.Query())
		if err != nil {
			fail(log, w, r, err)
			return
		}
		res, err := m.StartTask(r.Context(), butler.TaskName(r.PathValue("task")), force)
		if err != nil {
			fail(log, w, r, err)
			return
		}
		h := w.Header()
		h.Set(apitype.HeaderOutcome, string(res.Outcome))
		if !res.RunAt.IsZero() {
			h.Set(apitype.HeaderRunAt, res.RunAt.UTC().Format(time.RFC3339Nano))
		}
		if res.Reason != "" {
			h.Set(apitype.HeaderReason, reasonHeader(res.Reason, ""))
		}
		if res.Run.ID != 0 {
			h.Set(apitype.HeaderRunID, strconv.FormatInt(res.Run.ID, 10))
		}
		status := http.StatusOK
		if res.Outcome == butler.StartRunning {
			status = http.StatusAccepted
		}
		w.WriteHeader(status)
	}
}

func handleStopTask(m *butler.Manager, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		res, err := m.StopTask(r.Context(), butler.TaskName(r.PathValue("task")))
		stopAnswer(log, w, r, res, err)
	}
}

// stopAnswer writes the answer of a stop: what it did (X-Butler-Outcome)
// and to which run, or err.
func stopAnswer(log *slog.Logger, w http.ResponseWriter, r *http.Request, res butler.StopResult, err error) {
	if err != nil {
		fail(log, w, r, err)
		return
	}
	w.Header().Set(apitype.HeaderOutcome, string(res.Outcome))
	w.Header().Set(apitype.HeaderRunID, strconv.FormatInt(res.Run.ID, 10))
	w.WriteHeader(http.StatusOK)
}

// handleRemoveRun answers DELETE /butler/runs/{id}: it removes that run
// while it waits (scheduled or queued), with X-Butler-Outcome: removed,
// and never stops a run that has started: 409 when the run is not
// waiting, 404 when there is no such run, 400 for an id that is not a
// run's number.
func handleRemoveRun(m *butler.Manager, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id <= 0 {
			fail(log, w, r, butler.Errorf(butler.EINVALID, "%q is not a run id (a whole number)", r.PathValue("id")))
			return
		}
		res, err := m.RemoveRun(r.Context(), id)
		stopAnswer(log, w, r, res, err)
	}
}

func settingOf(d butler.SettingDef, value string) apitype.Setting {
	return apitype.Setting{
		ID: d.ID, Label: d.Label, Summary: d.Summary, Type: d.Type,
		Default: apitype.SettingValue{Type: d.Type, Text: d.Default},
		Value:   apitype.SettingValue{Type: d.Type, Text: value},
		Hidden:  apitype.Bool(d.Hidden), Advanced: apitype.Bool(d.Advanced),
		Group: d.Group, EnumValues: d.EnumValues, Fixed: apitype.Bool(d.FixedBy != ""),
	}
}

func writeSettings(w http.ResponseWriter, r *http.Request, list []apitype.Setting) {
	c := apitype.SettingsContainer{Size: len(list), Setting: list}
	encode(w, r, http.StatusOK, apitype.SettingsResponse{MediaContainer: c}, c)
}

func handlePrefs(m *butler.Manager) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := m.Settings()
		var list []apitype.Setting
		for _, d := range m.SettingDefs() {
			list = append(list, settingOf(d, s.Get(d.ID)))
		}
		writeSettings(w, r, list)
	}
}

func handlePref(m *butler.Manager) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		if id == "" {
			writeError(w, r, http.StatusBadRequest, "give the setting's id: /:/prefs/get?id=ButlerStartHour")
			return
		}
		id = matchID(m, id)
		s := m.Settings()
		for _, d := range m.SettingDefs() {
			if d.ID == id {
				writeSettings(w, r, []apitype.Setting{settingOf(d, s.Get(d.ID))})
				return
			}
		}
		notFound(w, "no setting with id "+id)
	}
}

// handleSetPrefs applies PUT /:/prefs?Id=value&...: every query key that is
// not request metadata (X-Plex-*) is a setting id. A setting given more
// than once, under one spelling of its id or two (see matchID), is refused
// and nothing is changed; so is a request with a body, which Plex's API
// does not read: the client would be told its settings were saved.
func handleSetPrefs(m *butler.Manager, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if hasBody(r) {
			fail(log, w, r, butler.Errorf(butler.EINVALID, "nothing was changed: the request has a body, which is not read; settings go in the query string: PUT /:/prefs?ButlerStartHour=2"))
			return
		}
		values, err := singleValues(r.URL.Query(), "setting", func(key string) (string, error) {
			switch {
			case strings.HasPrefix(strings.ToLower(key), "x-plex-"):
				return "", nil
			case key == "":
				return "", errors.New("a value is given without a setting id; give ID=value, such as ButlerStartHour=2")
			}
			return matchID(m, key), nil
		})
		if err != nil {
			fail(log, w, r, butler.Errorf(butler.EINVALID, "nothing was changed: %s", butler.ErrorMessage(err)))
			return
		}
		if err := m.SetSettings(r.Context(), values); err != nil {
			fail(log, w, r, err)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

// hasBody reports whether r carries a body of at least one byte (an empty
// one, as some clients send with a PUT, is no body).
func hasBody(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return false
	}
	var b [1]byte
	n, _ := io.ReadFull(r.Body, b[:])
	return n > 0
}

// matchID accepts an id with its first letter in either case, as
// python-plexapi sends them.
func matchID(m *butler.Manager, id string) string {
	for _, d := range m.SettingDefs() {
		if d.ID == id {
			return id
		}
	}
	for _, d := range m.SettingDefs() {
		if len(id) > 0 && strings.EqualFold(d.ID[:1], id[:1]) && d.ID[1:] == id[1:] {
			return d.ID
		}
	}
	return id
}

// handleHealth answers 200 "ok" while the store can write, and 503 with
// the reason while it cannot (disk full, read-only, unreachable).
func handleHealth(m *butler.Manager) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		h := m.Health()
		if !h.OK {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "unhealthy: the database cannot write since %s: %s\n", h.Since.UTC().Format(time.RFC3339), h.Reason)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	}
}
