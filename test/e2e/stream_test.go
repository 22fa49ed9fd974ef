package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/api/kafkabatch"
	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	strata "github.com/strata-io/strata/clients/go"
	"github.com/strata-io/strata/internal/errs"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// streamClient is the generated StreamService client over a real socket to
// the gateway's gRPC port.
func streamClient(t *testing.T, c *cluster) streamv1.StreamServiceClient {
	t.Helper()
	conn, err := dialRole(c.gateway.grpc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return streamv1.NewStreamServiceClient(conn)
}

func ptr[T any](v T) *T { return &v }

// kafkaPartition is where Kafka's Java producer puts a keyed record
// (franz-go's StickyKeyPartitioner(nil) partitions exactly as it).
func kafkaPartition(key []byte, n int) int32 {
	return int32(kgo.StickyKeyPartitioner(nil).ForTopic("t").Partition(&kgo.Record{Key: key}, n))
}

func produceOK(t *testing.T, sc streamv1.StreamServiceClient, req *streamv1.ProduceRequest) []*streamv1.ProduceResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := sc.Produce(ctx, req)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	if len(resp.GetResults()) != len(req.GetRecords()) {
		t.Fatalf("%d results for %d records", len(resp.GetResults()), len(req.GetRecords()))
	}
	for i, r := range resp.GetResults() {
		if r.GetError() != nil {
			t.Fatalf("record %d: %v %s", i, r.GetError().GetCode(), r.GetError().GetMessage())
		}
	}
	return resp.GetResults()
}

// fetchAll reads a partition from offset to its high watermark.
func fetchAll(t *testing.T, sc streamv1.StreamServiceClient, topic string, partition int32, from int64) (*streamv1.FetchPartitionResult, []*streamv1.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*streamv1.Record
	for {
		resp, err := sc.Fetch(ctx, &streamv1.FetchRequest{Partitions: []*streamv1.FetchPartition{
			{Topic: topic, Partition: partition, Start: &streamv1.FetchPartition_Offset{Offset: from}}}})
		if err != nil {
			t.Fatalf("fetch %s-%d at %d: %v", topic, partition, from, err)
		}
		p := resp.GetPartitions()[0]
		if p.GetError() != nil {
			t.Fatalf("fetch %s-%d at %d: %v %s", topic, partition, from, p.GetError().GetCode(), p.GetError().GetMessage())
		}
		recs = append(recs, p.GetRecords()...)
		from = p.GetNextOffset()
		if from >= p.GetHighWatermark() {
			return p, recs
		}
	}
}

// sameRecord compares a produced record with one read back, null and
// empty told apart.
func sameRecord(t *testing.T, what string, got *streamv1.Record, key, value []byte, ts int64, headers []*streamv1.Header) {
	t.Helper()
	if !bytes.Equal(got.Key, key) || (got.Key == nil) != (key == nil) {
		t.Fatalf("%s: key %q (null %v), want %q (null %v)", what, got.Key, got.Key == nil, key, key == nil)
	}
	if !bytes.Equal(got.Value, value) || (got.Value == nil) != (value == nil) {
		t.Fatalf("%s: value %q (null %v), want %q (null %v)", what, got.Value, got.Value == nil, value, value == nil)
	}
	if got.GetTimestampMs() != ts {
		t.Fatalf("%s: timestamp %d, want %d", what, got.GetTimestampMs(), ts)
	}
	if len(got.GetHeaders()) != len(headers) {
		t.Fatalf("%s: %d headers, want %d", what, len(got.GetHeaders()), len(headers))
	}
	for i, h := range headers {
		g := got.GetHeaders()[i]
		if g.GetKey() != h.GetKey() || !bytes.Equal(g.Value, h.Value) || (g.Value == nil) != (h.Value == nil) {
			t.Fatalf("%s: header %d is %q=%q, want %q=%q", what, i, g.GetKey(), g.Value, h.GetKey(), h.Value)
		}
	}
}

func TestStreamProduceFetchRoundTrip(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"orders": 3})
	sc := streamClient(t, c)
	base := time.Now().Add(-time.Hour).UnixMilli()
	var recs []*streamv1.ProduceRecord
	for i := range 30 {
		r := &streamv1.ProduceRecord{Value: []byte(fmt.Sprintf("value-%d", i)), TimestampMs: ptr(base + int64(i)),
			Headers: []*streamv1.Header{{Key: "seq", Value: []byte(fmt.Sprint(i))}, {Key: "seq", Value: []byte("again")}, {Key: "nil"}}}
		switch i % 3 {
		case 0:
			r.Key = []byte(fmt.Sprintf("customer-%d", i%7))
		case 1:
			r.Partition = ptr(int32(2))
			r.Key = []byte{}
		case 2: // keyless: sticky
		}
		recs = append(recs, r)
	}
	recs = append(recs, &streamv1.ProduceRecord{Key: []byte("tombstone")}, // null value, default timestamp
		&streamv1.ProduceRecord{Key: []byte("empty"), Value: []byte{}}) // empty value
	before := time.Now().UnixMilli()
	res := produceOK(t, sc, &streamv1.ProduceRequest{Topic: "orders", Records: recs, Acks: streamv1.Acks_ACKS_ALL,
		Compression: streamv1.Compression_COMPRESSION_ZSTD})
	after := time.Now().UnixMilli()

	next := map[int32]int64{}
	sticky := int32(-1)
	byOffset := map[int32]map[int64]int{} // partition → offset → request index
	for i, r := range res {
		rec := recs[i]
		switch {
		case rec.Partition != nil:
			if r.GetPartition() != *rec.Partition {
				t.Fatalf("record %d: partition %d, asked for %d", i, r.GetPartition(), *rec.Partition)
			}
		case rec.Key != nil:
			if want := kafkaPartition(rec.Key, 3); r.GetPartition() != want {
				t.Fatalf("record %d key %q: partition %d, Kafka picks %d", i, rec.Key, r.GetPartition(), want)
			}
		default:
			if sticky >= 0 && r.GetPartition() != sticky {
				t.Fatalf("keyless record %d went to %d, the others to %d", i, r.GetPartition(), sticky)
			}
			sticky = r.GetPartition()
		}
		if r.GetOffset() != next[r.GetPartition()] {
			t.Fatalf("record %d: offset %d in partition %d, want %d", i, r.GetOffset(), r.GetPartition(), next[r.GetPartition()])
		}
		next[r.GetPartition()]++
		if rec.TimestampMs != nil && r.GetTimestampMs() != *rec.TimestampMs {
			t.Fatalf("record %d: timestamp %d, want %d", i, r.GetTimestampMs(), *rec.TimestampMs)
		}
		if rec.TimestampMs == nil && (r.GetTimestampMs() < before || r.GetTimestampMs() > after) {
			t.Fatalf("record %d: default timestamp %d outside [%d, %d]", i, r.GetTimestampMs(), before, after)
		}
		if byOffset[r.GetPartition()] == nil {
			byOffset[r.GetPartition()] = map[int64]int{}
		}
		byOffset[r.GetPartition()][r.GetOffset()] = i
	}

	for p := range int32(3) {
		last, got := fetchAll(t, sc, "orders", p, 0)
		if last.GetHighWatermark() != next[p] || last.GetLogStartOffset() != 0 || last.GetNextOffset() != next[p] {
			t.Fatalf("partition %d: high watermark %d, log start %d, next %d; want %d, 0, %d", p,
				last.GetHighWatermark(), last.GetLogStartOffset(), last.GetNextOffset(), next[p], next[p])
		}
		if int64(len(got)) != next[p] {
			t.Fatalf("partition %d: read %d records, wrote %d", p, len(got), next[p])
		}
		for j, g := range got {
			if g.GetOffset() != int64(j) {
				t.Fatalf("partition %d: record %d has offset %d", p, j, g.GetOffset())
			}
			i := byOffset[p][g.GetOffset()]
			if g.GetTimestampType() != streamv1.TimestampType_TIMESTAMP_TYPE_CREATE_TIME {
				t.Fatalf("record %d: timestamp type %v", i, g.GetTimestampType())
			}
			sameRecord(t, fmt.Sprintf("record %d", i), g, recs[i].Key, recs[i].Value, res[i].GetTimestampMs(), recs[i].GetHeaders())
		}
	}

	// A fetch from the middle starts there; max_records caps it.
	mid := next[2] / 2
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := sc.Fetch(ctx, &streamv1.FetchRequest{MaxRecords: 2, Partitions: []*streamv1.FetchPartition{
		{Topic: "orders", Partition: 2, Start: &streamv1.FetchPartition_Offset{Offset: mid}}}})
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.GetPartitions()[0]; len(p.GetRecords()) != 2 || p.GetRecords()[0].GetOffset() != mid || p.GetNextOffset() != mid+2 {
		t.Fatalf("fetch at %d, max 2 records: %d records, first %d, next %d", mid, len(p.GetRecords()), p.GetRecords()[0].GetOffset(), p.GetNextOffset())
	}

	// A long poll at the end times out with no records and no error...
	start := time.Now()
	resp, err = sc.Fetch(ctx, &streamv1.FetchRequest{MaxWait: durationpb.New(400 * time.Millisecond), Partitions: []*streamv1.FetchPartition{
		{Topic: "orders", Partition: 0, Start: &streamv1.FetchPartition_Position{Position: streamv1.LogPosition_LOG_POSITION_LATEST}}}})
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.GetPartitions()[0]; p.GetError() != nil || len(p.GetRecords()) != 0 || p.GetNextOffset() != next[0] {
		t.Fatalf("poll at the end: error %v, %d records, next %d", p.GetError(), len(p.GetRecords()), p.GetNextOffset())
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("poll answered after %v, max_wait 400ms", waited)
	}
	// ...and one that is waiting answers as soon as a record arrives.
	type polled struct {
		resp *streamv1.FetchResponse
		err  error
		at   time.Time
	}
	done := make(chan polled, 1)
	go func() {
		r, err := sc.Fetch(ctx, &streamv1.FetchRequest{MaxWait: durationpb.New(20 * time.Second), Partitions: []*streamv1.FetchPartition{
			{Topic: "orders", Partition: 1, Start: &streamv1.FetchPartition_Offset{Offset: next[1]}}}})
		done <- polled{r, err, time.Now()}
	}()
	time.Sleep(300 * time.Millisecond)
	sent := time.Now()
	produceOK(t, sc, &streamv1.ProduceRequest{Topic: "orders", Acks: streamv1.Acks_ACKS_LEADER,
		Records: []*streamv1.ProduceRecord{{Partition: ptr(int32(1)), Value: []byte("wake up")}}})
	p := <-done
	if p.err != nil {
		t.Fatal(p.err)
	}
	if got := p.resp.GetPartitions()[0].GetRecords(); len(got) != 1 || string(got[0].GetValue()) != "wake up" || got[0].GetOffset() != next[1] {
		t.Fatalf("long poll got %v", got)
	}
	if lag := p.at.Sub(sent); lag > 5*time.Second {
		t.Fatalf("long poll answered %v after the produce", lag)
	}
}

func TestStreamInteropWithFranzGo(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"interop": 4, "fromkafka": 4, "fromclient": 4})
	sc := streamClient(t, c)
	ts := time.Now().Add(-time.Minute).Truncate(time.Millisecond)

	// gRPC → franz-go.
	var recs []*streamv1.ProduceRecord
	for i := range 40 {
		recs = append(recs, &streamv1.ProduceRecord{Key: []byte(fmt.Sprintf("user-%d", i%9)), Value: []byte(fmt.Sprintf("grpc-%d", i)),
			TimestampMs: ptr(ts.UnixMilli() + int64(i)),
			Headers:     []*streamv1.Header{{Key: "source", Value: []byte("grpc")}, {Key: "i", Value: []byte(fmt.Sprint(i))}}})
	}
	res := produceOK(t, sc, &streamv1.ProduceRequest{Topic: "interop", Records: recs, Compression: streamv1.Compression_COMPRESSION_LZ4})
	cons := franzClient(t, c, kgo.ConsumeTopics("interop"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	byValue := map[string]*kgo.Record{}
	for _, r := range consumeN(t, cons, len(recs), 30*time.Second) {
		byValue[string(r.Value)] = r
	}
	for i, rec := range recs {
		k := byValue[string(rec.Value)]
		switch {
		case k == nil:
			t.Fatalf("franz-go did not read record %d", i)
		case k.Partition != res[i].GetPartition() || k.Offset != res[i].GetOffset():
			t.Fatalf("record %d: franz-go reads %d@%d, gRPC wrote %d@%d", i, k.Partition, k.Offset, res[i].GetPartition(), res[i].GetOffset())
		case !bytes.Equal(k.Key, rec.Key) || k.Timestamp.UnixMilli() != *rec.TimestampMs:
			t.Fatalf("record %d: key %q ts %d, want %q %d", i, k.Key, k.Timestamp.UnixMilli(), rec.Key, *rec.TimestampMs)
		case len(k.Headers) != 2 || k.Headers[0].Key != "source" || string(k.Headers[0].Value) != "grpc" || string(k.Headers[1].Value) != fmt.Sprint(i):
			t.Fatalf("record %d: headers %v", i, k.Headers)
		}
	}
	// The same keys from franz-go's default producer land on the same
	// partitions.
	prod := franzClient(t, c, kgo.DefaultProduceTopic("interop"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, rec := range recs[:9] {
		r := &kgo.Record{Key: rec.Key, Value: []byte("from kafka")}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if r.Partition != res[i].GetPartition() {
			t.Fatalf("key %q: franz-go wrote partition %d, gRPC %d", rec.Key, r.Partition, res[i].GetPartition())
		}
	}

	// franz-go → gRPC, with every codec.
	var all []*kgo.Record
	for ci, codec := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()} {
		p := franzClient(t, c, kgo.DefaultProduceTopic("fromkafka"), kgo.ProducerBatchCompression(codec))
		var batch []*kgo.Record
		for i := range 20 {
			r := &kgo.Record{Value: []byte(fmt.Sprintf("kafka-%d-%d", ci, i)), Timestamp: ts.Add(time.Duration(i) * time.Millisecond),
				Headers: []kgo.RecordHeader{{Key: "codec", Value: []byte(fmt.Sprint(ci))}, {Key: "empty", Value: []byte{}}}}
			if i%2 == 0 {
				r.Key = []byte(fmt.Sprintf("k-%d", i))
			}
			batch = append(batch, r)
		}
		if err := p.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		all = append(all, batch...)
	}
	read := map[int32]map[int64]*streamv1.Record{}
	for p := range int32(4) {
		_, got := fetchAll(t, sc, "fromkafka", p, 0)
		read[p] = map[int64]*streamv1.Record{}
		for _, g := range got {
			read[p][g.GetOffset()] = g
		}
	}
	for i, r := range all {
		g := read[r.Partition][r.Offset]
		if g == nil {
			t.Fatalf("record %d (%d@%d) not read over gRPC", i, r.Partition, r.Offset)
		}
		if r.Key != nil && kafkaPartition(r.Key, 4) != r.Partition {
			t.Fatalf("record %d: franz-go put key %q on %d", i, r.Key, r.Partition)
		}
		var hs []*streamv1.Header
		for _, h := range r.Headers {
			hs = append(hs, &streamv1.Header{Key: h.Key, Value: h.Value})
		}
		sameRecord(t, fmt.Sprintf("franz-go record %d", i), g, r.Key, r.Value, r.Timestamp.UnixMilli(), hs)
	}

	// clients/go (which sends Kafka record batches it encodes over
	// ProduceStream) → franz-go: the same partitions, offsets, keys,
	// values, null keys and values, headers and timestamps.
	client, err := strata.NewClient(ctx, c.gateway.grpc)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	producer, err := client.NewProducer()
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	var sent []*strata.Record
	for i := range 300 {
		r := &strata.Record{Topic: "fromclient", Value: []byte(fmt.Sprintf("client-%d", i)), Timestamp: ts.Add(time.Duration(i%7) * time.Millisecond),
			Headers: []strata.Header{{Key: "i", Value: []byte(fmt.Sprint(i))}, {Key: "null"}}}
		switch i % 3 {
		case 0:
			r.Key = []byte(fmt.Sprintf("user-%d", i%11))
		case 1:
			r.Value = nil
		}
		sent = append(sent, r)
	}
	if err := producer.ProduceSync(ctx, sent...); err != nil {
		t.Fatal(err)
	}
	cons = franzClient(t, c, kgo.ConsumeTopics("fromclient"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	at := map[[2]int64]*kgo.Record{}
	for _, r := range consumeN(t, cons, len(sent), 30*time.Second) {
		at[[2]int64{int64(r.Partition), r.Offset}] = r
	}
	for i, r := range sent {
		k := at[[2]int64{int64(r.Partition), r.Offset}]
		switch {
		case k == nil:
			t.Fatalf("client record %d (%d@%d) not read by franz-go", i, r.Partition, r.Offset)
		case !bytes.Equal(k.Key, r.Key) || (k.Key == nil) != (r.Key == nil) || !bytes.Equal(k.Value, r.Value) || (k.Value == nil) != (r.Value == nil):
			t.Fatalf("client record %d: franz-go reads key %q value %q, sent %q %q", i, k.Key, k.Value, r.Key, r.Value)
		case k.Timestamp.UnixMilli() != r.Timestamp.UnixMilli():
			t.Fatalf("client record %d: timestamp %v, sent %v", i, k.Timestamp, r.Timestamp)
		case len(k.Headers) != 2 || k.Headers[0].Key != "i" || string(k.Headers[0].Value) != fmt.Sprint(i) || k.Headers[1].Key != "null" || k.Headers[1].Value != nil:
			t.Fatalf("client record %d: headers %v", i, k.Headers)
		case r.Key != nil && kafkaPartition(r.Key, 4) != r.Partition:
			t.Fatalf("client record %d: key %q on partition %d", i, r.Key, r.Partition)
		}
	}

	// kcat (librdkafka) reads a clients/go record the same.
	if kcat, err := exec.LookPath("kcat"); err != nil {
		t.Log("kcat (librdkafka) is not installed: skipping its read of a clients/go record (.ci/run installs it)")
	} else {
		r := sent[0]
		out, err := exec.CommandContext(ctx, kcat, "-b", c.kafka, "-C", "-t", "fromclient", "-p", fmt.Sprint(r.Partition), "-o", fmt.Sprint(r.Offset),
			"-c", "1", "-e", "-f", `%k|%s|%h|%T|%o\n`).CombinedOutput()
		if err != nil {
			t.Fatalf("kcat -C: %v: %s", err, out)
		}
		if want := fmt.Sprintf("%s|%s|i=0,null=NULL|%d|%d", r.Key, r.Value, r.Timestamp.UnixMilli(), r.Offset); !strings.Contains(string(out), want) {
			t.Fatalf("kcat read %q, want %q", out, want)
		}
	}

	// The reverse: clients/go's Reader reads franz-go's records (every
	// codec) with the same fields.
	reader, err := client.NewReader(map[string]map[int32]strata.Offset{"fromkafka": {0: strata.AtStart(), 1: strata.AtStart(), 2: strata.AtStart(), 3: strata.AtStart()}})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	got := map[[2]int64]*strata.Record{}
	for len(got) < len(all) && ctx.Err() == nil {
		fs, err := reader.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *strata.Record) { got[[2]int64{int64(r.Partition), r.Offset}] = r })
	}
	for i, r := range all {
		g := got[[2]int64{int64(r.Partition), r.Offset}]
		switch {
		case g == nil:
			t.Fatalf("franz-go record %d (%d@%d) not read by clients/go", i, r.Partition, r.Offset)
		case !bytes.Equal(g.Key, r.Key) || (g.Key == nil) != (r.Key == nil) || !bytes.Equal(g.Value, r.Value) || g.Timestamp.UnixMilli() != r.Timestamp.UnixMilli():
			t.Fatalf("franz-go record %d: clients/go reads key %q value %q ts %v, sent %q %q %v", i, g.Key, g.Value, g.Timestamp, r.Key, r.Value, r.Timestamp)
		case len(g.Headers) != len(r.Headers) || g.Headers[0].Key != r.Headers[0].Key || !bytes.Equal(g.Headers[0].Value, r.Headers[0].Value) || g.Headers[1].Value == nil:
			t.Fatalf("franz-go record %d: clients/go reads headers %v, sent %v", i, g.Headers, r.Headers)
		}
	}

	// A client-encoded batch with a bad CRC is refused whole, and nothing
	// of the request is written.
	stream, err := sc.ProduceStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&streamv1.ProduceStreamRequest{Message: &streamv1.ProduceStreamRequest_Open{Open: &streamv1.ProduceStreamOpen{Topic: "fromclient"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	var w kafkabatch.Builder
	w.Add(nil, []byte("good"), ts.UnixMilli(), nil)
	good := slices.Clone(w.Finish())
	w.Reset(nil)
	w.Add(nil, []byte("bad"), ts.UnixMilli(), nil)
	bad := w.Finish()
	bad[len(bad)-1] ^= 1
	if err := stream.Send(&streamv1.ProduceStreamRequest{Message: &streamv1.ProduceStreamRequest_Batch{Batch: &streamv1.ProduceStreamBatch{
		RequestId: 1, RecordBatches: []*streamv1.RecordBatch{{Partition: 0, Batch: good}, {Partition: 1, Batch: bad}}}}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if ack := resp.GetAck(); ack.GetError().GetCode() != commonv1.ErrorCode_ERROR_CODE_CORRUPT_MESSAGE || len(ack.GetResults()) != 0 {
		t.Fatalf("bad batch answered %v, want CORRUPT_MESSAGE and no results", ack)
	}
	for p := range int32(2) {
		_, got := fetchAll(t, sc, "fromclient", p, 0)
		for _, g := range got {
			if v := string(g.GetValue()); v == "good" || v == "bad" {
				t.Fatalf("partition %d holds %q of the refused request", p, v)
			}
		}
	}
}

// badCall checks that a call failed with code, naming field, and returns
// the Strata error.
func badCall(t *testing.T, what string, err error, code codes.Code, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want %v", what, code)
	}
	if got := status.Code(err); got != code {
		t.Fatalf("%s: %v (%v), want %v", what, got, err, code)
	}
	e := errs.From(err)
	if e == nil {
		t.Fatalf("%s: no ErrorDetail in %v", what, err)
	}
	var fields []string
	for _, f := range e.Detail.GetFieldViolations() {
		fields = append(fields, f.GetField())
	}
	if len(fields) != 1 || fields[0] != field {
		t.Fatalf("%s: field violations %v, want [%s] (%v)", what, fields, field, err)
	}
	t.Logf("%s: %v %v %s: %s", what, code, e.Code(), field, errs.Message(err))
}

func TestStreamBadInput(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1})
	c.admin("topic", "create", "bad", "--partitions", "2", "--replication-factor", "1", "--config", "max.message.bytes=5000")
	waitTopicsReady(t, c, map[string]int{"bad": 2})
	sc := streamClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ok := &streamv1.ProduceRecord{Key: []byte("k"), Value: []byte("v")}
	many := make([]*streamv1.ProduceRecord, 10_001)
	for i := range many {
		many[i] = ok
	}
	for _, tc := range []struct {
		name  string
		req   *streamv1.ProduceRequest
		code  codes.Code
		field string
	}{
		{"no topic", &streamv1.ProduceRequest{Records: []*streamv1.ProduceRecord{ok}}, codes.InvalidArgument, "topic"},
		{"invalid topic", &streamv1.ProduceRequest{Topic: "no/slashes", Records: []*streamv1.ProduceRecord{ok}}, codes.InvalidArgument, "topic"},
		{"long topic", &streamv1.ProduceRequest{Topic: strings.Repeat("t", 250), Records: []*streamv1.ProduceRecord{ok}}, codes.InvalidArgument, "topic"},
		{"unknown topic", &streamv1.ProduceRequest{Topic: "missing", Records: []*streamv1.ProduceRecord{ok}}, codes.NotFound, "topic"},
		{"no records", &streamv1.ProduceRequest{Topic: "bad"}, codes.InvalidArgument, "records"},
		{"too many records", &streamv1.ProduceRequest{Topic: "bad", Records: many}, codes.InvalidArgument, "records"},
		{"unknown partition", &streamv1.ProduceRequest{Topic: "bad", Records: []*streamv1.ProduceRecord{ok, {Partition: ptr(int32(2)), Value: []byte("v")}}},
			codes.NotFound, "records[1].partition"},
		{"negative partition", &streamv1.ProduceRequest{Topic: "bad", Records: []*streamv1.ProduceRecord{{Partition: ptr(int32(-1))}}},
			codes.NotFound, "records[0].partition"},
		{"empty header key", &streamv1.ProduceRequest{Topic: "bad", Records: []*streamv1.ProduceRecord{ok, ok,
			{Value: []byte("v"), Headers: []*streamv1.Header{{Key: "a"}, {Value: []byte("x")}}}}}, codes.InvalidArgument, "records[2].headers[1].key"},
		{"negative timestamp", &streamv1.ProduceRequest{Topic: "bad", Records: []*streamv1.ProduceRecord{{TimestampMs: ptr(int64(-5))}}},
			codes.InvalidArgument, "records[0].timestamp_ms"},
		{"oversize record", &streamv1.ProduceRequest{Topic: "bad", Records: []*streamv1.ProduceRecord{ok, ok, ok, {Value: make([]byte, 6000)}}},
			codes.InvalidArgument, "records[3]"},
		{"unknown acks", &streamv1.ProduceRequest{Topic: "bad", Acks: 9, Records: []*streamv1.ProduceRecord{ok}}, codes.InvalidArgument, "acks"},
		{"unknown compression", &streamv1.ProduceRequest{Topic: "bad", Compression: 9, Records: []*streamv1.ProduceRecord{ok}}, codes.InvalidArgument, "compression"},
		{"negative timeout", &streamv1.ProduceRequest{Topic: "bad", Timeout: durationpb.New(-time.Second), Records: []*streamv1.ProduceRecord{ok}},
			codes.InvalidArgument, "timeout"},
	} {
		_, err := sc.Produce(ctx, tc.req)
		badCall(t, "produce, "+tc.name, err, tc.code, tc.field)
	}
	// The oversize one is MESSAGE_TOO_LARGE, as Kafka says it.
	_, err := sc.Produce(ctx, &streamv1.ProduceRequest{Topic: "bad", Records: []*streamv1.ProduceRecord{{Value: make([]byte, 6000)}}})
	if e := errs.From(err); e == nil || e.Code() != errs.MessageTooLarge || e.KafkaCode() != 10 {
		t.Fatalf("oversize record: %v", err)
	}

	at := func(topic string, p int32, off int64) *streamv1.FetchPartition {
		return &streamv1.FetchPartition{Topic: topic, Partition: p, Start: &streamv1.FetchPartition_Offset{Offset: off}}
	}
	for _, tc := range []struct {
		name  string
		req   *streamv1.FetchRequest
		code  codes.Code
		field string
	}{
		{"no partitions", &streamv1.FetchRequest{}, codes.InvalidArgument, "partitions"},
		{"invalid topic", &streamv1.FetchRequest{Partitions: []*streamv1.FetchPartition{at("bad", 0, 0), at("..", 0, 0)}}, codes.InvalidArgument, "partitions[1].topic"},
		{"unknown topic", &streamv1.FetchRequest{Partitions: []*streamv1.FetchPartition{at("missing", 0, 0)}}, codes.NotFound, "partitions[0].topic"},
		{"unknown partition", &streamv1.FetchRequest{Partitions: []*streamv1.FetchPartition{at("bad", 5, 0)}}, codes.NotFound, "partitions[0].partition"},
		{"negative offset", &streamv1.FetchRequest{Partitions: []*streamv1.FetchPartition{at("bad", 1, -1)}}, codes.InvalidArgument, "partitions[0].offset"},
		{"no start", &streamv1.FetchRequest{Partitions: []*streamv1.FetchPartition{{Topic: "bad"}}}, codes.InvalidArgument, "partitions[0].start"},
		{"no position", &streamv1.FetchRequest{Partitions: []*streamv1.FetchPartition{{Topic: "bad", Start: &streamv1.FetchPartition_Position{}}}},
			codes.InvalidArgument, "partitions[0].position"},
		{"duplicate partition", &streamv1.FetchRequest{Partitions: []*streamv1.FetchPartition{at("bad", 0, 0), at("bad", 1, 0), at("bad", 0, 3)}},
			codes.InvalidArgument, "partitions[2]"},
		{"max_bytes", &streamv1.FetchRequest{MaxBytes: 1 << 30, Partitions: []*streamv1.FetchPartition{at("bad", 0, 0)}}, codes.InvalidArgument, "max_bytes"},
		{"max_wait", &streamv1.FetchRequest{MaxWait: durationpb.New(time.Hour), Partitions: []*streamv1.FetchPartition{at("bad", 0, 0)}},
			codes.InvalidArgument, "max_wait"},
		{"max_records", &streamv1.FetchRequest{MaxRecords: -1, Partitions: []*streamv1.FetchPartition{at("bad", 0, 0)}}, codes.InvalidArgument, "max_records"},
	} {
		_, err := sc.Fetch(ctx, tc.req)
		badCall(t, "fetch, "+tc.name, err, tc.code, tc.field)
	}
	for _, tc := range []struct {
		name  string
		req   *streamv1.ListOffsetsRequest
		code  codes.Code
		field string
	}{
		{"no partitions", &streamv1.ListOffsetsRequest{}, codes.InvalidArgument, "partitions"},
		{"no query", &streamv1.ListOffsetsRequest{Partitions: []*streamv1.ListOffsetsPartition{{Topic: "bad"}}}, codes.InvalidArgument, "partitions[0].query"},
		{"negative timestamp", &streamv1.ListOffsetsRequest{Partitions: []*streamv1.ListOffsetsPartition{
			{Topic: "bad", Query: &streamv1.ListOffsetsPartition_TimestampMs{TimestampMs: -3}}}}, codes.InvalidArgument, "partitions[0].timestamp_ms"},
		{"unknown topic", &streamv1.ListOffsetsRequest{Partitions: []*streamv1.ListOffsetsPartition{
			{Topic: "missing", Query: &streamv1.ListOffsetsPartition_Position{Position: streamv1.LogPosition_LOG_POSITION_LATEST}}}}, codes.NotFound, "partitions[0].topic"},
	} {
		_, err := sc.ListOffsets(ctx, tc.req)
		badCall(t, "list offsets, "+tc.name, err, tc.code, tc.field)
	}

	// Nothing was written by any of them.
	lo, err := sc.ListOffsets(ctx, &streamv1.ListOffsetsRequest{Partitions: []*streamv1.ListOffsetsPartition{
		{Topic: "bad", Partition: 0, Query: &streamv1.ListOffsetsPartition_Position{Position: streamv1.LogPosition_LOG_POSITION_LATEST}},
		{Topic: "bad", Partition: 1, Query: &streamv1.ListOffsetsPartition_Position{Position: streamv1.LogPosition_LOG_POSITION_LATEST}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range lo.GetPartitions() {
		if p.GetError() != nil || p.GetOffset() != 0 {
			t.Fatalf("partition %d after bad requests: offset %d, error %v", p.GetPartition(), p.GetOffset(), p.GetError())
		}
	}
	// A good request still works, and a client deadline shorter than the
	// long poll is kept.
	produceOK(t, sc, &streamv1.ProduceRequest{Topic: "bad", Records: []*streamv1.ProduceRecord{ok}})
	dctx, dcancel := context.WithTimeout(ctx, time.Second)
	defer dcancel()
	start := time.Now()
	resp, err := sc.Fetch(dctx, &streamv1.FetchRequest{MaxWait: durationpb.New(time.Minute), MinBytes: 1 << 20,
		Partitions: []*streamv1.FetchPartition{at("bad", 0, 0), at("bad", 1, 0)}})
	if err != nil {
		t.Fatalf("fetch within a 1s deadline, max_wait 1m: %v after %v", err, time.Since(start))
	}
	if n := len(resp.GetPartitions()[0].GetRecords()) + len(resp.GetPartitions()[1].GetRecords()); n != 1 || time.Since(start) > time.Second {
		t.Fatalf("deadline-bounded fetch: %d records after %v", n, time.Since(start))
	}
}

func TestStreamFetchOutOfRange(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1})
	c.admin("topic", "create", "oor", "--partitions", "1", "--replication-factor", "1")
	waitTopicsReady(t, c, map[string]int{"oor": 1})
	sc := streamClient(t, c)
	recs := make([]*streamv1.ProduceRecord, 5)
	for i := range recs {
		recs[i] = &streamv1.ProduceRecord{Value: []byte(fmt.Sprint(i))}
	}
	produceOK(t, sc, &streamv1.ProduceRequest{Topic: "oor", Records: recs})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fetch := func(off int64) *streamv1.FetchPartitionResult {
		resp, err := sc.Fetch(ctx, &streamv1.FetchRequest{Partitions: []*streamv1.FetchPartition{
			{Topic: "oor", Start: &streamv1.FetchPartition_Offset{Offset: off}}}})
		if err != nil {
			t.Fatalf("fetch at %d: the call failed: %v", off, err)
		}
		return resp.GetPartitions()[0]
	}
	for _, off := range []int64{6, 1000} {
		p := fetch(off)
		if p.GetError().GetCode() != errs.OffsetOutOfRange || p.GetError().GetKafkaErrorCode() != 1 {
			t.Fatalf("fetch at %d: error %v, want OFFSET_OUT_OF_RANGE", off, p.GetError())
		}
		if p.GetLogStartOffset() != 0 || p.GetHighWatermark() != 5 || len(p.GetRecords()) != 0 {
			t.Fatalf("fetch at %d: range [%d, %d], %d records; want [0, 5]", off, p.GetLogStartOffset(), p.GetHighWatermark(), len(p.GetRecords()))
		}
		if !strings.Contains(p.GetError().GetMessage(), "[0, 5]") {
			t.Fatalf("fetch at %d: message %q does not give the range", off, p.GetError().GetMessage())
		}
	}
	// At the high watermark: no records, no error.
	if p := fetch(5); p.GetError() != nil || len(p.GetRecords()) != 0 || p.GetNextOffset() != 5 {
		t.Fatalf("fetch at the high watermark: %v, %d records, next %d", p.GetError(), len(p.GetRecords()), p.GetNextOffset())
	}
	if p := fetch(4); p.GetError() != nil || len(p.GetRecords()) != 1 || string(p.GetRecords()[0].GetValue()) != "4" {
		t.Fatalf("fetch at 4: %v %v", p.GetError(), p.GetRecords())
	}
}

func TestStreamListOffsets(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1})
	c.admin("topic", "create", "times", "--partitions", "2", "--replication-factor", "1")
	waitTopicsReady(t, c, map[string]int{"times": 2})
	sc := streamClient(t, c)
	base := time.Now().Add(-time.Hour).UnixMilli()
	var recs []*streamv1.ProduceRecord
	for i := range 3 {
		recs = append(recs, &streamv1.ProduceRecord{Partition: ptr(int32(0)), Value: []byte(fmt.Sprint(i)), TimestampMs: ptr(base + int64(i)*1000)})
	}
	produceOK(t, sc, &streamv1.ProduceRequest{Topic: "times", Records: recs})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pos := func(p int32, lp streamv1.LogPosition) *streamv1.ListOffsetsPartition {
		return &streamv1.ListOffsetsPartition{Topic: "times", Partition: p, Query: &streamv1.ListOffsetsPartition_Position{Position: lp}}
	}
	at := func(p int32, ts int64) *streamv1.ListOffsetsPartition {
		return &streamv1.ListOffsetsPartition{Topic: "times", Partition: p, Query: &streamv1.ListOffsetsPartition_TimestampMs{TimestampMs: ts}}
	}
	// Each partition at most once per call: the lookups go one call each.
	want := []struct {
		q          *streamv1.ListOffsetsPartition
		offset, ts int64
	}{
		{pos(0, streamv1.LogPosition_LOG_POSITION_EARLIEST), 0, -1},
		{pos(0, streamv1.LogPosition_LOG_POSITION_LATEST), 3, -1},
		{at(0, base+500), 1, base + 1000},
		{at(0, base+1000), 1, base + 1000},
		{at(0, base+2000), 2, base + 2000},
		{at(0, base), 0, base},
		{at(0, base+9000), -1, -1},
		{pos(1, streamv1.LogPosition_LOG_POSITION_LATEST), 0, -1},
		{at(1, base), -1, -1},
	}
	for _, w := range want {
		resp, err := sc.ListOffsets(ctx, &streamv1.ListOffsetsRequest{Partitions: []*streamv1.ListOffsetsPartition{w.q}})
		if err != nil {
			t.Fatal(err)
		}
		got := resp.GetPartitions()[0]
		if got.GetError() != nil || got.GetOffset() != w.offset || got.GetTimestampMs() != w.ts {
			t.Fatalf("%v: offset %d ts %d error %v; want %d %d", w.q, got.GetOffset(), got.GetTimestampMs(), got.GetError(), w.offset, w.ts)
		}
	}
	// Several partitions in one call, answered in request order.
	resp, err := sc.ListOffsets(ctx, &streamv1.ListOffsetsRequest{Partitions: []*streamv1.ListOffsetsPartition{
		pos(1, streamv1.LogPosition_LOG_POSITION_LATEST), at(0, base+1500)}})
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.GetPartitions(); p[0].GetPartition() != 1 || p[0].GetOffset() != 0 || p[1].GetPartition() != 0 || p[1].GetOffset() != 2 {
		t.Fatalf("two partitions: %v", p)
	}
	// Fetch from a timestamp starts at the first record at or after it, and
	// from a timestamp after every record at the end.
	for _, tc := range []struct {
		ts         int64
		first      int64
		n          int
		nextOffset int64
	}{{base + 1500, 2, 1, 3}, {base - 1, 0, 3, 3}, {base + 9000, -1, 0, 3}} {
		fr, err := sc.Fetch(ctx, &streamv1.FetchRequest{Partitions: []*streamv1.FetchPartition{
			{Topic: "times", Partition: 0, Start: &streamv1.FetchPartition_TimestampMs{TimestampMs: tc.ts}}}})
		if err != nil {
			t.Fatal(err)
		}
		p := fr.GetPartitions()[0]
		if p.GetError() != nil || len(p.GetRecords()) != tc.n || p.GetNextOffset() != tc.nextOffset ||
			(tc.n > 0 && p.GetRecords()[0].GetOffset() != tc.first) {
			t.Fatalf("fetch from ts %d: error %v, %d records, next %d", tc.ts, p.GetError(), len(p.GetRecords()), p.GetNextOffset())
		}
	}
	// Earliest: the log start.
	fr, err := sc.Fetch(ctx, &streamv1.FetchRequest{Partitions: []*streamv1.FetchPartition{
		{Topic: "times", Partition: 0, Start: &streamv1.FetchPartition_Position{Position: streamv1.LogPosition_LOG_POSITION_EARLIEST}}}})
	if err != nil {
		t.Fatal(err)
	}
	if p := fr.GetPartitions()[0]; len(p.GetRecords()) != 3 || p.GetRecords()[0].GetOffset() != 0 {
		t.Fatalf("fetch from earliest: %d records", len(p.GetRecords()))
	}
}

// TestStreamGrpcurlExamples runs grpcurl against the gateway: `list` shows
// the service (reflection is on), and every ```sh block of docs/grpc.md
// that is a grpcurl command runs as written, against this cluster's
// gateway instead of localhost:9191.
func TestStreamGrpcurlExamples(t *testing.T) {
	bin, err := filepath.Abs("../../bin/grpcurl")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("grpcurl is not installed (%v): run `make tools`", err)
	}
	doc, err := os.ReadFile("../../docs/grpc.md")
	if err != nil {
		t.Fatal(err)
	}
	var examples []string
	for _, block := range strings.Split(string(doc), "```sh\n")[1:] {
		cmd, _, _ := strings.Cut(block, "```")
		if strings.HasPrefix(cmd, "grpcurl ") {
			examples = append(examples, cmd)
		}
	}
	if len(examples) < 5 {
		t.Fatalf("docs/grpc.md has %d grpcurl examples, want list, describe, Produce, Fetch, ListOffsets", len(examples))
	}
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1})
	c.admin("topic", "create", "orders", "--partitions", "3", "--replication-factor", "1")
	waitTopicsReady(t, c, map[string]int{"orders": 3})
	checks := map[string][]string{
		" list":                 {"strata.stream.v1.StreamService", "strata.stream.v1.GroupService", "strata.admin.v1.AdminService", "grpc.health.v1.Health"},
		" describe":             {"rpc Produce", "rpc Fetch", "rpc ListOffsets", "rpc ProduceStream", "rpc Consume"},
		"StreamService/Produce": {`"offset": "0"`, `"offset": "1"`},
		// The first record went to partition 0: hello, with its header.
		"StreamService/Fetch":       {`"value": "aGVsbG8="`, `"key": "source"`, `"highWatermark"`, `"TIMESTAMP_TYPE_CREATE_TIME"`},
		"StreamService/ListOffsets": {`"partitions"`, `"offset"`},
	}
	for _, ex := range examples {
		cmd := strings.ReplaceAll(ex, "localhost:9191", c.gateway.grpc)
		sh := exec.Command("bash", "-euo", "pipefail", "-c", cmd)
		sh.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
		out, err := sh.CombinedOutput()
		first, _, _ := strings.Cut(ex, "\n")
		if err != nil {
			t.Fatalf("%s: %v\n%s", first, err, out)
		}
		t.Logf("$ %s\n%s", strings.TrimSpace(ex), out)
		checked := false
		for key, wants := range checks {
			if !strings.Contains(ex, key) {
				continue
			}
			checked = true
			for _, w := range wants {
				if !strings.Contains(string(out), w) {
					t.Fatalf("%s: output lacks %s:\n%s", first, w, out)
				}
			}
		}
		if !checked {
			t.Fatalf("no check for the example %s", first)
		}
	}
}

// A partition whose leader is down fails its own records and reads; the
// other partitions of the same calls are written and read.
func TestStreamPartitionFailureIsolated(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3, leaseTTL: "30s"})
	c.admin("topic", "create", "split", "--partitions", "3", "--replication-factor", "1")
	waitTopicsReady(t, c, map[string]int{"split": 3})
	sc := streamClient(t, c)
	var ti topicInfo
	c.adminJSON(&ti, "topic", "describe", "split")
	var ci clusterInfo
	c.adminJSON(&ci, "cluster", "describe")
	down := ti.Partitions[0].Leader
	for _, n := range ci.StorageNodes {
		if n.ID == down {
			for _, s := range c.storage {
				if s.grpc == n.Address {
					s.kill()
				}
			}
		}
	}
	lost := map[int32]bool{}
	for _, p := range ti.Partitions {
		lost[p.Partition] = p.Leader == down
	}
	var recs []*streamv1.ProduceRecord
	for i := range 9 {
		recs = append(recs, &streamv1.ProduceRecord{Partition: ptr(int32(i % 3)), Value: []byte(fmt.Sprint(i))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := sc.Produce(ctx, &streamv1.ProduceRequest{Topic: "split", Records: recs, Acks: streamv1.Acks_ACKS_LEADER})
	if err != nil {
		t.Fatalf("produce with one leader down failed as a call: %v", err)
	}
	for i, r := range resp.GetResults() {
		switch {
		case lost[r.GetPartition()] && (r.GetError() == nil || !r.GetError().GetRetriable() || r.GetOffset() != -1):
			t.Fatalf("record %d to the lost partition %d: offset %d, error %v", i, r.GetPartition(), r.GetOffset(), r.GetError())
		case !lost[r.GetPartition()] && (r.GetError() != nil || r.GetOffset() != int64(i/3)):
			t.Fatalf("record %d to partition %d: offset %d, error %v", i, r.GetPartition(), r.GetOffset(), r.GetError())
		}
		if r.GetError() != nil {
			t.Logf("record %d: %v (Kafka %d): %s", i, r.GetError().GetCode(), r.GetError().GetKafkaErrorCode(), r.GetError().GetMessage())
		}
	}
	fr, err := sc.Fetch(ctx, &streamv1.FetchRequest{Partitions: []*streamv1.FetchPartition{
		{Topic: "split", Partition: 0, Start: &streamv1.FetchPartition_Offset{Offset: 0}},
		{Topic: "split", Partition: 1, Start: &streamv1.FetchPartition_Offset{Offset: 0}},
		{Topic: "split", Partition: 2, Start: &streamv1.FetchPartition_Offset{Offset: 0}}}})
	if err != nil {
		t.Fatalf("fetch with one leader down failed as a call: %v", err)
	}
	for _, p := range fr.GetPartitions() {
		if lost[p.GetPartition()] != (p.GetError() != nil) || (!lost[p.GetPartition()] && len(p.GetRecords()) != 3) {
			t.Fatalf("partition %d (lost %v): error %v, %d records", p.GetPartition(), lost[p.GetPartition()], p.GetError(), len(p.GetRecords()))
		}
	}
}
