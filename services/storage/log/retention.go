package log

import (
	"fmt"
)

// DeleteOldSegments applies retention.ms and retention.bytes (when the
// cleanup policy includes delete): whole non-active segments are deleted
// oldest first and the log start offset moves to the next segment. It
// returns how many segments went. The owner calls it periodically.
func (l *Log) DeleteOldSegments() (int, error) {
	if !l.del {
		return 0, nil
	}
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	if l.shut.Load() {
		return 0, ErrClosed
	}
	if err := l.Err(); err != nil {
		return 0, err
	}
	now := l.opts.now().UnixMilli()
	l.segMu.RLock()
	total := int64(0)
	for _, s := range l.segs {
		total += s.size.Load()
	}
	n := 0
	for ; n < len(l.segs)-1; n++ { // never the active segment
		s := l.segs[n]
		byTime := l.cfg.RetentionMs >= 0 && now-s.largestTimestamp() > l.cfg.RetentionMs
		bySize := l.cfg.RetentionBytes >= 0 && total-s.size.Load() >= l.cfg.RetentionBytes
		if !byTime && !bySize {
			break
		}
		total -= s.size.Load()
	}
	var newStart int64
	if n > 0 {
		newStart = l.segs[n].base
	}
	l.segMu.RUnlock()
	if n == 0 {
		return 0, nil
	}
	return n, l.advanceStartLocked(newStart)
}

// DeleteRecordsBefore moves the log start offset up to offset (the
// DeleteRecords API) and deletes segments that fall wholly below it.
// offset may not pass the high watermark. It returns the new log start.
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	if l.shut.Load() {
		return l.logStart.Load(), ErrClosed
	}
	if err := l.Err(); err != nil {
		return l.logStart.Load(), err
	}
	if offset > l.hw.Load() || offset < 0 {
		return l.logStart.Load(), fmt.Errorf("delete records before %d, high watermark %d: %w", offset, l.hw.Load(), ErrOffsetOutOfRange)
	}
	if offset <= l.logStart.Load() {
		return l.logStart.Load(), nil
	}
	return offset, l.advanceStartLocked(offset)
}

// advanceStartLocked checkpoints the new log start, then deletes segments
// whose successor starts at or below it. Called with maintMu held.
func (l *Log) advanceStartLocked(start int64) error {
	if start <= l.logStart.Load() {
		return nil
	}
	l.logStart.Store(start)
	if l.hw.Load() < start {
		l.hw.Store(start)
	}
	if l.cleanerPoint.Load() < start {
		l.cleanerPoint.Store(start)
	}
	// The checkpoint goes first so a crash mid-deletion cannot resurrect
	// records below the new start.
	l.mu.Lock()
	err := l.writeCheckpoint()
	l.mu.Unlock()
	if err != nil {
		return err
	}
	if err := l.epochs.truncateFromStart(start); err != nil {
		return err
	}
	l.trimAbortedBelow(start)
	l.segMu.Lock()
	var doomed []*segment
	for len(l.segs) > 1 && l.segs[1].base <= start {
		doomed = append(doomed, l.segs[0])
		l.segs = l.segs[1:]
	}
	first := l.segs[0].base
	l.segMu.Unlock()
	for _, s := range doomed {
		if err := s.remove(); err != nil {
			return fmt.Errorf("delete segment %d: %w", s.base, l.fail(err))
		}
	}
	// Producers whose last batch is gone are forgotten, as a scan from the
	// new start would; snapshots of deleted segments go with them (one
	// left behind by a crash is deleted at the next Open).
	l.prod.trimBelow(start, l.OngoingTxns())
	if err := l.removeSnapshotsWhere(func(off int64) bool { return off < first }, false); err != nil {
		l.opts.logger.Warn("producer state snapshots of deleted segments not removed", "dir", l.dir, "err", err)
	}
	return nil
}
