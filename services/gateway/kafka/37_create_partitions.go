package kafka

// CreatePartitions, versions 0–3: grow a topic to a new total through the
// controller's admin API; manual assignments are refused (INVALID_REQUEST).

import (
	"context"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(37, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		if len(t.Assignment) > 0 {
			msg := "manual replica assignment is not supported; Strata places replicas"
			rt.ErrorCode, rt.ErrorMessage = 42, &msg
		} else {
			rt.ErrorCode, rt.ErrorMessage = adminCall(ctx, func(ctx context.Context) error {
				_, err := s.d.Admin.AddPartitions(ctx, &adminv1.AddPartitionsRequest{Name: t.Topic, TotalCount: t.Count, ValidateOnly: req.ValidateOnly})
				return err
			})
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
