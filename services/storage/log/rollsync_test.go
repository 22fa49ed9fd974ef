package log

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/fsutil"
	"github.com/strata-io/strata/services/storage/log/faultfs"
)

// gateFS holds the fdatasync of one file until the test opens the gate.
type gateFS struct {
	fsutil.FS
	name    string        // base name of the file whose Datasync waits
	entered chan struct{} // closed when that Datasync starts waiting
	release chan struct{} // closed by the test to let it go on
	once    sync.Once
	syncs   atomic.Int32 // Datasync calls on the file
}

func newGateFS(name string) *gateFS {
	return &gateFS{FS: fsutil.OS, name: name, entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gateFS) OpenFile(name string, flag int, perm os.FileMode) (fsutil.File, error) {
	f, err := g.FS.OpenFile(name, flag, perm)
	if err != nil || filepath.Base(name) != g.name {
		return f, err
	}
	return &gateFile{File: f, g: g}, nil
}

// open lets the held fsync (and every later one) go on.
func (g *gateFS) open() {
	select {
	case <-g.release:
	default:
		close(g.release)
	}
}

type gateFile struct {
	fsutil.File
	g *gateFS
}

func (f *gateFile) Datasync() error {
	f.g.syncs.Add(1)
	f.g.once.Do(func() { close(f.g.entered) })
	<-f.g.release
	return f.File.Datasync()
}

const rollTimeout = 10 * time.Second

// within runs fn in a goroutine and fails the test if it does not return
// before the deadline.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(rollTimeout):
		t.Fatalf("%s did not return within %v", what, rollTimeout)
	}
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(rollTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, rollTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

func rollConfig() Config {
	cfg := smallConfig()
	cfg.SegmentBytes = 2000
	return cfg
}

// appendUntilRoll appends small batches until the log has two segments
// (returning from the append that rolled) and returns the values written
// (not read back: the background sync may fail the log meanwhile).
func appendUntilRoll(t *testing.T, l *Log) []string {
	t.Helper()
	var vals []string
	within(t, "appends up to the roll", func() {
		for i := 0; l.NumSegments() < 2; i++ {
			if _, err := l.Append(batchOf(t, codec.None, 3, 50, int64(1000+i)), 0); err != nil {
				t.Error(err)
				return
			}
			for j := range 3 { // batchOf's values
				vals = append(vals, strings.Repeat(string(rune('a'+j)), 50))
			}
		}
	})
	return vals
}

func recoveryPointOnDisk(t *testing.T, dir string) int64 {
	t.Helper()
	ck, ok, err := readOffsetsCheckpoint(fsutil.OS, dir)
	if err != nil || !ok {
		t.Fatalf("offsets checkpoint: found %v, %v", ok, err)
	}
	return ck.RecoveryPoint
}

func snapshotExists(t *testing.T, l *Log, off int64) bool {
	t.Helper()
	_, err := os.Stat(l.snapshotPath(off))
	return err == nil
}

// rolledWithSyncHeld opens a log in a temporary directory and appends
// until it rolls, with the rolled segment's fsync started and held until
// gfs.open.
func rolledWithSyncHeld(t *testing.T) (string, *gateFS, *Log) {
	t.Helper()
	dir := t.TempDir()
	gfs := newGateFS(segmentName(0, logSuffix))
	l := openT(t, dir, rollConfig(), WithFS(gfs))
	t.Cleanup(gfs.open) // before Close, which would wait for the held fsync
	appendUntilRoll(t, l)
	select {
	case <-gfs.entered:
	case <-time.After(rollTimeout):
		t.Fatal("the rolled segment's fsync never started")
	}
	return dir, gfs, l
}

// An append does not wait for the rolled segment's fsync, and nothing
// claims that segment durable before the fsync has returned.
func TestRollDoesNotWaitForOldSegmentSync(t *testing.T) {
	dir, gfs, l := rolledWithSyncHeld(t)
	base := l.active.base
	within(t, "appends while the rolled segment's fsync is held", func() {
		for i := 0; i < 3; i++ {
			if _, err := l.Append(batchOf(t, codec.None, 3, 50, 5000), 0); err != nil {
				t.Error(err)
			}
		}
	})
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if rp := recoveryPointOnDisk(t, dir); rp > 0 {
		t.Fatalf("recovery point %d on disk before segment 0 was synced", rp)
	}
	if snapshotExists(t, l, base) {
		t.Fatalf("producer snapshot at %d written before the segment below it was synced", base)
	}
	gfs.open()
	waitUntil(t, "recovery point past the rolled segment", func() bool { return recoveryPointOnDisk(t, dir) >= base })
	if !snapshotExists(t, l, base) {
		t.Fatalf("no producer snapshot at %d after the sync", base)
	}
}

// A failed fsync of a rolled segment fails the log for good, with the
// recovery point left below the segment.
func TestRolledSegmentSyncFailureFailsTheLog(t *testing.T) {
	dir := t.TempDir()
	fl := openFault(t, dir, rollConfig(), faultfs.New(nil))
	bad := fl.ffs.Inject(faultfs.Rule{Op: faultfs.Sync, Name: segmentName(0, logSuffix)})
	want := appendUntilRoll(t, fl.Log)
	before := dirSizes(t, dir)
	waitUntil(t, "log failed by the background fsync", func() bool { return fl.Err() != nil })
	if bad.Hits() == 0 {
		t.Fatal("the fault never fired")
	}
	bad.Off()
	_, err := fl.Append(batchOf(t, codec.None, 1, 1, 1), 0)
	fl.assertFailed(t, err, syscall.EIO)
	if rp := recoveryPointOnDisk(t, dir); rp > 0 {
		t.Fatalf("recovery point %d on disk after segment 0's fsync failed", rp)
	}
	fl.reopenCheck(t, before, want)
}

// Close with a rolled segment's fsync in progress waits for it, syncs the
// rest and leaves a clean log with every record.
func TestCloseWithPendingRollSync(t *testing.T) {
	dir := t.TempDir()
	gfs := newGateFS(segmentName(0, logSuffix))
	cfg := rollConfig()
	l := openT(t, dir, cfg, WithFS(gfs))
	t.Cleanup(gfs.open) // before Close, which would wait for the held fsync
	appendUntilRoll(t, l)
	for i := 0; i < 3; i++ {
		mustAppend(t, l, batchOf(t, codec.None, 3, 50, 5000))
	}
	_, want := readAll(t, l)
	select {
	case <-gfs.entered:
	case <-time.After(rollTimeout):
		t.Fatal("the rolled segment's fsync never started")
	}
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	gfs.open()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(rollTimeout):
		t.Fatal("Close did not return")
	}
	l.mu.Lock()
	syncing, pending := l.syncing, len(l.rolled)
	l.mu.Unlock()
	if syncing || pending != 0 {
		t.Fatalf("after Close: worker running %v, %d syncs pending", syncing, pending)
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); err != nil {
		t.Fatalf("no clean-shutdown marker: %v", err)
	}
	leo := l.LogEndOffset()
	if rp := recoveryPointOnDisk(t, dir); rp != leo {
		t.Fatalf("recovery point %d after Close, log end %d", rp, leo)
	}
	l = openT(t, dir, cfg)
	if _, got := readAll(t, l); !slices.Equal(got, want) {
		t.Fatalf("after reopen: %d values, want %d", len(got), len(want))
	}
}

// Flush syncs a rolled segment whose background fsync is still pending
// itself before it claims the whole log durable.
func TestFlushSyncsPendingRolledSegment(t *testing.T) {
	dir, gfs, l := rolledWithSyncHeld(t)
	flushed := make(chan error, 1)
	go func() { flushed <- l.Flush() }()
	// Once Flush holds mu the worker cannot complete the held sync: Flush
	// has to sync segment 0 itself, after the held fsync ends.
	waitUntil(t, "Flush holding the log's lock", func() bool {
		if l.mu.TryLock() {
			l.mu.Unlock()
			return false
		}
		return true
	})
	gfs.open()
	select {
	case err := <-flushed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(rollTimeout):
		t.Fatal("Flush did not return")
	}
	if n := gfs.syncs.Load(); n < 2 {
		t.Fatalf("segment 0 fsynced %d times, want the worker's and Flush's", n)
	}
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if rp, leo := recoveryPointOnDisk(t, dir), l.LogEndOffset(); rp != leo {
		t.Fatalf("recovery point %d after Flush, log end %d", rp, leo)
	}
}

// A truncation into the rolled segment while its fsync runs keeps the
// completion from moving the recovery point or writing the roll's
// snapshot: the batches it covers are gone.
func TestTruncateDuringRollSync(t *testing.T) {
	dir, gfs, l := rolledWithSyncHeld(t)
	base := l.active.base
	cut := base / 2
	within(t, "truncation while the rolled segment's fsync is held", func() {
		if err := l.TruncateTo(cut); err != nil {
			t.Error(err)
		}
	})
	gfs.open()
	waitUntil(t, "background sync done", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return !l.syncing
	})
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if rp := recoveryPointOnDisk(t, dir); rp > cut {
		t.Fatalf("recovery point %d above the truncation point %d", rp, cut)
	}
	if snapshotExists(t, l, base) {
		t.Fatalf("producer snapshot at %d written past the log end %d", base, l.LogEndOffset())
	}
	// The log goes on: appends, another roll, a sync that completes.
	appendN(t, l, 20)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
}
