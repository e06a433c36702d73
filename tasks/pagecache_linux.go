package tasks

import (
	"os"

	"golang.org/x/sys/unix"
)

// startFileWriteback starts writing f's dirty pages to disk without waiting
// for them (sync_file_range with SYNC_FILE_RANGE_WRITE). It is a hint: the
// fsync that follows is what makes the data durable, so an error is ignored.
func startFileWriteback(f *os.File) {
	_ = unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
}
