package txn

// DescribeTransactions and ListTransactions (KIP-664).

import (
	"sort"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// stateName is Kafka's name of a state (DescribeTransactions, ListTransactions).
func stateName(s controllerv1.TxnState) string {
	switch s {
	case controllerv1.TxnState_TXN_STATE_EMPTY:
		return "Empty"
	case controllerv1.TxnState_TXN_STATE_ONGOING:
		return "Ongoing"
	case controllerv1.TxnState_TXN_STATE_PREPARE_COMMIT:
		return "PrepareCommit"
	case controllerv1.TxnState_TXN_STATE_PREPARE_ABORT:
		return "PrepareAbort"
	case controllerv1.TxnState_TXN_STATE_COMPLETE_COMMIT:
		return "CompleteCommit"
	case controllerv1.TxnState_TXN_STATE_COMPLETE_ABORT:
		return "CompleteAbort"
	}
	return "Dead"
}

var stateNames = map[string]bool{"Empty": true, "Ongoing": true, "PrepareCommit": true, "PrepareAbort": true,
	"CompleteCommit": true, "CompleteAbort": true, "Dead": true, "PrepareEpochFence": true}

func (c *Coordinator) snapshot() (map[string]*controllerv1.TxnRecord, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded {
		return nil, errs.New(errs.NotController, "the transaction coordinator is loading; retry")
	}
	out := make(map[string]*controllerv1.TxnRecord, len(c.txns))
	for id, r := range c.txns {
		out[id] = metadata.Clone(r)
	}
	return out, nil
}

func (c *Coordinator) describe(req *kmsg.DescribeTransactionsRequest) (kmsg.Response, error) {
	txns, err := c.snapshot()
	if err != nil {
		return nil, err
	}
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		ts := kmsg.NewDescribeTransactionsResponseTransactionState()
		ts.TransactionalID, ts.ProducerID, ts.ProducerEpoch, ts.StartTimestamp = id, -1, -1, -1
		rec := txns[id]
		if rec == nil {
			ts.ErrorCode = kerr.TransactionalIDNotFound.Code
			resp.TransactionStates = append(resp.TransactionStates, ts)
			continue
		}
		ts.State, ts.TimeoutMillis = stateName(rec.GetState()), rec.GetTimeoutMs()
		ts.ProducerID, ts.ProducerEpoch = rec.GetProducerId(), int16(rec.GetProducerEpoch())
		if rec.GetStartUnixMs() > 0 {
			ts.StartTimestamp = rec.GetStartUnixMs()
		}
		byTopic := map[string][]int32{}
		for _, tp := range rec.GetPartitions() {
			byTopic[tp.GetTopic()] = append(byTopic[tp.GetTopic()], tp.GetPartition())
		}
		topics := make([]string, 0, len(byTopic))
		for t := range byTopic {
			topics = append(topics, t)
		}
		sort.Strings(topics)
		for _, t := range topics {
			tt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
			tt.Topic, tt.Partitions = t, byTopic[t]
			ts.Topics = append(ts.Topics, tt)
		}
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return resp, nil
}

func (c *Coordinator) list(req *kmsg.ListTransactionsRequest) (kmsg.Response, error) {
	txns, err := c.snapshot()
	if err != nil {
		return nil, err
	}
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	states := map[string]bool{}
	for _, s := range req.StateFilters {
		if !stateNames[s] {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, s)
			continue
		}
		states[s] = true
	}
	pids := map[int64]bool{}
	for _, p := range req.ProducerIDFilters {
		pids[p] = true
	}
	ids := make([]string, 0, len(txns))
	for id := range txns {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		rec := txns[id]
		name := stateName(rec.GetState())
		if (len(req.StateFilters) > 0 && !states[name]) || (len(pids) > 0 && !pids[rec.GetProducerId()]) {
			continue
		}
		ls := kmsg.NewListTransactionsResponseTransactionState()
		ls.TransactionalID, ls.ProducerID, ls.TransactionState = id, rec.GetProducerId(), name
		resp.TransactionStates = append(resp.TransactionStates, ls)
	}
	return resp, nil
}
