package log

import (
	"fmt"

	"github.com/strata-io/strata/internal/fsutil"
)

// TruncateTo removes every batch whose last offset is ≥ offset, across
// segments if needed; a batch straddling offset goes whole, so the new log
// end may fall below offset. A follower calls it to drop a divergent tail.
//
// Crash safety: later segments are deleted newest first and then the
// containing segment is cut, so at every instant the files hold a prefix
// of the old log; the next Open re-validates the last segment.
func (l *Log) TruncateTo(offset int64) error {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.check(); err != nil {
		return err
	}
	if offset >= l.leo.Load() {
		return nil
	}
	if offset < l.logStart.Load() {
		return l.truncateFullyLocked(offset)
	}
	l.segMu.Lock()
	defer l.segMu.Unlock()
	i := l.segmentFor(offset)
	for len(l.segs)-1 > i {
		last := l.segs[len(l.segs)-1]
		if err := last.remove(); err != nil {
			return fmt.Errorf("truncate: %w", l.fail(err))
		}
		l.segs = l.segs[:len(l.segs)-1]
	}
	s := l.segs[i]
	l.active = s
	if err := s.unseal(&l.cfg); err != nil {
		return fmt.Errorf("truncate: %w", l.fail(err))
	}
	end := s.size.Load()
	pos, _, err := s.positionOf(offset, end)
	if err != nil {
		return fmt.Errorf("truncate: %w", l.fail(err))
	}
	newEnd := offset
	if pos < end {
		h, err := s.headerAt(pos, make([]byte, 61))
		if err != nil {
			return fmt.Errorf("truncate: %w", l.fail(err))
		}
		newEnd = min(offset, h.BaseOffset)
		if err := s.f.Truncate(pos); err != nil {
			return fmt.Errorf("truncate segment: %w", l.fail(err))
		}
	}
	s.size.Store(pos)
	s.idx.truncateToPos(pos)
	s.tidx.truncateToOffset(newEnd)
	if err := s.reloadTailAfterTruncate(&l.cfg, newEnd); err != nil {
		return fmt.Errorf("truncate: %w", l.fail(err))
	}
	return l.afterTruncateLocked(newEnd)
}

// reloadTailAfterTruncate recomputes the writer state of a cut segment.
func (s *segment) reloadTailAfterTruncate(cfg *Config, newEnd int64) error {
	if err := s.loadTail(cfg, false); err != nil {
		return err
	}
	if s.size.Load() > 0 || newEnd > s.base {
		// Keep the end the caller asked for: offsets in a gap stay unused.
		s.next.Store(max(s.next.Load(), newEnd))
	}
	return nil
}

func (l *Log) afterTruncateLocked(newEnd int64) error {
	l.leo.Store(newEnd)
	if l.hw.Load() > newEnd {
		l.hw.Store(newEnd)
	}
	l.recoveryPoint = min(l.recoveryPoint, newEnd)
	l.dropRolledAfterLocked(newEnd)
	l.cleanerPoint.Store(min(l.cleanerPoint.Load(), newEnd))
	if err := l.epochs.truncateFromEnd(newEnd); err != nil {
		return err
	}
	if err := l.rebuildTxnLocked(); err != nil {
		return l.fail(err)
	}
	// Snapshots past the new end are deleted (durably) before the state is
	// reloaded from the newest one left.
	if err := l.loadProducersLocked(); err != nil {
		return l.fail(err)
	}
	return l.writeCheckpoint()
}

// TruncateFullyAndStartAt empties the log and restarts it at offset (a
// follower far behind a leader whose log start passed it).
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.check(); err != nil {
		return err
	}
	return l.truncateFullyLocked(offset)
}

func (l *Log) truncateFullyLocked(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("truncate fully to %d: %w", offset, ErrOffsetOutOfRange)
	}
	// Checkpoint the new start first: if we crash while deleting, Open sees
	// a log wholly below its start and finishes the job.
	l.logStart.Store(offset)
	l.leo.Store(max(l.leo.Load(), offset))
	l.recoveryPoint = offset
	l.dropRolledAfterLocked(-1) // every segment goes
	l.cleanerPoint.Store(offset)
	l.hw.Store(offset)
	if err := l.writeCheckpoint(); err != nil {
		return err
	}
	// No snapshot describes the new log; delete them before the data.
	if err := l.removeSnapshotsWhere(func(int64) bool { return true }, true); err != nil {
		return l.fail(err)
	}
	l.segMu.Lock()
	defer l.segMu.Unlock()
	for len(l.segs) > 0 {
		last := l.segs[len(l.segs)-1]
		if err := last.remove(); err != nil {
			return fmt.Errorf("truncate fully: %w", l.fail(err))
		}
		l.segs = l.segs[:len(l.segs)-1]
	}
	s, err := createSegment(l.fs, l.dir, offset, &l.cfg, l.opts.now())
	if err != nil {
		return fmt.Errorf("truncate fully: %w", l.fail(err))
	}
	l.segs = []*segment{s}
	l.active = s
	l.leo.Store(offset)
	l.unflushed = 0
	l.txn.reset()
	l.prod.reset()
	if err := l.epochs.clear(); err != nil {
		return err
	}
	if err := fsutil.SyncDirFS(l.fs, l.dir); err != nil {
		return l.fail(err)
	}
	return nil
}
