package kafka

import (
	"context"
	"math"
	"sync"
	"testing"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/limits"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A Fetch asking for 2 GiB gets fetch.max.bytes at most, in all and per
// partition, all the way to the storage node.
func TestFetchMaxBytesClamped(t *testing.T) {
	var mu sync.Mutex
	var total, part int32
	st := &stubStorage{fetch: func(_ string, in *storagev1.FetchRequest) (*storagev1.FetchResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		total, part = in.GetMaxBytes(), in.GetPartitions()[0].GetMaxBytes()
		out := &storagev1.FetchResponse{}
		for _, p := range in.GetPartitions() {
			out.Partitions = append(out.Partitions, &storagev1.FetchPartitionResult{Topic: p.GetTopic(), Partition: p.GetPartition()})
		}
		return out, nil
	}}
	s := benchServer(t, "t", 1, st)
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.MaxWaitMillis, req.MaxBytes = 0, math.MaxInt32
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = math.MaxInt32
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	r, err := parseRequest(frame(req, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.dispatch(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if total > limits.FetchMaxBytes || part > limits.MaxPartitionFetchBytes || part <= 0 {
		t.Fatalf("storage asked for %d bytes, %d per partition; fetch.max.bytes is %d", total, part, limits.FetchMaxBytes)
	}
}
