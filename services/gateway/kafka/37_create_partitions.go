package kafka

// CreatePartitions, versions 0–3: grow a topic to a new total through the
// controller's admin API. An explicit assignment lists the replicas of
// each new partition (storage node ids, one list per new partition, each
// as long as the topic's replication factor) and is placed exactly; the
// controller refuses one that does not fit with INVALID_REPLICA_ASSIGNMENT.
// Like CreateTopics, the answer waits up to timeout_ms for the new
// partitions' leaders to take up their leadership (REQUEST_TIMED_OUT
// after that; the partitions exist). A topic named twice in one request
// gets INVALID_REQUEST for each entry, as in Kafka.

import (
	"context"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(37, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	named := map[string]int{}
	for _, t := range req.Topics {
		named[t.Topic]++
	}
	var grown []readyWait
	for _, t := range req.Topics {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		if named[t.Topic] > 1 {
			rt.ErrorCode, rt.ErrorMessage = kerr.InvalidRequest.Code, strPtr("the topic is named more than once in the request")
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		areq := &adminv1.AddPartitionsRequest{Name: t.Topic, TotalCount: t.Count, ValidateOnly: req.ValidateOnly}
		first := t.Count - int32(len(t.Assignment)) // the new partitions are numbered from the current count
		for i, a := range t.Assignment {
			areq.Assignments = append(areq.Assignments, &adminv1.ReplicaAssignment{Partition: first + int32(i), Replicas: a.Replicas})
		}
		// The cache's count is where the new partitions start, unless it
		// is behind: then a few old partitions are awaited too.
		from := int32(0)
		if tp, ok := s.d.Cache.Topic(t.Topic); ok {
			from = tp.GetPartitionCount()
		}
		rt.ErrorCode, rt.ErrorMessage = adminCall(ctx, func(ctx context.Context) error {
			_, err := s.d.Admin.AddPartitions(ctx, areq)
			return err
		})
		if rt.ErrorCode == 0 && !req.ValidateOnly {
			grown = append(grown, readyWait{topic: t.Topic, from: from, to: t.Count, index: len(resp.Topics)})
		}
		resp.Topics = append(resp.Topics, rt)
	}
	for i, code := range s.awaitReady(ctx, req.TimeoutMillis, grown) {
		if code != 0 {
			rt := &resp.Topics[grown[i].index]
			rt.ErrorCode = code
			rt.ErrorMessage = strPtr("the partitions were created, but not every new leader was ready within the timeout")
		}
	}
	return resp, nil
}
