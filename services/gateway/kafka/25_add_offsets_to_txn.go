package kafka

// AddOffsetsToTxn, versions 0–3: forwarded unchanged to the transaction
// coordinator on the active controller (services/controller/txn). v4
// (KIP-890) is not advertised.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(25, 0, 3, handleAddOffsetsToTxn) }

func handleAddOffsetsToTxn(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	return s.forwardGroup(ctx, r, func(resp kmsg.Response, code int16) {
		resp.(*kmsg.AddOffsetsToTxnResponse).ErrorCode = code
	})
}
