package stream

import (
	"context"
	"testing"
	"time"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/strata-io/strata/services/gateway/router"
)

func TestConsumeOpenDefaultsAndRefusals(t *testing.T) {
	s, _ := newTestService(2, -1)
	m, e := s.openMember(nil, &streamv1.ConsumeOpen{GroupId: "g", Topics: []string{"t", "t"}})
	if e != nil {
		t.Fatal(e)
	}
	if m.session != DefaultSessionTimeout || m.start != streamv1.LogPosition_LOG_POSITION_LATEST || m.clientID != defaultConsumeClientID ||
		len(m.topics) != 1 || m.instance != nil {
		t.Errorf("defaults: session %v start %v client %q topics %v instance %v", m.session, m.start, m.clientID, m.topics, m.instance)
	}
	// The request's own rules (topics, instance id, position, session
	// timeout) are checked before the handler: see internal/rpc.
	for _, tc := range []struct {
		name  string
		open  *streamv1.ConsumeOpen
		code  errs.Code
		field string
	}{
		{"empty group", &streamv1.ConsumeOpen{Topics: []string{"t"}}, errs.InvalidGroupID, "open.group_id"},
		{"bad topic name", &streamv1.ConsumeOpen{GroupId: "g", Topics: []string{"t", "a b"}}, errs.InvalidTopic, "open.topics[1]"},
		{"unknown topic", &streamv1.ConsumeOpen{GroupId: "g", Topics: []string{"nope"}}, errs.UnknownTopicOrPartition, "open.topics[0]"},
	} {
		_, e := s.openMember(nil, tc.open)
		switch {
		case e == nil:
			t.Errorf("%s: accepted", tc.name)
		case e.Code() != tc.code || len(e.Detail.GetFieldViolations()) == 0 || e.Detail.GetFieldViolations()[0].GetField() != tc.field:
			t.Errorf("%s: %v %v, want %v naming %s", tc.name, e.Code(), e.Detail.GetFieldViolations(), tc.code, tc.field)
		}
	}
}

func TestConsumeCreditWaitsForBothKinds(t *testing.T) {
	var c credit
	c.more = make(chan struct{}, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c.add(5, 0)
	if _, _, err := c.wait(ctx); err == nil {
		t.Fatal("wait returned with records but no bytes")
	}
	got := make(chan [2]int64, 1)
	go func() {
		r, b, _ := c.wait(context.Background())
		got <- [2]int64{r, b}
	}()
	c.add(0, 100)
	if g := <-got; g != [2]int64{5, 100} {
		t.Fatalf("credit %v, want [5 100]", g)
	}
	c.take(5, 120) // the first record may overdraw the bytes
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	c.add(1, 10)
	if _, _, err := c.wait(ctx2); err == nil {
		t.Fatal("wait returned while the bytes are still overdrawn")
	}
}

func TestConsumeTopicPartitionsGroupsByTopic(t *testing.T) {
	got := topicPartitions([]tp{{"a", 0}, {"a", 2}, {"b", 1}})
	if len(got) != 2 || got[0].GetTopic() != "a" || len(got[0].GetPartitions()) != 2 || got[1].GetTopic() != "b" || got[1].GetPartitions()[0] != 1 {
		t.Fatalf("%v", got)
	}
}

// A round is fetched ahead from where the one before leaves each
// partition once sent whole, and only when every partition was read.
func TestPrefetchPredictsTheNextRound(t *testing.T) {
	batch := func(base int64, n int) []byte {
		recs := make([]recordbatch.BuildRecord, n)
		b, err := recordbatch.Build(recordbatch.ProducerOptions(codec.None), recs)
		if err != nil {
			t.Fatal(err)
		}
		recordbatch.SetBaseOffset(b, base)
		return b
	}
	// Offsets 10-14 and 15-19, read from 12: 8 records, next at 20; an
	// empty partition stays where it was.
	a := &router.FetchItem{Part: router.Part{Topic: "t", Partition: 0}, Offset: 12, Result: &storagev1.FetchPartitionResult{Records: append(batch(10, 5), batch(15, 5)...)}}
	b := &router.FetchItem{Part: router.Part{Topic: "t", Partition: 1}, Offset: 7, Result: &storagev1.FetchPartitionResult{}}
	next, records := predict([]*router.FetchItem{a, b})
	if next[tp{"t", 0}] != 20 || next[tp{"t", 1}] != 7 || records != 8 {
		t.Fatalf("predicted %v with %d records, want t-0 at 20, t-1 at 7, 8 records", next, records)
	}
	b.Err = errs.New(errs.NotLeaderOrFollower, "moved")
	if next, _ := predict([]*router.FetchItem{a, b}); next != nil {
		t.Errorf("a round with a failed partition predicted %v", next)
	}
	f := &prefetch{&router.Ahead{Items: []*router.FetchItem{{Part: router.Part{Topic: "t", Partition: 1}, Offset: 7}, {Part: router.Part{Topic: "t", Partition: 0}, Offset: 20}}}}
	if !f.matches([]*router.FetchItem{{Part: router.Part{Topic: "t", Partition: 0}, Offset: 20}, {Part: router.Part{Topic: "t", Partition: 1}, Offset: 7}}) {
		t.Error("the same partitions and offsets in another order do not match")
	}
	if f.matches([]*router.FetchItem{{Part: router.Part{Topic: "t", Partition: 0}, Offset: 20}}) || f.matches([]*router.FetchItem{{Part: router.Part{Topic: "t", Partition: 0}, Offset: 19}, {Part: router.Part{Topic: "t", Partition: 1}, Offset: 7}}) {
		t.Error("a round with a partition paused or another offset matches")
	}
	var none *prefetch
	if none.matches(nil) {
		t.Error("no prefetch matches")
	}
	none.drop()
}
