package kafka

// DeleteGroups, versions 0–2: forwarded unchanged to the group coordinator on the
// active controller (see groups.go and services/controller/groups.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(42, 0, 2, handleDeleteGroups) }

func handleDeleteGroups(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	return s.forwardGroup(ctx, r, func(resp kmsg.Response, code int16) {
		req := r.body.(*kmsg.DeleteGroupsRequest)
		out := resp.(*kmsg.DeleteGroupsResponse)
		for _, g := range req.Groups {
			dg := kmsg.NewDeleteGroupsResponseGroup()
			dg.Group, dg.ErrorCode = g, code
			out.Groups = append(out.Groups, dg)
		}
	})
}
