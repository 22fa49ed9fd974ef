package log

import (
	"fmt"
	"math"

	"github.com/strata-io/strata/internal/fsutil"
	"github.com/strata-io/strata/internal/recordbatch"
)

// Append writes producer batches as the partition leader. batches holds one
// or more concatenated v2 batches; all are validated before anything is
// written, so a rejected call leaves the log unchanged. Offsets are assigned
// by patching each batch's base offset and leader epoch in place (both lie
// outside the CRC). It returns the base offset of the first batch.
//
// With message.timestamp.type=CreateTime and a message.timestamp.before or
// after bound set, every record's timestamp is checked against the clock
// (compressed batches are decompressed for it) and a call holding one out
// of bounds fails with INVALID_TIMESTAMP. With LogAppendTime each batch gets
// the append time as its max timestamp and the timestamp-type bit (both
// inside the CRC, which is recomputed), as Kafka stamps them.
func (l *Log) Append(batches []byte, leaderEpoch int32) (int64, error) {
	var maxTS int64 = -1
	var records int64
	checkTS := !l.cfg.LogAppendTime && (l.cfg.TimestampBeforeMaxMs < math.MaxInt64 || l.cfg.TimestampAfterMaxMs < math.MaxInt64)
	var scratch []byte
	var lastDelta int64 // offsets the whole call spans, minus one
	for rest := batches; len(rest) > 0; {
		b, r, err := recordbatch.Next(rest)
		if err != nil {
			return -1, fmt.Errorf("append: %w", err)
		}
		if len(b) > l.cfg.MaxMessageBytes {
			return -1, fmt.Errorf("append: batch of %d bytes over max.message.bytes %d: %w", len(b), l.cfg.MaxMessageBytes, recordbatch.ErrTooLarge)
		}
		h, err := recordbatch.ValidateProducer(b, l.cfg.MaxDecompressedBytes)
		if err != nil {
			return -1, fmt.Errorf("append: %w", err)
		}
		if checkTS {
			if scratch, err = l.checkTimestamps(scratch, b, &h, l.opts.now().UnixMilli()); err != nil {
				return -1, fmt.Errorf("append: %w", err)
			}
		}
		maxTS = max(maxTS, h.MaxTimestamp)
		records += int64(h.RecordCount)
		lastDelta += int64(h.LastOffsetDelta) + 1
		rest = r
	}
	if len(batches) == 0 {
		return -1, fmt.Errorf("append: no batches: %w", recordbatch.ErrCorrupt)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked(batches, leaderEpoch, lastDelta, records)
}

// appendLocked assigns offsets to validated batches spanning lastDelta+1
// offsets and writes them. Called with mu held.
func (l *Log) appendLocked(batches []byte, leaderEpoch int32, lastDelta, records int64) (int64, error) {
	if err := l.check(); err != nil {
		return -1, err
	}
	if latest := l.epochs.latest(); leaderEpoch < latest {
		return -1, fmt.Errorf("append with epoch %d, log at %d: %w", leaderEpoch, latest, ErrFencedEpoch)
	} else if leaderEpoch > latest {
		if err := l.epochs.assign(leaderEpoch, l.leo.Load()); err != nil {
			return -1, fmt.Errorf("append: %w", err)
		}
	}
	first := l.leo.Load()
	next := first
	appendTime := l.opts.now().UnixMilli()
	for rest := batches; len(rest) > 0; {
		n := recordbatch.PeekSize(rest)
		recordbatch.SetBaseOffset(rest, next)
		recordbatch.SetPartitionLeaderEpoch(rest, leaderEpoch)
		if l.cfg.LogAppendTime {
			recordbatch.SetLogAppendTime(rest[:n], appendTime)
		}
		next = recordbatch.LastOffsetOf(rest) + 1
		rest = rest[n:]
	}
	if err := l.writeLocked(batches, first, first+lastDelta-1, records); err != nil {
		return -1, err
	}
	return first, nil
}

// checkTimestamps refuses a batch with a record timestamp further from now
// than message.timestamp.before.max.ms / after.max.ms allow (-1, no
// timestamp, passes, as in Kafka). scratch is reused for decompression.
func (l *Log) checkTimestamps(scratch, b []byte, h *recordbatch.Header, now int64) ([]byte, error) {
	recs, err := recordbatch.Records(scratch, b, h, l.cfg.MaxDecompressedBytes)
	if err != nil {
		return scratch, err
	}
	if h.Codec() != 0 {
		scratch = recs
	}
	it := recordbatch.NewRecordIter(recs, h.RecordCount)
	for it.Next() {
		ts := h.BaseTimestamp + it.Record().TimestampDelta
		if ts == -1 {
			continue
		}
		// Unsigned differences cannot overflow for any pair of int64s.
		if ts < now && uint64(now)-uint64(ts) > uint64(l.cfg.TimestampBeforeMaxMs) {
			return scratch, fmt.Errorf("record timestamp %d is more than message.timestamp.before.max.ms=%d before the broker's time %d: %w",
				ts, l.cfg.TimestampBeforeMaxMs, now, recordbatch.ErrInvalidTimestamp)
		}
		if ts > now && uint64(ts)-uint64(now) > uint64(l.cfg.TimestampAfterMaxMs) {
			return scratch, fmt.Errorf("record timestamp %d is more than message.timestamp.after.max.ms=%d after the broker's time %d: %w",
				ts, l.cfg.TimestampAfterMaxMs, now, recordbatch.ErrInvalidTimestamp)
		}
	}
	return scratch, it.Err()
}

// AppendReplicated writes batches fetched from the leader with their
// offsets unchanged. They must continue the log: the first base offset is
// at least the log end offset and each batch starts after the previous
// one ends (compaction on the leader may leave gaps).
func (l *Log) AppendReplicated(batches []byte) error {
	if len(batches) == 0 {
		return nil
	}
	var records int64
	var first, last int64 = -1, -1
	for rest := batches; len(rest) > 0; {
		b, r, err := recordbatch.Next(rest)
		if err != nil {
			return fmt.Errorf("append replicated: %w", err)
		}
		h, err := recordbatch.Validate(b)
		if err != nil {
			return fmt.Errorf("append replicated: %w", err)
		}
		if last >= 0 && h.BaseOffset <= last {
			return fmt.Errorf("append replicated: batch at %d after %d: %w", h.BaseOffset, last, ErrNonContiguous)
		}
		if first < 0 {
			first = h.BaseOffset
		}
		last = h.LastOffset()
		records += int64(h.RecordCount)
		rest = r
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.check(); err != nil {
		return err
	}
	if leo := l.leo.Load(); first < leo {
		return fmt.Errorf("append replicated: batch at %d below log end %d: %w", first, leo, ErrNonContiguous)
	}
	for rest := batches; len(rest) > 0; rest = rest[recordbatch.PeekSize(rest):] {
		h, _ := recordbatch.ParseHeader(rest)
		if err := l.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset); err != nil {
			return fmt.Errorf("append replicated: %w", err)
		}
	}
	if err := l.writeLocked(batches, first, last, records); err != nil {
		_ = l.epochs.truncateFromEnd(l.leo.Load())
		return err
	}
	return nil
}

// writeLocked appends validated batches whose offsets run first..last,
// rolling first if needed, then publishes the new end. Called with mu held.
func (l *Log) writeLocked(batches []byte, first, last int64, records int64) error {
	now := l.opts.now()
	if !l.active.roomFor(len(batches), last, &l.cfg, now) {
		if err := l.rollLocked(first, now); err != nil {
			return err
		}
	}
	s := l.active
	pos := s.size.Load()
	if len(l.rolled) == 0 {
		// Not while a rolled segment's fsync runs: on ext4 a fallocate
		// then waits on the journal for it, stalling appends 0.5-1.6 s at
		// a 1 GiB roll (about 25 ms without).
		s.preallocate(pos, len(batches))
	}
	if _, err := s.f.WriteAt(batches, pos); err != nil {
		// Cut any partial write so the file keeps only whole batches.
		if terr := s.f.Truncate(pos); terr != nil {
			err = fmt.Errorf("%w (and cutting the partial write: %v)", err, terr)
		}
		return fmt.Errorf("append at %d: %w", pos, l.fail(err))
	}
	p, nIdx, nTime := pos, s.idx.len(), s.tidx.len()
	for rest := batches; len(rest) > 0; {
		n := recordbatch.PeekSize(rest)
		if err := s.indexBatch(int64FromBE(rest), recordbatch.MaxTimestampOf(rest), p, n, l.cfg.IndexIntervalBytes); err != nil {
			// Nothing of this write is published: drop its index entries
			// and its bytes, as for a failed write.
			s.idx.truncate(nIdx)
			s.tidx.truncate(nTime)
			if terr := s.f.Truncate(pos); terr != nil {
				err = fmt.Errorf("%w (and cutting the unindexed write: %v)", err, terr)
			}
			return fmt.Errorf("append at %d: %w", pos, l.fail(err))
		}
		p += int64(n)
		rest = rest[n:]
	}
	if err := l.txn.applyAll(batches); err != nil {
		// Only a damaged control batch fails here, and every batch was
		// validated: the data is written, its transaction state is not.
		l.opts.logger.Warn("transaction state not updated", "dir", l.dir, "err", err)
	}
	l.prod.applyAll(batches)
	s.size.Store(p)
	s.next.Store(last + 1)
	l.leo.Store(last + 1)
	if !l.opts.manualHW {
		l.hw.Store(last + 1)
	}
	l.unflushed += records
	if l.unflushed >= l.cfg.FlushMessages || now.Sub(l.lastFlush).Milliseconds() >= l.cfg.FlushMs {
		return l.flushLocked(now)
	}
	return nil
}

// rollLocked seals the active segment and starts a new one at base.
func (l *Log) rollLocked(base int64, now timeT) error {
	old := l.active
	if old.size.Load() == 0 {
		// An empty segment is replaced rather than kept (its base is too low).
		l.segMu.Lock()
		l.segs = l.segs[:len(l.segs)-1]
		l.segMu.Unlock()
		if err := old.remove(); err != nil {
			return fmt.Errorf("roll: %w", l.fail(err))
		}
	} else if err := old.finish(); err != nil {
		// Its data fsync is queued below, once the new segment exists.
		return fmt.Errorf("roll: %w", l.fail(err))
	} else if err := l.writeTxnIndex(old); err != nil {
		// Not fatal: a sealed segment without one is scanned at the next Open.
		l.opts.logger.Warn("transaction index not written", "segment", old.base, "err", err)
	}
	s, err := createSegment(l.fs, l.dir, base, &l.cfg, now)
	if err != nil {
		return fmt.Errorf("roll: %w", l.fail(err))
	}
	if err := fsutil.SyncDirFS(l.fs, l.dir); err != nil {
		s.remove()
		return fmt.Errorf("roll: %w", l.fail(err))
	}
	l.segMu.Lock()
	l.segs = append(l.segs, s)
	l.segMu.Unlock()
	l.active = s
	if old.size.Load() > 0 {
		// The old segment's fsync, and the recovery point and producer
		// snapshot that wait for it, happen off the append path.
		l.queueRolledLocked(old, base)
		return nil
	}
	if len(l.rolled) == 0 {
		// Every segment below the empty one was synced at its roll.
		l.recoveryPoint = max(l.recoveryPoint, old.next.Load())
	}
	return l.writeCheckpoint()
}
