package storage

import (
	"context"
	"fmt"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnVerifyTimeout bounds one verification with the transaction coordinator.
const txnVerifyTimeout = 5 * time.Second

// verifyTxn asks the transaction coordinator, through the controllers'
// GroupCall, whether the partition is in the producer's open transaction:
// an AddPartitionsToTxn v4 with verify_only, as Kafka brokers ask it
// (KIP-890). It implements txnVerifier.
func (n *Node) verifyTxn(txnID string, producerID int64, epoch int16, topic string, partition int32) error {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = txnID, producerID, epoch, true
	tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	tt.Topic, tt.Partitions = topic, []int32{partition}
	tx.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{tt}
	req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{tx}
	ctx, cancel := context.WithTimeout(n.Context(), txnVerifyTimeout)
	defer cancel()
	out, err := controllerv1.NewGroupCoordinatorServiceClient(n.Conn).GroupCall(ctx,
		&controllerv1.GroupCallRequest{ApiKey: int32(req.Key()), ApiVersion: int32(req.Version), Body: req.AppendTo(nil)})
	if err != nil {
		return fmt.Errorf("transaction coordinator: %w", err)
	}
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if err := resp.ReadFrom(out.GetBody()); err != nil {
		return fmt.Errorf("transaction coordinator answer: %w", err)
	}
	if resp.ErrorCode != 0 {
		return errs.FromKafkaCode(resp.ErrorCode, "the transaction coordinator refused the verification")
	}
	for _, rt := range resp.Transactions {
		for _, t := range rt.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					return errs.FromKafkaCode(p.ErrorCode, fmt.Sprintf("producer %d epoch %d (transactional id %q) has no transaction open on %s-%d",
						producerID, epoch, txnID, topic, partition))
				}
				return nil
			}
		}
	}
	return fmt.Errorf("transaction coordinator answered no partition")
}
