package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-io/strata/api/kafkabatch"
	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkStreamVsKafka measures, against one `strata dev` in one run and
// over several rounds, producing 1 KiB records over gRPC ProduceStream (the
// generated client) beside franz-go over the Kafka protocol, RF=1
// acks=leader and RF=3 acks=all; consuming them with a gRPC Consume member
// beside a franz-go group consumer; and the acks=all latency of 100-byte
// records at 20,000 records/s over both. Run with `make bench-stream`.
func BenchmarkStreamVsKafka(b *testing.B) {
	kafka, grpcAddr := startKafkaDev(b)
	conn, err := rpc.Dial(grpcAddr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	sc := streamv1.NewStreamServiceClient(conn)
	const records, size, rounds = 100_000, 1024, 3
	value := make([]byte, size)
	_, _ = rand.Read(value)
	type mode struct {
		name  string
		rf    int16
		kacks kgo.Acks
		sacks streamv1.Acks
	}
	modes := []mode{{"RF=1 acks=leader", 1, kgo.LeaderAck(), streamv1.Acks_ACKS_LEADER}, {"RF=3 acks=all", 3, kgo.AllISRAcks(), streamv1.Acks_ACKS_ALL}}
	for range b.N {
		// "records": the generated client sends records, the gateway
		// encodes them; "batches": the client sends the Kafka record
		// batches it encodes (what clients/go does).
		fmt.Printf("\n%-17s %-6s %11s %13s %13s %9s %9s\n", "mode", "round", "kafka MB/s", "records MB/s", "batches MB/s", "rec/kafka", "bat/kafka")
		for _, m := range modes {
			topic := fmt.Sprintf("stream-bench-%d", m.rf)
			if err := benchTopic(kafka, topic, m.rf); err != nil {
				b.Fatal(err)
			}
			for r := range rounds {
				rates, err := balanced(records,
					func(n int) (float64, error) { return kafkaProduce(kafka, topic, m.kacks, n, value) },
					func(n int) (float64, error) { return streamProduce(sc, topic, m.sacks, n, value, streamPer, false) },
					func(n int) (float64, error) { return streamProduce(sc, topic, m.sacks, n, value, streamPer, true) })
				if err != nil {
					b.Fatal(err)
				}
				k, g, e := rates[0], rates[1], rates[2]
				fmt.Printf("%-17s %-6d %11.1f %13.1f %13.1f %9.2f %9.2f\n", m.name, r+1, k*size/1e6, g*size/1e6, e*size/1e6, g/k, e/k)
			}
		}
		// Consume what the RF=3 rounds wrote (2 × rounds × records, 1 KiB).
		fmt.Printf("\n%-17s %-6s %14s %14s %8s\n", "consume 1 KiB", "round", "kafka MB/s", "grpc MB/s", "grpc/kafka")
		for r := range rounds {
			n := 2 * rounds * records
			var k, g float64
			err := inTurn(r, func() (err error) {
				k, err = kafkaConsume(kafka, "stream-bench-3", fmt.Sprint("bench-kafka-", r), n)
				return err
			}, func() (err error) {
				g, err = streamConsume(sc, "stream-bench-3", fmt.Sprint("bench-grpc-", r), n)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			fmt.Printf("%-17s %-6d %14.1f %14.1f %8.2f\n", "RF=3 group", r+1, k*size/1e6, g*size/1e6, g/k)
		}
		topic := "stream-bench-latency"
		if err := benchTopic(kafka, topic, 3); err != nil {
			b.Fatal(err)
		}
		fmt.Printf("\n%-30s %-6s %10s %10s %10s %10s\n", "latency 20k rec/s 100 B", "round", "kafka p50", "kafka p99", "grpc p50", "grpc p99")
		for r := range rounds {
			var k50, k99, g50, g99 time.Duration
			err := inTurn(r, func() (err error) {
				k50, k99, err = kafkaLatency(kafka, topic, value[:100])
				return err
			}, func() (err error) {
				g50, g99, err = streamLatency(sc, topic, value[:100])
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			fmt.Printf("%-30s %-6d %10v %10v %10v %10v\n", "RF=3 acks=all linger 0", r+1, k50, k99, g50, g99)
		}
	}
}

// inTurn runs the Kafka and the gRPC measure of round r, the Kafka one
// first in even rounds and second in odd ones, so neither always runs on
// the page cache and disk the other left behind.
func inTurn(r int, kafka, grpc func() error) error {
	first, second := kafka, grpc
	if r%2 == 1 {
		first, second = grpc, kafka
	}
	if err := first(); err != nil {
		return err
	}
	return second()
}

// benchTopic creates a topic of 6 partitions and waits until every
// partition answers ListOffsets (its leader opened it), then warms it up.
func benchTopic(addr, topic string, rf int16) error {
	return benchTopicN(addr, topic, 6, rf)
}

// benchTopicN is benchTopic for a topic of partitions partitions.
func benchTopicN(addr, topic string, partitions int32, rf int16) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := kafkaCreateTopicN(ctx, cl, topic, partitions, rf); err != nil {
		return err
	}
	for ctx.Err() == nil {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for p := range partitions {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp = p, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		ready := err == nil
		if ready {
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					ready = ready && p.ErrorCode == 0
				}
			}
		}
		if ready {
			return cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm-up")}).FirstErr()
		}
		time.Sleep(50 * time.Millisecond) // waiting for leaders; not synchronisation of the measurement
	}
	return ctx.Err()
}

// kafkaProduce sends n records with franz-go and returns records/s.
func kafkaProduce(addr, topic string, acks kgo.Acks, n int, value []byte) (float64, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(acks),
		kgo.ProducerBatchMaxBytes(1 << 20), kgo.MaxBufferedRecords(100000), kgo.ProducerBatchCompression(kgo.NoCompression())}
	if acks != kgo.AllISRAcks() {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	start := time.Now()
	for range n {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				first = err
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds(), first
}

// streamProduce sends n records over one ProduceStream session in requests
// of per records (all sent ahead, acknowledged in order) and returns
// records/s.
//
// With encoded, each request carries its records as one Kafka record batch
// the client encodes (api/kafkabatch, as clients/go does), for the
// partitions in turn, instead of records the gateway encodes.
func streamProduce(sc streamv1.StreamServiceClient, topic string, acks streamv1.Acks, n int, value []byte, per int, encoded bool) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Timed from the open, as kafkaProduce's franz-go client is from its
	// first connection and producer id.
	start := time.Now()
	st, err := sc.ProduceStream(ctx)
	if err != nil {
		return 0, err
	}
	open := &streamv1.ProduceStreamOpen{Topic: topic, Acks: acks, DisableIdempotence: acks != streamv1.Acks_ACKS_ALL}
	if err := st.Send(&streamv1.ProduceStreamRequest{Message: &streamv1.ProduceStreamRequest_Open{Open: open}}); err != nil {
		return 0, err
	}
	opened, err := st.Recv()
	if err != nil {
		return 0, err
	}
	requests := n / per
	recs := make([]*streamv1.ProduceRecord, per)
	for i := range recs {
		recs[i] = &streamv1.ProduceRecord{Value: value}
	}
	// Keep within the session's in-flight budget, as a client must.
	slots := make(chan struct{}, max(1, min(64, int(opened.GetOpened().GetMaxInFlightBytes())/(per*(len(value)+64)))))
	go func() {
		for i := range requests {
			slots <- struct{}{}
			batch := &streamv1.ProduceStreamBatch{RequestId: uint64(i), Records: recs}
			if encoded {
				batch.Records, batch.RecordBatches = nil, encodedBatch(i, per, value)
			}
			if st.Send(&streamv1.ProduceStreamRequest{Message: &streamv1.ProduceStreamRequest_Batch{Batch: batch}}) != nil {
				return
			}
		}
		_ = st.CloseSend()
	}()
	for range requests {
		m, err := st.Recv()
		if err != nil {
			return 0, err
		}
		<-slots
		if e := m.GetAck().GetError(); e != nil {
			return 0, fmt.Errorf("request refused: %s", e.GetMessage())
		}
		for _, r := range m.GetAck().GetResults() {
			if r.GetError() != nil {
				return 0, fmt.Errorf("record failed: %s", r.GetError().GetMessage())
			}
		}
	}
	return float64(requests*per) / time.Since(start).Seconds(), nil
}

// streamPer is the 1 KiB records of one ProduceStream request: as many as
// fit one batch of 1 MiB, what clients/go sends.
const streamPer = 1 << 20 / (1024 + 16)

// balanced measures producers of n records each against the machine's
// drift (the page cache filling, writeback starting): each produces n/2
// records in order, then n/2 more in the reverse order, so each takes the
// same share of early and late runs. It returns each one's records/s over
// its two halves.
func balanced(n int, produce ...func(n int) (float64, error)) ([]float64, error) {
	secs := make([]float64, len(produce))
	order := make([]int, 0, 2*len(produce))
	for i := range produce {
		order = append(order, i)
	}
	for i := range produce {
		order = append(order, len(produce)-1-i)
	}
	for _, i := range order {
		rate, err := produce[i](n / 2)
		if err != nil {
			return nil, err
		}
		secs[i] += float64(n/2) / rate
	}
	rates := make([]float64, len(produce))
	for i, s := range secs {
		rates[i] = float64(2*(n/2)) / s
	}
	return rates, nil
}

// percentiles returns the p50 and p99 of latencies.
func percentiles(lats []time.Duration) (time.Duration, time.Duration) {
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	if len(lats) == 0 {
		return 0, 0
	}
	return lats[len(lats)/2].Round(10 * time.Microsecond), lats[len(lats)*99/100].Round(10 * time.Microsecond)
}

// kafkaLatency sends 20 records every millisecond for 3 s with franz-go
// and returns the p50 and p99 of the time to each acknowledgement.
func kafkaLatency(addr, topic string, value []byte) (time.Duration, time.Duration, error) {
	return kafkaLatencyAt(addr, topic, value, 20, 3*time.Second)
}

// kafkaLatencyAt sends perMs records every millisecond for d (acks=all,
// linger 0) and returns the p50 and p99 of the time to each
// acknowledgement.
func kafkaLatencyAt(addr, topic string, value []byte, perMs int, d time.Duration) (time.Duration, time.Duration, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	ctx := context.Background()
	var mu sync.Mutex
	var lats []time.Duration
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var failed atomic.Int64
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		<-tick.C
		for range perMs {
			sent := time.Now()
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
				}
				mu.Lock()
				lats = append(lats, time.Since(sent))
				mu.Unlock()
				wg.Done()
			})
		}
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return 0, 0, fmt.Errorf("%d of %d records failed", n, len(lats))
	}
	p50, p99 := percentiles(lats)
	return p50, p99, nil
}

// encodedBatch is request i's records (per of them, value each) as one
// Kafka record batch the client encoded, for partition i mod 6: what
// clients/go sends, one partition per request as its sticky partitioner.
func encodedBatch(i, per int, value []byte) []*streamv1.RecordBatch {
	var w kafkabatch.Builder
	w.Reset(make([]byte, 0, kafkabatch.HeaderSize+per*(len(value)+16)))
	now := time.Now().UnixMilli()
	for range per {
		w.Add(nil, value, now, nil)
	}
	return []*streamv1.RecordBatch{{Partition: int32(i % 6), Batch: w.Finish()}}
}

// streamLatency sends a request of 20 records every millisecond over one
// idempotent ProduceStream session.
func streamLatency(sc streamv1.StreamServiceClient, topic string, value []byte) (time.Duration, time.Duration, error) {
	return streamLatencyAt(sc, topic, value, 20, 3*time.Second, false)
}

// streamLatencyAt sends a request of perMs records every millisecond for d
// over one idempotent (acks=all) ProduceStream session and returns the p50
// and p99 of the time to each acknowledgement. With encoded the client
// encodes each request's records as one batch (the time counts from
// before the encoding, as a Kafka client's does), else the gateway does.
func streamLatencyAt(sc streamv1.StreamServiceClient, topic string, value []byte, perMs int, d time.Duration, encoded bool) (time.Duration, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := sc.ProduceStream(ctx)
	if err != nil {
		return 0, 0, err
	}
	if err := st.Send(&streamv1.ProduceStreamRequest{Message: &streamv1.ProduceStreamRequest_Open{Open: &streamv1.ProduceStreamOpen{Topic: topic}}}); err != nil {
		return 0, 0, err
	}
	if _, err := st.Recv(); err != nil {
		return 0, 0, err
	}
	recs := make([]*streamv1.ProduceRecord, perMs)
	for i := range recs {
		recs[i] = &streamv1.ProduceRecord{Value: value}
	}
	var sentAt sync.Map
	n := 0
	go func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for deadline := time.Now().Add(d); time.Now().Before(deadline); n++ {
			<-tick.C
			sentAt.Store(uint64(n), time.Now())
			batch := &streamv1.ProduceStreamBatch{RequestId: uint64(n), Records: recs}
			if encoded {
				batch.Records, batch.RecordBatches = nil, encodedBatch(n, perMs, value)
			}
			if st.Send(&streamv1.ProduceStreamRequest{Message: &streamv1.ProduceStreamRequest_Batch{Batch: batch}}) != nil {
				return
			}
		}
		_ = st.CloseSend()
	}()
	var lats []time.Duration
	for {
		m, err := st.Recv()
		if err != nil {
			break // the session ended after the last ack
		}
		if e := m.GetAck().GetError(); e != nil {
			return 0, 0, fmt.Errorf("request refused: %s", e.GetMessage())
		}
		if t, ok := sentAt.Load(m.GetAck().GetRequestId()); ok {
			d := time.Since(t.(time.Time))
			for range len(m.GetAck().GetResults()) {
				lats = append(lats, d)
			}
		}
	}
	p50, p99 := percentiles(lats)
	return p50, p99, nil
}

// kafkaConsume reads n records of topic with a franz-go group consumer
// from the start and returns records/s.
func kafkaConsume(addr, topic, group string, n int) (float64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(50<<20), kgo.DisableAutoCommit())
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	got := 0
	var start time.Time
	for got < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		if got == 0 && fs.NumRecords() > 0 {
			start = time.Now() // from the first record: joining is not reading
		}
		got += fs.NumRecords()
	}
	return float64(got) / time.Since(start).Seconds(), ctx.Err()
}

// streamConsume reads n records of topic through a gRPC Consume member
// from the start and returns records/s.
func streamConsume(sc streamv1.StreamServiceClient, topic, group string, n int) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := sc.Consume(ctx)
	if err != nil {
		return 0, err
	}
	open := &streamv1.ConsumeOpen{GroupId: group, Topics: []string{topic}, StartPosition: streamv1.LogPosition_LOG_POSITION_EARLIEST,
		RecordBatches: true}
	if err := st.Send(&streamv1.ConsumeRequest{Message: &streamv1.ConsumeRequest_Open{Open: open}}); err != nil {
		return 0, err
	}
	if err := st.Send(&streamv1.ConsumeRequest{Message: &streamv1.ConsumeRequest_Credit{Credit: &streamv1.ConsumeCredit{Records: int64(n) * 2, Bytes: 1 << 40}}}); err != nil {
		return 0, err
	}
	got := 0
	var start time.Time
	for got < n {
		m, err := st.Recv()
		if err != nil {
			return 0, err
		}
		if recs := m.GetRecords(); recs != nil {
			if got == 0 {
				start = time.Now()
			}
			got += len(recs.GetRecords())
			for _, b := range recs.GetRecordBatches() {
				if err := kafkabatch.Decode(b, func(kafkabatch.Record) { got++ }); err != nil {
					return 0, err
				}
			}
		}
	}
	return float64(got) / time.Since(start).Seconds(), nil
}
