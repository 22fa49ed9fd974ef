package storage

// Idempotent producer state (Kafka's ProducerStateManager, without
// snapshots). For each partition it leads, a node keeps per producer id the
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
// The state is built from the log — every batch with a producer id, from
// the log start — the first time an idempotent batch reaches the partition
// after it was opened or after this node became its leader (a new leader
// epoch), so it survives restarts and failovers without a snapshot file.
// The check, the append and the update run under one lock per replica;
// batches without a producer id never take it.

import (
	"cmp"
	"slices"
	"sync"

	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/recordbatch"
)

// producerWindow is how many batches per producer are remembered for
// duplicate detection (Kafka's max.in.flight.requests.per.connection cap).
const producerWindow = 5

// rebuildReadBytes is the read size of the scan that rebuilds the state.
const rebuildReadBytes = 4 << 20

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
}

// appendProduced appends one partition's batches as its leader, applying
// the idempotence checks when they carry a producer id. It returns the
// base offset of the write (or of the original write, for a duplicate).
func (r *replica) appendProduced(leaderEpoch int32, records []byte) (int64, error) {
	batch, rest, err := recordbatch.Next(records)
	if err != nil {
		return r.log.Append(records, leaderEpoch) // the log reports the bad batch
	}
	h, err := recordbatch.ParseHeader(batch)
	if err != nil || h.ProducerID < 0 {
		base, err := r.log.Append(records, leaderEpoch)
		return base, r.check(err)
	}
	if len(rest) > 0 {
		return -1, errs.New(errs.InvalidRecord, "an idempotent produce must carry exactly one record batch per partition")
	}
	pp := &r.producers
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.epoch != leaderEpoch || pp.producers == nil {
		if err := pp.rebuild(r); err != nil {
			return -1, errs.New(errs.StorageError, "rebuilding producer state: %v", r.check(err))
		}
		pp.epoch = leaderEpoch
	}
	lastSeq := h.BaseSequence + h.LastOffsetDelta
	e := pp.producers[h.ProducerID]
	if e != nil {
		switch {
		case h.ProducerEpoch < e.epoch:
			return -1, errs.New(errs.InvalidProducerEpoch, "producer %d epoch %d is older than the current %d", h.ProducerID, h.ProducerEpoch, e.epoch)
		case h.ProducerEpoch > e.epoch:
			if h.BaseSequence != 0 {
				return -1, errs.New(errs.OutOfOrderSequence, "producer %d new epoch %d must start at sequence 0, not %d", h.ProducerID, h.ProducerEpoch, h.BaseSequence)
			}
		default:
			for _, b := range e.batches {
				if b.firstSeq == h.BaseSequence && b.lastSeq == lastSeq {
					return b.base, nil // duplicate: already written
				}
			}
			if n := len(e.batches); n > 0 {
				if want := nextSeq(e.batches[n-1].lastSeq); h.BaseSequence != want {
					return -1, errs.New(errs.OutOfOrderSequence, "producer %d sequence %d does not follow %d", h.ProducerID, h.BaseSequence, e.batches[n-1].lastSeq)
				}
			}
		}
	}
	base, err := r.log.Append(records, leaderEpoch)
	if err != nil {
		return base, r.check(err)
	}
	maxTS := h.MaxTimestamp
	if stored, err := recordbatch.ParseHeader(records); err == nil {
		maxTS = stored.MaxTimestamp // LogAppendTime stamps the batch in place
	}
	pp.record(h.ProducerID, h.ProducerEpoch, producerBatch{h.BaseSequence, lastSeq, base, maxTS})
	return base, nil
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
	if pp.epoch != leaderEpoch || pp.producers == nil {
		if err := pp.rebuild(r); err != nil {
			return nil, errs.New(errs.StorageError, "rebuilding producer state: %v", r.check(err))
		}
		pp.epoch = leaderEpoch
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

// rebuild scans the log for batches with producer ids.
func (pp *partProducers) rebuild(p *replica) error {
	pp.producers = map[int64]*producerEntry{}
	off, end := p.log.LogStartOffset(), p.log.LogEndOffset()
	for off < end {
		data, err := p.log.Read(off, rebuildReadBytes, end)
		if err != nil {
			return err
		}
		if len(data) == 0 {
			return nil
		}
		for len(data) > 0 {
			batch, rest, err := recordbatch.Next(data)
			if err != nil {
				return err
			}
			data = rest
			h, err := recordbatch.ParseHeader(batch)
			if err != nil {
				return err
			}
			off = max(off, h.NextOffset())
			if h.ProducerID >= 0 && !h.IsControl() {
				pp.record(h.ProducerID, h.ProducerEpoch, producerBatch{h.BaseSequence, h.BaseSequence + h.LastOffsetDelta, h.BaseOffset, h.MaxTimestamp})
			}
		}
	}
	return nil
}
