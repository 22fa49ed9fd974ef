package kafka

// ElectLeaders, versions 0–2, through the controller's admin API
// (ElectLeaders, services/controller/elect.go). Type 0 (preferred; the
// only one of v0) moves leadership to each partition's first replica when
// it is alive, in the ISR and online; type 1 (unclean) gives a partition
// without a live leader one, from the ISR when possible, else any live
// replica (acknowledged records may be lost). Per partition:
// ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE,
// ELIGIBLE_LEADERS_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION. A null topic
// list means every partition, and the answer then lists only the
// partitions an election was tried for. A failed call is the top-level
// error (v1+), or every partition's (v0).

import (
	"context"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(43, 0, 2, handleElectLeaders) }

func handleElectLeaders(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	areq := &adminv1.ElectLeadersRequest{Type: adminv1.ElectionType_ELECTION_TYPE_PREFERRED, All: req.Topics == nil}
	switch {
	case req.Version == 0 || req.ElectionType == 0:
	case req.ElectionType == 1:
		areq.Type = adminv1.ElectionType_ELECTION_TYPE_UNCLEAN
	default:
		msg := "election type must be 0 (preferred) or 1 (unclean)"
		resp.ErrorCode = kerr.InvalidRequest.Code
		for _, t := range req.Topics {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewElectLeadersResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.ErrorMessage = p, kerr.InvalidRequest.Code, &msg
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			areq.Partitions = append(areq.Partitions, &adminv1.TopicPartition{Topic: t.Topic, Partition: p})
		}
	}
	var out *adminv1.ElectLeadersResponse
	code, msg := adminCall(ctx, func(ctx context.Context) (err error) {
		out, err = s.d.Admin.ElectLeaders(ctx, areq)
		return err
	})
	if code != 0 {
		resp.ErrorCode = code
		for _, t := range req.Topics { // v0 has no top-level error: every partition gets it
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewElectLeadersResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.ErrorMessage = p, code, msg
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	byTopic := map[string]int{}
	for _, res := range out.GetResults() {
		i, ok := byTopic[res.GetTopic()]
		if !ok {
			i = len(resp.Topics)
			byTopic[res.GetTopic()] = i
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = res.GetTopic()
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewElectLeadersResponseTopicPartition()
		rp.Partition = res.GetPartition()
		if e := res.GetError(); e != nil {
			m := e.GetMessage()
			rp.ErrorCode, rp.ErrorMessage = int16(e.GetKafkaErrorCode()), &m
		}
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	return resp, nil
}
