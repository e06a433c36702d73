//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package sqlite

import (
	"io/fs"
	"syscall"
)

// identity is the file's device, inode, size and times.
func identity(fi fs.FileInfo) (closeMark, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return closeMark{}, false
	}
	sec, nsec := changeTime(st)
	return closeMark{
		Device:    uint64(st.Dev),
		Inode:     uint64(st.Ino),
		Size:      fi.Size(),
		ModTimeNS: fi.ModTime().UnixNano(),
		ChangeNS:  int64(sec)*1e9 + int64(nsec),
	}, true
}
