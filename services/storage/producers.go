package storage

// Idempotent producer state (Kafka's ProducerStateManager). For each partition it leads, a node keeps per producer id the
// producer epoch and the last five batches (first and last sequence, first
// and last offset). An idempotent batch (producer id ≥ 0) is checked
// before it is appended:
//
//   - an older producer epoch than the one held: INVALID_PRODUCER_EPOCH;
//   - a newer epoch must start at sequence 0;
//   - the same sequences as a batch held: a duplicate (a retry whose
//     answer was lost) — answered with the original offset, not written;
//   - otherwise the first sequence must follow the last one held, else
//     OUT_OF_ORDER_SEQUENCE_NUMBER and nothing is written.
//
// A producer the partition has no state for may start at any sequence (as
// in Kafka since KIP-360, its state may have been removed with old data).
//
// Transactions: a transactional batch is accepted only while its producer
// has a transaction open on the partition at its epoch — registered by the
// transaction coordinator (a BEGIN marker, sent when AddPartitionsToTxn
// adds the partition), already open in the log (after a leader change), or
// confirmed by the coordinator when asked (a leader change before the
// first batch). Otherwise INVALID_TXN_STATE, and a non-transactional batch
// from a producer with an open transaction gets the same. A COMMIT or
// ABORT marker closes the transaction and raises the producer's epoch to
// the marker's, fencing older epochs (INVALID_PRODUCER_EPOCH).
//
// The state is copied from the log's own (services/storage/log/producers.go:
// every batch with a producer id, kept up to date on leaders and followers,
// snapshotted at each segment roll and on close, so Open scans only the
// batches after the newest snapshot) the first time an idempotent batch
// reaches the partition after it was opened or after this node became its
// leader (a new leader epoch): it survives restarts and failovers.
// The check, the append and the update run under one lock per replica;
// batches without a producer id never take it.

import (
	"cmp"
	"slices"
	"sync"
	"time"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/strata-io/strata/services/storage/log"
)

// producerWindow is how many batches per producer are remembered for
// duplicate detection.
const producerWindow = log.ProducerWindow

// maxIdempotentBatches bounds the batches of one producer in one write to
// a partition, so that a retried write is recognised whole: all its
// batches are still remembered.
const maxIdempotentBatches = producerWindow

type producerBatch struct {
	firstSeq, lastSeq int32
	base              int64
	maxTimestamp      int64 // the batch's max timestamp as stored
}

type producerEntry struct {
	epoch   int16
	batches []producerBatch // oldest first, at most producerWindow
}

// partProducers is the producer state of one replica.
type partProducers struct {
	mu        sync.Mutex
	epoch     int32 // the leader epoch it was built at
	producers map[int64]*producerEntry
	begun     map[int64]int16 // transactions the coordinator opened: producer id → epoch
}

// ensure rebuilds the state when it is missing or from another leader
// epoch. Called with mu held.
func (pp *partProducers) ensure(r *replica, leaderEpoch int32) error {
	if pp.epoch == leaderEpoch && pp.producers != nil {
		return nil
	}
	if err := pp.rebuild(r); err != nil {
		return errs.New(errs.StorageError, "rebuilding producer state: %v", r.check(err))
	}
	pp.epoch, pp.begun = leaderEpoch, map[int64]int16{}
	return nil
}

// appendProduced appends one partition's batches as its leader, applying
// the idempotence checks when they carry a producer id. It returns the
// base offset of the write (or of the original write, for a duplicate).
// An idempotent write may carry several batches of one producer and epoch
// with consecutive sequences (a gateway writes a ProduceStream session's
// queued requests in one append, each batch at most max.message.bytes):
// they are checked in order and appended together, or not at all.
func (r *replica) appendProduced(leaderEpoch int32, records []byte) (int64, error) {
	return r.appendProducedTxn(leaderEpoch, records, "")
}

// appendProducedTxn is appendProduced for a produce that named its
// transactional id (needed to verify a transaction this leader has no
// BEGIN for).
func (r *replica) appendProducedTxn(leaderEpoch int32, records []byte, txnID string) (int64, error) {
	hs, err := batchHeaders(records)
	if err != nil || hs[0].ProducerID < 0 {
		base, err := r.log.Append(records, leaderEpoch) // the log reports a bad batch
		return base, r.check(err)
	}
	for i := 1; i < len(hs); i++ {
		prev, h := hs[i-1], hs[i]
		if h.ProducerID != prev.ProducerID || h.ProducerEpoch != prev.ProducerEpoch || h.BaseSequence != nextSeq(prev.BaseSequence+prev.LastOffsetDelta) ||
			h.IsTransactional() != prev.IsTransactional() {
			return -1, errs.New(errs.InvalidRecord, "the batches of an idempotent produce must be one producer's, with consecutive sequences")
		}
	}
	if len(hs) > maxIdempotentBatches {
		return -1, errs.New(errs.InvalidRecord, "an idempotent produce carries %d batches for one partition, more than %d", len(hs), maxIdempotentBatches)
	}
	pp := &r.producers
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if err := pp.ensure(r, leaderEpoch); err != nil {
		return -1, err
	}
	if err := pp.checkTxn(r, &hs[0], pp.producers[hs[0].ProducerID], txnID); err != nil {
		return -1, err
	}
	if base, dup, err := pp.check(hs); err != nil || dup {
		return base, err
	}
	base, err := r.log.Append(records, leaderEpoch)
	if err != nil {
		return base, r.check(err)
	}
	stored, err := batchHeaders(records) // LogAppendTime stamps the batches in place
	if err != nil || len(stored) != len(hs) {
		stored = hs
	}
	off := base
	for i, h := range hs {
		pp.record(h.ProducerID, h.ProducerEpoch, producerBatch{h.BaseSequence, h.BaseSequence + h.LastOffsetDelta, off, stored[i].MaxTimestamp})
		off += int64(h.LastOffsetDelta) + 1
	}
	return base, nil
}

// check applies the idempotence rules to a write's batches (one producer,
// consecutive sequences). dup is set, with the original base offset, when
// the write is a retry of one the state holds.
func (pp *partProducers) check(hs []recordbatch.Header) (base int64, dup bool, err error) {
	h := hs[0]
	e := pp.producers[h.ProducerID]
	if e == nil {
		return -1, false, nil
	}
	switch {
	case h.ProducerEpoch < e.epoch:
		return -1, false, errs.New(errs.InvalidProducerEpoch, "producer %d epoch %d is older than the current %d", h.ProducerID, h.ProducerEpoch, e.epoch)
	case h.ProducerEpoch > e.epoch:
		if h.BaseSequence != 0 {
			return -1, false, errs.New(errs.OutOfOrderSequence, "producer %d new epoch %d must start at sequence 0, not %d", h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return -1, false, nil
	}
	for i, b := range e.batches {
		if b.firstSeq == h.BaseSequence {
			// A retry: every batch of it must be held, in order.
			if len(hs) > len(e.batches)-i {
				return -1, false, errs.New(errs.OutOfOrderSequence, "producer %d resent sequence %d with more batches than were written", h.ProducerID, h.BaseSequence)
			}
			for j, hj := range hs {
				if held := e.batches[i+j]; held.firstSeq != hj.BaseSequence || held.lastSeq != hj.BaseSequence+hj.LastOffsetDelta {
					return -1, false, errs.New(errs.OutOfOrderSequence, "producer %d resent sequence %d with other batches than were written", h.ProducerID, hj.BaseSequence)
				}
			}
			return b.base, true, nil // already written
		}
	}
	if n := len(e.batches); n > 0 {
		// Older than every batch remembered: written before (sequences
		// only ever advance), by a producer resending after the window
		// moved on. Say so, rather than write it again.
		last := hs[len(hs)-1]
		if seqBefore(last.BaseSequence+last.LastOffsetDelta, e.batches[0].firstSeq) {
			return -1, false, errs.New(errs.DuplicateSequence, "producer %d resent sequences %d..%d, older than the %d batches remembered (from %d): written before",
				h.ProducerID, h.BaseSequence, last.BaseSequence+last.LastOffsetDelta, n, e.batches[0].firstSeq)
		}
		if want := nextSeq(e.batches[n-1].lastSeq); h.BaseSequence != want {
			return -1, false, errs.New(errs.OutOfOrderSequence, "producer %d sequence %d does not follow %d", h.ProducerID, h.BaseSequence, e.batches[n-1].lastSeq)
		}
	}
	return -1, false, nil
}

// batchHeaders parses the header of every batch of records.
func batchHeaders(records []byte) ([]recordbatch.Header, error) {
	var hs []recordbatch.Header
	for rest := records; len(rest) > 0 || len(hs) == 0; {
		b, r, err := recordbatch.Next(rest)
		if err != nil {
			return nil, err
		}
		h, err := recordbatch.ParseHeader(b)
		if err != nil {
			return nil, err
		}
		hs, rest = append(hs, h), r
	}
	return hs, nil
}

// checkTxn applies the transaction rules to a batch of producer e.
func (pp *partProducers) checkTxn(r *replica, h *recordbatch.Header, e *producerEntry, txnID string) error {
	_, open := r.log.OngoingTxn(h.ProducerID)
	if !h.IsTransactional() {
		if open {
			return errs.New(errs.InvalidTxnState, "producer %d has a transaction open on %s; expected a transactional batch", h.ProducerID, r.name())
		}
		return nil
	}
	if e != nil && h.ProducerEpoch < e.epoch {
		return errs.New(errs.InvalidProducerEpoch, "producer %d epoch %d is older than the current %d", h.ProducerID, h.ProducerEpoch, e.epoch)
	}
	if epoch, ok := pp.begun[h.ProducerID]; ok {
		if h.ProducerEpoch < epoch {
			return errs.New(errs.InvalidProducerEpoch, "producer %d epoch %d is older than its transaction's %d", h.ProducerID, h.ProducerEpoch, epoch)
		}
		if h.ProducerEpoch == epoch {
			return nil
		}
	}
	if open && e != nil && e.epoch == h.ProducerEpoch {
		return nil // opened in the log, under an earlier leader
	}
	// This node may have become leader after the coordinator's BEGIN went
	// to the previous one: ask the coordinator (KIP-890's verification).
	if v, ok := r.host.(txnVerifier); ok && txnID != "" {
		err := v.verifyTxn(txnID, h.ProducerID, h.ProducerEpoch, r.key.topic, r.key.partition)
		if err == nil {
			pp.begun[h.ProducerID] = h.ProducerEpoch
			return nil
		}
		if e := errs.From(err); e != nil {
			return e
		}
		return errs.New(errs.RequestTimedOut, "verifying producer %d's transaction on %s with the coordinator: %v", h.ProducerID, r.name(), err)
	}
	return errs.New(errs.InvalidTxnState, "producer %d epoch %d has no transaction open on %s (AddPartitionsToTxn first)", h.ProducerID, h.ProducerEpoch, r.name())
}

// writeMarker applies one transaction coordinator step as the leader:
// BEGIN registers the open transaction; COMMIT and ABORT write the control
// batch and return its offset.
func (r *replica) writeMarker(leaderEpoch int32, m *storagev1.TxnMarker) (int64, error) {
	if m.GetProducerId() < 0 || m.GetProducerEpoch() < 0 || m.GetProducerEpoch() > 1<<15-1 {
		return -1, errs.New(errs.InvalidRequest, "producer id %d epoch %d out of range", m.GetProducerId(), m.GetProducerEpoch())
	}
	pid, epoch := m.GetProducerId(), int16(m.GetProducerEpoch())
	pp := &r.producers
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if err := pp.ensure(r, leaderEpoch); err != nil {
		return -1, err
	}
	if e := pp.producers[pid]; e != nil && epoch < e.epoch {
		return -1, errs.New(errs.InvalidProducerEpoch, "marker for producer %d epoch %d, which is older than the current %d", pid, epoch, e.epoch)
	}
	switch m.GetType() {
	case storagev1.TxnMarkerType_TXN_MARKER_TYPE_BEGIN:
		pp.begun[pid] = epoch
		return -1, nil
	case storagev1.TxnMarkerType_TXN_MARKER_TYPE_COMMIT, storagev1.TxnMarkerType_TXN_MARKER_TYPE_ABORT:
	default:
		return -1, errs.New(errs.InvalidRequest, "unknown marker type %v", m.GetType())
	}
	off, err := r.log.AppendControl(pid, epoch, m.GetType() == storagev1.TxnMarkerType_TXN_MARKER_TYPE_COMMIT, m.GetCoordinatorEpoch(), leaderEpoch)
	if err != nil {
		return -1, r.check(err)
	}
	delete(pp.begun, pid)
	pp.bumpEpoch(pid, epoch)
	return off, nil
}

// txnVerifier asks the transaction coordinator whether a partition is in a
// producer's open transaction (a node implements it; test hosts need not).
type txnVerifier interface {
	// verifyTxn returns nil when it is, the Kafka error (as *errs.Error)
	// when it is not, any other error when the coordinator did not answer.
	verifyTxn(txnID string, producerID int64, epoch int16, topic string, partition int32) error
}

// bumpEpoch records that the producer is at epoch (a marker's): a newer
// epoch starts its sequences afresh.
func (pp *partProducers) bumpEpoch(id int64, epoch int16) {
	if e := pp.producers[id]; e == nil || e.epoch != epoch {
		pp.producers[id] = &producerEntry{epoch: epoch}
	}
}

// seqBefore says whether sequence a comes before b in the wrapping
// sequence space (within half of it).
func seqBefore(a, b int32) bool {
	d := (int64(b) - int64(a)) & (1<<31 - 1)
	return d > 0 && d < 1<<30
}

func nextSeq(s int32) int32 {
	if s == 1<<31-1 {
		return 0
	}
	return s + 1
}

func (pp *partProducers) record(id int64, epoch int16, b producerBatch) {
	e := pp.producers[id]
	if e == nil || epoch != e.epoch {
		e = &producerEntry{epoch: epoch}
		pp.producers[id] = e
	}
	e.batches = append(e.batches, b)
	if len(e.batches) > producerWindow {
		e.batches = append(e.batches[:0], e.batches[len(e.batches)-producerWindow:]...)
	}
}

// expireProducers forgets the producers idle for longer than idle
// (producer.id.expiration.ms) in the log's state and the leader's copy,
// under the lock idempotent appends take, so none is forgotten mid-write.
func (r *replica) expireProducers(idle time.Duration) int {
	pp := &r.producers
	pp.mu.Lock()
	defer pp.mu.Unlock()
	gone := r.log.ExpireProducers(idle)
	for _, id := range gone {
		if _, open := pp.begun[id]; !open {
			delete(pp.producers, id)
		}
	}
	return len(gone)
}

// producerInfo is one producer's state as DescribeProducers reports it.
type producerInfo struct {
	id            int64
	epoch         int16
	lastSeq       int32
	lastTimestamp int64
}

// describe returns the producers the leader holds state for, sorted by
// id, building the state first as an idempotent produce would.
func (r *replica) describeProducers(leaderEpoch int32) ([]producerInfo, error) {
	pp := &r.producers
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if err := pp.ensure(r, leaderEpoch); err != nil {
		return nil, err
	}
	out := make([]producerInfo, 0, len(pp.producers))
	for id, e := range pp.producers {
		info := producerInfo{id: id, epoch: e.epoch, lastSeq: -1, lastTimestamp: -1}
		if n := len(e.batches); n > 0 {
			info.lastSeq, info.lastTimestamp = e.batches[n-1].lastSeq, e.batches[n-1].maxTimestamp
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b producerInfo) int { return cmp.Compare(a.id, b.id) })
	return out, nil
}

// rebuild copies the producer state the log keeps (every batch with a
// producer id, leaders and followers alike; at open it is loaded from the
// newest snapshot and the batches after it, see
// services/storage/log/producers.go): a leader change reads nothing.
func (pp *partProducers) rebuild(p *replica) error {
	if err := p.log.Err(); err != nil {
		return err
	}
	state := p.log.Producers()
	pp.producers = make(map[int64]*producerEntry, len(state))
	for id, st := range state {
		e := &producerEntry{epoch: st.Epoch, batches: make([]producerBatch, len(st.Batches))}
		for i, b := range st.Batches {
			e.batches[i] = producerBatch{b.FirstSeq, b.LastSeq, b.BaseOffset, b.MaxTimestamp}
		}
		pp.producers[id] = e
	}
	return nil
}
