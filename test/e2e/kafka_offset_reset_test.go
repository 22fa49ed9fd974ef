package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafkaFetchCode fetches one partition at offset through the gateway's
// Kafka listener and returns the partition's error code.
func kafkaFetchCode(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, partition int32, offset int64) int16 {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 100, 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = partition, offset, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("fetch %s-%d at %d: %v", topic, partition, offset, err)
	}
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch %s-%d at %d: error %d, %d topics", topic, partition, offset, resp.ErrorCode, len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// A group offset committed before the data it points past was lost (here:
// committed past the log end) gets OFFSET_OUT_OF_RANGE, and the client's
// reset policy applies: earliest reads the log from its start, latest only
// what is written after the consumer started.
func TestCommittedOffsetPastLogEndResets(t *testing.T) {
	const topic = "lost"
	c := kafkaCluster(t, map[string]int{topic: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	produceValues(t, c, topic, "before", 10)

	// Storage answers a fetch past the log end with OFFSET_OUT_OF_RANGE; at
	// the log end it waits for data and answers empty.
	leader, _, _ := leaderClient(t, c, topic, 0)
	for _, tc := range []struct {
		offset     int64
		outOfRange bool
	}{{10, false}, {11, true}, {1000, true}} {
		res, err := fetch(ctx, leader, topic, 0, tc.offset, 0, 0)
		if err != nil {
			t.Fatalf("storage fetch at %d: %v", tc.offset, err)
		}
		switch {
		case !tc.outOfRange && res.GetError() != nil:
			t.Errorf("storage fetch at the log end (%d): %v, want no error", tc.offset, res.GetError())
		case !tc.outOfRange && len(res.GetRecords()) != 0:
			t.Errorf("storage fetch at the log end (%d): %d bytes, want none", tc.offset, len(res.GetRecords()))
		case tc.outOfRange && res.GetError().GetCode() != errs.OffsetOutOfRange:
			t.Errorf("storage fetch at %d: error %v, want OFFSET_OUT_OF_RANGE", tc.offset, res.GetError())
		}
	}
	// So does the gateway's Kafka Fetch, with error code 1.
	raw := franzClient(t, c)
	for offset, want := range map[int64]int16{0: 0, 10: 0, 11: kerr.OffsetOutOfRange.Code, 1000: kerr.OffsetOutOfRange.Code} {
		if got := kafkaFetchCode(ctx, t, raw, topic, 0, offset); got != want {
			t.Errorf("Kafka fetch at %d: error code %d, want %d", offset, got, want)
		}
	}

	// Two groups had committed offset 1000, past the 10 records there are.
	adm := kadm.NewClient(raw)
	for _, g := range []string{"reset-earliest", "reset-latest"} {
		var commit kadm.Offsets
		commit.AddOffset(topic, 0, 1000, -1)
		if err := adm.CommitAllOffsets(ctx, g, commit); err != nil {
			t.Fatalf("commit 1000 for %s: %v", g, err)
		}
		got, err := committedOffsets(ctx, adm, g)
		if err != nil || got[topic][0] != 1000 {
			t.Fatalf("%s committed %v (%v), want %s-0 at 1000", g, got, err, topic)
		}
	}

	// Earliest: the whole log, from offset 0, and the group's offset moves
	// back to where it really is.
	early := franzClient(t, c, kgo.ConsumerGroup("reset-earliest"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := consumeN(t, early, 10, 30*time.Second)
	for i, r := range got {
		if r.Offset != int64(i) || string(r.Value) != fmt.Sprintf("before-%d", i) {
			t.Fatalf("earliest consumer: record %d is %q at offset %d, want before-%d at %d", i, r.Value, r.Offset, i, i)
		}
	}
	if len(got) != 10 {
		t.Fatalf("earliest consumer got %d records, want 10", len(got))
	}
	// (Default autocommit commits a poll's records only at the next poll:
	// commit what was consumed now.)
	if err := early.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit after the reset: %v", err)
	}
	if got, err := committedOffsets(ctx, adm, "reset-earliest"); err != nil || got[topic][0] != 10 {
		t.Fatalf("reset-earliest committed %v (%v) after reading the log, want %s-0 at 10", got, err, topic)
	}
	early.Close()

	// Latest: nothing written before it started; everything after. It is
	// started, then records are written until it sees one (its reset to the
	// end races with the first writes, so which one comes first is open).
	late := franzClient(t, c, kgo.ConsumerGroup("reset-latest"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	var mu sync.Mutex
	var seen []*kgo.Record
	pollCtx, stopPoll := context.WithCancel(ctx)
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		for pollCtx.Err() == nil {
			fs := late.PollFetches(pollCtx)
			fs.EachError(func(tp string, p int32, err error) {
				if pollCtx.Err() == nil {
					t.Logf("latest consumer: fetch %s-%d: %v", tp, p, err)
				}
			})
			mu.Lock()
			seen = append(seen, fs.Records()...)
			mu.Unlock()
		}
	}()
	p := franzClient(t, c, kgo.DefaultProduceTopic(topic))
	sent := 0
	testutil.WaitFor(t, 30*time.Second, func() error {
		if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("after-%d", sent))}).FirstErr(); err != nil {
			t.Fatalf("produce after-%d: %v", sent, err)
		}
		sent++
		time.Sleep(200 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		if len(seen) == 0 {
			return fmt.Errorf("latest consumer saw nothing of %d records written after it started", sent)
		}
		return nil
	})
	// Three more, all of which it must get, in order after the first.
	for range 3 {
		if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("after-%d", sent))}).FirstErr(); err != nil {
			t.Fatalf("produce after-%d: %v", sent, err)
		}
		sent++
	}
	testutil.WaitFor(t, 15*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if last := seen[len(seen)-1]; last.Offset != int64(10+sent-1) {
			return fmt.Errorf("latest consumer is at offset %d, last written is %d", last.Offset, 10+sent-1)
		}
		return nil
	})
	stopPoll()
	<-pollDone
	first := seen[0].Offset
	if first < 10 {
		t.Fatalf("latest consumer read offset %d (%q), written before it started", first, seen[0].Value)
	}
	for i, r := range seen {
		if !strings.HasPrefix(string(r.Value), "after-") || r.Offset != first+int64(i) ||
			string(r.Value) != fmt.Sprintf("after-%d", r.Offset-10) {
			t.Fatalf("latest consumer: record %d is %q at offset %d", i, r.Value, r.Offset)
		}
	}
	t.Logf("latest consumer started at offset %d of %d; got %d of %d records written after it started", first, 10+sent, len(seen), sent)
}
