package kafka

// IncrementalAlterConfigs, versions 0–1: SET (0) and DELETE (1) of topic
// configs through the controller's admin API. APPEND and SUBTRACT (list
// configs) are refused with INVALID_REQUEST, as are broker configs.

import (
	"context"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(44, 0, 1, handleIncrementalAlterConfigs) }

func handleIncrementalAlterConfigs(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, res := range req.Resources {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		areq := &adminv1.AlterTopicConfigsRequest{Name: res.ResourceName, Set: map[string]string{}, ValidateOnly: req.ValidateOnly}
		var bad string
		if res.ResourceType != resourceTopic {
			bad = "only topic configs can be altered"
		}
		for _, c := range res.Configs {
			switch {
			case c.Op == 0 && c.Value != nil:
				areq.Set[c.Name] = *c.Value
			case c.Op == 1:
				areq.Remove = append(areq.Remove, c.Name)
			default:
				bad = "only SET and DELETE are supported (config " + c.Name + ")"
			}
		}
		if bad != "" {
			rr.ErrorCode, rr.ErrorMessage = 42, &bad
		} else {
			rr.ErrorCode, rr.ErrorMessage = adminCall(ctx, func(ctx context.Context) error {
				_, err := s.d.Admin.AlterTopicConfigs(ctx, areq)
				return err
			})
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}
