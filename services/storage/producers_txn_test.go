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
