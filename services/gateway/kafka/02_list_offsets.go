package kafka

// ListOffsets, versions 0–7: earliest (-2), latest (-1), max timestamp (-3,
// v7) and by timestamp, answered by each partition's storage leader (the
// partitions grouped by leader, in parallel). v0 answers in the old
// offsets array. The returned leader epoch is -1 (unknown), which clients
// treat as "do not validate". read_committed equals read_uncommitted (no
// transactions). Current leader epochs are fenced as in Fetch.

import (
	"context"
	"sync"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(2, 0, 7, handleListOffsets) }

type listItem struct {
	topic     string
	partition int32
	timestamp int64
	resp      *kmsg.ListOffsetsResponseTopicPartition
}

func handleListOffsets(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	byLeader := map[string][]*listItem{}
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
			l, code := s.leaderOf(rt.Topic, rp.Partition)
			if code == 0 && rp.CurrentLeaderEpoch >= 0 {
				if rp.CurrentLeaderEpoch < l.epoch {
					code = kerr.FencedLeaderEpoch.Code
				} else if rp.CurrentLeaderEpoch > l.epoch {
					code = kerr.UnknownLeaderEpoch.Code
				}
			}
			if code != 0 {
				p.ErrorCode = code
				continue
			}
			byLeader[l.addr] = append(byLeader[l.addr], &listItem{rt.Topic, rp.Partition, rp.Timestamp, p})
		}
	}
	var wg sync.WaitGroup
	for addr, group := range byLeader {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.listOffsetsFrom(ctx, addr, group)
		}()
	}
	wg.Wait()
	if req.Version == 0 {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				p := &resp.Topics[i].Partitions[j]
				if p.ErrorCode == 0 && p.Offset >= 0 {
					p.OldStyleOffsets = []int64{p.Offset}
				}
			}
		}
	}
	return resp, nil
}

func (s *Server) listOffsetsFrom(ctx context.Context, addr string, group []*listItem) {
	fail := func(err error) {
		for _, it := range group {
			it.resp.ErrorCode = errs.KafkaCode(err)
		}
	}
	client, err := s.storage.client(addr)
	if err != nil {
		fail(err)
		return
	}
	sreq := &storagev1.ListOffsetsRequest{}
	for _, it := range group {
		sreq.Partitions = append(sreq.Partitions, &storagev1.ListOffsetsPartition{Topic: it.topic, Partition: it.partition, Timestamp: it.timestamp})
	}
	sresp, err := client.ListOffsets(ctx, sreq)
	if err != nil {
		fail(err)
		return
	}
	for i, res := range sresp.GetPartitions() {
		if i >= len(group) {
			break
		}
		p := group[i].resp
		if d := res.GetError(); d != nil {
			p.ErrorCode = int16(d.GetKafkaErrorCode())
			continue
		}
		p.Offset, p.Timestamp = res.GetOffset(), res.GetTimestamp()
	}
}
