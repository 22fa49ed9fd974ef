package kafka

// DeleteRecords, versions 0–2. Each partition's storage leader moves its
// log start offset to the requested offset (-1: the high watermark) and
// answers once every live replica has applied it, within the request's
// timeout (services/storage/records.go); the new low watermark is
// returned per partition. An offset beyond the high watermark is
// OFFSET_OUT_OF_RANGE. Afterwards offsets below the new start are
// OFFSET_OUT_OF_RANGE for Fetch, ListOffsets earliest returns it,
// retention only moves it further, and it survives restarts (the log's
// offsets checkpoint). Partitions go to their leaders in parallel through
// the router, retried once on a new leader.

import (
	"context"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/services/gateway/router"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(21, 0, 2, handleDeleteRecords) }

type deleteRecordsItem struct {
	router.Part
	offset int64
	result *storagev1.DeleteRecordsPartitionResult
}

func handleDeleteRecords(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	var items []*deleteRecordsItem
	var outs []*kmsg.DeleteRecordsResponseTopicPartition
	resp.Topics = make([]kmsg.DeleteRecordsResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		t := &resp.Topics[i]
		t.Topic = rt.Topic
		t.Partitions = make([]kmsg.DeleteRecordsResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			p := &t.Partitions[j]
			p.Default()
			p.Partition, p.LowWatermark = rp.Partition, -1
			items = append(items, &deleteRecordsItem{Part: router.Part{Topic: rt.Topic, Partition: rp.Partition, ClientEpoch: -1}, offset: rp.Offset})
			outs = append(outs, p)
		}
	}
	timeout := req.TimeoutMillis
	router.Do(ctx, s.router, "delete_records", items, func(ctx context.Context, c storagev1.StorageServiceClient, group []*deleteRecordsItem, _ int) {
		sreq := &storagev1.DeleteRecordsRequest{TimeoutMs: timeout}
		for _, it := range group {
			sreq.Partitions = append(sreq.Partitions, &storagev1.DeleteRecordsPartition{Topic: it.Topic, Partition: it.Partition, Offset: it.offset})
		}
		sresp, err := c.DeleteRecords(ctx, sreq)
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
		switch {
		case it.Err != nil:
			outs[i].ErrorCode = it.Err.KafkaCode()
		case it.result != nil:
			outs[i].LowWatermark = it.result.GetLowWatermark()
		}
	}
	return resp, nil
}
