package log

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/recordbatch"
)

func txnBatch(t *testing.T, pid int64, seq int32, n int) []byte {
	t.Helper()
	o := recordbatch.ProducerOptions(codec.None)
	o.ProducerID, o.ProducerEpoch, o.BaseSequence, o.Transactional = pid, 0, seq, true
	recs := make([]recordbatch.BuildRecord, n)
	for i := range recs {
		recs[i] = recordbatch.BuildRecord{Value: []byte("v"), Timestamp: 1}
	}
	b, err := recordbatch.Build(o, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustAppend(t *testing.T, l *Log, b []byte) int64 {
	t.Helper()
	off, err := l.Append(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	return off
}

func mustMarker(t *testing.T, l *Log, pid int64, commit bool) int64 {
	t.Helper()
	end := l.LogEndOffset()
	off, err := l.AppendControl(pid, 0, commit, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if off != end || l.LogEndOffset() != end+1 {
		t.Fatalf("marker at %d, log end %d → %d", off, end, l.LogEndOffset())
	}
	return off
}

// The LSO stalls at the first offset of the oldest open transaction and
// moves when markers end them; aborts are indexed, commits are not; the
// state survives a reopen and rolls (from the .txnindex files) and a
// truncation.
func TestTxnStateLSOAndAbortedIndex(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.SegmentBytes = 400 // a roll every few batches
	l := openT(t, dir, cfg)
	mustAppend(t, l, batchOf(t, codec.None, 1, 10, 1)) // 0
	a := mustAppend(t, l, txnBatch(t, 7, 0, 2))        // 1-2, producer 7 opens
	mustAppend(t, l, batchOf(t, codec.None, 1, 10, 1)) // 3
	b := mustAppend(t, l, txnBatch(t, 8, 0, 1))        // 4, producer 8 opens
	if lso := l.LastStableOffset(); lso != a {
		t.Fatalf("LSO with two open transactions = %d, want %d", lso, a)
	}
	mustAppend(t, l, txnBatch(t, 7, 2, 1)) // 5, still producer 7's transaction
	abort := mustMarker(t, l, 7, false)    // 6
	if lso := l.LastStableOffset(); lso != b {
		t.Fatalf("LSO after the abort = %d, want %d", lso, b)
	}
	mustMarker(t, l, 8, true) // 7
	if lso, hw := l.LastStableOffset(), l.HighWatermark(); lso != hw {
		t.Fatalf("LSO with nothing open = %d, want the high watermark %d", lso, hw)
	}
	c := mustAppend(t, l, txnBatch(t, 9, 0, 1)) // 8, left open
	want := []AbortedTxn{{ProducerID: 7, FirstOffset: a, LastOffset: abort}}
	if got := l.AbortedTxns(0, 100); !reflect.DeepEqual(got, want) {
		t.Fatalf("aborted = %+v, want %+v", got, want)
	}
	if got := l.AbortedTxns(abort+1, 100); len(got) != 0 {
		t.Fatalf("aborted after the marker = %+v", got)
	}
	if got := l.AbortedTxns(0, a); len(got) != 0 {
		t.Fatalf("aborted before the transaction = %+v", got)
	}
	if l.NumSegments() < 2 {
		t.Fatalf("%d segments: the test wants rolls", l.NumSegments())
	}
	idx, _ := filepath.Glob(filepath.Join(dir, "*"+txnIndexSuffix))
	if len(idx) == 0 {
		t.Fatal("no .txnindex written at a roll")
	}
	check := func(l *Log, what string) {
		t.Helper()
		if got := l.AbortedTxns(0, 100); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: aborted = %+v, want %+v", what, got, want)
		}
		if first, ok := l.OngoingTxn(9); !ok || first != c {
			t.Fatalf("%s: producer 9 open at %d %v, want %d", what, first, ok, c)
		}
		if lso := l.LastStableOffset(); lso != c {
			t.Fatalf("%s: LSO = %d, want %d", what, lso, c)
		}
	}
	check(l, "before reopen")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openT(t, dir, cfg)
	check(l, "after a clean reopen")
	l.Close()
	// Damaged and missing indexes are rebuilt by scanning.
	os.WriteFile(idx[0], []byte("junk"), 0o644)
	if len(idx) > 1 {
		os.Remove(idx[1])
	}
	l = openT(t, dir, cfg)
	check(l, "after rebuilding the indexes")

	// Truncating below the abort marker reopens producer 7's transaction.
	if err := l.TruncateTo(abort); err != nil {
		t.Fatal(err)
	}
	if got := l.AbortedTxns(0, 100); len(got) != 0 {
		t.Fatalf("aborted after truncation = %+v", got)
	}
	if first, ok := l.OngoingTxn(7); !ok || first != a {
		t.Fatalf("producer 7 after truncation: %d %v", first, ok)
	}
	if _, ok := l.OngoingTxn(9); ok {
		t.Fatal("producer 9's truncated transaction is still open")
	}
	l.Close()
}

// FuzzDecodeTxnIndex: a .txnindex of any content is refused or decoded,
// never a panic or an allocation past its size.
func FuzzDecodeTxnIndex(f *testing.F) {
	var st txnState
	st.reset()
	st.ongoing[3] = 40
	st.aborted = []AbortedTxn{{ProducerID: 1, FirstOffset: 2, LastOffset: 9}}
	good := st.encodeIndex(0, 100)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte("STXN\x01\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ab, open, err := decodeIndex(b)
		if err == nil && len(ab)*24+len(open)*16 > len(b) {
			t.Fatalf("decoded %d aborted and %d open from %d bytes", len(ab), len(open), len(b))
		}
	})
}

// keyedTxn is a transactional batch of one record key=value.
func keyedTxn(t *testing.T, pid int64, seq int32, key, value string) []byte {
	t.Helper()
	o := recordbatch.ProducerOptions(codec.None)
	o.ProducerID, o.ProducerEpoch, o.BaseSequence, o.Transactional = pid, 0, seq, true
	b, err := recordbatch.Build(o, []recordbatch.BuildRecord{{Key: []byte(key), Value: []byte(value), Timestamp: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Compaction is transaction-aware: an aborted transaction's records never
// supersede committed ones and are removed; an open transaction's records
// are not compacted at all (the cleaner stops at the LSO).
func TestCompactionSkipsAbortedAndOpenTransactions(t *testing.T) {
	cfg := smallConfig()
	cfg.CleanupPolicy = PolicyCompact
	cfg.SegmentBytes = 300
	cfg.MinCleanableDirtyRatio = 0
	l := openT(t, t.TempDir(), cfg)
	defer l.Close()
	mustAppend(t, l, keyed(t, codec.None, 1, "k", "committed"))
	mustAppend(t, l, keyedTxn(t, 7, 0, "k", "aborted"))
	mustMarker(t, l, 7, false)
	for i := range 6 { // later segments so the ones above are sealed
		mustAppend(t, l, keyed(t, codec.None, 1, fmt.Sprintf("other-%d", i), "x"))
	}
	if _, err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	_, vals := readAll(t, l)
	got := strings.Join(vals, ",")
	if !strings.Contains(got, "committed") || strings.Contains(got, "aborted") {
		t.Fatalf("after compaction: %s", got)
	}

	// An open transaction overwriting "k": nothing at or after it is cleaned.
	mustAppend(t, l, keyedTxn(t, 8, 0, "k", "open"))
	for i := range 6 {
		mustAppend(t, l, keyed(t, codec.None, 1, fmt.Sprintf("more-%d", i), "y"))
	}
	if _, err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	_, vals = readAll(t, l)
	if got := strings.Join(vals, ","); !strings.Contains(got, "committed") || !strings.Contains(got, "open") {
		t.Fatalf("with a transaction open: %s", got)
	}
}

// markersByProducer returns each producer's markers in the log, and
// whether they carry a delete horizon.
func markersByProducer(t *testing.T, l *Log) (count map[int64]int, horizon map[int64]bool) {
	t.Helper()
	count, horizon = map[int64]int{}, map[int64]bool{}
	for off := l.LogStartOffset(); off < l.LogEndOffset(); {
		data, err := l.Read(off, 1<<20, l.LogEndOffset())
		if err != nil || len(data) == 0 {
			t.Fatalf("read at %d: %v", off, err)
		}
		for len(data) > 0 {
			b, rest, err := recordbatch.Next(data)
			if err != nil {
				t.Fatal(err)
			}
			h, err := recordbatch.Validate(b)
			if err != nil {
				t.Fatal(err)
			}
			if h.IsControl() {
				count[h.ProducerID]++
				_, set := h.DeleteHorizon()
				horizon[h.ProducerID] = horizon[h.ProducerID] || set
			}
			off, data = h.NextOffset(), rest
		}
	}
	return count, horizon
}

// Compaction removes a transaction marker as Kafka's cleaner does: only
// once a cleaning found none of its transaction's data left, it gets a
// delete horizon of delete.retention.ms; a cleaning after the horizon
// removes it, and an abort marker's aborted-transaction entry goes with
// it (from memory and from the .txnindex). A marker whose transaction
// still has data stays, and so does a producer's last marker.
func TestCompactionRemovesMarkersAfterTheirData(t *testing.T) {
	cfg := smallConfig()
	cfg.CleanupPolicy = PolicyCompact
	cfg.SegmentBytes = 300
	cfg.MinCleanableDirtyRatio = 0
	cfg.DeleteRetentionMs = 1000
	clock := &fakeClock{t: time.UnixMilli(1_000_000)}
	dir := t.TempDir()
	l := openT(t, dir, cfg, WithClock(clock.now))
	commit := func(pid int64, key, value string) {
		mustAppend(t, l, keyedTxn(t, pid, 0, key, value))
		mustMarker(t, l, pid, true)
	}
	commit(5, "a", "superseded")                        // its data goes in the first cleaning
	mustAppend(t, l, keyedTxn(t, 7, 0, "b", "aborted")) // so does an aborted transaction's
	abortAt := mustMarker(t, l, 7, false)
	commit(9, "c", "kept")  // its data stays, and so does its marker
	commit(11, "g", "gone") // data superseded, but its marker is 11's last batch
	mustAppend(t, l, keyed(t, codec.None, 1, "a", "latest"))
	mustAppend(t, l, keyed(t, codec.None, 1, "g", "plain"))
	// Later transactions of 5 and 7, so the markers above are not their
	// producers' last batches (a producer's last marker is kept).
	mustAppend(t, l, keyedTxn(t, 5, 1, "d", "later"))
	mustMarker(t, l, 5, true)
	mustAppend(t, l, keyedTxn(t, 7, 1, "e", "later"))
	mustMarker(t, l, 7, true)
	filler := 0
	compact := func() CleanStats {
		t.Helper()
		for range 6 { // new sealed, dirty segments
			mustAppend(t, l, keyed(t, codec.None, 1, fmt.Sprintf("f-%d", filler), "x"))
			filler++
		}
		st, err := l.Compact()
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	want := func(what string, count map[int64]int, horizon map[int64]bool) {
		t.Helper()
		gotCount, gotHorizon := markersByProducer(t, l)
		if !reflect.DeepEqual(gotCount, count) || !reflect.DeepEqual(gotHorizon, horizon) {
			t.Fatalf("%s: markers %v horizons %v, want %v %v", what, gotCount, gotHorizon, count, horizon)
		}
	}

	compact() // removes the data of 5 and 7; their markers saw data
	want("first cleaning", map[int64]int{5: 2, 7: 2, 9: 1, 11: 1}, map[int64]bool{5: false, 7: false, 9: false, 11: false})
	if _, vals := readAll(t, l); strings.Contains(strings.Join(vals, ","), "superseded") || strings.Contains(strings.Join(vals, ","), "aborted") {
		t.Fatalf("data left: %v", vals)
	}
	compact() // no data left for 5 and 7: delete horizons set
	want("second cleaning", map[int64]int{5: 2, 7: 2, 9: 1, 11: 1}, map[int64]bool{5: true, 7: true, 9: false, 11: false})
	if ab := l.AbortedTxns(0, l.LogEndOffset()); len(ab) != 1 || ab[0].LastOffset != abortAt {
		t.Fatalf("aborted before the marker goes: %+v", ab)
	}
	clock.advance(999 * time.Millisecond)
	if st := compact(); st.MarkersRemoved != 0 {
		t.Fatalf("markers removed before their horizon: %+v", st)
	}
	clock.advance(2 * time.Millisecond)
	if st := compact(); st.MarkersRemoved != 2 {
		t.Fatalf("after the horizon: %+v", st)
	}
	want("after the horizon", map[int64]int{5: 1, 7: 1, 9: 1, 11: 1}, map[int64]bool{5: false, 7: false, 9: false, 11: false})
	if ab := l.AbortedTxns(0, l.LogEndOffset()); len(ab) != 0 {
		t.Fatalf("aborted entry kept without its marker: %+v", ab)
	}

	// A reopen (from the .txnindex files, and with them gone, from scans)
	// agrees: no open or aborted transaction, the LSO at the end.
	for _, drop := range []bool{false, true} {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if drop {
			idx, _ := filepath.Glob(filepath.Join(dir, "*"+txnIndexSuffix))
			for _, f := range idx {
				os.Remove(f)
			}
		}
		l = openT(t, dir, cfg, WithClock(clock.now))
		if ab, open := l.AbortedTxns(0, l.LogEndOffset()), l.OngoingTxns(); len(ab) != 0 || len(open) != 0 || l.LastStableOffset() != l.HighWatermark() {
			t.Fatalf("reopened (txnindex dropped %v): aborted %+v open %v LSO %d HW %d", drop, ab, open, l.LastStableOffset(), l.HighWatermark())
		}
		if _, vals := readAll(t, l); !strings.Contains(strings.Join(vals, ","), "kept") {
			t.Fatalf("committed data lost: %v", vals)
		}
	}
	l.Close()
}
