package kafka

// OffsetForLeaderEpoch, versions 0–4 (consumers validating their position
// after a leader change, KIP-320). Asked of the partition's storage leader;
// while a storage node does not serve the call yet, the answer is the
// current leader epoch ending at the high watermark for any epoch up to
// the current one (no log is truncated then), and -1/-1 for a newer one.

import (
	"context"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func init() { register(23, 0, 4, handleOffsetForLeaderEpoch) }

func handleOffsetForLeaderEpoch(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		t := kmsg.NewOffsetForLeaderEpochResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			p.Partition, p.LeaderEpoch, p.EndOffset = rp.Partition, -1, -1
			p.ErrorCode = s.epochEnd(ctx, rt.Topic, rp, &p)
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp, nil
}

func (s *Server) epochEnd(ctx context.Context, topic string, rp kmsg.OffsetForLeaderEpochRequestTopicPartition, out *kmsg.OffsetForLeaderEpochResponseTopicPartition) int16 {
	l, code := s.leaderOf(topic, rp.Partition)
	if code != 0 {
		return code
	}
	if rp.CurrentLeaderEpoch >= 0 && rp.CurrentLeaderEpoch < l.epoch {
		return kerr.FencedLeaderEpoch.Code
	}
	if rp.CurrentLeaderEpoch > l.epoch {
		return kerr.UnknownLeaderEpoch.Code
	}
	client, err := s.storage.client(l.addr)
	if err != nil {
		return errs.KafkaCode(err)
	}
	sresp, err := client.OffsetForLeaderEpoch(ctx, &storagev1.OffsetForLeaderEpochRequest{Partitions: []*storagev1.EpochQuery{{
		Topic: topic, Partition: rp.Partition, CurrentLeaderEpoch: rp.CurrentLeaderEpoch, LeaderEpoch: rp.LeaderEpoch}}})
	if status.Code(err) == codes.Unimplemented {
		if rp.LeaderEpoch > l.epoch {
			return 0
		}
		lresp, err := client.ListOffsets(ctx, &storagev1.ListOffsetsRequest{Partitions: []*storagev1.ListOffsetsPartition{{
			Topic: topic, Partition: rp.Partition, Timestamp: -1}}})
		if err != nil {
			return errs.KafkaCode(err)
		}
		if len(lresp.GetPartitions()) != 1 {
			return -1
		}
		res := lresp.GetPartitions()[0]
		if d := res.GetError(); d != nil {
			return int16(d.GetKafkaErrorCode())
		}
		out.LeaderEpoch, out.EndOffset = l.epoch, res.GetOffset()
		return 0
	}
	if err != nil {
		return errs.KafkaCode(err)
	}
	if len(sresp.GetPartitions()) != 1 {
		return -1
	}
	res := sresp.GetPartitions()[0]
	if d := res.GetError(); d != nil {
		return int16(d.GetKafkaErrorCode())
	}
	out.LeaderEpoch, out.EndOffset = res.GetLeaderEpoch(), res.GetEndOffset()
	return 0
}
