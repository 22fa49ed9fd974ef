package log

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/codec"
)

// allocatedBytes is the disk space st's file holds (its blocks).
func allocatedBytes(t *testing.T, path string) (size, allocated int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size(), fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// A busy segment reserves blocks ahead of its writes without changing its
// size (so recovery and readers see only what was written), and gives the
// reservation back when it is sealed.
func TestSegmentPreallocatesAheadAndGivesBackOnSeal(t *testing.T) {
	dir := t.TempDir()
	cfg := benchConfig()
	cfg.SegmentBytes = 8 << 20
	l := openT(t, dir, cfg)
	defer l.Close()
	batch := batchOf(t, codec.None, 100, 1024, time.Now().UnixMilli())
	first := filepath.Join(dir, segmentName(0, logSuffix))
	written := int64(0)
	for written < 3<<20 {
		if _, err := l.Append(batch, 0); err != nil {
			t.Fatal(err)
		}
		written += int64(len(batch))
	}
	size, alloc := allocatedBytes(t, first)
	if size != written {
		t.Fatalf("segment size %d, want the %d bytes written", size, written)
	}
	if alloc <= size {
		t.Skipf("the file system did not preallocate (size %d, blocks %d bytes)", size, alloc)
	}
	// Fill past SegmentBytes: the first segment is sealed.
	for written < 9<<20 {
		if _, err := l.Append(batch, 0); err != nil {
			t.Fatal(err)
		}
		written += int64(len(batch))
	}
	size, alloc = allocatedBytes(t, first)
	if alloc > size+64<<10 {
		t.Fatalf("sealed segment holds %d bytes of blocks for %d bytes of data", alloc, size)
	}
	got, err := l.Read(0, 1<<20, l.LogEndOffset())
	if err != nil || len(got) == 0 {
		t.Fatalf("read after roll: %d bytes, %v", len(got), err)
	}
}
