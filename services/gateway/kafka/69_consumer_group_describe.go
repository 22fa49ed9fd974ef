package kafka

// ConsumerGroupDescribe, versions 0–1 (KIP-848): forwarded unchanged to the
// group coordinator on the active controller (see groups.go and
// services/controller/groups/consumer.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(69, 0, 1, handleConsumerGroupDescribe) }

func handleConsumerGroupDescribe(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	return s.forwardGroup(ctx, r, func(resp kmsg.Response, code int16) {
		req := r.body.(*kmsg.ConsumerGroupDescribeRequest)
		out := resp.(*kmsg.ConsumerGroupDescribeResponse)
		for _, g := range req.Groups {
			dg := kmsg.NewConsumerGroupDescribeResponseGroup()
			dg.Group, dg.ErrorCode = g, code
			out.Groups = append(out.Groups, dg)
		}
	})
}
