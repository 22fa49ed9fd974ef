package kafka

// ListTransactions, version 0 (KIP-664): forwarded to the transaction
// coordinator on the active controller (services/controller/txn), with the
// state and producer id filters. v1's duration filter (KIP-994) and v2's
// id pattern are not advertised.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(66, 0, 0, handleListTransactions) }

func handleListTransactions(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	return s.forwardGroup(ctx, r, func(resp kmsg.Response, code int16) {
		resp.(*kmsg.ListTransactionsResponse).ErrorCode = code
	})
}
