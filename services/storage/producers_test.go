package storage

import (
	"slices"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/recordbatch"
)

// idempotentBatches builds consecutive batches of producer 7, epoch 0, of
// n records each, from sequence seq.
func idempotentBatches(t *testing.T, seq int32, n int, batches int) []byte {
	t.Helper()
	var out []byte
	for range batches {
		opts := recordbatch.ProducerOptions(codec.None)
		opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = 7, 0, seq
		recs := make([]recordbatch.BuildRecord, n)
		for i := range recs {
			recs[i] = recordbatch.BuildRecord{Value: []byte("v"), Timestamp: 1}
		}
		b, err := recordbatch.Build(opts, recs)
		if err != nil {
			t.Fatal(err)
		}
		out, seq = append(out, b...), seq+int32(n)
	}
	return out
}

// One idempotent write may carry several consecutive batches of a producer
// (a ProduceStream session's queued requests): they are appended together,
// a retry of the whole write is answered with its original offset and
// written once, and batches that do not follow each other are refused
// whole.
func TestIdempotentWriteOfSeveralBatches(t *testing.T) {
	ps := newPartitions(t.TempDir())
	if err := ps.reconcile([]assignment{testAssignment("t", 0, "aa")}, keepAll, &testHost{}); err != nil {
		t.Fatal(err)
	}
	defer ps.closeAll()
	r, _ := ps.get("t", 0)

	first := idempotentBatches(t, 0, 3, 4) // sequences 0..11
	base, err := r.appendProduced(0, first)
	if err != nil || base != 0 {
		t.Fatalf("first write: base %d, %v", base, err)
	}
	if again, err := r.appendProduced(0, first); err != nil || again != 0 {
		t.Fatalf("retry of the write: base %d, %v; want the original 0", again, err)
	}
	if end := r.log.LogEndOffset(); end != 12 {
		t.Fatalf("log end %d after a write and its retry, want 12", end)
	}
	next, err := r.appendProduced(0, idempotentBatches(t, 12, 2, 2))
	if err != nil || next != 12 {
		t.Fatalf("next write: base %d, %v", next, err)
	}

	gap := slices.Concat(idempotentBatches(t, 16, 1, 1), idempotentBatches(t, 18, 1, 1))
	partialRetry := slices.Concat(idempotentBatches(t, 12, 2, 2), idempotentBatches(t, 16, 2, 1))
	for name, records := range map[string][]byte{
		"batches with a gap":        gap,
		"a retry with a new batch":  partialRetry,
		"not following the last":    idempotentBatches(t, 20, 1, 2),
		"more batches than allowed": idempotentBatches(t, 16, 1, maxIdempotentBatches+1),
	} {
		if _, err := r.appendProduced(0, records); errs.From(err) == nil {
			t.Errorf("%s: %v, want a Strata error", name, err)
		}
	}
	if end := r.log.LogEndOffset(); end != 16 {
		t.Fatalf("log end %d, want 16: refused writes must write nothing", end)
	}
}

// A resend older than every batch the leader remembers (a resumed
// ProduceStream session resending more than the window) is answered
// DUPLICATE_SEQUENCE_NUMBER and written nothing; one that straddles the
// window's start is refused too.
func TestIdempotentResendOlderThanTheWindow(t *testing.T) {
	ps := newPartitions(t.TempDir())
	if err := ps.reconcile([]assignment{testAssignment("t", 0, "aa")}, keepAll, &testHost{}); err != nil {
		t.Fatal(err)
	}
	defer ps.closeAll()
	r, _ := ps.get("t", 0)
	for seq := int32(0); seq < int32(2*producerWindow); seq++ {
		if _, err := r.appendProduced(0, idempotentBatches(t, seq*2, 2, 1)); err != nil {
			t.Fatal(err)
		}
	}
	end := r.log.LogEndOffset()
	if _, err := r.appendProduced(0, idempotentBatches(t, 0, 2, 1)); !errs.Is(err, errs.DuplicateSequence) {
		t.Fatalf("resend of the first batch: %v, want DUPLICATE_SEQUENCE_NUMBER", err)
	}
	straddle := idempotentBatches(t, 2*(producerWindow-1), 2, 2) // the batch before the window, and its first
	if _, err := r.appendProduced(0, straddle); errs.From(err) == nil || errs.Is(err, errs.DuplicateSequence) {
		t.Fatalf("resend across the window's start: %v, want another refusal", err)
	}
	if r.log.LogEndOffset() != end {
		t.Fatalf("log end %d, want %d: nothing written again", r.log.LogEndOffset(), end)
	}
	if !seqBefore(1<<31-2, 1) || seqBefore(1, 1<<31-2) || seqBefore(5, 5) {
		t.Fatal("seqBefore does not wrap")
	}
}

// A producer idle past producer.id.expiration.ms is forgotten by the
// leader and the log alike: its next batch may start at any sequence.
func TestIdleProducerExpires(t *testing.T) {
	ps := newPartitions(t.TempDir())
	if err := ps.reconcile([]assignment{testAssignment("t", 0, "aa")}, keepAll, &testHost{}); err != nil {
		t.Fatal(err)
	}
	defer ps.closeAll()
	r, _ := ps.get("t", 0)
	if _, err := r.appendProduced(0, idempotentBatches(t, 0, 3, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.appendProduced(0, idempotentBatches(t, 100, 1, 1)); errs.From(err) == nil {
		t.Fatalf("a sequence gap was accepted: %v", err)
	}
	if gone := r.expireProducers(time.Hour); gone != 0 {
		t.Fatalf("%d producers expired within the expiration", gone)
	}
	if gone := r.expireProducers(0); gone != 1 || len(r.log.Producers()) != 0 {
		t.Fatalf("%d producers expired, %d left in the log", gone, len(r.log.Producers()))
	}
	if _, err := r.appendProduced(0, idempotentBatches(t, 100, 1, 1)); err != nil {
		t.Fatalf("the forgotten producer's next batch: %v", err)
	}
}
