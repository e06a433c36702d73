package butler

import (
	"errors"
	"fmt"
)

// Error codes of the Butler. Each maps to one HTTP status in package api.
const (
	ECONFLICT    = "conflict"    // the request conflicts with the state (409)
	EINTERNAL    = "internal"    // a fault inside the server
	EINVALID     = "invalid"     // bad input
	ENOTFOUND    = "not_found"   // no such task, run or setting
	EUNAVAILABLE = "unavailable" // the server cannot answer now (shutting down, database gone)
)

// Error is an error with a code and a message meant for the person who made
// the request. Other errors read as EINTERNAL.
type Error struct {
	Code    string
	Message string
}

// Error returns the message, prefixed with the code.
func (e *Error) Error() string { return fmt.Sprintf("butler: %s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err: its *Error's code, EINTERNAL for any
// other error, "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of err meant for people: its *Error's
// message, or "internal error" for any other error.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Message
	}
	return "internal error; the server log has the details"
}
