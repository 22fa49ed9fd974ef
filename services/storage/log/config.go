package log

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/strata-io/strata/internal/topicconfig"
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

	LogAppendTime          bool    // message.timestamp.type=LogAppendTime: the leader stamps each batch with its clock
	TimestampBeforeMaxMs   int64   // message.timestamp.before.max.ms: with CreateTime, oldest record timestamp accepted, relative to now
	TimestampAfterMaxMs    int64   // message.timestamp.after.max.ms: with CreateTime, newest record timestamp accepted, relative to now
	MinCompactionLagMs     int64   // min.compaction.lag.ms: segments holding a record younger than this are not compacted
	MaxCompactionLagMs     int64   // max.compaction.lag.ms: dirty data older than this is compacted whatever the dirty ratio
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio: compact once this share of the bytes is dirty
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

		TimestampBeforeMaxMs:   math.MaxInt64,
		TimestampAfterMaxMs:    math.MaxInt64,
		MinCompactionLagMs:     0,
		MaxCompactionLagMs:     math.MaxInt64,
		MinCleanableDirtyRatio: 0.5,
	}
}

// The time index needs room for the entries an active segment keeps free.
const _ = uint(topicconfig.MinSegmentIndexBytes - 4*timeEntrySize)

// Validate reports the first setting out of range. The topic-level
// settings are checked against the ranges of package topicconfig, the ones
// the controller enforces, so the two cannot disagree.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"segment.bytes", c.SegmentBytes},
		{"segment.ms", c.SegmentMs},
		{"segment.index.bytes", int64(c.SegmentIndexBytes)},
		{"index.interval.bytes", int64(c.IndexIntervalBytes)},
		{"max.message.bytes", int64(c.MaxMessageBytes)},
		{"retention.ms", c.RetentionMs},
		{"retention.bytes", c.RetentionBytes},
		{"delete.retention.ms", c.DeleteRetentionMs},
		{"flush.messages", c.FlushMessages},
		{"flush.ms", c.FlushMs},
		{"message.timestamp.before.max.ms", c.TimestampBeforeMaxMs},
		{"message.timestamp.after.max.ms", c.TimestampAfterMaxMs},
		{"min.compaction.lag.ms", c.MinCompactionLagMs},
		{"max.compaction.lag.ms", c.MaxCompactionLagMs},
	} {
		if err := topicconfig.CheckInt(f.name, f.v); err != nil {
			return err
		}
	}
	if err := topicconfig.Check("min.cleanable.dirty.ratio", strconv.FormatFloat(c.MinCleanableDirtyRatio, 'g', -1, 64)); err != nil {
		return err
	}
	switch {
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
