package log

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/recordbatch"
)

func producerBatch(t *testing.T, pid int64, epoch int16, seq int32, txn bool, n int) []byte {
	t.Helper()
	o := recordbatch.ProducerOptions(codec.None)
	o.ProducerID, o.ProducerEpoch, o.BaseSequence, o.Transactional = pid, epoch, seq, txn
	recs := make([]recordbatch.BuildRecord, n)
	for i := range recs {
		recs[i] = recordbatch.BuildRecord{Value: bytes.Repeat([]byte("v"), 40), Timestamp: int64(1000 + seq + int32(i))}
	}
	b, err := recordbatch.Build(o, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// producerWorkload writes idempotent and transactional producers' batches
// over many segments: committed and aborted transactions, epochs bumped by
// markers (a fenced producer), plain batches in between, and one
// transaction left open.
func producerWorkload(t *testing.T, l *Log, rounds int) {
	t.Helper()
	seq := map[int64]int32{}
	epoch := map[int64]int16{}
	add := func(pid int64, txn bool, n int) {
		mustAppend(t, l, producerBatch(t, pid, epoch[pid], seq[pid], txn, n))
		seq[pid] += int32(n)
	}
	markerAt := func(pid int64, e int16, commit bool) {
		t.Helper()
		if _, err := l.AppendControl(pid, e, commit, 0, 0); err != nil {
			t.Fatal(err)
		}
		if e != epoch[pid] {
			epoch[pid], seq[pid] = e, 0
		}
	}
	for i := range rounds {
		add(1, false, 1+i%3) // idempotent, never transactional
		mustAppend(t, l, batchOf(t, codec.None, 2, 30, 5))
		add(2, true, 2) // committed transactions
		add(2, true, 1)
		markerAt(2, epoch[2], true)
		add(3, true, 1) // aborted by the coordinator with a bump: fenced
		markerAt(3, epoch[3]+1, false)
		if i%4 == 0 {
			add(int64(100+i), false, 1) // short-lived producers
		}
	}
	add(4, true, 2) // open at the end
}

// fullScanState is the state a scan of the whole log gives.
func fullScanState(t *testing.T, l *Log) map[int64]ProducerState {
	t.Helper()
	var p producerState
	p.reset()
	saved := l.prod.m
	l.prod.m = p.m
	defer func() { l.prod.m = saved }()
	if _, err := l.scanProducers(l.segs[0].base); err != nil {
		t.Fatal(err)
	}
	l.prod.trimBelow(l.logStart.Load(), l.OngoingTxns())
	return l.Producers()
}

func snapshotFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+snapshotSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func producerConfig() Config {
	cfg := smallConfig()
	cfg.SegmentBytes = 2000
	return cfg
}

// The state a log loads from a snapshot and the tail after it is the
// state of a full scan, after a clean close, a crash, and with the
// snapshots gone; a clean close leaves nothing to scan, a crash only the
// batches after the last roll.
func TestProducerSnapshotLoadEqualsFullScan(t *testing.T) {
	dir := t.TempDir()
	cfg := producerConfig()
	l := openT(t, dir, cfg)
	producerWorkload(t, l, 40)
	if l.NumSegments() < 5 {
		t.Fatalf("%d segments; the test wants several rolls", l.NumSegments())
	}
	live := l.Producers()
	if want := fullScanState(t, l); !reflect.DeepEqual(live, want) {
		t.Fatalf("live state\n%+v\nfull scan\n%+v", live, want)
	}
	if e := live[3]; e.Epoch != 40 || len(e.Batches) != 0 {
		t.Fatalf("fenced producer 3: %+v, want epoch 40 with no batch", e)
	}
	if e := live[2]; e.Epoch != 0 || len(e.Batches) != ProducerWindow {
		t.Fatalf("producer 2: %+v, want epoch 0 with %d batches", e, ProducerWindow)
	}
	if n := len(snapshotFiles(t, dir)); n == 0 || n > snapshotsKept {
		t.Fatalf("%d snapshots, want 1..%d", n, snapshotsKept)
	}

	// Clean close: a snapshot at the log end, nothing to scan.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openT(t, dir, cfg)
	if got := l.Producers(); !reflect.DeepEqual(got, live) {
		t.Fatalf("after a clean close\n%+v\nwant\n%+v", got, live)
	}
	if n := l.producerScanBytes.Load(); n != 0 {
		t.Fatalf("a clean open scanned %d bytes", n)
	}

	// A crash: the snapshot of the last roll and the active segment.
	producerWorkload(t, l, 3)
	live = l.Producers()
	activeSize := l.active.size.Load()
	crash(l)
	l = openT(t, dir, cfg)
	if got := l.Producers(); !reflect.DeepEqual(got, live) {
		t.Fatalf("after a crash\n%+v\nwant\n%+v", got, live)
	}
	if n := l.producerScanBytes.Load(); n == 0 || n > activeSize {
		t.Fatalf("after a crash the rebuild read %d bytes, want 1..%d (the active segment)", n, activeSize)
	}
	tail := l.producerScanBytes.Load()

	// No snapshot: the full scan, same state, more bytes.
	for _, f := range snapshotFiles(t, dir) {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	crash(l)
	l = openT(t, dir, cfg)
	t.Cleanup(func() { l.Close() })
	if got := l.Producers(); !reflect.DeepEqual(got, live) {
		t.Fatalf("after a full scan\n%+v\nwant\n%+v", got, live)
	}
	full := l.producerScanBytes.Load()
	if full < l.Size()/2 || full <= 4*tail {
		t.Fatalf("full scan read %d bytes of %d, the tail scan %d", full, l.Size(), tail)
	}
	t.Logf("rebuild read %d bytes after a snapshot, %d without (log %d bytes)", tail, full, l.Size())
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A damaged snapshot (flipped bit, unknown version, cut short, wrong
// offset) is ignored with a warning and deleted; the next older one, or
// the full scan, gives the same state.
func TestProducerSnapshotDamagedIgnored(t *testing.T) {
	damage := map[string]func(b []byte) []byte{
		"bit flip":     func(b []byte) []byte { b[len(b)/2] ^= 0x10; return b },
		"version":      func(b []byte) []byte { b[len(snapshotMagic)-1] = 9; return b },
		"cut short":    func(b []byte) []byte { return b[:7] },
		"empty":        func([]byte) []byte { return nil },
		"other offset": nil, // another snapshot's content under this name
	}
	for name, fn := range damage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := producerConfig()
			l := openT(t, dir, cfg)
			producerWorkload(t, l, 30)
			want := l.Producers()
			crash(l)
			snaps := snapshotFiles(t, dir)
			if len(snaps) < 2 {
				t.Fatalf("%d snapshots", len(snaps))
			}
			newest := snaps[len(snaps)-1]
			var b []byte
			var err error
			if fn == nil {
				b, err = os.ReadFile(snaps[0])
			} else {
				b, err = os.ReadFile(newest)
				b = fn(b)
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(newest, b, 0o644); err != nil {
				t.Fatal(err)
			}
			var logs syncBuffer
			l = openT(t, dir, cfg, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			t.Cleanup(func() { l.Close() })
			if got := l.Producers(); !reflect.DeepEqual(got, want) {
				t.Fatalf("state\n%+v\nwant\n%+v", got, want)
			}
			if !strings.Contains(logs.String(), "level=WARN msg=\"ignoring damaged producer state snapshot\"") {
				t.Fatalf("no warning logged: %q", logs.String())
			}
			if _, err := os.Stat(newest); !os.IsNotExist(err) {
				t.Fatalf("damaged snapshot kept: %v", err)
			}
		})
	}
}

// A truncation deletes the snapshots past the new end and reloads the
// state from an older one: the state of a full scan of what is left. A
// snapshot newer than the log found at Open is deleted too.
func TestProducerSnapshotTruncation(t *testing.T) {
	dir := t.TempDir()
	cfg := producerConfig()
	l := openT(t, dir, cfg)
	t.Cleanup(func() { l.Close() })
	producerWorkload(t, l, 40)
	offs, err := l.snapshotOffsets()
	if err != nil || len(offs) < 2 {
		t.Fatalf("snapshots %v %v", offs, err)
	}
	cut := offs[len(offs)-1] - 3
	if err := l.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	after, err := l.snapshotOffsets()
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range after {
		if off > l.LogEndOffset() {
			t.Fatalf("snapshot %d kept past the log end %d", off, l.LogEndOffset())
		}
	}
	if got, want := l.Producers(), fullScanState(t, l); !reflect.DeepEqual(got, want) {
		t.Fatalf("after truncation\n%+v\nfull scan\n%+v", got, want)
	}
	// The log goes on: a new epoch of producer 1 continues from the state.
	mustAppend(t, l, producerBatch(t, 1, 1, 0, false, 1))
	if e := l.Producers()[1]; e.Epoch != 1 || len(e.Batches) != 1 {
		t.Fatalf("producer 1 after truncation: %+v", e)
	}

	// A snapshot past the log end (its batches were lost) is not used.
	want := l.Producers()
	crash(l)
	stale := (&Log{dir: dir}).snapshotPath(l.LogEndOffset() + 100)
	if err := os.WriteFile(stale, (&producerState{m: map[int64]*ProducerState{77: {Epoch: 3, LastOffset: 1 << 40}}}).encodeSnapshot(l.LogEndOffset()+100), 0o644); err != nil {
		t.Fatal(err)
	}
	l = openT(t, dir, cfg)
	if got := l.Producers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("with a snapshot past the end\n%+v\nwant\n%+v", got, want)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("snapshot past the end kept: %v", err)
	}
}

// Retention deletes the snapshots of the deleted segments and forgets the
// producers whose batches all went; TruncateFullyAndStartAt deletes every
// snapshot.
func TestProducerSnapshotRetention(t *testing.T) {
	dir := t.TempDir()
	cfg := producerConfig()
	cfg.CleanupPolicy = "delete"
	l := openT(t, dir, cfg)
	t.Cleanup(func() { l.Close() })
	producerWorkload(t, l, 40)
	mustAppend(t, l, producerBatch(t, 4, 0, 2, true, 1))
	if _, err := l.AppendControl(4, 0, true, 0, 0); err != nil {
		t.Fatal(err)
	}
	offs, _ := l.snapshotOffsets()
	start := offs[len(offs)-1]
	if _, err := l.DeleteRecordsBefore(start); err != nil {
		t.Fatal(err)
	}
	for _, off := range mustSnapshotOffsets(t, l) {
		if off < l.segs[0].base {
			t.Fatalf("snapshot %d below the first segment %d", off, l.segs[0].base)
		}
	}
	got := l.Producers()
	if _, ok := got[100]; ok {
		t.Fatalf("producer 100, whose batches are all deleted, is still known: %+v", got[100])
	}
	if want := fullScanState(t, l); !reflect.DeepEqual(got, want) {
		// The live state keeps batches of a producer below the start
		// that a scan from the start no longer sees; compare producers
		// and epochs only.
		for id, e := range want {
			if g, ok := got[id]; !ok || g.Epoch != e.Epoch {
				t.Fatalf("producer %d: live %+v, full scan %+v", id, g, e)
			}
		}
	}
	if err := l.TruncateFullyAndStartAt(l.LogEndOffset() + 10); err != nil {
		t.Fatal(err)
	}
	if n := len(snapshotFiles(t, dir)); n != 0 || len(l.Producers()) != 0 {
		t.Fatalf("after a full truncation: %d snapshots, state %+v", n, l.Producers())
	}
}

func mustSnapshotOffsets(t *testing.T, l *Log) []int64 {
	t.Helper()
	offs, err := l.snapshotOffsets()
	if err != nil {
		t.Fatal(err)
	}
	return offs
}

func FuzzDecodeProducerSnapshot(f *testing.F) {
	p := &producerState{m: map[int64]*ProducerState{
		1: {Epoch: 2, LastOffset: 9, Batches: []ProducerBatch{{0, 3, 5, 100}, {4, 4, 9, 101}}},
		7: {Epoch: 0, LastOffset: 12},
	}}
	f.Add(p.encodeSnapshot(13))
	f.Add([]byte("SPST\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		off, m, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		again := (&producerState{m: m}).encodeSnapshot(off)
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

// ExpireProducers forgets idle producers but not one with a transaction
// open; producers loaded from a snapshot count as seen at the load.
func TestExpireIdleProducers(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, producerConfig())
	mustAppend(t, l, producerBatch(t, 1, 0, 0, false, 2))
	mustAppend(t, l, producerBatch(t, 4, 0, 0, true, 2)) // left open
	if gone := l.ExpireProducers(time.Hour); len(gone) != 0 {
		t.Fatalf("expired %v within the expiration", gone)
	}
	if gone := l.ExpireProducers(0); !slices.Equal(gone, []int64{1}) {
		t.Fatalf("expired %v, want [1]", gone)
	}
	if _, ok := l.Producers()[4]; !ok {
		t.Fatal("the producer with an open transaction was forgotten")
	}
	mustAppend(t, l, producerBatch(t, 2, 0, 0, false, 1))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openT(t, dir, producerConfig())
	t.Cleanup(func() { l.Close() })
	if gone := l.ExpireProducers(0); len(gone) != 0 {
		t.Fatalf("expired %v right after the load", gone)
	}
	if gone := l.ExpireProducers(0); !slices.Equal(gone, []int64{2}) {
		t.Fatalf("expired %v, want [2]", gone)
	}
}
