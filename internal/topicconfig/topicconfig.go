// Package topicconfig knows Kafka's rules for topic names and the topic-level
// configs Strata accepts, with their defaults and validation.
package topicconfig

import (
	"fmt"
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

// Spec describes one topic config.
type Spec struct {
	Name    string
	Default string
	Doc     string
	check   func(string) error
}

// Validate checks a value for this config.
func (s Spec) Validate(v string) error { return s.check(v) }

func intAtLeast(min int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		if n < min {
			return fmt.Errorf("%d is less than %d", n, min)
		}
		return nil
	}
}

func ratio(v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		return fmt.Errorf("%q is not a number between 0 and 1", v)
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

// specs lists every topic config Strata accepts, with Kafka's defaults.
var specs = []Spec{
	{"cleanup.policy", "delete", "delete old segments, compact to the latest value per key, or both", cleanupPolicy},
	{"compression.type", "producer", "codec of stored batches; producer keeps what the producer sent", oneOf("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd")},
	{"delete.retention.ms", "86400000", "how long tombstones stay in a compacted topic", intAtLeast(0)},
	{"flush.messages", "9223372036854775807", "fsync after this many messages (default: leave it to the OS; replication gives durability)", intAtLeast(1)},
	{"flush.ms", "9223372036854775807", "fsync after this many milliseconds (default: leave it to the OS)", intAtLeast(0)},
	{"index.interval.bytes", "4096", "bytes of log between offset index entries", intAtLeast(0)},
	{"max.compaction.lag.ms", "9223372036854775807", "longest a record stays uncompacted", intAtLeast(1)},
	{"max.message.bytes", "1048588", "largest record batch accepted", intAtLeast(0)},
	{"message.timestamp.type", "CreateTime", "CreateTime keeps the producer's timestamps, LogAppendTime sets the broker's", oneOf("CreateTime", "LogAppendTime")},
	{"min.cleanable.dirty.ratio", "0.5", "share of uncleaned log that triggers compaction", ratio},
	{"min.compaction.lag.ms", "0", "shortest time a record stays uncompacted", intAtLeast(0)},
	{"min.insync.replicas", "1", "in-sync replicas required for acks=all produces", intAtLeast(1)},
	{"retention.bytes", "-1", "partition size beyond which old segments are deleted (-1: no limit)", intAtLeast(-1)},
	{"retention.ms", "604800000", "age beyond which old segments are deleted (-1: no limit)", intAtLeast(-1)},
	{"segment.bytes", "1073741824", "segment file size that triggers a roll", intAtLeast(14)},
	{"segment.index.bytes", "10485760", "maximum size of a segment's offset index", intAtLeast(8)},
	{"segment.ms", "604800000", "segment age that triggers a roll", intAtLeast(1)},
	{"unclean.leader.election.enable", "false", "allow an out-of-sync replica to become leader, losing data", boolean},
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
		if err := s.check(configs[k]); err != nil {
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
