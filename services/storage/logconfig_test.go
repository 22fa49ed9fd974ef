package storage

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/strata-io/strata/internal/topicconfig"
	"github.com/strata-io/strata/services/storage/log"
)

// Every value the controller accepts must open a working log: each integer
// config at its minimum and maximum, and each value of the others.
func TestLogAcceptsWhatTopicconfigAccepts(t *testing.T) {
	node := Config{FlushMessages: math.MaxInt64, FlushMs: math.MaxInt64}
	var cases []map[string]string
	for _, s := range topicconfig.All() {
		if s.Integer {
			for _, v := range []int64{s.Min, s.Max} {
				cases = append(cases, map[string]string{s.Name: strconv.FormatInt(v, 10)})
			}
		}
	}
	for k, vs := range map[string][]string{
		"cleanup.policy":            {"delete", "compact", "compact,delete"},
		"compression.type":          {"producer"},
		"message.timestamp.type":    {"CreateTime", "LogAppendTime"},
		"min.cleanable.dirty.ratio": {"0", "1"},
	} {
		for _, v := range vs {
			cases = append(cases, map[string]string{k: v})
		}
	}
	// A bound of 0 on one side of the broker's clock would refuse a
	// record stamped now once the millisecond ticks; stamp it on the side
	// the case leaves open.
	batch := func(cfg log.Config) []byte {
		ts := time.Now().UnixMilli()
		switch {
		case cfg.TimestampBeforeMaxMs == 0:
			ts += time.Hour.Milliseconds()
		case cfg.TimestampAfterMaxMs == 0:
			ts -= time.Hour.Milliseconds()
		}
		b, err := recordbatch.Build(recordbatch.ProducerOptions(0), []recordbatch.BuildRecord{
			{Key: []byte("k"), Value: []byte("v"), Timestamp: ts}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, topic := range cases {
		if err := topicconfig.Validate(topic); err != nil {
			t.Fatalf("%v: %v", topic, err)
		}
		cfg, err := logConfig(topic, node)
		if err != nil {
			t.Errorf("%v: logConfig: %v", topic, err)
			continue
		}
		l, err := log.Open(t.TempDir(), cfg)
		if err != nil {
			t.Errorf("%v: open: %v", topic, err)
			continue
		}
		for i := 0; i < 3; i++ {
			b := batch(cfg)
			if _, err := l.Append(b, 0); err != nil && !(cfg.MaxMessageBytes < len(b) && recordbatch.CodeOf(err) == recordbatch.CodeMessageTooLarge) {
				t.Errorf("%v: append: %v", topic, err)
			}
		}
		if _, err := l.Compact(); err != nil {
			t.Errorf("%v: compact: %v", topic, err)
		}
		if err := l.Close(); err != nil {
			t.Errorf("%v: close: %v", topic, err)
		}
	}
}

func TestLogConfigRefusesWhatTopicconfigRefuses(t *testing.T) {
	node := Config{FlushMessages: math.MaxInt64, FlushMs: math.MaxInt64}
	for k, v := range map[string]string{
		"segment.index.bytes": "9223372036854775807",
		"segment.bytes":       "4294967296",
		"retention.ms":        "-2",
	} {
		if _, err := logConfig(map[string]string{k: v}, node); err == nil {
			t.Errorf("%s=%s accepted", k, v)
		}
	}
	// A topic from before compression.type was limited to producer keeps
	// its other configs.
	if cfg, err := logConfig(map[string]string{"compression.type": "gzip", "cleanup.policy": "compact"}, node); err != nil || cfg.CleanupPolicy != "compact" {
		t.Errorf("old compression.type: %v %q", err, cfg.CleanupPolicy)
	}
	cfg, err := logConfig(map[string]string{"message.timestamp.type": "LogAppendTime", "min.compaction.lag.ms": "5",
		"max.compaction.lag.ms": "6", "min.cleanable.dirty.ratio": "0.25", "message.timestamp.after.max.ms": "7",
		"message.timestamp.before.max.ms": "8"}, node)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.LogAppendTime || cfg.MinCompactionLagMs != 5 || cfg.MaxCompactionLagMs != 6 || cfg.MinCleanableDirtyRatio != 0.25 ||
		cfg.TimestampAfterMaxMs != 7 || cfg.TimestampBeforeMaxMs != 8 {
		t.Errorf("%+v", cfg)
	}
}
