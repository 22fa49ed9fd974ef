package strata_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	strata "github.com/strata-io/strata/clients/go"
)

// BenchmarkProducer writes 1 KiB records through one Producer to a
// 6-partition topic of the shared strata dev cluster (3 storage nodes in
// one process): RF=1 with acks=leader, and RF=3 with acks=all (idempotent).
// b.N is the record count; MB/s is of record values.
//
//	go test -run '^$' -bench BenchmarkProducer -benchtime 100000x .
func BenchmarkProducer(b *testing.B) {
	addr := devAddr
	if addr == "" {
		b.Skip("no cluster")
	}
	for _, bc := range []struct {
		name string
		rf   int32
		acks strata.Acks
	}{
		{"RF1_AcksLeader", 1, strata.AcksLeader},
		{"RF3_AcksAll", 3, strata.AcksAll},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := newClient(b, addr)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			topic := fmt.Sprintf("bench-%s-%d", bc.name, topicSeq.Add(1))
			if _, err := c.Admin().CreateTopic(ctx, topic, 6, bc.rf, nil); err != nil {
				b.Fatal(err)
			}
			p, err := c.NewProducer(strata.RequiredAcks(bc.acks))
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			warmUp(ctx, b, c, topic)
			value := make([]byte, 1024)
			var failed atomic.Int64
			var first atomic.Value
			promise := func(_ *strata.Record, err error) {
				if err != nil && failed.Add(1) == 1 {
					first.Store(err)
				}
			}
			b.SetBytes(int64(len(value)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p.Produce(ctx, &strata.Record{Topic: topic, Value: value}, promise)
			}
			if err := p.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d records failed, first: %v", n, first.Load())
			}
		})
	}
}

// BenchmarkRawProduceStream is the baseline of BenchmarkProducer in the same
// conditions: the generated ProduceStream client, 500 records of 1 KiB per
// request with explicit partitions, sent ahead within the session's
// in-flight budget, as the server's bench-stream does.
func BenchmarkRawProduceStream(b *testing.B) {
	addr := devAddr
	if addr == "" {
		b.Skip("no cluster")
	}
	for _, bc := range []struct {
		name string
		rf   int32
		acks streamv1.Acks
	}{
		{"RF1_AcksLeader", 1, streamv1.Acks_ACKS_LEADER},
		{"RF3_AcksAll", 3, streamv1.Acks_ACKS_ALL},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := newClient(b, addr)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			topic := fmt.Sprintf("rawbench-%s-%d", bc.name, topicSeq.Add(1))
			if _, err := c.Admin().CreateTopic(ctx, topic, 6, bc.rf, nil); err != nil {
				b.Fatal(err)
			}
			warmUp(ctx, b, c, topic)
			st, err := streamv1.NewStreamServiceClient(c.Conn()).ProduceStream(ctx)
			if err != nil {
				b.Fatal(err)
			}
			open := &streamv1.ProduceStreamOpen{Topic: topic, Acks: bc.acks, DisableIdempotence: bc.acks != streamv1.Acks_ACKS_ALL}
			if err := st.Send(&streamv1.ProduceStreamRequest{Message: &streamv1.ProduceStreamRequest_Open{Open: open}}); err != nil {
				b.Fatal(err)
			}
			msg, err := st.Recv()
			if err != nil {
				b.Fatal(err)
			}
			budget := msg.GetOpened().GetMaxInFlightBytes()
			const perRequest = 500
			value := make([]byte, 1024)
			reqSize := int64(perRequest * (len(value) + 36))
			requests := (b.N + perRequest - 1) / perRequest
			tokens := make(chan struct{}, max(budget/reqSize, 1))
			acked := make(chan error, 1)
			b.SetBytes(int64(len(value)))
			b.ResetTimer()
			go func() {
				for range requests {
					m, err := st.Recv()
					if err != nil {
						acked <- err
						return
					}
					for _, r := range m.GetAck().GetResults() {
						if r.GetError() != nil {
							acked <- fmt.Errorf("%v", r.GetError())
							return
						}
					}
					if m.GetAck().GetError() != nil {
						acked <- fmt.Errorf("%v", m.GetAck().GetError())
						return
					}
					<-tokens
				}
				acked <- nil
			}()
			sent := 0
			for i := range requests {
				batch := &streamv1.ProduceStreamBatch{RequestId: uint64(i + 1)}
				for j := 0; j < perRequest && sent < b.N; j++ {
					p := int32(sent % 6)
					batch.Records = append(batch.Records, &streamv1.ProduceRecord{Partition: &p, Value: value})
					sent++
				}
				tokens <- struct{}{}
				if err := st.Send(&streamv1.ProduceStreamRequest{Message: &streamv1.ProduceStreamRequest_Batch{Batch: batch}}); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-acked; err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			_ = st.CloseSend()
		})
	}
}

// warmUp writes one record to every partition of a 6-partition topic, so
// every partition is open on its leader before the clock starts.
func warmUp(ctx context.Context, b *testing.B, c *strata.Client, topic string) {
	b.Helper()
	p, err := c.NewProducer(strata.WithPartitioner(strata.ManualPartitioner()))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var recs []*strata.Record
	for i := range int32(6) {
		recs = append(recs, &strata.Record{Topic: topic, Partition: i, Value: []byte("warm-up")})
	}
	if err := p.ProduceSync(ctx, recs...); err != nil {
		b.Fatal(err)
	}
}
