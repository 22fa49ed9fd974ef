package gateway

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/metadata"
	"google.golang.org/grpc"
)

type topicsStub struct {
	adminv1.AdminServiceClient
	calls  atomic.Int32
	delay  time.Duration
	topics []*adminv1.Topic
}

func (s *topicsStub) ListTopics(context.Context, *adminv1.ListTopicsRequest, ...grpc.CallOption) (*adminv1.ListTopicsResponse, error) {
	s.calls.Add(1)
	time.Sleep(s.delay) // a controller read takes a while
	return &adminv1.ListTopicsResponse{Topics: s.topics}, nil
}

func topicRecords(name string, parts int32) []*metadatav1.Record {
	ups := []*metadatav1.Record{{Record: &metadatav1.Record_Topic{Topic: &metadatav1.TopicRecord{Name: name, PartitionCount: parts}}}}
	for p := range parts {
		ups = append(ups, &metadatav1.Record{Record: &metadatav1.Record_Partition{Partition: &metadatav1.PartitionRecord{Topic: name, Partition: p}}})
	}
	return ups
}

// A topic the controller has waits for the metadata to arrive; a missing
// one is answered at once and not asked about again right away; a name
// that cannot exist is never asked about; concurrent callers share reads.
func TestCatchUp(t *testing.T) {
	cache := metadata.NewCache()
	cache.Apply(&controllerv1.WatchMetadataResponse{Revision: 1, Snapshot: true})
	admin := &topicsStub{topics: []*adminv1.Topic{{Name: "new", PartitionCount: 2}}}
	c := newCatchUp(cache, admin, slog.New(slog.DiscardHandler))

	go func() {
		time.Sleep(50 * time.Millisecond) // the watch delivers it a little later
		cache.Apply(&controllerv1.WatchMetadataResponse{Revision: 2, Upserts: topicRecords("new", 2)})
	}()
	if !c.run(context.Background(), []string{"new"}) {
		t.Fatal("catch-up on a topic the controller has reported no change")
	}
	if _, ok := cache.Partition("new", 1); !ok {
		t.Fatal("catch-up returned before the topic arrived")
	}

	admin.calls.Store(0)
	start := time.Now()
	if c.run(context.Background(), []string{"missing"}) || time.Since(start) > time.Second {
		t.Fatal("a missing topic was waited for")
	}
	c.run(context.Background(), []string{"missing"})
	c.run(context.Background(), []string{"bad/name", ""})
	if n := admin.calls.Load(); n != 1 {
		t.Fatalf("%d controller reads, want 1", n)
	}

	admin.calls.Store(0)
	admin.delay = 20 * time.Millisecond
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(context.Background(), []string{"other-" + string(rune('a'+i))})
		}()
	}
	wg.Wait()
	if n := admin.calls.Load(); n > 3 {
		t.Fatalf("20 concurrent catch-ups made %d controller reads", n)
	}
}
