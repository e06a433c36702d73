//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package mediascan

import (
	"os"
	"path/filepath"
)

// statAt examines the entry name of the open directory dir, following a
// symbolic link when follow is set.
func statAt(dir *os.File, name string, follow bool) (fileStat, error) {
	stat := os.Lstat
	if follow {
		stat = os.Stat
	}
	fi, err := stat(filepath.Join(dir.Name(), name))
	if err != nil {
		return fileStat{}, err
	}
	return fileStat{size: fi.Size(), modTime: fi.ModTime(), regular: fi.Mode().IsRegular()}, nil
}
