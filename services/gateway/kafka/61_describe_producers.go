package kafka

// DescribeProducers, version 0. Each partition's storage leader lists the
// idempotent producers it holds state for (services/storage/producers.go):
// producer id, epoch, last sequence and the last batch's max timestamp.
// The current transaction's start offset is the first offset of the
// producer's open transaction on the partition (-1 when none); the
// coordinator epoch is always -1 (Strata's coordinator has none). Partitions go to their
// leaders in parallel through the router; a partition without a leader
// here gets NOT_LEADER_OR_FOLLOWER, as from Kafka.

import (
	"context"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/services/gateway/router"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(61, 0, 0, handleDescribeProducers) }

type describeProducersItem struct {
	router.Part
	result *storagev1.DescribeProducersPartitionResult
}

func handleDescribeProducers(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	var items []*describeProducersItem
	var outs []*kmsg.DescribeProducersResponseTopicPartition
	resp.Topics = make([]kmsg.DescribeProducersResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		t := &resp.Topics[i]
		t.Topic = rt.Topic
		t.Partitions = make([]kmsg.DescribeProducersResponseTopicPartition, len(rt.Partitions))
		for j, part := range rt.Partitions {
			p := &t.Partitions[j]
			p.Default()
			p.Partition = part
			items = append(items, &describeProducersItem{Part: router.Part{Topic: rt.Topic, Partition: part, ClientEpoch: -1}})
			outs = append(outs, p)
		}
	}
	router.Do(ctx, s.router, "describe_producers", items, func(ctx context.Context, c storagev1.StorageServiceClient, group []*describeProducersItem, _ int) {
		sreq := &storagev1.DescribeProducersRequest{}
		for _, it := range group {
			sreq.Partitions = append(sreq.Partitions, &storagev1.PartitionRef{Topic: it.Topic, Partition: it.Partition})
		}
		sresp, err := c.DescribeProducers(ctx, sreq)
		if err != nil {
			router.Fail(group, err)
			return
		}
		for i, res := range sresp.GetPartitions() {
			if i < len(group) {
				group[i].result, group[i].Err = res, router.FromDetail(res.GetError())
			}
		}
	})
	for i, it := range items {
		if it.Err != nil {
			outs[i].ErrorCode = it.Err.KafkaCode()
			msg := it.Err.Error()
			outs[i].ErrorMessage = &msg
			continue
		}
		for _, ps := range it.result.GetProducers() {
			ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
			ap.ProducerID, ap.ProducerEpoch, ap.LastSequence, ap.LastTimestamp = ps.GetProducerId(), ps.GetProducerEpoch(), ps.GetLastSequence(), ps.GetLastTimestampMs()
			ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = -1, ps.GetCurrentTxnStartOffset()
			outs[i].ActiveProducers = append(outs[i].ActiveProducers, ap)
		}
	}
	return resp, nil
}
