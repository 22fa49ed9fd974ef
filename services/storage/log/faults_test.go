package log

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/strata-io/strata/services/storage/log/faultfs"
)

// faultLog is a log on a fault FS with a failure hook that counts calls.
type faultLog struct {
	*Log
	ffs   *faultfs.FS
	dir   string
	cfg   Config
	hooks atomic.Int32
	hook  chan error
}

func openFault(t *testing.T, dir string, cfg Config, ffs *faultfs.FS) *faultLog {
	t.Helper()
	fl := &faultLog{ffs: ffs, dir: dir, cfg: cfg, hook: make(chan error, 8)}
	fl.Log = openT(t, dir, cfg, WithFS(ffs), WithFailureHook(func(err error) {
		fl.hooks.Add(1)
		fl.hook <- err
	}))
	return fl
}

// appendN appends n small batches under epoch 0 and returns the values.
func appendN(t *testing.T, l *Log, n int) []string {
	t.Helper()
	var vals []string
	for i := 0; i < n; i++ {
		if _, err := l.Append(batchOf(t, codec.None, 3, 50, int64(1000+i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	_, vals = readAll(t, l)
	return vals
}

// dirSizes maps every file of dir to its size.
func dirSizes(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = fi.Size()
	}
	return m
}

// assertIntact checks that every file of before is still in dir and no
// segment file shrank.
func assertIntact(t *testing.T, dir string, before map[string]int64) {
	t.Helper()
	after := dirSizes(t, dir)
	for name, size := range before {
		got, ok := after[name]
		if !ok {
			t.Errorf("%s was deleted", name)
			continue
		}
		if strings.HasSuffix(name, logSuffix) && got < size {
			t.Errorf("%s shrank from %d to %d bytes", name, size, got)
		}
	}
}

// assertFailed checks that err is KAFKA_STORAGE_ERROR, the log is failed
// with cause, and the hook ran exactly once.
func (fl *faultLog) assertFailed(t *testing.T, err error, cause error) {
	t.Helper()
	if code := recordbatch.CodeOf(err); code != recordbatch.CodeKafkaStorageError {
		t.Fatalf("error %v has code %d, want KAFKA_STORAGE_ERROR", err, code)
	}
	if cause != nil && !errors.Is(err, cause) {
		t.Fatalf("error %v does not wrap %v", err, cause)
	}
	lerr := fl.Err()
	if lerr == nil || recordbatch.CodeOf(lerr) != recordbatch.CodeKafkaStorageError {
		t.Fatalf("Err() = %v after a failure", lerr)
	}
	select {
	case herr := <-fl.hook:
		if herr.Error() != lerr.Error() {
			t.Fatalf("hook got %v, Err() is %v", herr, lerr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("failure hook not called")
	}
	// A failed log refuses everything and does not call the hook again.
	if _, err := fl.Append(batchOf(t, codec.None, 1, 1, 1), 0); recordbatch.CodeOf(err) != recordbatch.CodeKafkaStorageError {
		t.Fatalf("append on a failed log: %v", err)
	}
	if _, err := fl.Read(0, 1<<20, fl.LogEndOffset()); recordbatch.CodeOf(err) != recordbatch.CodeKafkaStorageError {
		t.Fatalf("read on a failed log: %v", err)
	}
	if err := fl.Flush(); recordbatch.CodeOf(err) != recordbatch.CodeKafkaStorageError {
		t.Fatalf("flush on a failed log: %v", err)
	}
	if _, err := fl.DeleteOldSegments(); err == nil && fl.del {
		t.Fatal("retention ran on a failed log")
	}
	time.Sleep(20 * time.Millisecond)
	if n := fl.hooks.Load(); n != 1 {
		t.Fatalf("failure hook called %d times", n)
	}
}

// reopenCheck closes the failed log, checks the files, reopens without
// faults and checks that want (the values acknowledged before the fault)
// are all there, in order, and that the log takes appends again.
func (fl *faultLog) reopenCheck(t *testing.T, before map[string]int64, want []string) {
	t.Helper()
	_ = fl.Close()
	assertIntact(t, fl.dir, before)
	fl.ffs.Clear()
	l := openT(t, fl.dir, fl.cfg)
	defer l.Close()
	_, got := readAll(t, l)
	if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
		t.Fatalf("after reopen: %d values, want the %d acknowledged first", len(got), len(want))
	}
	if _, err := l.Append(batchOf(t, codec.None, 1, 1, 1), 0); err != nil {
		t.Fatalf("append after reopen: %v", err)
	}
}

func TestFaultENOSPCOnAppend(t *testing.T) {
	dir := t.TempDir()
	fl := openFault(t, dir, smallConfig(), faultfs.New(nil))
	want := appendN(t, fl.Log, 10)
	before := dirSizes(t, dir)
	leo := fl.LogEndOffset()
	full := fl.ffs.Inject(faultfs.Rule{Op: faultfs.Write, Name: "*.log", After: 100, Err: syscall.ENOSPC})
	_, err := fl.Append(batchOf(t, codec.None, 3, 50, 5000), 0)
	if full.Hits() != 1 {
		t.Fatalf("fault hit %d times", full.Hits())
	}
	fl.assertFailed(t, err, syscall.ENOSPC)
	if fl.LogEndOffset() != leo {
		t.Fatalf("log end moved to %d after a failed append", fl.LogEndOffset())
	}
	if got := dirSizes(t, dir)[segmentName(0, logSuffix)]; got != before[segmentName(0, logSuffix)] {
		t.Fatalf("partial write not cut: %d bytes, was %d", got, before[segmentName(0, logSuffix)])
	}
	fl.reopenCheck(t, before, want)
}

func TestFaultENOSPCOnCheckpoint(t *testing.T) {
	for _, file := range []string{offsetsCheckpointFile, epochCheckpointFile} {
		t.Run(file, func(t *testing.T) {
			dir := t.TempDir()
			fl := openFault(t, dir, smallConfig(), faultfs.New(nil))
			want := appendN(t, fl.Log, 5)
			before := dirSizes(t, dir)
			fl.ffs.Inject(faultfs.Rule{Op: faultfs.Write, Name: file + ".tmp", Err: syscall.ENOSPC})
			var err error
			if file == offsetsCheckpointFile {
				err = fl.Checkpoint()
			} else {
				_, err = fl.Append(batchOf(t, codec.None, 1, 1, 1), 7) // a new epoch is persisted first
			}
			fl.assertFailed(t, err, syscall.ENOSPC)
			if _, err := os.Stat(filepath.Join(dir, file+".tmp")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("temp file left: %v", err)
			}
			fl.reopenCheck(t, before, want)
		})
	}
}

// TestFaultOpenOnFullDisk: Open tolerates checkpoint writes failing (see
// load) and serves what is there; the first append that cannot be written
// fails the log.
func TestFaultOpenOnFullDisk(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, smallConfig())
	want := appendN(t, l, 5)
	crash(l) // leaves work for recovery
	before := dirSizes(t, dir)
	ffs := faultfs.New(nil)
	ffs.Inject(faultfs.Rule{Op: faultfs.Write, Err: syscall.ENOSPC})
	fl := openFault(t, dir, smallConfig(), ffs)
	if err := fl.Err(); err != nil {
		t.Fatalf("opened failed: %v", err)
	}
	if _, got := readAll(t, fl.Log); !slices.Equal(got, want) {
		t.Fatalf("read %d values, want %d", len(got), len(want))
	}
	_, err := fl.Append(batchOf(t, codec.None, 1, 1, 1), 0)
	fl.assertFailed(t, err, syscall.ENOSPC)
	fl.reopenCheck(t, before, want)
}

func TestFaultENOSPCOnIndexPreallocation(t *testing.T) {
	for name, op := range map[string]faultfs.Op{"preallocate": faultfs.Truncate, "mmap": faultfs.Mmap} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := smallConfig()
			cfg.SegmentBytes = 1024
			fl := openFault(t, dir, cfg, faultfs.New(nil))
			want := appendN(t, fl.Log, 8)
			if fl.NumSegments() < 2 {
				t.Fatal("want a roll before the fault")
			}
			before := dirSizes(t, dir)
			// The next roll creates the segment at the log end.
			next := segmentName(fl.LogEndOffset(), indexSuffix)
			errno := syscall.ENOSPC
			if op == faultfs.Mmap {
				errno = syscall.ENOMEM
			}
			fl.ffs.Inject(faultfs.Rule{Op: op, Name: next, Err: errno})
			var err error
			for i := 0; i < 20 && err == nil; i++ {
				_, err = fl.Append(batchOf(t, codec.None, 3, 50, 9000), 0)
				if err == nil {
					_, want = readAll(t, fl.Log)
				}
			}
			fl.assertFailed(t, err, errno)
			fl.reopenCheck(t, before, want)
		})
	}
}

func TestFaultEIOOnRead(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.SegmentBytes = 1024
	fl := openFault(t, dir, cfg, faultfs.New(nil))
	want := appendN(t, fl.Log, 8)
	before := dirSizes(t, dir)
	fl.ffs.Inject(faultfs.Rule{Op: faultfs.Read, Name: "*.log"})
	_, err := fl.Read(3, 1<<20, fl.LogEndOffset())
	if recordbatch.CodeOf(err) == recordbatch.CodeOffsetOutOfRange {
		t.Fatalf("EIO reported as out of range: %v", err)
	}
	fl.assertFailed(t, err, syscall.EIO)
	fl.reopenCheck(t, before, want)
}

func TestFaultEIOOnListOffsets(t *testing.T) {
	dir := t.TempDir()
	fl := openFault(t, dir, smallConfig(), faultfs.New(nil))
	want := appendN(t, fl.Log, 4)
	before := dirSizes(t, dir)
	fl.ffs.Inject(faultfs.Rule{Op: faultfs.Read, Name: "*.log"})
	_, _, err := fl.OffsetForTimestamp(1002)
	fl.assertFailed(t, err, syscall.EIO)
	fl.reopenCheck(t, before, want)
}

func TestFaultFsyncFailureIsNotRetried(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.FlushMessages = 1
	fl := openFault(t, dir, cfg, faultfs.New(nil))
	want := appendN(t, fl.Log, 5)
	before := dirSizes(t, dir)
	bad := fl.ffs.Inject(faultfs.Rule{Op: faultfs.Sync, Name: "*.log"})
	_, err := fl.Append(batchOf(t, codec.None, 1, 1, 1), 0)
	// The disk recovers; the log must not: a later fsync proves nothing
	// about the pages the failed one lost.
	bad.Off()
	fl.assertFailed(t, err, syscall.EIO)
	if err := fl.Flush(); err == nil {
		t.Fatal("flush succeeded after a failed fsync")
	}
	if err := fl.Checkpoint(); err == nil {
		t.Fatal("checkpoint succeeded on a failed log")
	}
	fl.reopenCheck(t, before, want)
}

func TestFaultEMFILE(t *testing.T) {
	t.Run("open", func(t *testing.T) {
		dir := t.TempDir()
		cfg := smallConfig()
		cfg.SegmentBytes = 1024
		l := openT(t, dir, cfg)
		want := appendN(t, l, 8)
		crash(l)
		before := dirSizes(t, dir)
		for calls := int64(0); calls < 12; calls++ {
			ffs := faultfs.New(nil)
			ffs.Inject(faultfs.Rule{Op: faultfs.Open, After: calls, Err: syscall.EMFILE})
			l, err := Open(dir, cfg, WithFS(ffs))
			if err == nil {
				// Enough opens got through; nothing else may have changed.
				l.Close()
				break
			}
			if !errors.Is(err, syscall.EMFILE) {
				t.Fatalf("open after %d calls: %v", calls, err)
			}
			assertIntact(t, dir, before)
		}
		l = openT(t, dir, cfg)
		defer l.Close()
		if _, got := readAll(t, l); !slices.Equal(got, want) {
			t.Fatalf("read %d values, want %d", len(got), len(want))
		}
	})
	t.Run("roll", func(t *testing.T) {
		dir := t.TempDir()
		cfg := smallConfig()
		cfg.SegmentBytes = 1024
		fl := openFault(t, dir, cfg, faultfs.New(nil))
		want := appendN(t, fl.Log, 8)
		before := dirSizes(t, dir)
		fl.ffs.Inject(faultfs.Rule{Op: faultfs.Open, Name: segmentName(fl.LogEndOffset(), logSuffix), Err: syscall.EMFILE})
		var err error
		for i := 0; i < 20 && err == nil; i++ {
			_, err = fl.Append(batchOf(t, codec.None, 3, 50, 9000), 0)
			if err == nil {
				_, want = readAll(t, fl.Log)
			}
		}
		fl.assertFailed(t, err, syscall.EMFILE)
		fl.reopenCheck(t, before, want)
	})
}

// TestFaultEIOAtRecoveryNeverTruncates: a read error while re-validating
// a segment fails Open; it is not mistaken for a torn tail.
func TestFaultEIOAtRecoveryNeverTruncates(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.SegmentBytes = 1024
	l := openT(t, dir, cfg)
	want := appendN(t, l, 8)
	crash(l)
	before := dirSizes(t, dir)
	ffs := faultfs.New(nil)
	ffs.Inject(faultfs.Rule{Op: faultfs.Read, Name: "*.log"})
	if _, err := Open(dir, cfg, WithFS(ffs)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("open with EIO: %v", err)
	}
	after := dirSizes(t, dir)
	for name, size := range before {
		if strings.HasSuffix(name, logSuffix) && after[name] != size {
			t.Errorf("%s: %d bytes, was %d", name, after[name], size)
		}
	}
	l = openT(t, dir, cfg)
	defer l.Close()
	if _, got := readAll(t, l); !slices.Equal(got, want) {
		t.Fatalf("read %d values, want %d", len(got), len(want))
	}
}

func TestLeaderEpochCheckpointRebuilt(t *testing.T) {
	for _, damage := range []string{"missing", "corrupt", "missing after crash"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			cfg := smallConfig()
			cfg.SegmentBytes = 1024 // epochs span segments
			l := openT(t, dir, cfg)
			for _, e := range []int32{0, 0, 0, 3, 3, 3, 3, 5, 5, 5} {
				if _, err := l.Append(batchOf(t, codec.None, 3, 50, 1), e); err != nil {
					t.Fatal(err)
				}
			}
			wantEpochs := l.LeaderEpochs()
			if len(wantEpochs) != 3 || l.NumSegments() < 2 {
				t.Fatalf("setup: epochs %v, %d segments", wantEpochs, l.NumSegments())
			}
			type answer struct {
				epoch int32
				end   int64
			}
			var want []answer
			for e := int32(-1); e <= 6; e++ {
				ep, end := l.EndOffsetForEpoch(e)
				want = append(want, answer{ep, end})
			}
			if damage == "missing after crash" {
				crash(l)
			} else {
				l.Close()
			}
			p := filepath.Join(dir, epochCheckpointFile)
			if damage == "corrupt" {
				if err := os.WriteFile(p, []byte("0\n3\n0 0\n5 x\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			l = openT(t, dir, cfg)
			defer l.Close()
			if got := l.LeaderEpochs(); !slices.Equal(got, wantEpochs) {
				t.Fatalf("epochs %v, want %v", got, wantEpochs)
			}
			for i, e := 0, int32(-1); e <= 6; i, e = i+1, e+1 {
				if ep, end := l.EndOffsetForEpoch(e); (answer{ep, end}) != want[i] {
					t.Errorf("EndOffsetForEpoch(%d) = (%d, %d), want %v", e, ep, end, want[i])
				}
			}
			// The rebuilt cache was persisted.
			if es, err := readEpochs(l.fs, dir); err != nil || len(es) != 3 {
				t.Fatalf("persisted epochs %v, %v", es, err)
			}
		})
	}
}

// An index page the file system cannot back (a sparse preallocated index on
// a full disk) faults with SIGBUS when written; it must fail the log, not
// kill the process. Cutting the empty index files under their mappings
// makes the kernel answer the same way.
func TestFaultUnbackedIndexPageFailsTheLog(t *testing.T) {
	dir := t.TempDir()
	fl := openFault(t, dir, smallConfig(), faultfs.New(nil))
	// One batch past the index interval: the next append writes the first
	// index entries.
	if _, err := fl.Append(batchOf(t, codec.None, 3, 200, 1000), 0); err != nil {
		t.Fatal(err)
	}
	_, want := readAll(t, fl.Log)
	before := dirSizes(t, dir)
	for _, suf := range []string{indexSuffix, timeIndexSuffix} {
		if err := os.Truncate(filepath.Join(dir, segmentName(0, suf)), 0); err != nil {
			t.Fatal(err)
		}
		delete(before, segmentName(0, suf)) // cut by the test itself
	}
	leo, size := fl.LogEndOffset(), fl.Size()
	_, err := fl.Append(batchOf(t, codec.None, 3, 200, 2000), 0)
	fl.assertFailed(t, err, errMappedWrite)
	if fl.LogEndOffset() != leo || fl.Size() != size {
		t.Fatalf("log end %d, size %d after a failed append, want %d, %d", fl.LogEndOffset(), fl.Size(), leo, size)
	}
	if got := dirSizes(t, dir)[segmentName(0, logSuffix)]; got != size {
		t.Fatalf("the unindexed write was not cut: %d bytes, want %d", got, size)
	}
	fl.reopenCheck(t, before, want)
}
