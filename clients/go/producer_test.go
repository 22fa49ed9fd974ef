package strata_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	strata "github.com/strata-io/strata/clients/go"
)

func TestProduceSyncAndReadBack(t *testing.T) {
	c := newClient(t, needDev(t))
	topic := newTopic(t, c, 3, 3)
	p, err := c.NewProducer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var recs []*strata.Record
	for i := range 30 {
		recs = append(recs, &strata.Record{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i%5)), Value: []byte(fmt.Sprintf("v%d", i)),
			Headers: []strata.Header{{Key: "h", Value: []byte("x")}}})
	}
	if err := p.ProduceSync(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if want := int32(strata.KafkaKeyPartition(r.Key, 3)); r.Partition != want {
			t.Errorf("key %s went to %d, want %d", r.Key, r.Partition, want)
		}
		if r.Offset < 0 {
			t.Errorf("record %s has offset %d", r.Value, r.Offset)
		}
	}
	got := readAll(t, c, topic, 3, len(recs))
	for _, r := range recs {
		g, ok := got[fmt.Sprintf("%d/%d", r.Partition, r.Offset)]
		if !ok || string(g.Value) != string(r.Value) || string(g.Key) != string(r.Key) || len(g.Headers) != 1 {
			t.Errorf("record %s at %d/%d: read %+v", r.Value, r.Partition, r.Offset, g)
		}
	}
}

func TestProduceAsyncPromisesInOrderPerPartition(t *testing.T) {
	c := newClient(t, needDev(t))
	topic := newTopic(t, c, 4, 1)
	p, err := c.NewProducer(strata.RequiredAcks(strata.AcksLeader), strata.Linger(time.Millisecond), strata.MaxBatchBytes(16<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 20000
	var mu sync.Mutex
	last := map[int32]int64{}
	var bad []string
	for i := range n {
		r := &strata.Record{Topic: topic, Value: make([]byte, 100)}
		if i%3 == 0 {
			r.Key = []byte(fmt.Sprint(i))
		}
		p.Produce(ctx, r, func(r *strata.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				bad = append(bad, err.Error())
				return
			}
			if prev, ok := last[r.Partition]; ok && r.Offset <= prev {
				bad = append(bad, fmt.Sprintf("partition %d: offset %d after %d", r.Partition, r.Offset, prev))
			}
			last[r.Partition] = r.Offset
		})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("%d bad promises, first: %s", len(bad), bad[0])
	}
	total := int64(0)
	for _, o := range last {
		total += o + 1
	}
	if total != n {
		t.Fatalf("offsets add up to %d records, want %d", total, n)
	}
}

func TestTryProduceFailsFastWhenFull(t *testing.T) {
	c := newClient(t, needDev(t))
	topic := newTopic(t, c, 1, 1)
	p, err := c.NewProducer(strata.MaxBufferedRecords(1), strata.Linger(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ctx := context.Background()
	done := make(chan error, 1)
	p.Produce(ctx, &strata.Record{Topic: topic, Value: []byte("a")}, func(_ *strata.Record, err error) { done <- err })
	var tryErr error
	p.TryProduce(ctx, &strata.Record{Topic: topic, Value: []byte("b")}, func(_ *strata.Record, err error) { tryErr = err })
	if !errors.Is(tryErr, strata.ErrMaxBuffered) {
		t.Fatalf("TryProduce on a full buffer: %v, want ErrMaxBuffered", tryErr)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	var blockErr error
	p.Produce(short, &strata.Record{Topic: topic, Value: []byte("c")}, func(_ *strata.Record, err error) { blockErr = err })
	if !errors.Is(blockErr, context.DeadlineExceeded) {
		t.Fatalf("Produce on a full buffer past its ctx: %v, want DeadlineExceeded", blockErr)
	}
	fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
	defer fcancel()
	if err := p.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestProduceInvalidRecords(t *testing.T) {
	c := newClient(t, needDev(t))
	topic := newTopic(t, c, 2, 1)
	p, err := c.NewProducer(strata.WithPartitioner(strata.ManualPartitioner()), strata.MaxBatchBytes(1000))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, r := range map[string]*strata.Record{
		"no topic":         {Value: []byte("x")},
		"empty header key": {Topic: topic, Headers: []strata.Header{{Key: ""}}},
		"too large":        {Topic: topic, Value: make([]byte, 2000)},
		"bad partition":    {Topic: topic, Partition: 7},
	} {
		err := p.ProduceSync(ctx, r)
		if !errors.Is(err, strata.ErrInvalidRecord) {
			t.Errorf("%s: %v, want ErrInvalidRecord", name, err)
		}
	}
	r := &strata.Record{Topic: topic, Partition: 1, Value: []byte("ok")}
	if err := p.ProduceSync(ctx, r); err != nil || r.Partition != 1 {
		t.Fatalf("manual partition 1: %v, partition %d", err, r.Partition)
	}
}

func TestProduceUnknownTopicFails(t *testing.T) {
	c := newClient(t, needDev(t))
	p, err := c.NewProducer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err = p.ProduceSync(ctx, &strata.Record{Topic: "no-such-topic-here", Value: []byte("x")})
	if !errors.Is(err, strata.ErrUnknownTopic) {
		t.Fatalf("produce to a missing topic: %v, want ErrUnknownTopic", err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("failing took %v", took)
	}

	// Retrying without end, the delivery timeout fails it.
	p2, err := c.NewProducer(strata.UnknownTopicRetries(-1), strata.DeliveryTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p2.Close() })
	err = p2.ProduceSync(ctx, &strata.Record{Topic: "no-such-topic-here", Value: []byte("x")})
	if !errors.Is(err, strata.ErrDeliveryTimeout) || !strings.Contains(err.Error(), "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("produce to a missing topic: %v, want ErrDeliveryTimeout naming UNKNOWN_TOPIC_OR_PARTITION", err)
	}
}
