package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/plexbutler/butler/apitype"
)

// typed sets the type of a setting's values, which JSON does not carry.
func typed(s apitype.Setting) apitype.Setting {
	s.Default.Type, s.Value.Type = s.Type, s.Type
	return s
}

func (c *Client) settings(ctx context.Context, op string, q url.Values, path string) ([]apitype.Setting, error) {
	a, err := c.call(ctx, op, http.MethodGet, path, q)
	if err != nil {
		return nil, err
	}
	var j apitype.SettingsResponse
	var x apitype.SettingsContainer
	if err := decode(op, a, &j, &x); err != nil {
		return nil, err
	}
	list := j.MediaContainer.Setting
	if list == nil {
		list = x.Setting
	}
	out := make([]apitype.Setting, 0, len(list))
	for _, s := range list {
		out = append(out, typed(s))
	}
	return out, nil
}

// Settings returns every setting of the server: GET /:/prefs. Values are in
// canonical text ("true", "2", "Europe/Berlin") with their Type set.
func (c *Client) Settings(ctx context.Context) ([]apitype.Setting, error) {
	return c.settings(ctx, "get settings", nil, "/:/prefs")
}

// Setting returns one setting: GET /:/prefs/get?id=ID. As the server does,
// it takes an id whose first letter differs in case ("butlerTimeZone" for
// ButlerTimeZone); the setting returned has the server's id. ErrNotFound
// when the server has no setting with that id.
func (c *Client) Setting(ctx context.Context, id string) (*apitype.Setting, error) {
	op := "get setting " + id
	if id == "" {
		return nil, fmt.Errorf("client: get setting: the id is empty")
	}
	list, err := c.settings(ctx, op, url.Values{"id": {id}}, "/:/prefs/get")
	if err != nil {
		return nil, err
	}
	// The server matches the id as given, else one whose first letter
	// differs in case only, and answers under its own id.
	for _, s := range list {
		if s.ID == id {
			return &s, nil
		}
	}
	for _, s := range list {
		if len(s.ID) > 0 && strings.EqualFold(s.ID[:1], id[:1]) && s.ID[1:] == id[1:] {
			return &s, nil
		}
	}
	return nil, &Error{StatusCode: http.StatusNotFound, Message: "the answer does not hold setting " + id, Op: op}
}

// SetSettings changes settings, all or nothing: PUT /:/prefs?ID=VALUE&...
// Bools may be given as true/false or 1/0. ErrBadRequest (and nothing
// changed) when an id is unknown or a value invalid, ErrFixed when the
// server's config file fixes one; the error's Message says which.
func (c *Client) SetSettings(ctx context.Context, values map[string]string) error {
	q := url.Values{}
	for k, v := range values {
		q.Set(k, v)
	}
	_, err := c.call(ctx, "set settings", http.MethodPut, "/:/prefs", q)
	return conflictMeans(err, ErrFixed)
}

// Activities returns the runs that are running, as Plex shows background
// work: GET /activities.
func (c *Client) Activities(ctx context.Context) ([]apitype.Activity, error) {
	const op = "get activities"
	a, err := c.call(ctx, op, http.MethodGet, "/activities", nil)
	if err != nil {
		return nil, err
	}
	var j apitype.ActivitiesResponse
	var x apitype.ActivityContainer
	if err := decode(op, a, &j, &x); err != nil {
		return nil, err
	}
	list := j.MediaContainer.Activity
	if list == nil {
		list = x.Activity
	}
	if list == nil {
		list = []apitype.Activity{}
	}
	return list, nil
}

// CancelActivity stops the run behind an activity: DELETE
// /activities/{uuid}. ErrNotFound when no activity has that UUID or it is
// not running; ErrBadRequest when uuid is not a UUID.
func (c *Client) CancelActivity(ctx context.Context, uuid string) (*StopResponse, error) {
	op := "cancel activity " + uuid
	if uuid == "" {
		return nil, fmt.Errorf("client: cancel activity: the UUID is empty")
	}
	a, err := c.call(ctx, op, http.MethodDelete, "/activities/"+escape(uuid), nil)
	if err != nil {
		return nil, err
	}
	return stopResponse(op, a)
}

// RunsQuery selects runs of the history; its zero value selects the newest
// 50 runs of every task.
type RunsQuery struct {
	// Task selects one task's runs; "" every task.
	Task TaskName
	// Outcome selects one outcome (succeeded, failed, stopped, timed_out,
	// interrupted, skipped); "" every run, finished or not.
	Outcome string
	// Since and Before bound the runs' creation time; zero for no bound.
	Since, Before time.Time
	// Limit is the most runs returned, 1..1000; 0 for the server's default
	// (50).
	Limit int
	// BeforeID returns only runs with a smaller id: give the last id of a
	// page to read the next one. 0 for no bound.
	BeforeID int64
}

func (q RunsQuery) values() url.Values {
	v := url.Values{}
	if q.Task != "" {
		v.Set("task", string(q.Task))
	}
	if q.Outcome != "" {
		v.Set("outcome", q.Outcome)
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Before.IsZero() {
		v.Set("before", q.Before.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.BeforeID != 0 {
		v.Set("beforeID", strconv.FormatInt(q.BeforeID, 10))
	}
	return v
}

func (c *Client) runs(ctx context.Context, op, path string, q url.Values) ([]apitype.Run, error) {
	a, err := c.call(ctx, op, http.MethodGet, path, q)
	if err != nil {
		return nil, err
	}
	var j apitype.RunsResponse
	var x apitype.RunContainer
	if err := decode(op, a, &j, &x); err != nil {
		return nil, err
	}
	list := j.MediaContainer.Run
	if list == nil {
		list = x.Run
	}
	if list == nil {
		list = []apitype.Run{}
	}
	return list, nil
}

// Runs returns runs of the history, newest first: GET /butler/runs.
// ErrBadRequest for an unknown outcome or a limit out of range.
func (c *Client) Runs(ctx context.Context, q RunsQuery) ([]apitype.Run, error) {
	return c.runs(ctx, "get runs", "/butler/runs", q.values())
}

// Run returns one run: GET /butler/runs/{id}. ErrNotFound when there is
// none.
func (c *Client) Run(ctx context.Context, id int64) (*apitype.Run, error) {
	op := fmt.Sprintf("get run %d", id)
	list, err := c.runs(ctx, op, "/butler/runs/"+strconv.FormatInt(id, 10), nil)
	if err != nil {
		return nil, err
	}
	if len(list) != 1 {
		return nil, fmt.Errorf("client: %s: the answer holds %d runs, want 1", op, len(list))
	}
	return &list[0], nil
}

// RunLog returns the log a run kept: its task's messages and its command's
// output, at most 64 KiB. GET /butler/runs/{id}/log.
func (c *Client) RunLog(ctx context.Context, id int64) (string, error) {
	op := fmt.Sprintf("get the log of run %d", id)
	a, err := c.call(ctx, op, http.MethodGet, "/butler/runs/"+strconv.FormatInt(id, 10)+"/log", nil)
	if err != nil {
		return "", err
	}
	return string(a.body), nil
}

// Plan returns tonight's plan: for the maintenance window that is open, or
// the next to open, what each task does in it and why. GET /butler/plan.
func (c *Client) Plan(ctx context.Context) (*apitype.PlanContainer, error) {
	const op = "get plan"
	a, err := c.call(ctx, op, http.MethodGet, "/butler/plan", nil)
	if err != nil {
		return nil, err
	}
	var j apitype.PlanResponse
	var x apitype.PlanContainer
	if err := decode(op, a, &j, &x); err != nil {
		return nil, err
	}
	if x.XMLName.Local != "" {
		return &x, nil
	}
	return &j.MediaContainer, nil
}

// Identity returns the server's identity (machine identifier, version,
// name): GET /identity, which needs no token.
func (c *Client) Identity(ctx context.Context) (*apitype.Identity, error) {
	const op = "get identity"
	a, err := c.call(ctx, op, http.MethodGet, "/identity", nil)
	if err != nil {
		return nil, err
	}
	var j apitype.IdentityResponse
	var x apitype.Identity
	if err := decode(op, a, &j, &x); err != nil {
		return nil, err
	}
	if x.XMLName.Local != "" {
		return &x, nil
	}
	return &j.MediaContainer, nil
}
