package kafka

// FindCoordinator, versions 0–4 (v4 batches keys). The group coordinator
// lives with the controller and every gateway forwards group calls to it,
// so each gateway names itself as the coordinator of every group.
// Transaction coordinators (key type 1) are refused: transactions are not
// supported yet.

import (
	"context"

	"github.com/strata-io/strata/internal/errs"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(10, 0, 4, handleFindCoordinator) }

func handleFindCoordinator(_ context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	self, _ := toBrokerSelf(s)
	answer := func(key string) (int16, *string) {
		if req.CoordinatorType != 0 {
			msg := "transactions are not supported"
			return errs.KafkaCode(errs.New(errs.TransactionsUnsupported, "")), &msg
		}
		if key == "" && req.CoordinatorType == 0 {
			msg := "empty group id"
			return 24, &msg // INVALID_GROUP_ID
		}
		return 0, nil
	}
	if req.Version >= 4 {
		for _, key := range req.CoordinatorKeys {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key = key
			c.ErrorCode, c.ErrorMessage = answer(key)
			c.NodeID, c.Host, c.Port = self.id, self.host, self.port
			if c.ErrorCode != 0 {
				c.NodeID, c.Host, c.Port = -1, "", -1
			}
			resp.Coordinators = append(resp.Coordinators, c)
		}
		return resp, nil
	}
	resp.ErrorCode, resp.ErrorMessage = answer(req.CoordinatorKey)
	resp.NodeID, resp.Host, resp.Port = self.id, self.host, self.port
	if resp.ErrorCode != 0 {
		resp.NodeID, resp.Host, resp.Port = -1, "", -1
	}
	return resp, nil
}

func toBrokerSelf(s *Server) (broker, bool) {
	for _, b := range s.brokers() {
		if b.id == s.d.NodeID {
			return b, true
		}
	}
	return broker{id: s.d.NodeID}, false
}
