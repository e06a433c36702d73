// Package atomicfile replaces files atomically and durably: a reader sees
// either the old content or the new, never a torn mix, and once a call
// returns nil the new content survives a crash or power loss.
//
// It works by writing to a temporary file in the destination's directory,
// fsyncing it, renaming it over the destination and then fsyncing the
// directory so that the rename itself is on disk.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// WriteFile writes data to the file at path, replacing it atomically if it
// exists. The data goes to a hidden temporary file in the same directory
// (".<name>.<random>.tmp"), which is fsynced, closed and renamed to path;
// the directory is then fsynced. The file ends up with exactly the
// permission bits perm (they are set with chmod, so the umask does not
// apply). When it fails before the rename, the temporary file is removed and
// path is left as it was; when only the fsync of the directory fails, the
// new content is in place but may not survive a crash.
func WriteFile(path string, data []byte, perm os.FileMode) (err error) {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return fmt.Errorf("create temporary file for %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close() // may already be closed; the error is moot
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write temporary file %s: %w", tmp, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("set permissions of temporary file %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync temporary file %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close temporary file %s: %w", tmp, err)
	}
	return Rename(tmp, path)
}

// Rename renames tmp to final, replacing final if it exists, and then
// fsyncs the directory of final (and that of tmp, when it differs) so that
// the rename is durable. The caller is expected to have fsynced tmp's
// content already. Rename does not remove tmp when it fails.
func Rename(tmp, final string) error {
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp, final, err)
	}
	finalDir := filepath.Dir(final)
	if err := SyncDir(finalDir); err != nil {
		return err
	}
	if tmpDir := filepath.Dir(tmp); tmpDir != finalDir {
		if err := SyncDir(tmpDir); err != nil {
			return err
		}
	}
	return nil
}

// SyncDir fsyncs the directory dir, making the creation, removal and
// renaming of its entries durable. On Windows, where directories cannot be
// synced, it does nothing.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s to sync it: %w", dir, err)
	}
	syncErr := d.Sync()
	closeErr := d.Close()
	if err := errors.Join(syncErr, closeErr); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
