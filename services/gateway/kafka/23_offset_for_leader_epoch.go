package kafka

// OffsetForLeaderEpoch, versions 0–4 (consumers validating their position
// after a leader change, KIP-320), asked of each partition's storage leader
// through the router. A current_leader_epoch older than the leader's is
// FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH.

import (
	"context"

	"github.com/strata-io/strata/services/gateway/router"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(23, 0, 4, handleOffsetForLeaderEpoch) }

func handleOffsetForLeaderEpoch(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	var items []*router.EpochItem
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			items = append(items, &router.EpochItem{Part: router.Part{Topic: rt.Topic, Partition: rp.Partition, ClientEpoch: rp.CurrentLeaderEpoch},
				LeaderEpoch: rp.LeaderEpoch})
		}
	}
	s.router.OffsetForLeaderEpoch(ctx, items)
	next := items
	for _, rt := range req.Topics {
		t := kmsg.NewOffsetForLeaderEpochResponseTopic()
		t.Topic = rt.Topic
		for range rt.Partitions {
			it := next[0]
			next = next[1:]
			p := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			p.Partition, p.LeaderEpoch, p.EndOffset = it.Partition, -1, -1
			switch {
			case it.Err != nil:
				p.ErrorCode = it.Err.KafkaCode()
			case it.Result != nil:
				p.LeaderEpoch, p.EndOffset = it.Result.GetLeaderEpoch(), it.Result.GetEndOffset()
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp, nil
}
