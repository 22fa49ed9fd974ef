package log

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/recordbatch"
)

func lastSegmentPath(t *testing.T, dir, suffix string) string {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if len(names) == 0 {
		t.Fatalf("no %s files", suffix)
	}
	return names[len(names)-1]
}

func TestTornTailRecovery(t *testing.T) {
	for _, cut := range []int{1, 11, 12, 30, 61, 62, 100} {
		dir := t.TempDir()
		cfg := smallConfig()
		l := openT(t, dir, cfg)
		batches := appendMix(t, l, 20)
		crash(l)
		path := lastSegmentPath(t, dir, ".log")
		st, _ := os.Stat(path)
		last := batches[len(batches)-1]
		// Tear the last batch: keep only part of it.
		if err := os.Truncate(path, st.Size()-int64(len(last))+int64(min(cut, len(last)-1))); err != nil {
			t.Fatal(err)
		}
		l = openT(t, dir, cfg)
		h, _ := recordbatch.ParseHeader(batches[len(batches)-2])
		if l.LogEndOffset() != h.NextOffset() {
			t.Fatalf("cut %d: leo %d, want %d", cut, l.LogEndOffset(), h.NextOffset())
		}
		checkEveryOffset(t, l, batches[:len(batches)-1])
		// The log keeps working after recovery.
		if _, err := l.Append(bytes.Clone(last), 0); err != nil {
			t.Fatal(err)
		}
		l.Close()
	}
}

func TestGarbageTailAndBitFlip(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l := openT(t, dir, cfg)
	batches := appendMix(t, l, 10)
	crash(l)
	path := lastSegmentPath(t, dir, ".log")
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(make([]byte, 4096)) // preallocated zeros after a crash
	f.Close()
	l = openT(t, dir, cfg)
	checkEveryOffset(t, l, batches)
	crash(l)
	// Flip a bit inside batch 5: batches 5.. are gone, 0..4 survive.
	data, _ := os.ReadFile(path)
	pos := 0
	for _, b := range batches[:5] {
		pos += len(b)
	}
	data[pos+40] ^= 0x10
	os.WriteFile(path, data, 0o644)
	l = openT(t, dir, cfg)
	checkEveryOffset(t, l, batches[:5])
	h, _ := recordbatch.ParseHeader(batches[4])
	if l.LogEndOffset() != h.NextOffset() {
		t.Fatalf("leo %d want %d", l.LogEndOffset(), h.NextOffset())
	}
	l.Close()
}

func TestIndexRebuild(t *testing.T) {
	damage := map[string]func(dir string){
		"delete index": func(dir string) {
			names, _ := filepath.Glob(filepath.Join(dir, "*.index"))
			for _, n := range names {
				os.Remove(n)
			}
		},
		"delete timeindex": func(dir string) {
			names, _ := filepath.Glob(filepath.Join(dir, "*.timeindex"))
			for _, n := range names {
				os.Remove(n)
			}
		},
		"odd size": func(dir string) {
			names, _ := filepath.Glob(filepath.Join(dir, "*.index"))
			for _, n := range names {
				f, _ := os.OpenFile(n, os.O_WRONLY|os.O_APPEND, 0)
				f.Write([]byte{1, 2, 3})
				f.Close()
			}
		},
		"garbage entries": func(dir string) {
			names, _ := filepath.Glob(filepath.Join(dir, "*.index"))
			for _, n := range names {
				st, _ := os.Stat(n)
				os.WriteFile(n, bytes.Repeat([]byte{0x7f}, int(st.Size())), 0o644)
			}
		},
		"garbage timeindex": func(dir string) {
			names, _ := filepath.Glob(filepath.Join(dir, "*.timeindex"))
			for _, n := range names {
				st, _ := os.Stat(n)
				os.WriteFile(n, bytes.Repeat([]byte{0x01}, int(st.Size())), 0o644)
			}
		},
	}
	for name, f := range damage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := smallConfig()
			cfg.SegmentBytes = 3000
			l := openT(t, dir, cfg)
			batches := appendMix(t, l, 40)
			l.Close()
			f(dir)
			l = openT(t, dir, cfg)
			checkEveryOffset(t, l, batches)
			if off, _, _ := l.OffsetForTimestamp(1000 + 20*10); off < 0 {
				t.Fatal("time lookup failed after rebuild")
			}
			l.Close()
			names, _ := filepath.Glob(filepath.Join(dir, "*.index"))
			st, err := os.Stat(names[0])
			if err != nil || st.Size() == 0 || st.Size()%8 != 0 {
				t.Fatalf("index not rebuilt: %v", err)
			}
		})
	}
}

func TestSecondRecoveryChangesNothing(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l := openT(t, dir, cfg)
	appendMix(t, l, 15)
	crash(l)
	path := lastSegmentPath(t, dir, ".log")
	data, _ := os.ReadFile(path)
	os.WriteFile(path, data[:len(data)-17], 0o644)
	l = openT(t, dir, cfg)
	leo := l.LogEndOffset()
	crash(l)
	first, _ := os.ReadFile(path)
	l = openT(t, dir, cfg)
	crash(l)
	second, _ := os.ReadFile(path)
	if !bytes.Equal(first, second) || l.LogEndOffset() != leo {
		t.Fatal("second recovery changed the log")
	}
}

func TestTruncateTo(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.SegmentBytes = 2000
	l := openT(t, dir, cfg)
	batches := appendMix(t, l, 40)
	segs := l.NumSegments()
	// Truncate into the middle of a batch in an early segment.
	h, _ := recordbatch.ParseHeader(batches[9])
	target := h.BaseOffset + int64(h.LastOffsetDelta)/2
	if h.LastOffsetDelta == 0 {
		target = h.BaseOffset
	}
	if err := l.TruncateTo(target); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != h.BaseOffset || l.NumSegments() >= segs {
		t.Fatalf("leo %d want %d, segments %d of %d", l.LogEndOffset(), h.BaseOffset, l.NumSegments(), segs)
	}
	checkEveryOffset(t, l, batches[:9])
	// Appends continue at the new end.
	more := batchOf(t, codec.Zstd, 3, 10, 5)
	if base, err := l.Append(more, 0); err != nil || base != h.BaseOffset {
		t.Fatalf("append after truncate: %d %v", base, err)
	}
	l.Close()
	l = openT(t, dir, cfg)
	checkEveryOffset(t, l, append(batches[:9:9], more))
	// Crash mid-way through truncation is modelled by TruncateTo + crash.
	l.TruncateTo(3)
	crash(l)
	l = openT(t, dir, cfg)
	if l.LogEndOffset() > 3 {
		t.Fatalf("truncation lost after crash: leo %d", l.LogEndOffset())
	}
	if err := l.TruncateFullyAndStartAt(1000); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 1000 || l.LogEndOffset() != 1000 || l.NumSegments() != 1 {
		t.Fatalf("truncate fully: start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
	if base, _ := l.Append(batchOf(t, codec.None, 1, 1, 1), 0); base != 1000 {
		t.Fatalf("append after full truncation at %d", base)
	}
	l.Close()
	l = openT(t, dir, cfg)
	defer l.Close()
	if l.LogStartOffset() != 1000 || l.LogEndOffset() != 1001 {
		t.Fatalf("after reopen start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
}

// A crash after the start-offset checkpoint but before the old segments
// are deleted must still come back empty at the new start.
func TestTruncateFullyCrashBeforeDelete(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l := openT(t, dir, cfg)
	appendMix(t, l, 5)
	l.logStart.Store(500)
	l.leo.Store(500)
	l.writeCheckpoint()
	crash(l)
	l = openT(t, dir, cfg)
	defer l.Close()
	if l.LogStartOffset() != 500 || l.LogEndOffset() != 500 {
		t.Fatalf("start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
}
