package fsutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDiskSpaceOfTmpfs checks statfs against a file system of known size.
func TestDiskSpaceOfTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, 0) })
	sp, err := DiskSpace(dir)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Total != 8<<20 || sp.Free != sp.Total {
		t.Fatalf("empty 8 MiB tmpfs: %+v", sp)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), make([]byte, 3<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if sp, err = DiskSpace(dir); err != nil {
		t.Fatal(err)
	}
	if sp.Free > 5<<20 || sp.Free < 4<<20 {
		t.Fatalf("8 MiB tmpfs with a 3 MiB file: %+v", sp)
	}
}
