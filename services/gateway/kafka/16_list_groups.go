package kafka

// ListGroups, versions 0–5: forwarded unchanged to the group coordinator on the
// active controller (see groups.go and services/controller/groups.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(16, 0, 5, handleListGroups) }

func handleListGroups(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	return s.forwardGroup(ctx, r, func(resp kmsg.Response, code int16) {
		resp.(*kmsg.ListGroupsResponse).ErrorCode = code
	})
}
