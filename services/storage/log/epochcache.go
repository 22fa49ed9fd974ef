package log

import (
	"fmt"
	"path/filepath"
	"sync"

	"github.com/strata-io/strata/internal/fsutil"
)

// epochCache maps leader epoch → first offset written in that epoch
// (Kafka KIP-101). Followers use EndOffsetForEpoch to find where their log
// diverges from a new leader's and truncate there.
type epochCache struct {
	mu      sync.Mutex
	fs      fsutil.FS
	dir     string
	entries []epochEntry
	// fail turns a persist error into the caller's error (the log fails).
	fail func(error) error
}

// latest returns the newest epoch, or -1 when none was assigned.
func (c *epochCache) latest() int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) == 0 {
		return -1
	}
	return c.entries[len(c.entries)-1].Epoch
}

// assign records that epoch starts at offset; older or equal epochs are
// ignored, as in Kafka.
func (c *epochCache) assign(epoch int32, offset int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.entries); n > 0 && epoch <= c.entries[n-1].Epoch {
		return nil
	}
	c.entries = append(c.entries, epochEntry{Epoch: epoch, StartOffset: offset})
	return c.persistLocked()
}

// truncateFromEnd drops epochs that start at or after offset (log truncated to offset).
func (c *epochCache) truncateFromEnd(offset int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.entries)
	for n > 0 && c.entries[n-1].StartOffset >= offset {
		n--
	}
	if n == len(c.entries) {
		return nil
	}
	c.entries = c.entries[:n]
	return c.persistLocked()
}

// truncateFromStart drops epochs wholly below offset (log start moved to
// offset), keeping the one in force at offset with its start moved up.
func (c *epochCache) truncateFromStart(offset int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := 0
	for i+1 < len(c.entries) && c.entries[i+1].StartOffset <= offset {
		i++
	}
	if i == 0 && (len(c.entries) == 0 || c.entries[0].StartOffset >= offset) {
		return nil
	}
	c.entries = append(c.entries[:0], c.entries[i:]...)
	if c.entries[0].StartOffset < offset {
		c.entries[0].StartOffset = offset
	}
	return c.persistLocked()
}

func (c *epochCache) clear() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = nil
	return c.persistLocked()
}

func (c *epochCache) snapshot() []epochEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]epochEntry(nil), c.entries...)
}

// endOffsetFor implements OffsetsForLeaderEpoch: the largest epoch ≤ the
// requested one and the offset where it ended (the next epoch's start, or
// leo for the latest epoch). Unknown epochs give (-1, -1).
func (c *epochCache) endOffsetFor(epoch int32, leo int64) (int32, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.entries) - 1; i >= 0; i-- {
		if c.entries[i].Epoch <= epoch {
			if i == len(c.entries)-1 {
				return c.entries[i].Epoch, leo
			}
			return c.entries[i].Epoch, c.entries[i+1].StartOffset
		}
	}
	return -1, -1
}

func (c *epochCache) persistLocked() error {
	if err := fsutil.WriteFileAtomicFS(c.fs, filepath.Join(c.dir, epochCheckpointFile), encodeEpochs(c.entries), 0o644); err != nil {
		err = fmt.Errorf("leader epoch checkpoint: %w", err)
		if c.fail != nil {
			err = c.fail(err)
		}
		return err
	}
	return nil
}
