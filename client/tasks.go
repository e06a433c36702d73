package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/plexbutler/butler/apitype"
)

// TaskName is the wire name of a Butler task, spelled exactly as Plex spells
// it ("BackupDatabase"); names are case-sensitive. Any string is accepted,
// so that tasks a server defines itself can be started too.
type TaskName = apitype.TaskName

// The task names of both generations of the Plex Media Server API
// description (the 14 of the older, the 22 of the newer, 25 in all) and
// ReverseGeocode, which real servers have a setting for: the constants of
// package apitype, which holds their one list. A server offers only some of
// them; GetButlerTasks lists those.
const (
	TaskAutomaticUpdates                 = apitype.TaskAutomaticUpdates
	TaskBackupDatabase                   = apitype.TaskBackupDatabase
	TaskBuildGracenoteCollections        = apitype.TaskBuildGracenoteCollections
	TaskButlerTaskGenerateAdMarkers      = apitype.TaskButlerTaskGenerateAdMarkers
	TaskButlerTaskGenerateCreditsMarkers = apitype.TaskButlerTaskGenerateCreditsMarkers
	TaskButlerTaskGenerateIntroMarkers   = apitype.TaskButlerTaskGenerateIntroMarkers
	TaskButlerTaskGenerateVoiceActivity  = apitype.TaskButlerTaskGenerateVoiceActivity
	TaskCheckForUpdates                  = apitype.TaskCheckForUpdates
	TaskCleanOldBundles                  = apitype.TaskCleanOldBundles
	TaskCleanOldCacheFiles               = apitype.TaskCleanOldCacheFiles
	TaskDeepMediaAnalysis                = apitype.TaskDeepMediaAnalysis
	TaskGarbageCollectBlobs              = apitype.TaskGarbageCollectBlobs
	TaskGarbageCollectLibraryMedia       = apitype.TaskGarbageCollectLibraryMedia
	TaskGenerateAutoTags                 = apitype.TaskGenerateAutoTags
	TaskGenerateBlurHashes               = apitype.TaskGenerateBlurHashes
	TaskGenerateChapterThumbs            = apitype.TaskGenerateChapterThumbs
	TaskGenerateMediaIndexFiles          = apitype.TaskGenerateMediaIndexFiles
	TaskLoudnessAnalysis                 = apitype.TaskLoudnessAnalysis
	TaskMusicAnalysis                    = apitype.TaskMusicAnalysis
	TaskOptimizeDatabase                 = apitype.TaskOptimizeDatabase
	TaskRefreshEpgGuides                 = apitype.TaskRefreshEpgGuides
	TaskRefreshLibraries                 = apitype.TaskRefreshLibraries
	TaskRefreshLocalMedia                = apitype.TaskRefreshLocalMedia
	TaskRefreshPeriodicMetadata          = apitype.TaskRefreshPeriodicMetadata
	TaskReverseGeocode                   = apitype.TaskReverseGeocode
	TaskUpgradeMediaAnalysis             = apitype.TaskUpgradeMediaAnalysis
)

// TaskNames returns every named task, in alphabetical order.
func TaskNames() []TaskName { return apitype.TaskNames() }

// The outcomes of StartTask, as the X-Butler-Outcome header spells them.
const (
	// OutcomeStarted: a run was made and starts now.
	OutcomeStarted = "started"
	// OutcomeScheduled: the task has a run scheduled at RunAt (made now, or
	// already there).
	OutcomeScheduled = "scheduled"
	// OutcomeQueued: the task has a run waiting for a free slot.
	OutcomeQueued = "queued"
	// OutcomeSkipped: the start was recorded as a skipped run; Reason says
	// why (the task is not due yet).
	OutcomeSkipped = "skipped"
	// OutcomeRunning: the task was already running (HTTP 202).
	OutcomeRunning = "running"
)

// The outcomes of StopTask and CancelActivity.
const (
	// OutcomeStopped: a running run was stopped.
	OutcomeStopped = "stopped"
	// OutcomeRemoved: a scheduled or queued run was removed.
	OutcomeRemoved = "removed"
)

// TasksResponse is the answer of GetButlerTasks.
type TasksResponse struct {
	// StatusCode is the HTTP status (200).
	StatusCode int
	// Tasks are the tasks the server offers, in its order.
	Tasks []apitype.ButlerTask
}

// GetButlerTasks lists the tasks the server offers: GET /butler.
func (c *Client) GetButlerTasks(ctx context.Context) (*TasksResponse, error) {
	const op = "get butler tasks"
	a, err := c.call(ctx, op, http.MethodGet, "/butler", nil)
	if err != nil {
		return nil, err
	}
	var j apitype.ButlerTasksResponse
	var x apitype.ButlerTasks
	if err := decode(op, a, &j, &x); err != nil {
		return nil, err
	}
	tasks := j.ButlerTasks.ButlerTask
	if tasks == nil {
		tasks = x.ButlerTask
	}
	if tasks == nil {
		tasks = []apitype.ButlerTask{}
	}
	return &TasksResponse{StatusCode: a.status, Tasks: tasks}, nil
}

// StartAllTasks starts every enabled task under the server's start-all rules
// (due tasks run or are scheduled in the window, the rest are recorded as
// skipped): POST /butler.
func (c *Client) StartAllTasks(ctx context.Context) (*Response, error) {
	a, err := c.call(ctx, "start all tasks", http.MethodPost, "/butler", nil)
	if err != nil {
		return nil, err
	}
	return &Response{StatusCode: a.status}, nil
}

// StopAllTasks stops every running run and removes every scheduled or queued
// one: DELETE /butler.
func (c *Client) StopAllTasks(ctx context.Context) (*Response, error) {
	a, err := c.call(ctx, "stop all tasks", http.MethodDelete, "/butler", nil)
	if err != nil {
		return nil, err
	}
	return &Response{StatusCode: a.status}, nil
}

// StartOption modifies a StartTask call.
type StartOption func(*startOptions)

type startOptions struct{ force bool }

// Force starts the task now whatever its due day, window, randomization or
// enabled flag (?force=1). A scheduled or queued run of the task gives way to
// the forced one.
func Force() StartOption { return func(o *startOptions) { o.force = true } }

// StartResponse is the answer of StartTask.
type StartResponse struct {
	// StatusCode is 200, or 202 when the task was already running.
	StatusCode int
	// Outcome is one of OutcomeStarted, OutcomeScheduled, OutcomeQueued,
	// OutcomeSkipped and OutcomeRunning.
	Outcome string
	// RunAt is when the run may start: the time of the start for a run
	// started or queued now, the instant chosen for a scheduled one, the
	// waiting run's own for a task already scheduled or queued. Zero for a
	// skipped start, a task already running, and a server that does not
	// say (a Plex Media Server).
	RunAt time.Time
	// Reason says why, in words ("not due until 2026-11-30").
	Reason string
	// RunID is the run made or found; 0 when there is none or the server
	// does not say (a Plex Media Server).
	RunID int64
}

// StartTask starts one task: POST /butler/{name}. A server that does not
// offer the task answers ErrNotFound. A task disabled in the settings
// starts by the same rules as an enabled one (the setting governs the
// nightly plan and start-all only), and Reason says it is disabled; servers
// older than this SDK answer ErrDisabled instead, unless Force is given. A
// Plex Media Server, which sends no X-Butler-* headers, gets Outcome
// "started" for 200 and "running" for 202.
func (c *Client) StartTask(ctx context.Context, name TaskName, opts ...StartOption) (*StartResponse, error) {
	op := "start task " + string(name)
	if name == "" {
		return nil, fmt.Errorf("client: start task: the task name is empty")
	}
	var o startOptions
	for _, f := range opts {
		f(&o)
	}
	var q url.Values
	if o.force {
		q = url.Values{"force": {"1"}}
	}
	a, err := c.call(ctx, op, http.MethodPost, "/butler/"+escape(string(name)), q)
	if err != nil {
		return nil, conflictMeans(err, ErrDisabled)
	}
	res := &StartResponse{
		StatusCode: a.status,
		Outcome:    a.header.Get(apitype.HeaderOutcome),
		Reason:     a.header.Get(apitype.HeaderReason),
	}
	if res.Outcome == "" {
		res.Outcome = OutcomeStarted
		if a.status == http.StatusAccepted {
			res.Outcome = OutcomeRunning
		}
	}
	if v := a.header.Get(apitype.HeaderRunAt); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return nil, fmt.Errorf("client: %s: header %s %q is not an RFC 3339 time", op, apitype.HeaderRunAt, v)
		}
		res.RunAt = t
	}
	if res.RunID, err = runIDOf(op, a); err != nil {
		return nil, err
	}
	return res, nil
}

func runIDOf(op string, a *answer) (int64, error) {
	v := a.header.Get(apitype.HeaderRunID)
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("client: %s: header %s %q is not a run id", op, apitype.HeaderRunID, v)
	}
	return id, nil
}

// StopResponse is the answer of StopTask and CancelActivity.
type StopResponse struct {
	// StatusCode is the HTTP status (200).
	StatusCode int
	// Outcome is OutcomeStopped (a running run) or OutcomeRemoved (a waiting
	// one); "stopped" when the server does not say (a Plex Media Server).
	Outcome string
	// RunID is the run stopped or removed; 0 when the server does not say.
	RunID int64
}

// StopTask stops the task's running run, or removes its scheduled or queued
// one: DELETE /butler/{name}. ErrNotFound when there is no such task or
// nothing to stop.
func (c *Client) StopTask(ctx context.Context, name TaskName) (*StopResponse, error) {
	op := "stop task " + string(name)
	if name == "" {
		return nil, fmt.Errorf("client: stop task: the task name is empty")
	}
	a, err := c.call(ctx, op, http.MethodDelete, "/butler/"+escape(string(name)), nil)
	if err != nil {
		return nil, err
	}
	return stopResponse(op, a)
}

// RemoveRun removes one scheduled or queued run, by its id, before it
// starts: DELETE /butler/runs/{id}, Outcome OutcomeRemoved. It never stops
// a run that has started: ErrNotWaiting (409) when the run has started or
// ended (StopTask or CancelActivity stops a running one), ErrNotFound when
// there is no such run, or the server has no such route (a Plex Media
// Server, or a Butler older than this SDK).
func (c *Client) RemoveRun(ctx context.Context, id int64) (*StopResponse, error) {
	op := fmt.Sprintf("remove run %d", id)
	if id <= 0 {
		return nil, fmt.Errorf("client: %s: a run's id is a whole number from 1", op)
	}
	a, err := c.call(ctx, op, http.MethodDelete, "/butler/runs/"+strconv.FormatInt(id, 10), nil)
	if err != nil {
		return nil, conflictMeans(err, ErrNotWaiting)
	}
	return stopResponse(op, a)
}

func stopResponse(op string, a *answer) (*StopResponse, error) {
	res := &StopResponse{StatusCode: a.status, Outcome: a.header.Get(apitype.HeaderOutcome)}
	if res.Outcome == "" {
		res.Outcome = OutcomeStopped
	}
	var err error
	if res.RunID, err = runIDOf(op, a); err != nil {
		return nil, err
	}
	return res, nil
}
