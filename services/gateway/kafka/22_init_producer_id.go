package kafka

// InitProducerId, versions 0–4. Without a transactional id (idempotent
// producers) producer ids come from the controller in blocks
// (AllocateProducerIds), so no two producers anywhere share one; epoch 0
// for a new id. A producer that passes its id and epoch (v3+, KIP-360)
// gets the epoch bumped, or a new id when the epoch would overflow. With a
// transactional id the request goes unchanged to the transaction
// coordinator on the active controller (services/controller/txn), which
// keeps one producer id per transactional id, bumps its epoch on every
// InitProducerId (fencing the previous producer and aborting its open
// transaction) and checks transaction.timeout.ms against
// transaction.max.timeout.ms. v5 (KIP-890) is not advertised.

import (
	"context"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(22, 0, 4, handleInitProducerID) }

func handleInitProducerID(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		return s.forwardGroup(ctx, r, func(resp kmsg.Response, code int16) {
			out := resp.(*kmsg.InitProducerIDResponse)
			out.ProducerID, out.ProducerEpoch, out.ErrorCode = -1, -1, code
		})
	}
	if req.ProducerID >= 0 && req.ProducerEpoch >= 0 && req.ProducerEpoch < math.MaxInt16-1 {
		resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch+1
		return resp, nil
	}
	id, err := s.pids.Next(ctx)
	if err != nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code // retriable
		s.log.Warn("producer id allocation failed", "err", err)
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}
