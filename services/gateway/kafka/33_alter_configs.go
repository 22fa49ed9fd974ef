package kafka

// AlterConfigs, versions 0–2: replaces a topic's whole set of explicit
// configs (Kafka's non-incremental semantics: what is not named goes back
// to its default), through the controller's admin API. Broker configs are
// read-only (INVALID_REQUEST).

import (
	"context"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(33, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, res := range req.Resources {
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		if res.ResourceType != resourceTopic {
			msg := "only topic configs can be altered"
			rr.ErrorCode, rr.ErrorMessage = 42, &msg
			resp.Resources = append(resp.Resources, rr)
			continue
		}
		areq := &adminv1.AlterTopicConfigsRequest{Name: res.ResourceName, Set: map[string]string{}, ValidateOnly: req.ValidateOnly}
		for _, c := range res.Configs {
			if c.Value != nil {
				areq.Set[c.Name] = *c.Value
			}
		}
		if t, ok := s.d.Cache.Topic(res.ResourceName); ok {
			for k := range t.GetConfigs() {
				if _, kept := areq.Set[k]; !kept {
					areq.Remove = append(areq.Remove, k)
				}
			}
		}
		rr.ErrorCode, rr.ErrorMessage = adminCall(ctx, func(ctx context.Context) error {
			_, err := s.d.Admin.AlterTopicConfigs(ctx, areq)
			return err
		})
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}
