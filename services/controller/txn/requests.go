package txn

// The transaction requests: InitProducerId, AddPartitionsToTxn (and a
// storage leader's verification), AddOffsetsToTxn, TxnOffsetCommit, EndTxn.

import (
	"context"
	"math"
	"strings"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (c *Coordinator) initProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	id := ""
	if req.TransactionalID != nil {
		id = *req.TransactionalID
	}
	timeout := time.Duration(req.TransactionTimeoutMillis) * time.Millisecond
	switch {
	case !validID(id):
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	case req.TransactionTimeoutMillis <= 0 || timeout > c.cfg.MaxTimeout:
		resp.ErrorCode = kerr.InvalidTransactionTimeout.Code
		return resp, nil
	}
	unlock, rec, err := c.lockID(id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if rec == nil {
		pid, err := c.cfg.PIDs.Allocate(ctx, 1)
		if err != nil {
			resp.ErrorCode = code(err)
			return resp, nil
		}
		rec = &controllerv1.TxnRecord{TransactionalId: id, ProducerId: pid, ProducerEpoch: 0, TimeoutMs: req.TransactionTimeoutMillis,
			State: controllerv1.TxnState_TXN_STATE_EMPTY}
		if err := c.save(ctx, rec); err != nil {
			resp.ErrorCode = code(err)
			return resp, nil
		}
		resp.ProducerID, resp.ProducerEpoch = pid, 0
		return resp, nil
	}
	// KIP-360: a producer that names its id and epoch must be the current one.
	if req.ProducerID >= 0 && (req.ProducerID != rec.GetProducerId() || int32(req.ProducerEpoch) != rec.GetProducerEpoch()) {
		resp.ErrorCode = fenced(req.Key(), req.Version)
		return resp, nil
	}
	switch rec.GetState() {
	case controllerv1.TxnState_TXN_STATE_PREPARE_COMMIT, controllerv1.TxnState_TXN_STATE_PREPARE_ABORT:
		resp.ErrorCode = kerr.ConcurrentTransactions.Code
		return resp, nil
	case controllerv1.TxnState_TXN_STATE_ONGOING:
		// A new producer with this id: fence the old one and abort its
		// transaction; the client retries once the abort is complete.
		if err := c.prepareAbortFenced(ctx, rec); err != nil {
			resp.ErrorCode = code(err)
			return resp, nil
		}
		resp.ErrorCode = kerr.ConcurrentTransactions.Code
		return resp, nil
	}
	if rec.GetProducerEpoch() >= math.MaxInt16-1 {
		pid, err := c.cfg.PIDs.Allocate(ctx, 1)
		if err != nil {
			resp.ErrorCode = code(err)
			return resp, nil
		}
		rec.ProducerId, rec.ProducerEpoch = pid, 0
	} else {
		rec.ProducerEpoch++
	}
	rec.TimeoutMs, rec.State = req.TransactionTimeoutMillis, controllerv1.TxnState_TXN_STATE_EMPTY
	rec.Partitions, rec.Groups, rec.Offsets, rec.StartUnixMs = nil, nil, nil, 0
	if err := c.save(ctx, rec); err != nil {
		resp.ErrorCode = code(err)
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = rec.GetProducerId(), int16(rec.GetProducerEpoch())
	return resp, nil
}

// prepareAbortFenced bumps the epoch of an open transaction, so its
// producer is fenced everywhere, and starts aborting it. Called with the
// id's lock held.
func (c *Coordinator) prepareAbortFenced(ctx context.Context, rec *controllerv1.TxnRecord) error {
	if rec.GetProducerEpoch() < math.MaxInt16-1 {
		rec.ProducerEpoch++
	}
	rec.State = controllerv1.TxnState_TXN_STATE_PREPARE_ABORT
	if err := c.save(ctx, rec); err != nil {
		return err
	}
	c.startCompletion(rec.GetTransactionalId())
	return nil
}

// joinable is the code for adding to the record's transaction in its
// state: 0 when partitions or offsets may be added.
func joinable(rec *controllerv1.TxnRecord) int16 {
	if preparing(rec.GetState()) {
		return kerr.ConcurrentTransactions.Code
	}
	return 0
}

func hasPartition(rec *controllerv1.TxnRecord, topic string, p int32) bool {
	for _, tp := range rec.GetPartitions() {
		if tp.GetTopic() == topic && tp.GetPartition() == p {
			return true
		}
	}
	return false
}

// open moves the record to Ongoing, starting the transaction's clock.
func (c *Coordinator) open(rec *controllerv1.TxnRecord) {
	if rec.GetState() != controllerv1.TxnState_TXN_STATE_ONGOING {
		rec.State, rec.StartUnixMs = controllerv1.TxnState_TXN_STATE_ONGOING, c.cfg.Now().UnixMilli()
		rec.Partitions, rec.Groups, rec.Offsets = nil, nil, nil
	}
}

func (c *Coordinator) addPartitions(ctx context.Context, req *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error) {
	if req.Version >= 4 {
		return c.verifyPartitions(req)
	}
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	fill := func(code func(topic string, p int32) int16) {
		resp.Topics = resp.Topics[:0]
		for _, t := range req.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, code(t.Topic, p)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
	all := func(code int16) { fill(func(string, int32) int16 { return code }) }
	asked := 0
	for _, t := range req.Topics {
		asked += len(t.Partitions)
	}
	if !validID(req.TransactionalID) || asked > maxTxnPartitions {
		all(kerr.InvalidRequest.Code)
		return resp, nil
	}
	unlock, rec, err := c.lockID(req.TransactionalID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if code := checkProducer(rec, req.ProducerID, req.ProducerEpoch, req.Key(), req.Version); code != 0 {
		all(code)
		return resp, nil
	}
	if code := joinable(rec); code != 0 {
		all(code)
		return resp, nil
	}
	// Every partition must exist; otherwise nothing is added (Kafka
	// answers the others OPERATION_NOT_ATTEMPTED).
	bad := map[string]map[int32]int16{}
	var added []Marker
	count := len(rec.GetPartitions())
	asking := map[TopicPartition]bool{}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			if rec.GetState() == controllerv1.TxnState_TXN_STATE_ONGOING && hasPartition(rec, t.Topic, p) || asking[TopicPartition{t.Topic, p}] {
				continue
			}
			asking[TopicPartition{t.Topic, p}] = true
			ok, err := c.cfg.Topics.PartitionExists(ctx, t.Topic, p)
			code := int16(0)
			switch {
			case err != nil:
				code = kerr.CoordinatorNotAvailable.Code
			case !ok:
				code = kerr.UnknownTopicOrPartition.Code
			}
			if code != 0 {
				if bad[t.Topic] == nil {
					bad[t.Topic] = map[int32]int16{}
				}
				bad[t.Topic][p] = code
				continue
			}
			count++
			added = append(added, Marker{Topic: t.Topic, Partition: p, ProducerID: rec.GetProducerId(), ProducerEpoch: int16(rec.GetProducerEpoch()), Type: MarkerBegin})
		}
	}
	if len(bad) == 0 && count > maxTxnPartitions {
		all(kerr.InvalidRequest.Code)
		return resp, nil
	}
	if len(bad) > 0 {
		fill(func(topic string, p int32) int16 {
			if code, ok := bad[topic][p]; ok {
				return code
			}
			return kerr.OperationNotAttempted.Code
		})
		return resp, nil
	}
	// The leaders learn of the transaction before the producer writes.
	for i, err := range c.cfg.Markers.WriteMarkers(ctx, added) {
		if err != nil {
			c.cfg.Log.Debug("begin marker failed", "transactional_id", req.TransactionalID, "topic", added[i].Topic, "partition", added[i].Partition, "err", err)
			all(kerr.ConcurrentTransactions.Code) // retriable: the client tries again
			return resp, nil
		}
	}
	c.open(rec)
	for _, m := range added {
		rec.Partitions = append(rec.Partitions, &controllerv1.TxnPartition{Topic: m.Topic, Partition: m.Partition})
	}
	err = c.save(ctx, rec)
	all(code(err))
	return resp, nil
}

// verifyPartitions answers a storage leader's question (AddPartitionsToTxn
// v4 with verify_only, as KIP-890 brokers ask it): is each partition in
// the producer's open transaction at this epoch? Gateways never forward
// v4 from clients (it is not advertised); adding through v4 is refused.
func (c *Coordinator) verifyPartitions(req *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	for _, tx := range req.Transactions {
		rt := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rt.TransactionalID = tx.TransactionalID
		code := int16(0)
		var rec *controllerv1.TxnRecord
		switch {
		case !tx.VerifyOnly:
			code = kerr.InvalidRequest.Code
		case !validID(tx.TransactionalID):
			code = kerr.InvalidRequest.Code
		default:
			unlock, r, err := c.lockID(tx.TransactionalID)
			if err != nil {
				return nil, err
			}
			unlock()
			rec = r
			if code = checkProducer(rec, tx.ProducerID, tx.ProducerEpoch, req.Key(), req.Version); code == 0 && rec.GetState() != controllerv1.TxnState_TXN_STATE_ONGOING {
				code = kerr.InvalidTxnState.Code
			}
		}
		for _, t := range tx.Topics {
			tt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			tt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				rp.Partition, rp.ErrorCode = p, code
				if code == 0 && !hasPartition(rec, t.Topic, p) {
					rp.ErrorCode = kerr.InvalidTxnState.Code
				}
				tt.Partitions = append(tt.Partitions, rp)
			}
			rt.Topics = append(rt.Topics, tt)
		}
		resp.Transactions = append(resp.Transactions, rt)
	}
	return resp, nil
}

func (c *Coordinator) addOffsets(ctx context.Context, req *kmsg.AddOffsetsToTxnRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	switch {
	case !validID(req.TransactionalID):
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp, nil
	}
	unlock, rec, err := c.lockID(req.TransactionalID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if resp.ErrorCode = checkProducer(rec, req.ProducerID, req.ProducerEpoch, req.Key(), req.Version); resp.ErrorCode != 0 {
		return resp, nil
	}
	if resp.ErrorCode = joinable(rec); resp.ErrorCode != 0 {
		return resp, nil
	}
	if rec.GetState() == controllerv1.TxnState_TXN_STATE_ONGOING {
		for _, g := range rec.GetGroups() {
			if g == req.Group {
				return resp, nil
			}
		}
	}
	c.open(rec)
	rec.Groups = append(rec.Groups, req.Group)
	resp.ErrorCode = code(c.save(ctx, rec))
	return resp, nil
}

func (c *Coordinator) txnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	fill := func(code func(topic string, p kmsg.TxnOffsetCommitRequestTopicPartition) int16) {
		resp.Topics = resp.Topics[:0]
		for _, t := range req.Topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code(t.Topic, p)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
	all := func(code int16) {
		fill(func(string, kmsg.TxnOffsetCommitRequestTopicPartition) int16 { return code })
	}
	switch {
	case !validID(req.TransactionalID):
		all(kerr.InvalidRequest.Code)
		return resp, nil
	case req.Group == "":
		all(kerr.InvalidGroupID.Code)
		return resp, nil
	}
	unlock, rec, err := c.lockID(req.TransactionalID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if code := checkProducer(rec, req.ProducerID, req.ProducerEpoch, req.Key(), req.Version); code != 0 {
		all(code)
		return resp, nil
	}
	added := rec.GetState() == controllerv1.TxnState_TXN_STATE_ONGOING
	if added {
		added = false
		for _, g := range rec.GetGroups() {
			added = added || g == req.Group
		}
	}
	if !added {
		all(kerr.InvalidTxnState.Code) // AddOffsetsToTxn first
		return resp, nil
	}
	if code := c.cfg.Groups.CheckMember(req.Group, req.MemberID, req.InstanceID, req.Generation); code != 0 {
		all(code)
		return resp, nil
	}
	idx := map[[2]string]int{}
	for i, o := range rec.GetOffsets() {
		idx[[2]string{o.GetGroup(), o.GetTopic() + "/" + itoa(o.GetPartition())}] = i
	}
	codes := map[string]map[int32]int16{}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			meta := ""
			if p.Metadata != nil {
				meta = *p.Metadata
			}
			code := int16(0)
			switch {
			case len(meta) > c.cfg.MaxOffsetMetadata:
				code = kerr.OffsetMetadataTooLarge.Code
			case t.Topic == "" || strings.Contains(t.Topic, "/") || p.Partition < 0:
				code = kerr.UnknownTopicOrPartition.Code
			default:
				o := &controllerv1.TxnOffset{Group: req.Group, Topic: t.Topic, Partition: p.Partition, Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, Metadata: meta}
				k := [2]string{req.Group, t.Topic + "/" + itoa(p.Partition)}
				if i, ok := idx[k]; ok {
					rec.Offsets[i] = o
				} else if len(rec.Offsets) >= maxTxnOffsets {
					code = kerr.InvalidRequest.Code
				} else {
					idx[k] = len(rec.Offsets)
					rec.Offsets = append(rec.Offsets, o)
				}
			}
			if codes[t.Topic] == nil {
				codes[t.Topic] = map[int32]int16{}
			}
			codes[t.Topic][p.Partition] = code
		}
	}
	saveCode := code(c.save(ctx, rec))
	fill(func(topic string, p kmsg.TxnOffsetCommitRequestTopicPartition) int16 {
		if c := codes[topic][p.Partition]; c != 0 {
			return c
		}
		return saveCode
	})
	return resp, nil
}

func (c *Coordinator) endTxn(ctx context.Context, req *kmsg.EndTxnRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	if !validID(req.TransactionalID) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	unlock, rec, err := c.lockID(req.TransactionalID)
	if err != nil {
		return nil, err
	}
	if resp.ErrorCode = checkProducer(rec, req.ProducerID, req.ProducerEpoch, req.Key(), req.Version); resp.ErrorCode != 0 {
		unlock()
		return resp, nil
	}
	st := rec.GetState()
	switch {
	case st == controllerv1.TxnState_TXN_STATE_ONGOING:
		rec.State = controllerv1.TxnState_TXN_STATE_PREPARE_ABORT
		if req.Commit {
			rec.State = controllerv1.TxnState_TXN_STATE_PREPARE_COMMIT
		}
		if err := c.save(ctx, rec); err != nil {
			unlock()
			resp.ErrorCode = code(err)
			return resp, nil
		}
		done := c.startCompletion(req.TransactionalID)
		unlock()
		// Answer once the markers are written, or soon anyway: the
		// prepared state is durable and the completion goes on.
		wait := time.NewTimer(endTxnWait)
		defer wait.Stop()
		select {
		case <-done:
		case <-wait.C:
		case <-ctx.Done():
		}
		return resp, nil
	case st == controllerv1.TxnState_TXN_STATE_COMPLETE_COMMIT && req.Commit, st == controllerv1.TxnState_TXN_STATE_COMPLETE_ABORT && !req.Commit:
		// A retry of the EndTxn that completed it.
	case st == controllerv1.TxnState_TXN_STATE_PREPARE_COMMIT && req.Commit, st == controllerv1.TxnState_TXN_STATE_PREPARE_ABORT && !req.Commit:
		resp.ErrorCode = kerr.ConcurrentTransactions.Code
	default:
		resp.ErrorCode = kerr.InvalidTxnState.Code // nothing open, or the other outcome
	}
	unlock()
	return resp, nil
}
