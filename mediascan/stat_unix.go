//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package mediascan

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// statAt examines the entry name of the open directory dir, following a
// symbolic link when follow is set. It asks by name relative to the
// directory (fstatat), as find does: the kernel resolves one name, not the
// whole path, which is most of a scan's cost per file.
func statAt(dir *os.File, name string, follow bool) (fileStat, error) {
	flags := unix.AT_SYMLINK_NOFOLLOW
	if follow {
		flags = 0
	}
	var st unix.Stat_t
	for {
		err := unix.Fstatat(int(dir.Fd()), name, &st, flags)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fileStat{}, &os.PathError{Op: "fstatat", Path: name, Err: err}
		}
		break
	}
	return fileStat{
		size:    st.Size,
		modTime: time.Unix(int64(st.Mtim.Sec), int64(st.Mtim.Nsec)),
		regular: uint32(st.Mode)&unix.S_IFMT == unix.S_IFREG,
	}, nil
}
