package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	segkafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch sessions (KIP-227) against real clients: segmentio/kafka-go's
// Client.Fetch sends sessionless fetches (session id 0, epoch -1) and gets
// records; franz-go uses incremental sessions and consumes every record of
// a topic with many partitions, produced before and while it consumes; the
// wire protocol steps (full, incremental with nothing new, with new
// records, a repeated epoch) answer as from Kafka.
func TestKafkaFetchSessions(t *testing.T) {
	const parts = 24
	c := kafkaCluster(t, map[string]int{"sessions": parts})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	prod := franzClient(t, c, kgo.DefaultProduceTopic("sessions"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce := func(round int) {
		t.Helper()
		var recs []*kgo.Record
		for p := range parts {
			for i := range 5 {
				recs = append(recs, &kgo.Record{Partition: int32(p), Value: fmt.Appendf(nil, "r%d-p%d-%d", round, p, i)})
			}
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce round %d: %v", round, err)
		}
	}
	produce(0)

	// segmentio/kafka-go: sessionless.
	seg := &segkafka.Client{Addr: segkafka.TCP(c.kafka), Timeout: 10 * time.Second}
	for p := range 3 {
		resp, err := seg.Fetch(ctx, &segkafka.FetchRequest{Topic: "sessions", Partition: p, Offset: 0, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: time.Second})
		if err != nil {
			t.Fatalf("segmentio fetch of partition %d: %v", p, err)
		}
		if resp.Error != nil {
			t.Fatalf("segmentio fetch of partition %d: %v", p, resp.Error)
		}
		n := 0
		for {
			_, err := resp.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("segmentio record of partition %d: %v", p, err)
			}
			n++
		}
		if n != 5 || resp.HighWatermark != 5 {
			t.Fatalf("segmentio fetch of partition %d: %d records, high watermark %d; want 5 and 5", p, n, resp.HighWatermark)
		}
	}

	// The protocol, step by step, over franz-go's connection.
	raw := franzClient(t, c)
	fetch := func(id, epoch int32, offset int64) *kmsg.FetchResponse {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(12)
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 100, 1, 1<<20
		req.SessionID, req.SessionEpoch = id, epoch
		if epoch <= 0 || offset >= 0 {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = "sessions"
			for p := range int32(parts) {
				if epoch > 0 && p != 0 {
					continue // incremental: only the partition that moved
				}
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, max(offset, 0), 1<<20
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, raw)
		if err != nil {
			t.Fatalf("fetch session %d epoch %d: %v", id, epoch, err)
		}
		return resp
	}
	count := func(resp *kmsg.FetchResponse) (partitions int) {
		for _, t := range resp.Topics {
			partitions += len(t.Partitions)
		}
		return partitions
	}
	full := fetch(0, 0, 0)
	if full.ErrorCode != 0 || full.SessionID == 0 || count(full) != parts {
		t.Fatalf("full fetch: error %d, session %d, %d partitions; want a session and %d partitions", full.ErrorCode, full.SessionID, count(full), parts)
	}
	id := full.SessionID
	// Partition 0 moves to offset 5 (the client read its records); the
	// others stay at 0, where their records were already sent: records
	// come again for them, since the client asks from offset 0.
	if r := fetch(id, 1, 5); r.ErrorCode != 0 || r.SessionID != id || count(r) != parts-1 {
		t.Fatalf("incremental fetch: error %d, session %d, %d partitions; want %d (partition 0 has nothing new)", r.ErrorCode, r.SessionID, count(r), parts-1)
	}
	if r := fetch(id, 1, -1); r.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("a repeated epoch got error %d, want INVALID_FETCH_SESSION_EPOCH", r.ErrorCode)
	}
	if r := fetch(id+1, 1, -1); r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("an unknown session got error %d, want FETCH_SESSION_ID_NOT_FOUND", r.ErrorCode)
	}
	raw.Close()

	// franz-go consumes with incremental sessions (its default) across every
	// partition, records produced before and during the consumption.
	cons := franzClient(t, c, kgo.ConsumeTopics("sessions"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	seen := map[string]bool{}
	read := func(want int) {
		t.Helper()
		for len(seen) < want {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d records", len(seen), want)
			}
			fs.EachError(func(topic string, p int32, err error) { t.Errorf("fetch %s-%d: %v", topic, p, err) })
			fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
		}
	}
	read(parts * 5)
	for round := 1; round <= 3; round++ {
		produce(round)
		read((round + 1) * parts * 5)
	}
	if len(seen) != 4*parts*5 {
		t.Fatalf("consumed %d distinct records, want %d", len(seen), 4*parts*5)
	}
}
