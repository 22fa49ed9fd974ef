package kafka

// JoinGroup, versions 0–9: forwarded unchanged to the group coordinator on the
// active controller (see groups.go and services/controller/groups.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(11, 0, 9, handleJoinGroup) }

func handleJoinGroup(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	return s.forwardGroup(ctx, r, func(resp kmsg.Response, code int16) {
		jr := resp.(*kmsg.JoinGroupResponse)
		jr.ErrorCode, jr.Generation = code, -1
	})
}
