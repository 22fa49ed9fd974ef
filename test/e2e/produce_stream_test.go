package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// streamSession opens a ProduceStream session.
func streamSession(t *testing.T, ctx context.Context, sc streamv1.StreamServiceClient, open *streamv1.ProduceStreamOpen) (streamv1.StreamService_ProduceStreamClient, *streamv1.ProduceStreamOpened) {
	t.Helper()
	st, err := sc.ProduceStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&streamv1.ProduceStreamRequest{Message: &streamv1.ProduceStreamRequest_Open{Open: open}}); err != nil {
		t.Fatal(err)
	}
	m, err := st.Recv()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if m.GetOpened() == nil {
		t.Fatalf("first answer %v, want opened", m)
	}
	return st, m.GetOpened()
}

func batchMsg(id uint64, recs []*streamv1.ProduceRecord) *streamv1.ProduceStreamRequest {
	return &streamv1.ProduceStreamRequest{Message: &streamv1.ProduceStreamRequest_Batch{Batch: &streamv1.ProduceStreamBatch{RequestId: id, Records: recs}}}
}

// ackLog records what a session acknowledged: value → partition/offset.
type ackLog struct {
	mu    sync.Mutex
	acked map[string][2]int64
	order []uint64
	fails int
}

// streamValues sends requests of per records with values prefix-i-j on
// its own goroutine and collects every ack; it returns once all acks came
// back (each request gets exactly one, in order).
func streamValues(t *testing.T, st streamv1.StreamService_ProduceStreamClient, prefix string, requests, per int, keyed bool) *ackLog {
	t.Helper()
	log := &ackLog{acked: map[string][2]int64{}}
	sent := make(chan error, 1)
	go func() {
		for i := range requests {
			recs := make([]*streamv1.ProduceRecord, per)
			for j := range per {
				recs[j] = &streamv1.ProduceRecord{Value: []byte(fmt.Sprintf("%s-%d-%d", prefix, i, j))}
				if keyed {
					recs[j].Key = []byte(fmt.Sprint(i*per + j))
				}
			}
			if err := st.Send(batchMsg(uint64(i), recs)); err != nil {
				sent <- err
				return
			}
		}
		sent <- st.CloseSend()
	}()
	for i := range requests {
		m, err := st.Recv()
		if err != nil {
			t.Fatalf("ack %d: %v", i, err)
		}
		ack := m.GetAck()
		if ack.GetRequestId() != uint64(i) {
			t.Fatalf("ack for request %d, want %d: acks must come in request order", ack.GetRequestId(), i)
		}
		log.order = append(log.order, ack.GetRequestId())
		if ack.GetError() != nil {
			t.Fatalf("request %d refused: %v %s", i, ack.GetError().GetCode(), ack.GetError().GetMessage())
		}
		if len(ack.GetResults()) != per {
			t.Fatalf("request %d: %d results for %d records", i, len(ack.GetResults()), per)
		}
		for j, r := range ack.GetResults() {
			if r.GetError() != nil {
				log.fails++
				continue
			}
			log.acked[fmt.Sprintf("%s-%d-%d", prefix, i, j)] = [2]int64{int64(r.GetPartition()), r.GetOffset()}
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err == nil {
		t.Fatal("the stream did not end after the last ack")
	}
	return log
}

// checkStreamed reads every partition back: each acknowledged record is
// there exactly once, at its acknowledged offset.
func checkStreamed(t *testing.T, sc streamv1.StreamServiceClient, topic string, partitions int32, log *ackLog) {
	t.Helper()
	seen := map[string][2]int64{}
	for p := range partitions {
		_, recs := fetchAll(t, sc, topic, p, 0)
		for _, r := range recs {
			v := string(r.GetValue())
			if prev, dup := seen[v]; dup {
				t.Fatalf("record %s is in the log twice: at %v and %d/%d", v, prev, p, r.GetOffset())
			}
			seen[v] = [2]int64{int64(p), r.GetOffset()}
		}
	}
	for v, at := range log.acked {
		if got, ok := seen[v]; !ok || got != at {
			t.Fatalf("acknowledged record %s at %v: read back at %v (present %v)", v, at, got, ok)
		}
	}
	t.Logf("%d acknowledged, %d failed, %d in the log", len(log.acked), log.fails, len(seen))
}

// 100,000 records through one idempotent session: every request is
// acknowledged once, in order; every record is in the log once, at the
// offset its ack named, in the partition Kafka's partitioner picks.
func TestStreamProduceStream100k(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"firehose": 3})
	sc := streamClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	st, opened := streamSession(t, ctx, sc, &streamv1.ProduceStreamOpen{Topic: "firehose", Compression: streamv1.Compression_COMPRESSION_LZ4})
	if opened.GetProducerId() < 0 || opened.GetMaxInFlightBytes() <= 0 {
		t.Fatalf("opened %v: want a producer id and a budget", opened)
	}
	log := streamValues(t, st, "r", 100, 1000, true)
	if len(log.acked) != 100_000 || log.fails != 0 {
		t.Fatalf("%d acknowledged, %d failed; want all 100000", len(log.acked), log.fails)
	}
	for v, at := range log.acked {
		var i, j int
		fmt.Sscanf(v, "r-%d-%d", &i, &j)
		if want := kafkaPartition([]byte(fmt.Sprint(i*1000+j)), 3); int32(at[0]) != want {
			t.Fatalf("%s in partition %d, Kafka's partitioner picks %d", v, at[0], want)
		}
	}
	checkStreamed(t, sc, "firehose", 3, log)
}

// The storage leader is SIGKILLed in the middle of an idempotent session:
// the gateway resends what it could not confirm, with the same sequences,
// to the new leader; every acknowledged record is in the log exactly once.
func TestStreamProduceStreamSurvivesLeaderKill(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3})
	c.admin("topic", "create", "durable", "--partitions", "1", "--replication-factor", "3", "--config", "min.insync.replicas=2")
	waitTopicsReady(t, c, map[string]int{"durable": 1})
	rn := nodesByID(t, c)
	sc := streamClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	p, err := describePartition(t, c, "durable", 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := streamSession(t, ctx, sc, &streamv1.ProduceStreamOpen{Topic: "durable", Timeout: durationpb.New(20 * time.Second)})
	done := make(chan *ackLog, 1)
	go func() { done <- streamValues(t, st, "k", 2000, 50, false) }()
	// Kill the leader once some of the stream is in, well before its end.
	var before int64
	testutil.WaitFor(t, 30*time.Second, func() error {
		if before = readReplicaHW(ctx, t, rn.clients[p.Leader], "durable"); before < 2000 {
			return fmt.Errorf("high watermark %d", before)
		}
		return nil
	})
	rn.byID[p.Leader].kill()
	log := <-done
	if int64(len(log.acked)) <= before {
		t.Fatalf("%d acknowledged, no more than before the kill (%d): the stream did not go on", len(log.acked), before)
	}
	// Read back from the new leader.
	testutil.WaitFor(t, 30*time.Second, func() error {
		if q, err := describePartition(t, c, "durable", 0); err != nil || q.Leader < 0 || q.Leader == p.Leader {
			return fmt.Errorf("leader %d (old %d): %v", q.Leader, p.Leader, err)
		}
		return nil
	})
	checkStreamed(t, sc, "durable", 1, log)
}

// A bad request is answered in its ack (the session goes on); requests
// beyond the in-flight budget are refused in order with RESOURCE_EXHAUSTED
// and retry_after; a bad open ends the stream with the field named.
func TestStreamProduceStreamRefusals(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"s": 1})
	sc := streamClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	for _, tc := range []struct {
		name  string
		first *streamv1.ProduceStreamRequest
		code  codes.Code
		field string
	}{
		{"batch before open", batchMsg(1, []*streamv1.ProduceRecord{{Value: []byte("x")}}), codes.InvalidArgument, "open"},
		{"unknown topic", &streamv1.ProduceStreamRequest{Message: &streamv1.ProduceStreamRequest_Open{Open: &streamv1.ProduceStreamOpen{Topic: "nope"}}}, codes.NotFound, "open.topic"},
		{"timeout too long", &streamv1.ProduceStreamRequest{Message: &streamv1.ProduceStreamRequest_Open{Open: &streamv1.ProduceStreamOpen{Topic: "s", Timeout: durationpb.New(time.Hour)}}}, codes.InvalidArgument, "open.timeout"},
		{"idempotent without acks all", &streamv1.ProduceStreamRequest{Message: &streamv1.ProduceStreamRequest_Open{Open: &streamv1.ProduceStreamOpen{Topic: "s", Acks: streamv1.Acks_ACKS_LEADER}}}, codes.InvalidArgument, "open.acks"},
	} {
		st, err := sc.ProduceStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(tc.first); err != nil {
			t.Fatal(err)
		}
		_, err = st.Recv()
		if status.Code(err) != tc.code {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.code)
			continue
		}
		if e := errs.From(err); e == nil || len(e.Detail.GetFieldViolations()) == 0 || e.Detail.GetFieldViolations()[0].GetField() != tc.field {
			t.Errorf("%s: %v, want field %q", tc.name, err, tc.field)
		}
	}

	st, _ := streamSession(t, ctx, sc, &streamv1.ProduceStreamOpen{Topic: "s"})
	if err := st.Send(batchMsg(1, nil)); err != nil {
		t.Fatal(err)
	}
	if err := st.Send(batchMsg(2, []*streamv1.ProduceRecord{{Value: []byte("ok")}})); err != nil {
		t.Fatal(err)
	}
	if err := st.Send(batchMsg(3, []*streamv1.ProduceRecord{{Value: []byte("x"), Headers: []*streamv1.Header{{Value: []byte("no key")}}}})); err != nil {
		t.Fatal(err)
	}
	m1, err := st.Recv()
	if err != nil || m1.GetAck().GetRequestId() != 1 || m1.GetAck().GetError().GetCode() != errs.InvalidRequest {
		t.Fatalf("empty request: %v %v, want an INVALID_REQUEST ack", m1, err)
	}
	m2, err := st.Recv()
	if err != nil || m2.GetAck().GetRequestId() != 2 || m2.GetAck().GetResults()[0].GetError() != nil || m2.GetAck().GetResults()[0].GetOffset() != 0 {
		t.Fatalf("the next request: %v %v, want written at offset 0", m2, err)
	}
	m3, err := st.Recv()
	if v := m3.GetAck().GetError().GetFieldViolations(); err != nil || m3.GetAck().GetRequestId() != 3 || len(v) == 0 || v[0].GetField() != "records[0].headers[0].key" {
		t.Fatalf("header without a key: %v %v, want an ack naming records[0].headers[0].key", m3, err)
	}

	// Back-pressure: with both... a single partition, RF=3: pause the
	// followers so the first request waits for replication, and send more
	// than the budget meanwhile.
	rn := nodesByID(t, c)
	p, err := describePartition(t, c, "s", 0)
	if err != nil {
		t.Fatal(err)
	}
	for id, n := range rn.byID {
		if id != p.Leader {
			n.pause()
		}
	}
	big := make([]*streamv1.ProduceRecord, 16)
	for i := range big {
		big[i] = &streamv1.ProduceRecord{Value: make([]byte, 60<<10)} // ~1 MiB a request
	}
	const requests = 80 // more than the 16 MiB budget
	go func() {
		for i := range requests {
			if st.Send(batchMsg(uint64(100+i), big)) != nil {
				return
			}
		}
	}()
	throttled := 0
	for i := range requests {
		m, err := st.Recv()
		if err != nil {
			t.Fatalf("ack %d: %v", i, err)
		}
		ack := m.GetAck()
		if ack.GetRequestId() != uint64(100+i) {
			t.Fatalf("ack for %d, want %d", ack.GetRequestId(), 100+i)
		}
		if e := ack.GetError(); e != nil {
			if e.GetCode() != commonv1.ErrorCode_ERROR_CODE_THROTTLED || e.GetRetryAfterMs() <= 0 {
				t.Fatalf("request %d refused with %v, want THROTTLED with retry_after_ms", 100+i, e)
			}
			throttled++
		}
		if i == 0 {
			for id, n := range rn.byID {
				if id != p.Leader {
					n.resume()
				}
			}
		}
	}
	if throttled == 0 {
		t.Fatal("no request was refused past the in-flight budget")
	}
	t.Logf("%d of %d requests refused past the budget", throttled, requests)
}
