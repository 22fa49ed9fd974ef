package kafka

// DeleteTopics, versions 0–6 (v6 may name topics by id, resolved from the
// metadata cache), through the controller's admin API.

import (
	"context"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(20, 0, 6, handleDeleteTopics) }

func handleDeleteTopics(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version >= 6 {
		for _, t := range req.Topics {
			targets = append(targets, target{t.Topic, t.TopicID})
		}
	} else {
		for _, name := range req.TopicNames {
			targets = append(targets, target{name: &name})
		}
	}
	for _, t := range targets {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID = t.name, t.id
		if t.name == nil {
			if rec := s.topicByID(t.id); rec != nil {
				name := rec.GetName()
				rt.Topic = &name
			} else {
				rt.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, rt)
				continue
			}
		}
		if rec, ok := s.d.Cache.Topic(*rt.Topic); ok && len(rec.GetTopicId()) == 16 {
			rt.TopicID = [16]byte(rec.GetTopicId())
		}
		rt.ErrorCode, rt.ErrorMessage = adminCall(ctx, func(ctx context.Context) error {
			_, err := s.d.Admin.DeleteTopic(ctx, &adminv1.DeleteTopicRequest{Name: *rt.Topic})
			return err
		})
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
