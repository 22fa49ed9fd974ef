package kafka

// Heartbeat, versions 0–4: forwarded unchanged to the group coordinator on the
// active controller (see groups.go and services/controller/groups.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(12, 0, 4, handleHeartbeat) }

func handleHeartbeat(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	return s.forwardGroup(ctx, r, func(resp kmsg.Response, code int16) {
		resp.(*kmsg.HeartbeatResponse).ErrorCode = code
	})
}
