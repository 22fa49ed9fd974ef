package kafka

// TxnOffsetCommit, versions 0–3: forwarded unchanged to the transaction
// coordinator on the active controller (services/controller/txn). The
// offsets become visible to the group only when the transaction commits;
// the group must have been added with AddOffsetsToTxn (else
// INVALID_TXN_STATE), and v3's member id and generation are checked as
// OffsetCommit checks them. v4+ (KIP-890) is not advertised.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(28, 0, 3, handleTxnOffsetCommit) }

func handleTxnOffsetCommit(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	return s.forwardGroup(ctx, r, func(resp kmsg.Response, code int16) {
		req := r.body.(*kmsg.TxnOffsetCommitRequest)
		out := resp.(*kmsg.TxnOffsetCommitResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			out.Topics = append(out.Topics, rt)
		}
	})
}
