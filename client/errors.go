package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/plexbutler/butler/apitype"
)

// Sentinels that an *Error matches with errors.Is, after its status.
var (
	// ErrNotFound: 404, no such task, run, setting or activity, or nothing to
	// stop.
	ErrNotFound = errors.New("client: not found")
	// ErrUnauthorized: 401, the token is missing or wrong.
	ErrUnauthorized = errors.New("client: unauthorized")
	// ErrDisabled: 409 to a task start, the task is disabled in the
	// settings. Only servers older than the one of this SDK answer so: an
	// explicit start now runs a disabled task, as a Plex server does.
	ErrDisabled = errors.New("client: task disabled")
	// ErrFixed: 409 to a settings change, a setting the server's config
	// file fixes (apitype.Setting.Fixed); nothing was changed.
	ErrFixed = errors.New("client: setting fixed by the server's config file")
	// ErrNotWaiting: 409 to RemoveRun, the run has started or ended:
	// nothing was removed.
	ErrNotWaiting = errors.New("client: run not waiting")
	// ErrBadRequest: 400, an invalid value (a setting, a query parameter);
	// the server changed nothing.
	ErrBadRequest = errors.New("client: bad request")
)

// Error is a request the server refused: an answer with a 4xx or 5xx
// status.
type Error struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is the server's message: from the JSON errors body, else the
	// X-Butler-Reason header (404 answers keep Plex's HTML page as their
	// body), else the status text.
	Message string
	// Op is what the client was doing ("start task BackupDatabase").
	Op string
	// conflict is the sentinel a 409 stands for in Op (ErrDisabled,
	// ErrFixed, ErrNotWaiting); nil when none does.
	conflict error
}

// Error returns "client: OP: MESSAGE (STATUS TEXT)".
func (e *Error) Error() string {
	status := fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message == "" || e.Message == http.StatusText(e.StatusCode) {
		return fmt.Sprintf("client: %s: %s", e.Op, status)
	}
	return fmt.Sprintf("client: %s: %s (%s)", e.Op, e.Message, status)
}

// Is reports whether target is the sentinel of e's status: ErrNotFound
// (404), ErrUnauthorized (401), ErrBadRequest (400), and for 409
// ErrDisabled to a task start, ErrFixed to a settings change or
// ErrNotWaiting to a run's removal.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrDisabled, ErrFixed, ErrNotWaiting:
		return e.StatusCode == http.StatusConflict && e.conflict == target
	case ErrBadRequest:
		return e.StatusCode == http.StatusBadRequest
	}
	return false
}

// conflictMeans records, in err when it is an *Error, that a 409 means
// sentinel; it returns err.
func conflictMeans(err error, sentinel error) error {
	var e *Error
	if errors.As(err, &e) {
		e.conflict = sentinel
	}
	return err
}

// errorOf makes the Error of an answer with a 4xx or 5xx status.
func errorOf(op string, a *answer) *Error {
	e := &Error{StatusCode: a.status, Op: op}
	mt, _, _ := mime.ParseMediaType(a.header.Get("Content-Type"))
	if mt == "application/json" {
		var body apitype.ErrorsResponse
		if json.Unmarshal(a.body, &body) == nil {
			var msgs []string
			for _, it := range body.Errors {
				if it.Message != "" {
					msgs = append(msgs, it.Message)
				}
			}
			e.Message = strings.Join(msgs, "; ")
		}
	}
	if e.Message == "" {
		e.Message = a.header.Get(apitype.HeaderReason)
	}
	if e.Message == "" {
		e.Message = http.StatusText(a.status)
	}
	return e
}
