package kafka

// EndTxn, versions 0–3: forwarded unchanged to the transaction coordinator
// on the active controller (services/controller/txn), which answers once
// the commit or abort is durable (and, within 10 s, its markers written).
// v4+ (KIP-890: TRANSACTION_ABORTABLE, epoch bump per transaction) is not
// advertised.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(26, 0, 3, handleEndTxn) }

func handleEndTxn(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	return s.forwardGroup(ctx, r, func(resp kmsg.Response, code int16) {
		resp.(*kmsg.EndTxnResponse).ErrorCode = code
	})
}
