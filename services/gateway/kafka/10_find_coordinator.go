package kafka

// FindCoordinator, versions 0–4 (v4 batches keys). The group and
// transaction coordinators live with the controller and every gateway
// forwards their calls to it, so each gateway names itself as the
// coordinator of every group (key type 0) and transactional id (key type
// 1). An empty key is INVALID_GROUP_ID or INVALID_REQUEST; other key
// types are INVALID_REQUEST.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(10, 0, 4, handleFindCoordinator) }

func handleFindCoordinator(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	self, _ := toBrokerSelf(ctx, s)
	answer := func(key string) (int16, *string) {
		switch {
		case req.CoordinatorType != 0 && req.CoordinatorType != 1:
			msg := "unknown coordinator key type"
			return kerr.InvalidRequest.Code, &msg
		case key == "" && req.CoordinatorType == 0:
			msg := "empty group id"
			return kerr.InvalidGroupID.Code, &msg
		case key == "":
			msg := "empty transactional id"
			return kerr.InvalidRequest.Code, &msg
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

func toBrokerSelf(ctx context.Context, s *Server) (broker, bool) {
	for _, b := range s.brokers(ctx) {
		if b.id == s.d.NodeID {
			return b, true
		}
	}
	return broker{id: s.d.NodeID}, false
}
