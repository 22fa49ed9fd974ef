package strata_test

import (
	"context"
	"errors"
	"testing"
	"time"

	strata "github.com/strata-io/strata/clients/go"
)

func TestListOffsets(t *testing.T) {
	c := newClient(t, needDev(t))
	topic := newTopic(t, c, 2, 1)
	p, err := c.NewProducer(strata.WithPartitioner(strata.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	before := time.Now().Add(-time.Second)
	var recs []*strata.Record
	for range 3 {
		recs = append(recs, &strata.Record{Topic: topic, Partition: 0, Value: []byte("v")})
	}
	if err := p.ProduceSync(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	check := func(o strata.Offset, want ...int64) {
		t.Helper()
		got, err := c.ListOffsets(ctx, topic, []int32{0, 1}, o)
		if err != nil {
			t.Fatalf("%s: %v", o, err)
		}
		for i, g := range got {
			if g.Err != nil || g.Partition != int32(i) || g.Offset != want[i] {
				t.Errorf("%s partition %d: %+v, want offset %d", o, i, g, want[i])
			}
		}
	}
	check(strata.AtStart(), 0, 0)
	check(strata.AtEnd(), 3, 0)
	check(strata.AtTime(before), 0, -1)
	check(strata.At(7), 7, 7)

	// The gateway refuses a partition out of range for the whole request.
	if got, err := c.ListOffsets(ctx, topic, []int32{5}, strata.AtEnd()); !errors.Is(err, strata.ErrUnknownTopic) {
		t.Errorf("partition 5 of 2: %+v, %v; want UNKNOWN_TOPIC_OR_PARTITION", got, err)
	}
	if _, err := c.ListOffsets(ctx, topic, nil, strata.AtEnd()); !errors.Is(err, strata.ErrInvalidRequest) {
		t.Errorf("no partitions: %v, want ErrInvalidRequest", err)
	}
	if n, ok := strata.At(4).Exact(); !ok || n != 4 {
		t.Errorf("At(4).Exact() = %d, %v", n, ok)
	}
	if _, ok := strata.AtEnd().Exact(); ok {
		t.Error("AtEnd().Exact() is exact")
	}
}
