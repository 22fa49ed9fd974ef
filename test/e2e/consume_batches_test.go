package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
)

// A Consume member that takes record batches (ConsumeOpen.record_batches)
// reads exactly the records one that takes records reads: every codec of
// a Kafka producer, headers, null and empty keys and values, timestamps,
// and no record of an aborted transaction nor a marker; within a credit
// of a few records at a time too, which cuts batches. Uncompressed
// batches come whole. Fetch with record_batches reads the same.
func TestStreamConsumeRecordBatchesReadWhatRecordsRead(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"whole": 3})
	sc := streamClient(t, c)
	ts := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := 0
	for ci, codec := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.GzipCompression(), kgo.NoCompression(), kgo.ZstdCompression(), kgo.Lz4Compression()} {
		p := franzClient(t, c, kgo.DefaultProduceTopic("whole"), kgo.ProducerBatchCompression(codec))
		var batch []*kgo.Record
		for i := range 30 {
			r := &kgo.Record{Value: fmt.Appendf(nil, "kafka-%d-%d", ci, i), Timestamp: ts.Add(time.Duration(i) * time.Millisecond),
				Headers: []kgo.RecordHeader{{Key: "codec", Value: []byte(fmt.Sprint(ci))}, {Key: "empty", Value: []byte{}}, {Key: "codec", Value: nil}}}
			switch i % 3 {
			case 0:
				r.Key = fmt.Appendf(nil, "k-%d", i)
			case 1:
				r.Key, r.Value = []byte{}, []byte{}
			}
			batch = append(batch, r)
		}
		if err := p.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		n += len(batch)
	}
	txn := franzClient(t, c, kgo.TransactionalID("whole-txn"), kgo.TransactionTimeout(20*time.Second))
	txnProduce(t, txn, "whole", false, values("aborted", 9)...)
	txnProduce(t, txn, "whole", true, values("committed", 6)...)
	sentinels(t, c, "whole", 3)
	n += 6 + 3

	records := consumeEverything(t, sc, "as-records", "whole", false, 1<<20, n)
	if got := records.batches; got != 0 {
		t.Fatalf("a member that takes records was sent %d batches", got)
	}
	for _, credit := range []int64{1 << 20, 7} {
		whole := consumeEverything(t, sc, fmt.Sprintf("as-batches-%d", credit), "whole", true, credit, n)
		if whole.batches == 0 {
			t.Fatalf("credit %d: no batch came whole", credit)
		}
		for p := range int32(3) {
			got, want := whole.recs[p], records.recs[p]
			if len(got) != len(want) {
				t.Fatalf("credit %d, partition %d: %d records as batches, %d as records", credit, p, len(got), len(want))
			}
			for i := range want {
				if !proto.Equal(got[i], want[i]) || (got[i].Key == nil) != (want[i].Key == nil) || (got[i].Value == nil) != (want[i].Value == nil) {
					t.Fatalf("credit %d, partition %d, record %d:\n as batches %v\n as records %v", credit, p, i, got[i], want[i])
				}
				for j, h := range want[i].Headers {
					if (got[i].Headers[j].Value == nil) != (h.Value == nil) {
						t.Fatalf("credit %d, partition %d, record %d, header %d: null and empty differ", credit, p, i, j)
					}
				}
			}
		}
	}
	// Fetch with record_batches reads the same, whole and cut by max_bytes.
	for _, maxBytes := range []int32{0, 40} {
		for p := range int32(3) {
			got, whole := fetchEverything(t, sc, p, maxBytes)
			if len(got) != len(records.recs[p]) {
				t.Fatalf("fetch %d, max_bytes %d: %d records, Consume read %d", p, maxBytes, len(got), len(records.recs[p]))
			}
			for i, r := range records.recs[p] {
				if !proto.Equal(got[i], r) || (got[i].Key == nil) != (r.Key == nil) || (got[i].Value == nil) != (r.Value == nil) {
					t.Fatalf("fetch %d, max_bytes %d, record %d:\n %v\n Consume read %v", p, maxBytes, i, got[i], r)
				}
			}
			if whole == 0 && maxBytes == 0 && len(got) > 0 {
				t.Fatalf("fetch %d: no batch came whole", p)
			}
		}
	}
	for _, rs := range records.recs {
		for _, r := range rs {
			if v := string(r.GetValue()); len(v) > 7 && v[:7] == "aborted" {
				t.Fatalf("read %s, of an aborted transaction", v)
			}
		}
	}
}

// consumed is what one member read, per partition in order.
type consumed struct {
	recs    map[int32][]*streamv1.Record
	batches int // record batches that came whole
}

// consumeEverything reads n records of topic as the only member of group,
// granting credit records at a time (and 16 MiB), and decodes the batches
// it is sent.
func consumeEverything(t *testing.T, sc streamv1.StreamServiceClient, group, topic string, batches bool, credit int64, n int) consumed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := sc.Consume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	open := consumeOpen(group, topic)
	open.RecordBatches = batches
	send := func(m *streamv1.ConsumeRequest) {
		if err := st.Send(m); err != nil {
			t.Fatalf("%s: send: %v", group, err)
		}
	}
	send(&streamv1.ConsumeRequest{Message: &streamv1.ConsumeRequest_Open{Open: open}})
	grant := func(records int64) {
		send(&streamv1.ConsumeRequest{Message: &streamv1.ConsumeRequest_Credit{Credit: &streamv1.ConsumeCredit{Records: records, Bytes: 16 << 20}}})
	}
	grant(credit)
	out, got := consumed{recs: map[int32][]*streamv1.Record{}}, 0
	for got < n {
		m, err := st.Recv()
		if err != nil {
			t.Fatalf("%s: after %d of %d records: %v", group, got, n, err)
		}
		r := m.GetRecords()
		if r == nil {
			continue
		}
		if len(r.GetRecords()) > 0 && len(r.GetRecordBatches()) > 0 {
			t.Fatalf("%s: a message with both records and batches", group)
		}
		recs := append(slices.Clone(r.GetRecords()), decodeWhole(t, r.GetRecordBatches())...)
		out.batches += len(r.GetRecordBatches())
		if int64(len(recs)) > credit {
			t.Fatalf("%s: %d records with a credit of %d", group, len(recs), credit)
		}
		out.recs[r.GetPartition()] = append(out.recs[r.GetPartition()], recs...)
		got += len(recs)
		grant(int64(len(recs)))
	}
	return out
}

// decodeWhole is the records of batches sent whole, as a client decodes
// them.
func decodeWhole(t *testing.T, batches [][]byte) []*streamv1.Record {
	t.Helper()
	recs, err := testutil.BatchRecords(batches)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// fetchEverything reads a partition of topic "whole" from the start with
// Fetch, maxBytes at a time, taking record batches, until the high
// watermark; it returns the records and the batches that came whole.
func fetchEverything(t *testing.T, sc streamv1.StreamServiceClient, partition int32, maxBytes int32) ([]*streamv1.Record, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*streamv1.Record
	whole := 0
	for from := int64(0); ; {
		resp, err := sc.Fetch(ctx, &streamv1.FetchRequest{MaxBytes: maxBytes, RecordBatches: true, Partitions: []*streamv1.FetchPartition{
			{Topic: "whole", Partition: partition, Start: &streamv1.FetchPartition_Offset{Offset: from}}}})
		if err != nil {
			t.Fatalf("fetch %d at %d: %v", partition, from, err)
		}
		p := resp.GetPartitions()[0]
		switch {
		case p.GetError() != nil:
			t.Fatalf("fetch %d at %d: %v", partition, from, p.GetError())
		case len(p.GetRecords()) > 0 && len(p.GetRecordBatches()) > 0:
			t.Fatalf("fetch %d at %d: a result with both records and batches", partition, from)
		}
		recs = append(recs, p.GetRecords()...)
		recs = append(recs, decodeWhole(t, p.GetRecordBatches())...)
		whole += len(p.GetRecordBatches())
		if p.GetNextOffset() <= from && from < p.GetHighWatermark() {
			t.Fatalf("fetch %d at %d: next offset %d", partition, from, p.GetNextOffset())
		}
		if from = p.GetNextOffset(); from >= p.GetHighWatermark() {
			return recs, whole
		}
	}
}
