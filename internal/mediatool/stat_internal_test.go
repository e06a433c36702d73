package mediatool

import (
	"errors"
	"io/fs"
	"syscall"
	"testing"
)

// TestIsUnreachable: the errors of a mount that does not answer (which a
// test cannot make without a dead mount) are told from a file's own.
func TestIsUnreachable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&fs.PathError{Op: "stat", Path: "/m/a.mkv", Err: syscall.ENOTCONN}, true},
		{&fs.PathError{Op: "stat", Path: "/m/a.mkv", Err: syscall.ESTALE}, true},
		{&fs.PathError{Op: "stat", Path: "/m/a.mkv", Err: syscall.EHOSTDOWN}, true},
		{&fs.PathError{Op: "stat", Path: "/m/a.mkv", Err: syscall.ELOOP}, false},
		{&fs.PathError{Op: "stat", Path: "/m/a.mkv", Err: syscall.EACCES}, false},
		{&fs.PathError{Op: "stat", Path: "/m/a.mkv", Err: syscall.EIO}, false},
		{errors.New("other"), false},
		{nil, false},
	} {
		if got := isUnreachable(tc.err); got != tc.want {
			t.Errorf("isUnreachable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
