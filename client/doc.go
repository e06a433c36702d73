// Package client is the Go SDK of the Butler's Plex-compatible HTTP API: the
// five Butler operations of the Plex specification (list, start all, stop
// all, start one, stop one), and Butler's own additions — settings, run
// history, tonight's plan, activities, identity and live notifications.
//
// It imports only the standard library and package apitype (the wire
// types), so that a program that drives a Butler (or a real Plex Media
// Server's Butler routes) pulls in nothing else.
//
// # Quick start
//
//	c, err := client.New("http://127.0.0.1:28400", client.WithToken(token))
//	if err != nil {
//		log.Fatal(err)
//	}
//	res, err := c.StartTask(ctx, client.TaskBackupDatabase)
//	switch {
//	case errors.Is(err, client.ErrNotFound):
//		// the server does not offer the task
//	case err != nil:
//		log.Fatal(err)
//	case res.Outcome == client.OutcomeSkipped:
//		// not due: res.Reason says until when; client.Force() runs it now
//	default:
//		fmt.Println(res.Outcome, res.RunID) // "started 12"
//	}
//
// # Requests and answers
//
// Every request carries the token (X-Plex-Token), the client identifier
// (X-Plex-Client-Identifier) when one is set, and Accept: application/json.
// Answers are decoded after their Content-Type, JSON or XML, since a real
// Plex server may answer XML whatever is asked.
//
// A request that the server refuses returns an *Error with the HTTP status
// and the server's message; errors.Is matches it against ErrNotFound,
// ErrUnauthorized, ErrBadRequest, ErrFixed (a settings change),
// ErrNotWaiting (a run's removal) and ErrDisabled (a task start, from
// servers older than this SDK). Any other failure (the
// server cannot be reached, an answer cannot be decoded) is returned wrapped
// with what was being done: "client: start task BackupDatabase: ...".
//
// Only GET requests are retried (WithRetry), on transport errors and on 502,
// 503 and 504 answers; a start or a stop is never sent twice.
//
// # Notifications
//
// Watch follows the server's activity notifications (a run started, made
// progress, ended). Butler sends them both over a websocket
// (/:/websockets/notifications, as Plex does) and as Server-Sent Events
// (/:/eventsource/notifications), with the same NotificationContainer JSON.
// The SDK uses the Server-Sent-Events stream: it is plain HTTP, so the SDK
// stays standard-library only, whereas a websocket client would need a
// third-party package.
package client
