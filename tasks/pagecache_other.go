//go:build !linux

package tasks

import (
	"context"
	"os"
)

// readAhead does nothing where the kernel offers no read-ahead advice.
func readAhead(context.Context, *os.File, readOrder) error { return nil }

// startFileWriteback does nothing where there is no sync_file_range: the
// fsync that follows writes everything.
func startFileWriteback(*os.File) {}
