package storage

import (
	"fmt"
	"math"
	"strconv"

	"github.com/strata-io/strata/internal/topicconfig"
	"github.com/strata-io/strata/services/storage/log"
)

// logConfig turns a topic's configs (explicit ones; defaults fill the rest)
// into the log engine's settings. The node's flush defaults apply where the
// topic sets no flush policy, like Kafka's log.flush.interval.* settings.
func logConfig(topic map[string]string, node Config) (log.Config, error) {
	cfg := log.DefaultConfig()
	get := func(name string) string { return topicconfig.Effective(topic, name) }
	var err error
	num := func(name string) int64 {
		v, perr := strconv.ParseInt(get(name), 10, 64)
		if perr != nil && err == nil {
			err = fmt.Errorf("topic config %s=%q: %w", name, get(name), perr)
		}
		return v
	}
	cfg.SegmentBytes = min(num("segment.bytes"), math.MaxInt32)
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
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}
