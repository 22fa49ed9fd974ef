package kafka

// ConsumerGroupHeartbeat, versions 0–1 (KIP-848): forwarded unchanged to the
// group coordinator on the active controller (see groups.go and
// services/controller/groups/consumer.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(68, 0, 1, handleConsumerGroupHeartbeat) }

func handleConsumerGroupHeartbeat(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	return s.forwardGroup(ctx, r, func(resp kmsg.Response, code int16) {
		resp.(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode = code
	})
}
