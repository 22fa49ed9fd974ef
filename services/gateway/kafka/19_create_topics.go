package kafka

// CreateTopics, versions 0–7, through the controller's admin API. -1
// partitions or replication factor take the defaults (num.partitions,
// default.replication.factor); manual replica assignments are refused
// (INVALID_REQUEST: placement is the controller's). validate_only is
// honoured. v5+ answers with the partitions, replication factor and
// configs; v7 with the topic id.

import (
	"context"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(19, 0, 7, handleCreateTopics) }

func handleCreateTopics(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = t.Topic, -1, -1
		if len(t.ReplicaAssignment) > 0 {
			msg := "manual replica assignment is not supported; Strata places replicas"
			rt.ErrorCode, rt.ErrorMessage = 42, &msg // INVALID_REQUEST
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		creq := &adminv1.CreateTopicRequest{Name: t.Topic, Partitions: t.NumPartitions, ReplicationFactor: int32(t.ReplicationFactor),
			Configs: map[string]string{}, ValidateOnly: req.ValidateOnly}
		if creq.Partitions == -1 {
			creq.Partitions = s.cfg.DefaultPartitions
		}
		if creq.ReplicationFactor == -1 {
			creq.ReplicationFactor = s.defaultRF()
		}
		for _, c := range t.Configs {
			if c.Value != nil {
				creq.Configs[c.Name] = *c.Value
			}
		}
		var out *adminv1.CreateTopicResponse
		rt.ErrorCode, rt.ErrorMessage = adminCall(ctx, func(ctx context.Context) (err error) {
			out, err = s.d.Admin.CreateTopic(ctx, creq)
			return err
		})
		if rt.ErrorCode == 0 {
			tp := out.GetTopic()
			rt.NumPartitions, rt.ReplicationFactor = creq.Partitions, int16(creq.ReplicationFactor)
			if len(tp.GetTopicId()) > 0 {
				if id, ok := parseTopicID(tp.GetTopicId()); ok {
					rt.TopicID = id
				}
			}
			for k, v := range tp.GetConfigs() {
				c := kmsg.NewCreateTopicsResponseTopicConfig()
				c.Name, c.Value, c.Source = k, &v, 1 // DYNAMIC_TOPIC_CONFIG
				rt.Configs = append(rt.Configs, c)
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
