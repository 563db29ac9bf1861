package notebook

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFileAtomic writes data to path (creating its directory) through a
// temporary file in the same directory, synced and then renamed over path,
// and then syncs the directory so that the rename itself survives a crash:
// a reader never sees a partial file, and a write interrupted midway leaves
// the previous file as it was. Caches of finished runs and session values
// are written this way.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = syncDirAfterRename(dir)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// syncDirAfterRename is syncDir; a test replaces it to see that the
// directory is synced, once, after the rename.
var syncDirAfterRename = syncDir

// syncDir fsyncs a directory, making the entries renamed into it durable.
// Filesystems that cannot sync a directory (some network and FUSE
// filesystems, which answer EINVAL or ENOTSUP) are accepted as they are:
// there the file is written and renamed, only its durability across a crash
// is up to the filesystem, and failing every cache write there would be worse.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported) {
		err = nil
	}
	if closeErr := d.Close(); err == nil {
		err = closeErr
	}
	return err
}
