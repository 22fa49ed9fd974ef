// Package topicconfig knows Kafka's rules for topic names and the topic-level
// configs Strata accepts, with their defaults and validation.
package topicconfig

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// MaxNameLength is Kafka's limit on topic names.
const MaxNameLength = 249

// ValidateName applies Kafka's topic naming rules.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("topic name is empty")
	case len(name) > MaxNameLength:
		return fmt.Errorf("topic name is %d characters, more than the limit of %d", len(name), MaxNameLength)
	case name == "." || name == "..":
		return fmt.Errorf("topic name cannot be %q", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic name %q has illegal character %q: use only ASCII letters, digits, '.', '_' and '-'", name, c)
		}
	}
	return nil
}

// Limits of the integer configs: what the storage node's log can apply.
// The controller refuses anything outside them, and the log's own
// Config.Validate checks the same numbers, so a config the controller
// accepts never fails on the replicas.
const (
	// MinSegmentBytes is Kafka's minimum: the smallest legal batch header.
	MinSegmentBytes = 14
	// MaxSegmentBytes: index entries hold uint32 positions.
	MaxSegmentBytes = math.MaxInt32
	// MinSegmentIndexBytes leaves room for four time index entries (12
	// bytes each): an active segment needs two free entries in each index.
	MinSegmentIndexBytes = 48
	// MaxSegmentIndexBytes bounds each preallocated (sparse, mmapped) index
	// of an active segment: 1 GiB holds an offset entry for every batch of
	// a 2 GiB segment of small batches.
	MaxSegmentIndexBytes = 1 << 30
	// MaxIndexIntervalBytes and MaxMessageBytes: sizes within one segment.
	MaxIndexIntervalBytes = math.MaxInt32
	MaxMessageBytes       = math.MaxInt32
	// MaxMinInsyncReplicas: replica counts are int32.
	MaxMinInsyncReplicas = math.MaxInt32
)

// Spec describes one topic config. Integer configs have Integer set and
// accept exactly [Min, Max].
type Spec struct {
	Name    string
	Default string
	Doc     string
	// Type is Kafka's ConfigType name of the config: BOOLEAN, STRING, INT,
	// LONG, DOUBLE or LIST (DescribeConfigs v3+ reports it).
	Type    string
	Integer bool
	Min     int64
	Max     int64
	check   func(string) error
}

// Validate checks a value for this config; the error does not repeat the
// config's name.
func (s Spec) Validate(v string) error {
	if s.Integer {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer in [%d, %d]", v, s.Min, s.Max)
		}
		return s.ValidateInt(n)
	}
	return s.check(v)
}

// ValidateInt checks the value of an integer config.
func (s Spec) ValidateInt(n int64) error {
	if !s.Integer {
		return fmt.Errorf("not an integer config")
	}
	if n < s.Min || n > s.Max {
		return fmt.Errorf("%d is outside [%d, %d]", n, s.Min, s.Max)
	}
	return nil
}

// CheckInt checks the value of the integer config name; the error names
// the config and its range. The log engine validates its settings with it.
func CheckInt(name string, n int64) error {
	s, ok := byName[name]
	if !ok {
		return fmt.Errorf("unknown config %q", name)
	}
	if err := s.ValidateInt(n); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// Check checks the value of config name; the error names the config.
func Check(name, v string) error {
	s, ok := byName[name]
	if !ok {
		return fmt.Errorf("unknown config %q", name)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// integer is an INT config (a 32-bit value in Kafka) when max fits 32
// bits, else a LONG.
func integer(name, def, doc string, min, max int64) Spec {
	typ := "LONG"
	if max <= math.MaxInt32 {
		typ = "INT"
	}
	return Spec{Name: name, Default: def, Doc: doc, Type: typ, Integer: true, Min: min, Max: max}
}

func other(name, def, doc, typ string, check func(string) error) Spec {
	return Spec{Name: name, Default: def, Doc: doc, Type: typ, check: check}
}

func ratio(v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f >= 0 && f <= 1) {
		return fmt.Errorf("%q is not a number in [0, 1]", v)
	}
	return nil
}

func oneOf(allowed ...string) func(string) error {
	return func(v string) error {
		for _, a := range allowed {
			if v == a {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
	}
}

func boolean(v string) error { return oneOf("true", "false")(v) }

func compressionType(v string) error {
	if v == "producer" {
		return nil
	}
	return fmt.Errorf("%q is not supported: broker-side recompression is not supported, batches are stored as the producer compressed them (use producer)", v)
}

func cleanupPolicy(v string) error {
	parts := strings.Split(v, ",")
	seen := map[string]bool{}
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p != "delete" && p != "compact" || seen[p] {
			return fmt.Errorf("%q is not delete, compact or compact,delete", v)
		}
		seen[p] = true
	}
	return nil
}

const maxLong = math.MaxInt64

// specs lists every topic config Strata accepts, with Kafka's defaults.
var specs = []Spec{
	other("cleanup.policy", "delete", "delete old segments, compact to the latest value per key, or both", "LIST", cleanupPolicy),
	other("compression.type", "producer", "codec of stored batches: only producer (keep what the producer sent); broker-side recompression is not supported", "STRING", compressionType),
	integer("delete.retention.ms", "86400000", "how long tombstones stay in a compacted topic", 0, maxLong),
	integer("flush.messages", "9223372036854775807", "fsync after this many messages (default: leave it to the OS; replication gives durability)", 1, maxLong),
	integer("flush.ms", "9223372036854775807", "fsync after this many milliseconds (default: leave it to the OS)", 0, maxLong),
	integer("index.interval.bytes", "4096", "bytes of log between offset index entries", 0, MaxIndexIntervalBytes),
	integer("max.compaction.lag.ms", "9223372036854775807", "longest a record stays uncompacted: past it the log is compacted whatever its dirty ratio", 1, maxLong),
	integer("max.message.bytes", "1048588", "largest record batch accepted", 0, MaxMessageBytes),
	integer("message.timestamp.after.max.ms", "9223372036854775807", "with CreateTime, refuse (INVALID_TIMESTAMP) a record timestamped more than this far after the broker's clock", 0, maxLong),
	integer("message.timestamp.before.max.ms", "9223372036854775807", "with CreateTime, refuse (INVALID_TIMESTAMP) a record timestamped more than this far before the broker's clock", 0, maxLong),
	other("message.timestamp.type", "CreateTime", "CreateTime keeps the producer's timestamps, LogAppendTime sets the broker's", "STRING", oneOf("CreateTime", "LogAppendTime")),
	other("min.cleanable.dirty.ratio", "0.5", "share of the log not yet compacted (bytes) that triggers compaction", "DOUBLE", ratio),
	integer("min.compaction.lag.ms", "0", "shortest time a record stays uncompacted", 0, maxLong),
	integer("min.insync.replicas", "1", "in-sync replicas required for acks=all produces", 1, MaxMinInsyncReplicas),
	integer("retention.bytes", "-1", "partition size beyond which old segments are deleted (-1: no limit)", -1, maxLong),
	integer("retention.ms", "604800000", "age beyond which old segments are deleted (-1: no limit)", -1, maxLong),
	integer("segment.bytes", "1073741824", "segment file size that triggers a roll", MinSegmentBytes, MaxSegmentBytes),
	integer("segment.index.bytes", "10485760", "maximum size of each of a segment's indexes (preallocated while the segment is active)", MinSegmentIndexBytes, MaxSegmentIndexBytes),
	integer("segment.ms", "604800000", "segment age that triggers a roll", 1, maxLong),
	other("unclean.leader.election.enable", "false", "allow an out-of-sync replica to become leader, losing data", "BOOLEAN", boolean),
}

var byName = func() map[string]Spec {
	m := make(map[string]Spec, len(specs))
	for _, s := range specs {
		m[s.Name] = s
	}
	return m
}()

// All returns every known config, sorted by name.
func All() []Spec { return specs }

// Lookup returns the spec of a config.
func Lookup(name string) (Spec, bool) {
	s, ok := byName[name]
	return s, ok
}

// Validate checks every key and value; the error names each bad one.
func Validate(configs map[string]string) error {
	keys := make([]string, 0, len(configs))
	for k := range configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var problems []string
	for _, k := range keys {
		s, ok := byName[k]
		if !ok {
			problems = append(problems, fmt.Sprintf("unknown config %q", k))
			continue
		}
		if err := s.Validate(configs[k]); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", k, err))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// Effective returns the value of name given the explicitly set configs.
func Effective(configs map[string]string, name string) string {
	if v, ok := configs[name]; ok {
		return v
	}
	return byName[name].Default
}
