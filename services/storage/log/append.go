package log

import (
	"fmt"

	"github.com/strata-io/strata/internal/fsutil"
	"github.com/strata-io/strata/internal/recordbatch"
)

// Append writes producer batches as the partition leader. batches holds one
// or more concatenated v2 batches; all are validated before anything is
// written, so a rejected call leaves the log unchanged. Offsets are assigned
// by patching each batch's base offset and leader epoch in place (both lie
// outside the CRC). It returns the base offset of the first batch.
func (l *Log) Append(batches []byte, leaderEpoch int32) (int64, error) {
	var maxTS int64 = -1
	var records int64
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
	for rest := batches; len(rest) > 0; {
		n := recordbatch.PeekSize(rest)
		recordbatch.SetBaseOffset(rest, next)
		recordbatch.SetPartitionLeaderEpoch(rest, leaderEpoch)
		next = recordbatch.LastOffsetOf(rest) + 1
		rest = rest[n:]
	}
	if err := l.writeLocked(batches, first, first+lastDelta-1, records); err != nil {
		return -1, err
	}
	return first, nil
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
	if _, err := s.f.WriteAt(batches, pos); err != nil {
		// Cut any partial write so the file keeps only whole batches.
		if terr := s.f.Truncate(pos); terr != nil {
			l.failed = terr
		}
		return fmt.Errorf("append at %d: %w: %v", pos, ErrStorage, err)
	}
	p := pos
	for rest := batches; len(rest) > 0; {
		n := recordbatch.PeekSize(rest)
		s.indexBatch(int64FromBE(rest), maxTimestampOf(rest), p, n, l.cfg.IndexIntervalBytes)
		p += int64(n)
		rest = rest[n:]
	}
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
			l.failed = err
			return fmt.Errorf("roll: %w", err)
		}
	} else if err := old.seal(); err != nil {
		return fmt.Errorf("roll: %w", err)
	}
	s, err := createSegment(l.dir, base, &l.cfg, now)
	if err != nil {
		return fmt.Errorf("roll: %w", err)
	}
	if err := fsutil.SyncDir(l.dir); err != nil {
		s.remove()
		return fmt.Errorf("roll: %w", err)
	}
	l.segMu.Lock()
	l.segs = append(l.segs, s)
	l.segMu.Unlock()
	l.active = s
	// seal fsynced the old segment, so everything below base is durable.
	l.recoveryPoint = old.next.Load()
	return l.writeCheckpoint()
}
