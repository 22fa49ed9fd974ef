package log

import "fmt"

// A roll leaves the old segment's data fsync to a background worker, as
// Kafka schedules the flush of a rolled segment: with flush.messages and
// flush.ms unlimited a segment may hold its whole size in dirty pages, and
// writing them back under mu stalled every append to the partition for
// seconds. Until the fsync succeeds nothing in the segment is claimed
// durable: the recovery point stays below it and the producer state
// snapshot taken at the roll is held in memory.
//
// Rolled segments are synced oldest first, so the recovery point only ever
// moves past segments all of whose predecessors are synced. flushLocked
// and Close sync the pending ones themselves; truncation drops those it
// cuts into (their completion would claim data that is gone, or not
// synced); a segment closed meanwhile (retention, the cleaner's swap,
// truncation) needs no fsync, see segment.sync.

// rolledSync is a rolled segment whose data fsync is pending.
type rolledSync struct {
	seg    *segment
	end    int64  // the segment's next offset: the recovery point once synced
	snapAt int64  // offset of the producer state snapshot (the new segment's base)
	snap   []byte // that snapshot, encoded at the roll
}

// queueRolledLocked schedules the fsync of old, just rolled at base, and
// starts the worker if none runs. Called with mu held.
func (l *Log) queueRolledLocked(old *segment, base int64) {
	l.rolled = append(l.rolled, &rolledSync{
		seg: old, end: old.next.Load(), snapAt: base,
		// The state now covers every batch below base.
		snap: l.prod.encodeSnapshot(base),
	})
	if !l.syncing {
		l.syncing = true
		l.syncWG.Add(1)
		go l.syncRolled()
	}
}

// syncRolled is the worker: it syncs the queued segments, oldest first,
// without mu, and completes each under mu. It ends when the queue is
// empty or the log is closed or failed (Close syncs what is left).
func (l *Log) syncRolled() {
	defer l.syncWG.Done()
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.rolled) > 0 && l.check() == nil {
		r := l.rolled[0]
		l.mu.Unlock()
		err := r.seg.sync()
		l.mu.Lock()
		// The error, if any, has failed the log; nobody waits for it.
		_ = l.completeRolledLocked(r, err)
	}
	l.syncing = false
}

// syncRolledLocked syncs, here and now, every rolled segment still
// pending (one the worker is syncing waits for that fsync to end).
// Called with mu held.
func (l *Log) syncRolledLocked() error {
	for len(l.rolled) > 0 {
		r := l.rolled[0]
		if err := l.completeRolledLocked(r, r.seg.sync()); err != nil {
			return err
		}
	}
	return nil
}

// completeRolledLocked records the outcome of r's fsync: a failure fails
// the log for good; a success, unless r was completed already or dropped
// by a truncation, writes r's snapshot and moves the recovery point past
// r's segment. Called with mu held.
func (l *Log) completeRolledLocked(r *rolledSync, err error) error {
	if err != nil {
		return fmt.Errorf("roll: sync segment %d: %w", r.seg.base, l.fail(err))
	}
	if len(l.rolled) == 0 || l.rolled[0] != r {
		return nil
	}
	l.rolled[0] = nil
	l.rolled = l.rolled[1:]
	if err := l.check(); err != nil {
		return err
	}
	// Retention may have deleted the segments the snapshot describes.
	if r.snapAt >= l.logStart.Load() {
		l.writeSnapshotDataLocked(r.snapAt, r.snap)
	}
	l.recoveryPoint = max(l.recoveryPoint, r.end)
	return l.writeCheckpoint()
}

// dropRolledAfterLocked forgets pending syncs a truncation to newEnd cut
// into: their segment's data (or the batches their snapshot covers) is no
// longer all there, and whatever remains of it is re-validated by recovery
// or synced by the next flush or roll. Called with mu held.
func (l *Log) dropRolledAfterLocked(newEnd int64) {
	for i, r := range l.rolled {
		if r.snapAt > newEnd {
			clear(l.rolled[i:])
			l.rolled = l.rolled[:i]
			return
		}
	}
}
