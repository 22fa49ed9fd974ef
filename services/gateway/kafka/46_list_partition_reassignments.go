package kafka

// ListPartitionReassignments, version 0, from the metadata cache: every
// partition being reassigned (a null topic list) or the named ones that
// are, with their replicas (storage node ids: the target first, then the
// replicas being removed), adding and removing replicas. Partitions that
// are not moving, and unknown ones, are left out, as from Kafka.

import (
	"context"
	"slices"

	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(46, 0, 0, handleListPartitionReassignments) }

func handleListPartitionReassignments(_ context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	add := func(topic string, recs []*metadatav1.PartitionRecord) {
		rt := kmsg.NewListPartitionReassignmentsResponseTopic()
		rt.Topic = topic
		for _, rec := range recs {
			if rec == nil || len(rec.GetAddingReplicas())+len(rec.GetRemovingReplicas()) == 0 {
				continue
			}
			rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			rp.Partition = rec.GetPartition()
			rp.Replicas = slices.Clone(rec.GetReplicas())
			rp.AddingReplicas = append([]int32{}, rec.GetAddingReplicas()...)
			rp.RemovingReplicas = append([]int32{}, rec.GetRemovingReplicas()...)
			rt.Partitions = append(rt.Partitions, rp)
		}
		if len(rt.Partitions) > 0 {
			resp.Topics = append(resp.Topics, rt)
		}
	}
	if req.Topics == nil {
		for _, t := range s.d.Cache.Topics() {
			var recs []*metadatav1.PartitionRecord
			for p := range t.GetPartitionCount() {
				rec, _ := s.d.Cache.Partition(t.GetName(), p)
				recs = append(recs, rec)
			}
			add(t.GetName(), recs)
		}
		return resp, nil
	}
	for _, t := range req.Topics {
		var recs []*metadatav1.PartitionRecord
		for _, p := range t.Partitions {
			rec, _ := s.d.Cache.Partition(t.Topic, p)
			recs = append(recs, rec)
		}
		add(t.Topic, recs)
	}
	return resp, nil
}
