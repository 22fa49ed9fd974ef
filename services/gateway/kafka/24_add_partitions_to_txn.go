package kafka

// AddPartitionsToTxn, versions 0–3: forwarded unchanged to the transaction
// coordinator on the active controller (services/controller/txn), which
// registers the producer's transaction with each partition's storage
// leader before answering. v4+ (KIP-890 batched verification from brokers)
// is not advertised.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(24, 0, 3, handleAddPartitionsToTxn) }

func handleAddPartitionsToTxn(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	return s.forwardGroup(ctx, r, func(resp kmsg.Response, code int16) {
		req := r.body.(*kmsg.AddPartitionsToTxnRequest)
		out := resp.(*kmsg.AddPartitionsToTxnResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			out.Topics = append(out.Topics, rt)
		}
	})
}
