package kafka

// DescribeGroups, versions 0–5: forwarded unchanged to the group coordinator on the
// active controller (see groups.go and services/controller/groups.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(15, 0, 5, handleDescribeGroups) }

func handleDescribeGroups(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	return s.forwardGroup(ctx, r, func(resp kmsg.Response, code int16) {
		req := r.body.(*kmsg.DescribeGroupsRequest)
		out := resp.(*kmsg.DescribeGroupsResponse)
		for _, g := range req.Groups {
			dg := kmsg.NewDescribeGroupsResponseGroup()
			dg.Group, dg.ErrorCode = g, code
			out.Groups = append(out.Groups, dg)
		}
	})
}
