package stream

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/recordbatch"
)

// clientBatch is a batch of n records as a client without a producer id
// encodes it.
func clientBatch(t *testing.T, n int, ts int64) []byte {
	t.Helper()
	recs := make([]recordbatch.BuildRecord, n)
	for i := range recs {
		recs[i] = recordbatch.BuildRecord{Value: []byte("value"), Timestamp: ts}
	}
	b, err := recordbatch.Build(recordbatch.ProducerOptions(codec.None), recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Client-encoded batches are written as they are, stamped with the
// session's producer and sequences, which go on from (and on to) those of
// the records the gateway encodes; the ack has one result per batch with
// its base offset.
func TestSessionWritesClientBatchesStampedInOrder(t *testing.T) {
	s, m := newTestService(2, -1)
	sess := &session{s: s, topic: "t", acks: storagev1.Acks_ACKS_ALL, timeout: time.Second, idempotent: true,
		producer: producer{id: 9, epoch: 3, seq: map[int32]int32{}}}
	run := []*streamRequest{
		{id: 1, records: []*streamv1.ProduceRecord{{Partition: ptr(int32(0)), Value: []byte("a")}, {Partition: ptr(int32(0)), Value: []byte("b")}}},
		{id: 2, batches: []*streamv1.RecordBatch{
			{Partition: 0, Batch: clientBatch(t, 3, 1000)},
			{Partition: 1, Batch: clientBatch(t, 4, 2000)},
			{Partition: 0, Batch: clientBatch(t, 5, 3000)},
		}},
		{id: 3, records: []*streamv1.ProduceRecord{{Partition: ptr(int32(0)), Value: []byte("c")}}},
	}
	as := sess.producer.clone()
	w := sess.execute(context.Background(), sess.plan(run, &as))
	type want struct {
		partition int32
		offset    int64
		ts        int64
	}
	wants := []want{{0, 0, -2}, {0, 1, -2}, {0, 2, 1000}, {1, 0, 2000}, {0, 5, 3000}, {0, 10, -2}}
	if len(w.results) != len(wants) {
		t.Fatalf("%d results, want %d: %v", len(w.results), len(wants), w.results)
	}
	for i, r := range w.results {
		if r.GetError() != nil || r.GetPartition() != wants[i].partition || r.GetOffset() != wants[i].offset ||
			(wants[i].ts != -2 && r.GetTimestampMs() != wants[i].ts) {
			t.Errorf("result %d: %v, want partition %d offset %d", i, r, wants[i].partition, wants[i].offset)
		}
	}
	// Partition 0 holds four batches from sequences 0, 2, 5, 10, all of
	// producer 9 epoch 3, each with a valid CRC.
	var seqs []int32
	for rest := m.logs[0]; len(rest) > 0; {
		b, r, err := recordbatch.Next(rest)
		if err != nil {
			t.Fatal(err)
		}
		h, err := recordbatch.Validate(b)
		if err != nil {
			t.Fatalf("stored batch: %v", err)
		}
		if h.ProducerID != 9 || h.ProducerEpoch != 3 {
			t.Fatalf("batch stamped %d/%d, want 9/3", h.ProducerID, h.ProducerEpoch)
		}
		seqs, rest = append(seqs, h.BaseSequence), r
	}
	if len(seqs) != 4 || seqs[0] != 0 || seqs[1] != 2 || seqs[2] != 5 || seqs[3] != 10 || sess.seq[0] != 11 || sess.seq[1] != 4 {
		t.Fatalf("partition 0 batches from sequences %v, next %v; want [0 2 5 10], next 11 and 4", seqs, sess.seq)
	}
}

// A client batch that is not one valid, producible batch for an existing
// partition is refused before anything is written, naming the batch.
func TestCheckBatchesRefusesBadBatches(t *testing.T) {
	topic := &metadatav1.TopicRecord{Name: "t", PartitionCount: 2}
	good := func() []byte { return clientBatch(t, 2, 1000) }
	badCRC := good()
	badCRC[len(badCRC)-1] ^= 0xff
	control, err := recordbatch.BuildControl(1, 0, true, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	transactional := good()
	binary.BigEndian.PutUint16(transactional[21:], binary.BigEndian.Uint16(transactional[21:])|0x10)
	binary.BigEndian.PutUint32(transactional[17:], recordbatch.Checksum(transactional))
	for _, tc := range []struct {
		name  string
		batch *streamv1.RecordBatch
		code  errs.Code
	}{
		{"no such partition", &streamv1.RecordBatch{Partition: 2, Batch: good()}, errs.UnknownTopicOrPartition},
		{"bad CRC", &streamv1.RecordBatch{Batch: badCRC}, errs.CorruptMessage},
		{"two batches in one", &streamv1.RecordBatch{Batch: append(good(), good()...)}, errs.InvalidRecord},
		{"cut short", &streamv1.RecordBatch{Batch: good()[:70]}, errs.CorruptMessage},
		{"not a batch", &streamv1.RecordBatch{Batch: []byte("hello")}, errs.CorruptMessage},
		{"control batch", &streamv1.RecordBatch{Batch: control}, errs.InvalidRecord},
		{"transactional batch", &streamv1.RecordBatch{Batch: transactional}, errs.InvalidRecord},
	} {
		e := checkBatches(topic, []*streamv1.RecordBatch{{Batch: good()}, tc.batch})
		if e == nil || e.Code() != tc.code {
			t.Errorf("%s: %v, want %v", tc.name, e, tc.code)
			continue
		}
		if v := e.Detail.GetFieldViolations(); len(v) == 0 || v[0].GetField()[:17] != "record_batches[1]" {
			t.Errorf("%s: field violations %v, want record_batches[1]", tc.name, v)
		}
	}
	if e := checkBatches(topic, []*streamv1.RecordBatch{{Batch: good()}, {Partition: 1, Batch: good()}}); e != nil {
		t.Fatalf("good batches refused: %v", e)
	}
}
