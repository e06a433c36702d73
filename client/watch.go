package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/plexbutler/butler/apitype"
)

// The event types of an activity notification.
const (
	EventStarted = "started" // a run started
	EventUpdated = "updated" // a running run reported progress
	EventEnded   = "ended"   // a run ended; Activity.Context.Outcome says how
)

// Event is one activity notification: a run started, made progress or
// ended.
type Event struct {
	// Type is EventStarted, EventUpdated or EventEnded.
	Type string
	// UUID is the activity's id (CancelActivity takes it).
	UUID string
	// Activity is the run as Plex shows background work: Progress (0..100,
	// or -1 when unknown), Subtitle (the step), Context (task, run id,
	// outcome).
	Activity apitype.Activity
}

// Task returns the event's task name, "" when the server does not say.
func (e Event) Task() TaskName {
	if e.Activity.Context == nil {
		return ""
	}
	return TaskName(e.Activity.Context.TaskName)
}

// RunID returns the event's run id, 0 when the server does not say.
func (e Event) RunID() int64 {
	if e.Activity.Context == nil {
		return 0
	}
	return e.Activity.Context.RunID
}

// Outcome returns the run's outcome on an ended event ("succeeded",
// "failed", ...), "" otherwise.
func (e Event) Outcome() string {
	if e.Activity.Context == nil {
		return ""
	}
	return e.Activity.Context.Outcome
}

// maxEventBytes bounds one line of the event stream.
const maxEventBytes = 1 << 20

// Watch follows the server's activity notifications over its
// Server-Sent-Events stream, GET /:/eventsource/notifications. It returns
// once the stream is connected — events of whatever the caller does next are
// received — or has failed to connect.
//
// The channel delivers the events in order and is closed when ctx ends, the
// stream breaks or it could not connect; err then returns why: nil when ctx
// ended, an *Error when the server refused the stream (ErrUnauthorized), or
// the transport error (a *url.Error, also when the server did not answer
// within the client's timeout). err returns nil while the channel is open. The
// caller must read the channel until it is closed, or end ctx.
func (c *Client) Watch(ctx context.Context) (events <-chan Event, err func() error) {
	const op = "watch notifications"
	ch := make(chan Event, 64)
	w := &watchErr{}
	fail := func(e error) (<-chan Event, func() error) {
		w.set(e)
		close(ch)
		return ch, w.get
	}
	sctx, cancel := context.WithCancel(ctx)
	req, e := c.newRequest(sctx, http.MethodGet, "/:/eventsource/notifications", nil)
	if e != nil {
		cancel()
		return fail(fmt.Errorf("client: %s: %w", op, e))
	}
	req.Header.Set("Accept", "text/event-stream")
	// The timeout bounds the connection only, never the stream.
	var timer *time.Timer
	if c.timeout > 0 {
		timer = time.AfterFunc(c.timeout, cancel)
	}
	resp, e := c.hc.Do(req)
	if timer != nil && !timer.Stop() {
		if e == nil {
			resp.Body.Close()
		}
		// The timer's cancel ended the request: say it timed out, and keep
		// it a transport error (*url.Error), as a request's timeout is.
		e = &url.Error{Op: "Get", URL: req.URL.Redacted(),
			Err: fmt.Errorf("no answer within %s: %w", c.timeout, context.DeadlineExceeded)}
	}
	if e != nil {
		cancel()
		return fail(fmt.Errorf("client: %s: %w", op, e))
	}
	if resp.StatusCode >= 400 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		cancel()
		return fail(errorOf(op, &answer{status: resp.StatusCode, header: resp.Header, body: body}))
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		resp.Body.Close()
		cancel()
		return fail(fmt.Errorf("client: %s: the server answered %q, not an event stream (Content-Type %q); is it a Butler?",
			op, resp.Status, resp.Header.Get("Content-Type")))
	}
	go func() {
		defer cancel()
		defer close(ch)
		defer resp.Body.Close()
		e := readEvents(sctx, resp.Body, ch)
		if ctx.Err() != nil {
			w.set(nil) // the caller ended it
			return
		}
		w.set(fmt.Errorf("client: %s: %w", op, e))
	}()
	return ch, w.get
}

// watchErr holds the error of a Watch stream.
type watchErr struct {
	mu  sync.Mutex
	err error
}

func (w *watchErr) set(err error) {
	w.mu.Lock()
	w.err = err
	w.mu.Unlock()
}

func (w *watchErr) get() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// readEvents parses a Server-Sent-Events stream and sends its activity
// notifications on ch, until the stream ends (an error: a server never ends
// it) or ctx does.
func readEvents(ctx context.Context, r io.Reader, ch chan<- Event) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventBytes)
	var data strings.Builder
	hasData := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" { // dispatch
			if hasData {
				if err := dispatch(ctx, data.String(), ch); err != nil {
					return err
				}
			}
			data.Reset()
			hasData = false
			continue
		}
		if strings.HasPrefix(line, ":") { // a comment
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		if field == "data" {
			if hasData {
				data.WriteByte('\n')
			}
			data.WriteString(value)
			hasData = true
		}
		// event, id and retry are not needed: every message carries its
		// type in its JSON.
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return fmt.Errorf("the server ended the event stream: %w", io.ErrUnexpectedEOF)
}

func dispatch(ctx context.Context, data string, ch chan<- Event) error {
	var n apitype.Notification
	if err := json.Unmarshal([]byte(data), &n); err != nil {
		return fmt.Errorf("decode a notification: %w", err)
	}
	for _, an := range n.NotificationContainer.ActivityNotification {
		ev := Event{Type: an.Event, UUID: an.UUID, Activity: an.Activity}
		select {
		case ch <- ev:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
