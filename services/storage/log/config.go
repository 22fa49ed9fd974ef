package log

import (
	"fmt"
	"math"
	"strings"
)

// Cleanup policies (cleanup.policy).
const (
	PolicyDelete        = "delete"
	PolicyCompact       = "compact"
	PolicyCompactDelete = "compact,delete"
)

// Config holds the topic-level settings of one partition log. Names in
// comments are the Kafka topic configs they mirror.
//
// Durability: by default FlushMessages and FlushMs are unlimited, so the log
// never calls fsync on the append path and leaves write-back to the OS, as
// Kafka does. A write acknowledged with acks=all is durable because it sits in
// the page cache of several replicas on different machines; losing all of
// them at once needs a correlated power loss. Set FlushMessages to 1 to fsync
// every append when a single copy must survive power loss.
type Config struct {
	SegmentBytes         int64  // segment.bytes: roll the active segment past this size
	SegmentMs            int64  // segment.ms: roll when the active segment was created this long ago (creation = open or roll time)
	SegmentIndexBytes    int    // segment.index.bytes: max size of each index file
	IndexIntervalBytes   int    // index.interval.bytes: bytes between offset index entries
	MaxMessageBytes      int    // max.message.bytes: largest batch a producer may append
	RetentionMs          int64  // retention.ms: -1 keeps segments forever
	RetentionBytes       int64  // retention.bytes: -1 means no size limit
	CleanupPolicy        string // cleanup.policy: delete, compact or compact,delete
	DeleteRetentionMs    int64  // delete.retention.ms: how long tombstones survive compaction
	FlushMessages        int64  // flush.messages: fsync after this many records
	FlushMs              int64  // flush.ms: fsync when the last flush is this old
	MaxDecompressedBytes int    // cap on a decompressed batch when the log must look inside one
	CleanerKeyMapEntries int    // keys one compaction pass may track; more keys take several passes
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:         1 << 30,
		SegmentMs:            7 * 24 * 3600 * 1000,
		SegmentIndexBytes:    10 << 20,
		IndexIntervalBytes:   4096,
		MaxMessageBytes:      1048588,
		RetentionMs:          7 * 24 * 3600 * 1000,
		RetentionBytes:       -1,
		CleanupPolicy:        PolicyDelete,
		DeleteRetentionMs:    24 * 3600 * 1000,
		FlushMessages:        math.MaxInt64,
		FlushMs:              math.MaxInt64,
		MaxDecompressedBytes: 64 << 20,
		CleanerKeyMapEntries: 1 << 20,
	}
}

// Validate reports the first setting out of range.
func (c Config) Validate() error {
	switch {
	case c.SegmentBytes < 14 || c.SegmentBytes > math.MaxInt32:
		// Index positions are uint32, so a segment cannot pass 2 GiB.
		return fmt.Errorf("segment.bytes %d outside [14, 2^31-1]", c.SegmentBytes)
	case c.SegmentMs < 1:
		return fmt.Errorf("segment.ms %d below 1", c.SegmentMs)
	case c.SegmentIndexBytes < 4*timeEntrySize:
		return fmt.Errorf("segment.index.bytes %d below %d", c.SegmentIndexBytes, 4*timeEntrySize)
	case c.IndexIntervalBytes < 0:
		return fmt.Errorf("index.interval.bytes %d negative", c.IndexIntervalBytes)
	case c.MaxMessageBytes < 0:
		return fmt.Errorf("max.message.bytes %d negative", c.MaxMessageBytes)
	case c.RetentionMs < -1:
		return fmt.Errorf("retention.ms %d below -1", c.RetentionMs)
	case c.RetentionBytes < -1:
		return fmt.Errorf("retention.bytes %d below -1", c.RetentionBytes)
	case c.DeleteRetentionMs < 0:
		return fmt.Errorf("delete.retention.ms %d negative", c.DeleteRetentionMs)
	case c.FlushMessages < 1:
		return fmt.Errorf("flush.messages %d below 1", c.FlushMessages)
	case c.FlushMs < 0:
		return fmt.Errorf("flush.ms %d negative", c.FlushMs)
	case c.MaxDecompressedBytes < 1:
		return fmt.Errorf("max decompressed bytes %d below 1", c.MaxDecompressedBytes)
	case c.CleanerKeyMapEntries < 1:
		return fmt.Errorf("cleaner key map entries %d below 1", c.CleanerKeyMapEntries)
	}
	if _, _, err := parsePolicy(c.CleanupPolicy); err != nil {
		return err
	}
	return nil
}

func parsePolicy(p string) (compact, del bool, err error) {
	for _, part := range strings.Split(p, ",") {
		switch strings.TrimSpace(part) {
		case PolicyCompact:
			compact = true
		case PolicyDelete:
			del = true
		default:
			return false, false, fmt.Errorf("cleanup.policy %q: want delete, compact or compact,delete", p)
		}
	}
	return compact, del, nil
}
