// Package fsutil holds the file-system steps Strata needs to be crash-safe:
// atomic file replacement and exclusive ownership of a data directory.
package fsutil

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// TempSuffix ends the temp file of an atomic write; a file with it left
// after a crash is an unfinished write that recovery may delete.
const TempSuffix = ".tmp"

// WriteFileAtomic replaces path with data so that after a crash the file
// holds either the old or the new content: write path.tmp, fsync it, rename
// it over path, fsync the directory. Writers of one path must not overlap.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return WriteFileAtomicFS(OS, path, data, perm)
}

// WriteFileAtomicFS is WriteFileAtomic through fsys.
func WriteFileAtomicFS(fsys FS, path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmpName := path + TempSuffix
	tmp, err := fsys.OpenFile(tmpName, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer fsys.Remove(tmpName) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := fsys.Rename(tmpName, path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	return SyncDirFS(fsys, dir)
}

// SyncDir fsyncs a directory so renames and creations in it are durable.
func SyncDir(dir string) error { return SyncDirFS(OS, dir) }

// SyncDirFS is SyncDir through fsys.
func SyncDirFS(fsys FS, dir string) error {
	d, err := fsys.OpenFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}

// DirLock is an exclusive lock on a data directory.
type DirLock struct{ f *os.File }

// LockDir takes an exclusive, non-blocking lock on dir (creating it), so two
// processes never share one data directory. The lock dies with the process.
func LockDir(dir string) (*DirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another process: %w", dir, err)
	}
	return &DirLock{f: f}, nil
}

// Unlock releases the lock.
func (l *DirLock) Unlock() {
	if l != nil && l.f != nil {
		_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
		l.f.Close()
	}
}
