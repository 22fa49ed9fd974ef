package log

import (
	"fmt"
	"time"
)

// Flush fsyncs appended data (fdatasync on the active segment). Indexes are
// not synced: recovery rebuilds them from the log when needed.
func (l *Log) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.check(); err != nil {
		return err
	}
	return l.flushLocked(l.opts.now())
}

// MaybeFlush applies flush.ms for an idle log; the owner calls it on a timer.
func (l *Log) MaybeFlush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.check() != nil || l.unflushed == 0 {
		return nil
	}
	now := l.opts.now()
	if now.Sub(l.lastFlush).Milliseconds() < l.cfg.FlushMs {
		return nil
	}
	return l.flushLocked(now)
}

func (l *Log) flushLocked(now time.Time) error {
	// The recovery point below claims the rolled segments whose background
	// sync is still pending too: sync them first.
	if err := l.syncRolledLocked(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	// A failed fsync fails the log for good: the kernel may have dropped
	// the dirty pages, so a retry that succeeds proves nothing.
	if err := l.active.sync(); err != nil {
		return fmt.Errorf("flush: %w", l.fail(err))
	}
	l.unflushed = 0
	l.lastFlush = now
	l.recoveryPoint = l.leo.Load()
	return nil
}
