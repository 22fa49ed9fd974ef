package e2e

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKafkaClientsRideThroughLeaderFailover produces with franz-go's
// defaults (idempotent, acks=all) and consumes at the same time while the
// storage node leading a partition is killed: every acknowledged record is
// consumed exactly once, in order per partition (I1, I3, I4).
func TestKafkaClientsRideThroughLeaderFailover(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"ride": 3})
	rn := nodesByID(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	producer := franzClient(t, c, kgo.DefaultProduceTopic("ride"))
	var mu sync.Mutex
	acked := map[string]bool{}
	sent := 0
	produce := func(n int) {
		for range n {
			v := strconv.Itoa(sent)
			sent++
			producer.Produce(ctx, &kgo.Record{Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
				if err == nil {
					mu.Lock()
					acked[string(r.Value)] = true
					mu.Unlock()
				}
			})
		}
	}
	consumer := franzClient(t, c, kgo.ConsumeTopics("ride"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]int{}
	last := map[int32]int64{}
	var got []*kgo.Record
	consumeUntil := func(want func() bool) {
		testutil.WaitFor(t, 60*time.Second, func() error {
			pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
			fs := consumer.PollFetches(pctx)
			pcancel()
			for _, r := range fs.Records() {
				if off, ok := last[r.Partition]; ok && r.Offset <= off {
					t.Fatalf("partition %d went back from offset %d to %d (I4)", r.Partition, off, r.Offset)
				}
				last[r.Partition] = r.Offset
				seen[string(r.Value)]++
				got = append(got, r)
			}
			if !want() {
				return fmt.Errorf("consumed %d records so far", len(got))
			}
			return nil
		})
	}

	produce(300)
	consumeUntil(func() bool { return len(got) >= 100 })
	p, err := describePartition(t, c, "ride", 0)
	if err != nil {
		t.Fatal(err)
	}
	rn.byID[p.Leader].signal(syscall.SIGKILL)
	produce(300)
	if err := producer.Flush(ctx); err != nil {
		t.Fatalf("flush after the leader's death: %v", err)
	}
	mu.Lock()
	total := len(acked)
	mu.Unlock()
	if total != sent {
		t.Fatalf("%d of %d records acknowledged; franz-go retries until the new leader takes them", total, sent)
	}
	consumeUntil(func() bool { return len(seen) >= total })
	for v, n := range seen {
		if n != 1 {
			t.Fatalf("record %s consumed %d times (I3)", v, n)
		}
	}
	for v := range acked {
		if seen[v] != 1 {
			t.Fatalf("acknowledged record %s was not consumed (I1)", v)
		}
	}
}
