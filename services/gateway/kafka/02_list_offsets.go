package kafka

// ListOffsets, versions 0–7: earliest (-2), latest (-1), max timestamp (-3,
// v7) and by timestamp, answered by each partition's storage leader
// through the router (grouped by leader, in parallel, retried once on a
// new leader). v0 answers in the old
// offsets array. The returned leader epoch is -1 (unknown), which clients
// treat as "do not validate". With isolation_level=read_committed (v2+)
// latest is the last stable offset and no lookup answers past it. Current
// leader epochs are fenced as in Fetch.

import (
	"context"

	"github.com/strata-io/strata/services/gateway/router"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(2, 0, 7, handleListOffsets) }

func handleListOffsets(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	var items []*router.ListItem
	var resps []*kmsg.ListOffsetsResponseTopicPartition
	resp.Topics = make([]kmsg.ListOffsetsResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		t := &resp.Topics[i]
		t.Topic = rt.Topic
		t.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			p := &t.Partitions[j]
			p.Default()
			p.Partition, p.Offset, p.Timestamp, p.LeaderEpoch = rp.Partition, -1, -1, -1
			items = append(items, &router.ListItem{Part: router.Part{Topic: rt.Topic, Partition: rp.Partition, ClientEpoch: rp.CurrentLeaderEpoch},
				Timestamp: rp.Timestamp, Committed: req.Version >= 2 && req.IsolationLevel == 1})
			resps = append(resps, p)
		}
	}
	s.router.ListOffsets(ctx, items)
	for i, it := range items {
		p := resps[i]
		switch {
		case it.Err != nil:
			p.ErrorCode = it.Err.KafkaCode()
		case it.Result != nil:
			p.Offset, p.Timestamp = it.Result.GetOffset(), it.Result.GetTimestamp()
			if req.Version == 0 && p.Offset >= 0 {
				p.OldStyleOffsets = []int64{p.Offset}
			}
		}
	}
	return resp, nil
}
