package storage

import (
	"testing"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/recordbatch"
)

func pidBatch(t *testing.T, pid int64, epoch int16, seq int32, txn bool) []byte {
	t.Helper()
	o := recordbatch.ProducerOptions(codec.None)
	o.ProducerID, o.ProducerEpoch, o.BaseSequence, o.Transactional = pid, epoch, seq, txn
	b, err := recordbatch.Build(o, []recordbatch.BuildRecord{{Value: []byte("v"), Timestamp: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func marker(pid int64, epoch int32, typ storagev1.TxnMarkerType) *storagev1.TxnMarker {
	return &storagev1.TxnMarker{Topic: "t", ProducerId: pid, ProducerEpoch: epoch, Type: typ}
}

// A transactional batch needs a transaction the coordinator opened (BEGIN)
// at the producer's epoch; a marker closes it and fences older epochs.
func TestTransactionalBatchRules(t *testing.T) {
	ps := newPartitions(t.TempDir())
	if err := ps.reconcile([]assignment{testAssignment("t", 0, "aa")}, keepAll, &testHost{}); err != nil {
		t.Fatal(err)
	}
	defer ps.closeAll()
	r, _ := ps.get("t", 0)
	wantCode := func(err error, code errs.Code, what string) {
		t.Helper()
		if !errs.Is(err, code) {
			t.Fatalf("%s: %v, want %v", what, err, code)
		}
	}
	end := r.log.LogEndOffset()
	_, err := r.appendProduced(0, pidBatch(t, 5, 0, 0, true))
	wantCode(err, errs.InvalidTxnState, "transactional batch without BEGIN")
	if r.log.LogEndOffset() != end {
		t.Fatal("a refused batch was written")
	}
	if _, err := r.writeMarker(0, marker(5, 0, storagev1.TxnMarkerType_TXN_MARKER_TYPE_BEGIN)); err != nil {
		t.Fatal(err)
	}
	first, err := r.appendProduced(0, pidBatch(t, 5, 0, 0, true))
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.appendProduced(0, pidBatch(t, 5, 0, 1, false))
	wantCode(err, errs.InvalidTxnState, "plain batch inside a transaction")
	if _, err := r.appendProduced(0, pidBatch(t, 5, 0, 1, true)); err != nil {
		t.Fatal(err)
	}
	if lso := r.log.LastStableOffset(); lso != first {
		t.Fatalf("LSO = %d, want %d", lso, first)
	}
	// The coordinator fences the producer: an abort at epoch 1.
	off, err := r.writeMarker(0, marker(5, 1, storagev1.TxnMarkerType_TXN_MARKER_TYPE_ABORT))
	if err != nil {
		t.Fatal(err)
	}
	if ab := r.log.AbortedTxns(0, off+1); len(ab) != 1 || ab[0].FirstOffset != first || ab[0].LastOffset != off {
		t.Fatalf("aborted = %+v", ab)
	}
	_, err = r.appendProduced(0, pidBatch(t, 5, 0, 2, true))
	wantCode(err, errs.InvalidProducerEpoch, "zombie at the old epoch")
	_, err = r.writeMarker(0, marker(5, 0, storagev1.TxnMarkerType_TXN_MARKER_TYPE_BEGIN))
	wantCode(err, errs.InvalidProducerEpoch, "BEGIN at the old epoch")
	// The state survives a rebuild (a new leader epoch): the new epoch
	// holds, sequences restart at 0.
	if _, err := r.writeMarker(1, marker(5, 1, storagev1.TxnMarkerType_TXN_MARKER_TYPE_BEGIN)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.appendProduced(1, pidBatch(t, 5, 1, 0, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.writeMarker(1, marker(5, 1, storagev1.TxnMarkerType_TXN_MARKER_TYPE_COMMIT)); err != nil {
		t.Fatal(err)
	}
	if lso, hw := r.log.LastStableOffset(), r.log.HighWatermark(); lso != hw {
		t.Fatalf("LSO %d after the commit, high watermark %d", lso, hw)
	}
	_, err = r.writeMarker(1, marker(5, 1, storagev1.TxnMarkerType_TXN_MARKER_TYPE_UNSPECIFIED))
	wantCode(err, errs.InvalidRequest, "unknown marker type")
	_, err = r.writeMarker(1, marker(-3, 1, storagev1.TxnMarkerType_TXN_MARKER_TYPE_BEGIN))
	wantCode(err, errs.InvalidRequest, "negative producer id")
}

// After a restart the leader's state comes from the log's snapshot: a
// retried batch is still a duplicate (answered with its first offset, not
// written), a fenced epoch is still refused, and sequences go on.
func TestProducerStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	a := testAssignment("t", 0, "aa")
	a.cfg.SegmentBytes = 1024
	open := func() (*partitions, *replica) {
		t.Helper()
		ps := newPartitions(dir)
		if err := ps.reconcile([]assignment{a}, keepAll, &testHost{}); err != nil {
			t.Fatal(err)
		}
		r, _ := ps.get("t", 0)
		return ps, r
	}
	ps, r := open()
	var firstOf []int64
	for seq := int32(0); seq < 60; seq++ {
		off, err := r.appendProduced(0, pidBatch(t, 9, 0, seq, false))
		if err != nil {
			t.Fatal(err)
		}
		firstOf = append(firstOf, off)
	}
	if _, err := r.writeMarker(0, marker(5, 0, storagev1.TxnMarkerType_TXN_MARKER_TYPE_BEGIN)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.appendProduced(0, pidBatch(t, 5, 0, 0, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.writeMarker(0, marker(5, 2, storagev1.TxnMarkerType_TXN_MARKER_TYPE_ABORT)); err != nil {
		t.Fatal(err)
	}
	if n := r.log.NumSegments(); n < 3 {
		t.Fatalf("%d segments", n)
	}
	end := r.log.LogEndOffset()
	if !ps.closeAll() {
		t.Fatal("close failed")
	}
	ps, r = open()
	t.Cleanup(func() { ps.closeAll() })
	off, err := r.appendProduced(1, pidBatch(t, 9, 0, 59, false))
	if err != nil || off != firstOf[59] || r.log.LogEndOffset() != end {
		t.Fatalf("retry after restart: offset %d, %v, log end %d; want %d, nil, %d", off, err, r.log.LogEndOffset(), firstOf[59], end)
	}
	_, err = r.appendProduced(1, pidBatch(t, 9, 0, 61, false))
	if !errs.Is(err, errs.OutOfOrderSequence) {
		t.Fatalf("gap after restart: %v", err)
	}
	if _, err := r.appendProduced(1, pidBatch(t, 9, 0, 60, false)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.writeMarker(1, marker(5, 1, storagev1.TxnMarkerType_TXN_MARKER_TYPE_BEGIN)); !errs.Is(err, errs.InvalidProducerEpoch) {
		t.Fatalf("fenced epoch after restart: %v", err)
	}
}
