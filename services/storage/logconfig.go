package storage

import (
	"fmt"
	"maps"
	"strconv"

	"github.com/strata-io/strata/internal/topicconfig"
	"github.com/strata-io/strata/services/storage/log"
)

// logConfig turns a topic's configs (explicit ones; defaults fill the rest)
// into the log engine's settings. The configs are validated by the same
// rules the controller applies (package topicconfig) before conversion, so
// every value the controller accepts converts. The node's flush defaults
// apply where the topic sets no flush policy, like Kafka's
// log.flush.interval.* settings.
func logConfig(topic map[string]string, node Config) (log.Config, error) {
	cfg := log.DefaultConfig()
	// compression.type does not reach the log (batches are always stored as
	// produced); topics created before only producer was accepted may hold
	// another value, which must not cost them their other configs.
	if _, ok := topic["compression.type"]; ok {
		topic = maps.Clone(topic)
		delete(topic, "compression.type")
	}
	if err := topicconfig.Validate(topic); err != nil {
		return cfg, fmt.Errorf("topic configs: %w", err)
	}
	get := func(name string) string { return topicconfig.Effective(topic, name) }
	num := func(name string) int64 {
		v, _ := strconv.ParseInt(get(name), 10, 64) // validated above
		return v
	}
	cfg.SegmentBytes = num("segment.bytes")
	cfg.SegmentMs = num("segment.ms")
	cfg.SegmentIndexBytes = int(num("segment.index.bytes"))
	cfg.IndexIntervalBytes = int(num("index.interval.bytes"))
	cfg.MaxMessageBytes = int(num("max.message.bytes"))
	cfg.RetentionMs = num("retention.ms")
	cfg.RetentionBytes = num("retention.bytes")
	cfg.CleanupPolicy = get("cleanup.policy")
	cfg.DeleteRetentionMs = num("delete.retention.ms")
	cfg.FlushMessages = node.FlushMessages
	if _, ok := topic["flush.messages"]; ok {
		cfg.FlushMessages = num("flush.messages")
	}
	cfg.FlushMs = node.FlushMs
	if _, ok := topic["flush.ms"]; ok {
		cfg.FlushMs = num("flush.ms")
	}
	cfg.LogAppendTime = get("message.timestamp.type") == "LogAppendTime"
	cfg.TimestampBeforeMaxMs = num("message.timestamp.before.max.ms")
	cfg.TimestampAfterMaxMs = num("message.timestamp.after.max.ms")
	cfg.MinCompactionLagMs = num("min.compaction.lag.ms")
	cfg.MaxCompactionLagMs = num("max.compaction.lag.ms")
	cfg.MinCleanableDirtyRatio, _ = strconv.ParseFloat(get("min.cleanable.dirty.ratio"), 64)
	return cfg, cfg.Validate()
}
