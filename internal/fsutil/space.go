package fsutil

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Space is the free and total bytes of the file system holding a directory.
type Space struct {
	// Free is what an unprivileged process may still write (statfs
	// f_bavail), not counting blocks reserved for root.
	Free  uint64
	Total uint64
}

// DiskSpace reads the free and total bytes of the file system holding dir.
func DiskSpace(dir string) (Space, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return Space{}, fmt.Errorf("statfs %s: %w", dir, err)
	}
	bs := uint64(st.Bsize) //nolint:gosec // a block size is never negative
	return Space{Free: st.Bavail * bs, Total: st.Blocks * bs}, nil
}
