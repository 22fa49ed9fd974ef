package kafka

// DescribeTransactions, version 0 (KIP-664): forwarded to the transaction
// coordinator on the active controller (services/controller/txn): state,
// producer id and epoch, timeout, start time and partitions per id.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(65, 0, 0, handleDescribeTransactions) }

func handleDescribeTransactions(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	return s.forwardGroup(ctx, r, func(resp kmsg.Response, code int16) {
		req := r.body.(*kmsg.DescribeTransactionsRequest)
		out := resp.(*kmsg.DescribeTransactionsResponse)
		for _, id := range req.TransactionalIDs {
			ts := kmsg.NewDescribeTransactionsResponseTransactionState()
			ts.TransactionalID, ts.ErrorCode = id, code
			out.TransactionStates = append(out.TransactionStates, ts)
		}
	})
}
