package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// gzipBatch returns a gzip batch whose compressed payload is payload, with
// a valid length and CRC: damage only a whole-batch check can find.
func gzipBatch(t *testing.T, template, payload []byte) []byte {
	t.Helper()
	b := append(bytes.Clone(template[:recordbatch.HeaderSize]), payload...)
	binary.BigEndian.PutUint16(b[21:], uint16(codec.Gzip))
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-recordbatch.LengthFieldEnd))
	binary.BigEndian.PutUint32(b[17:], recordbatch.Checksum(b))
	return b
}

// Produce over the Kafka protocol with corrupt compressed batches (valid
// CRC), a transactional and a control batch: each is refused with Kafka's
// code, nothing is stored, and the topic stays consumable.
func TestKafkaProduceCorruptCompressedBatch(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"corrupt": 1})
	now := time.Now().UnixMilli()
	recs := func(n int) []recordbatch.BuildRecord {
		out := make([]recordbatch.BuildRecord, n)
		for i := range out {
			out[i] = recordbatch.BuildRecord{Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("v", i)), Timestamp: now + int64(i)}
		}
		return out
	}
	build := func(o recordbatch.BatchOptions, n int) []byte {
		b, err := recordbatch.Build(o, recs(n))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	plain := build(recordbatch.ProducerOptions(codec.None), 3)
	badRecs := bytes.Clone(plain[recordbatch.HeaderSize:])
	badRecs[0] = 0x7f // the first record claims more bytes than the batch holds
	compressedBad, err := codec.Compress(nil, codec.Gzip, badRecs)
	if err != nil {
		t.Fatal(err)
	}
	txn := recordbatch.ProducerOptions(codec.Gzip)
	txn.ProducerID, txn.ProducerEpoch, txn.BaseSequence, txn.Transactional = 1, 0, 0, true
	control := recordbatch.ProducerOptions(codec.None)
	control.Control = true

	r := dialRaw(t, c.kafka)
	for _, tc := range []struct {
		name    string
		records []byte
		want    int16
	}{
		{"gzip garbage", gzipBatch(t, plain, []byte("\x1f\x8b\x08\x00 this is not deflate data")), 2},
		{"gzip, malformed records", gzipBatch(t, plain, compressedBad), 2},
		{"transactional, no transactional id", build(txn, 2), 53},
		{"control batch", build(control, 1), 87},
		{"good gzip", build(recordbatch.ProducerOptions(codec.Gzip), 3), 0},
		{"good zstd", build(recordbatch.ProducerOptions(codec.Zstd), 3), 0},
	} {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(7)
		req.Acks, req.TimeoutMillis = -1, 5000
		req.Topics = []kmsg.ProduceRequestTopic{{Topic: "corrupt", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: tc.records}}}}
		r.send(req)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		r.recv(resp)
		if got := resp.Topics[0].Partitions[0].ErrorCode; got != tc.want {
			t.Errorf("%s: error %d, want %d", tc.name, got, tc.want)
		}
	}

	// Only the two good batches were stored, and they read back.
	cons := franzClient(t, c, kgo.ConsumeTopics("corrupt"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := consumeN(t, cons, 6, 30*time.Second)
	for i, rec := range got {
		if rec.Offset != int64(i) || string(rec.Value) != fmt.Sprint("v", i%3) {
			t.Fatalf("record %d: offset %d value %q", i, rec.Offset, rec.Value)
		}
	}
	// ListOffsets: the end is 6, and a timestamp lookup (which decompresses)
	// finds the second record, inside the gzip batch.
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.SetVersion(4)
	lo.ReplicaID = -1
	for _, ts := range []int64{-1, now + 1} {
		lo.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: "corrupt", Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: 0, Timestamp: ts, CurrentLeaderEpoch: -1}}}}
		r.send(lo)
		lr := lo.ResponseKind().(*kmsg.ListOffsetsResponse)
		r.recv(lr)
		p := lr.Topics[0].Partitions[0]
		if want := map[int64]int64{-1: 6, now + 1: 1}[ts]; p.ErrorCode != 0 || p.Offset != want {
			t.Errorf("ListOffsets %d: error %d offset %d, want %d", ts, p.ErrorCode, p.Offset, want)
		}
	}
}
