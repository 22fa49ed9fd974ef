package strata_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	strata "github.com/strata-io/strata/clients/go"
	"github.com/strata-io/strata/clients/go/internal/testcluster"
)

func TestProduceCompressedRoundTrip(t *testing.T) {
	c := newClient(t, needDev(t))
	for _, codec := range []strata.Compression{strata.CompressionGzip, strata.CompressionSnappy, strata.CompressionLZ4, strata.CompressionZstd} {
		topic := newTopic(t, c, 1, 1)
		p, err := c.NewProducer(strata.ProducerCompression(codec))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var recs []*strata.Record
		for i := range 50 {
			recs = append(recs, &strata.Record{Topic: topic, Value: fmt.Appendf(nil, "compressible value %d %0200d", i, 0)})
		}
		if err := p.ProduceSync(ctx, recs...); err != nil {
			t.Fatalf("codec %d: %v", codec, err)
		}
		got := readAll(t, c, topic, 1, 50)
		for _, r := range recs {
			if g := got[fmt.Sprintf("0/%d", r.Offset)]; g == nil || string(g.Value) != string(r.Value) {
				t.Fatalf("codec %d: offset %d read %v", codec, r.Offset, g)
			}
		}
		cancel()
		p.Close()
	}
}

type countingHooks struct {
	mu       sync.Mutex
	calls    map[string]int
	acked    int
	received int
}

func (h *countingHooks) OnCall(method string, _ time.Duration, _ error) {
	h.mu.Lock()
	h.calls[method]++
	h.mu.Unlock()
}

func (h *countingHooks) OnProduceAck(_ string, records, _ int, _ time.Duration, _ int) {
	h.mu.Lock()
	h.acked += records
	h.mu.Unlock()
}

func (h *countingHooks) OnConsumeRecords(_ string, _ int32, records, _ int) {
	h.mu.Lock()
	h.received += records
	h.mu.Unlock()
}

func TestHooksAndPause(t *testing.T) {
	hooks := &countingHooks{calls: map[string]int{}}
	c := newClient(t, needDev(t), strata.WithHooks(hooks))
	topic := newTopic(t, c, 2, 1)
	p, err := c.NewProducer(strata.WithPartitioner(strata.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var recs []*strata.Record
	for i := range 40 {
		recs = append(recs, &strata.Record{Topic: topic, Partition: int32(i % 2), Value: []byte("v")})
	}
	if err := p.ProduceSync(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	k, err := c.NewConsumer("g-"+topic, []string{topic}, strata.ConsumeStartOffset(strata.AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(ctx)
	k.Pause(topic, 1)
	seen := map[int32]int{}
	for seen[0] < 20 {
		fs, err := k.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range fs.Records() {
			seen[r.Partition]++
		}
	}
	if seen[1] != 0 {
		t.Fatalf("paused partition 1 returned %d records", seen[1])
	}
	k.Resume(topic, 1)
	for seen[1] < 20 {
		fs, err := k.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range fs.Records() {
			seen[r.Partition]++
		}
	}
	if seen[0] != 20 || seen[1] != 20 {
		t.Fatalf("read %v, want 20 of each", seen)
	}
	testcluster.WaitFor(t, 10*time.Second, func() error {
		hooks.mu.Lock()
		defer hooks.mu.Unlock()
		if hooks.acked != 40 || hooks.received != 40 || hooks.calls["/strata.admin.v1.AdminService/CreateTopic"] != 1 {
			return fmt.Errorf("hooks saw %d acked, %d received, calls %v", hooks.acked, hooks.received, hooks.calls)
		}
		return nil
	})
}
