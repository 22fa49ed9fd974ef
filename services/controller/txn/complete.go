package txn

// Completion of prepared transactions (the markers, then the outcome),
// expiry of timed-out transactions and idle transactional ids.

import (
	"context"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/services/controller/mdstore"
)

// startCompletion writes the markers of a prepared transaction in the
// background, once per id at a time; the channel closes when it is done.
func (c *Coordinator) startCompletion(id string) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if done, ok := c.completing[id]; ok {
		return done
	}
	done := make(chan struct{})
	if !c.loaded || c.term == nil {
		close(done)
		return done
	}
	c.completing[id] = done
	ctx := c.term
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.complete(ctx, id)
		c.mu.Lock()
		if c.completing[id] == done {
			delete(c.completing, id)
		}
		c.mu.Unlock()
		close(done)
	}()
	return done
}

// complete retries the markers of a prepared transaction until every
// partition has one, then records the outcome (and, for a commit, its
// offsets) in one store transaction.
func (c *Coordinator) complete(ctx context.Context, id string) {
	c.mu.Lock()
	rec := c.txns[id]
	if rec != nil {
		rec = metadata.Clone(rec)
	}
	c.mu.Unlock()
	if rec == nil || !preparing(rec.GetState()) {
		return
	}
	commit := rec.GetState() == controllerv1.TxnState_TXN_STATE_PREPARE_COMMIT
	typ := MarkerAbort
	if commit {
		typ = MarkerCommit
	}
	var pending []Marker
	for _, tp := range rec.GetPartitions() {
		pending = append(pending, Marker{Topic: tp.GetTopic(), Partition: tp.GetPartition(), ProducerID: rec.GetProducerId(), ProducerEpoch: int16(rec.GetProducerEpoch()), Type: typ})
	}
	backoff := markerRetryMin
	for len(pending) > 0 {
		results := c.cfg.Markers.WriteMarkers(ctx, pending)
		var left []Marker
		for i, err := range results {
			switch {
			case err == nil:
			case errs.Is(err, errs.UnknownTopicOrPartition), errs.Is(err, errs.InvalidProducerEpoch), errs.Is(err, errs.InvalidRequest):
				// A deleted partition, or one that already moved past this
				// producer epoch: there is nothing left to mark.
				c.cfg.Log.Warn("transaction marker dropped", "transactional_id", id, "topic", pending[i].Topic, "partition", pending[i].Partition, "err", err)
			default:
				left = append(left, pending[i])
			}
		}
		pending = left
		if len(pending) == 0 {
			break
		}
		c.cfg.Log.Debug("transaction markers pending; retrying", "transactional_id", id, "partitions", len(pending))
		select {
		case <-ctx.Done():
			return // the next active controller resumes from the prepared state
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, markerRetryMax)
	}
	unlock, cur, err := c.lockID(id)
	if err != nil {
		return
	}
	defer unlock()
	if cur == nil || cur.GetState() != rec.GetState() || cur.GetProducerEpoch() != rec.GetProducerEpoch() {
		return
	}
	var extra []mdstore.Op
	if commit {
		for _, o := range cur.GetOffsets() {
			extra = append(extra, c.cfg.OffsetOp(o.GetGroup(), o.GetTopic(), o.GetPartition(), o.GetOffset(), o.GetLeaderEpoch(), o.GetMetadata()))
		}
		cur.State = controllerv1.TxnState_TXN_STATE_COMPLETE_COMMIT
	} else {
		cur.State = controllerv1.TxnState_TXN_STATE_COMPLETE_ABORT
	}
	cur.Partitions, cur.Groups, cur.Offsets, cur.StartUnixMs = nil, nil, nil, 0
	for ctx.Err() == nil {
		err := c.save(ctx, cur, extra...)
		if err == nil {
			return
		}
		if errs.Is(err, errs.NotController) {
			c.cfg.Log.Info("transaction completion left to the next active controller", "transactional_id", id, "err", err)
			return
		}
		c.cfg.Log.Warn("recording a transaction's outcome failed; retrying", "transactional_id", id, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(markerRetryMax):
		}
	}
}

// expire aborts open transactions past their timeout, fencing their
// producers (Kafka bumps the epoch too), and forgets transactional ids idle
// for longer than transactional.id.expiration.ms.
func (c *Coordinator) expire(ctx context.Context) {
	now := c.cfg.Now().UnixMilli()
	c.mu.Lock()
	var due, idle []string
	for id, rec := range c.txns {
		switch st := rec.GetState(); {
		case st == controllerv1.TxnState_TXN_STATE_ONGOING && now-rec.GetStartUnixMs() > int64(rec.GetTimeoutMs()):
			due = append(due, id)
		case st != controllerv1.TxnState_TXN_STATE_ONGOING && !preparing(st) && now-rec.GetUpdateUnixMs() > c.cfg.IDExpiration.Milliseconds():
			idle = append(idle, id)
		}
	}
	c.mu.Unlock()
	for _, id := range idle {
		c.forget(ctx, id, now)
	}
	for _, id := range due {
		unlock, rec, err := c.lockID(id)
		if err != nil {
			return
		}
		if rec != nil && rec.GetState() == controllerv1.TxnState_TXN_STATE_ONGOING && now-rec.GetStartUnixMs() > int64(rec.GetTimeoutMs()) {
			c.cfg.Log.Info("aborting a transaction past its timeout", "transactional_id", id, "producer_id", rec.GetProducerId(), "timeout_ms", rec.GetTimeoutMs())
			if err := c.prepareAbortFenced(ctx, rec); err != nil {
				c.cfg.Log.Warn("aborting a timed-out transaction failed", "transactional_id", id, "err", err)
			}
		}
		unlock()
	}
}

// forget deletes an idle transactional id's record; a producer that comes
// back with it starts over with a new producer id.
func (c *Coordinator) forget(ctx context.Context, id string, now int64) {
	unlock, rec, err := c.lockID(id)
	if err != nil {
		return
	}
	defer unlock()
	st := rec.GetState()
	if rec == nil || st == controllerv1.TxnState_TXN_STATE_ONGOING || preparing(st) || now-rec.GetUpdateUnixMs() <= c.cfg.IDExpiration.Milliseconds() {
		return
	}
	if _, err := c.cfg.Store.Write(ctx, nil, mdstore.Delete(recordKey(id))); err != nil {
		c.cfg.Log.Warn("forgetting an idle transactional id failed", "transactional_id", id, "err", err)
		return
	}
	c.mu.Lock()
	delete(c.txns, id)
	c.mu.Unlock()
	c.cfg.Log.Info("forgot an idle transactional id", "transactional_id", id, "producer_id", rec.GetProducerId())
}

// PendingOffsets returns the partitions of group with offsets sent by
// TxnOffsetCommit in transactions not yet complete (for OffsetFetch's
// require_stable).
func (c *Coordinator) PendingOffsets(group string) map[string]map[int32]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out map[string]map[int32]bool
	for _, rec := range c.txns {
		st := rec.GetState()
		if st != controllerv1.TxnState_TXN_STATE_ONGOING && !preparing(st) {
			continue
		}
		for _, o := range rec.GetOffsets() {
			if o.GetGroup() != group {
				continue
			}
			if out == nil {
				out = map[string]map[int32]bool{}
			}
			if out[o.GetTopic()] == nil {
				out[o.GetTopic()] = map[int32]bool{}
			}
			out[o.GetTopic()][o.GetPartition()] = true
		}
	}
	return out
}
