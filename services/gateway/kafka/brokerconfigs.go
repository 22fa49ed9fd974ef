package kafka

import (
	"slices"
	"strconv"
	"strings"

	"github.com/strata-io/strata/internal/limits"
	"github.com/strata-io/strata/internal/topicconfig"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerConfig is one Kafka broker config as DescribeConfigs reports it for
// a gateway. Every broker config is read-only in Strata: gateway settings
// are flags, and the log defaults are the topic-config defaults.
type brokerConfig struct {
	name   string
	value  string
	typ    kmsg.ConfigType
	source kmsg.ConfigSource
	doc    string
}

// Default values of storage-node and controller settings that Kafka
// clients know as broker configs. The gateway does not see the other roles'
// flags, so it reports these built-in defaults (DEFAULT_CONFIG).
const (
	defaultRetentionCheckMs    = 300000  // storage --retention-check-interval
	defaultReplicaLagTimeMaxMs = 30000   // storage --replica-lag-time-max
	defaultGroupInitialDelayMs = 3000    // controller --group-initial-rebalance-delay
	defaultConsumerHeartbeatMs = 5000    // controller --consumer-group-heartbeat-interval
	defaultConsumerSessionMs   = 45000   // controller --consumer-group-session-timeout
	groupMinSessionTimeoutMs   = 6000    // fixed (group.min.session.timeout.ms)
	groupMaxSessionTimeoutMs   = 1800000 // fixed (group.max.session.timeout.ms)
	defaultNumPartitions       = 1
)

// logDefaults maps Kafka's broker-level log.* names to the topic configs
// whose defaults they are.
var logDefaults = []struct{ broker, topic string }{
	{"log.cleanup.policy", "cleanup.policy"},
	{"log.cleaner.delete.retention.ms", "delete.retention.ms"},
	{"log.cleaner.max.compaction.lag.ms", "max.compaction.lag.ms"},
	{"log.cleaner.min.cleanable.ratio", "min.cleanable.dirty.ratio"},
	{"log.cleaner.min.compaction.lag.ms", "min.compaction.lag.ms"},
	{"log.flush.interval.messages", "flush.messages"},
	{"log.flush.interval.ms", "flush.ms"},
	{"log.index.interval.bytes", "index.interval.bytes"},
	{"log.index.size.max.bytes", "segment.index.bytes"},
	{"log.message.timestamp.after.max.ms", "message.timestamp.after.max.ms"},
	{"log.message.timestamp.before.max.ms", "message.timestamp.before.max.ms"},
	{"log.message.timestamp.type", "message.timestamp.type"},
	{"log.retention.bytes", "retention.bytes"},
	{"log.retention.ms", "retention.ms"},
	{"log.roll.ms", "segment.ms"},
	{"log.segment.bytes", "segment.bytes"},
	{"message.max.bytes", "max.message.bytes"},
	{"min.insync.replicas", "min.insync.replicas"},
	{"unclean.leader.election.enable", "unclean.leader.election.enable"},
	{"compression.type", "compression.type"},
}

// brokerConfigs lists this gateway's broker configs, sorted by name as
// Kafka answers them.
func (s *Server) brokerConfigs() []brokerConfig {
	src := func(def bool) kmsg.ConfigSource {
		if def {
			return kmsg.ConfigSourceDefaultConfig
		}
		return kmsg.ConfigSourceStaticBrokerConfig
	}
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }
	out := []brokerConfig{
		{"auto.create.topics.enable", strconv.FormatBool(s.cfg.AutoCreateTopics), kmsg.ConfigTypeBoolean, src(!s.cfg.AutoCreateTopics),
			"Create a topic when a client asks for metadata of, or produces to, a missing one (gateway --auto-create-topics-enable)."},
		{"broker.id", itoa(int64(s.d.NodeID)), kmsg.ConfigTypeInt, kmsg.ConfigSourceStaticBrokerConfig,
			"The id of this broker: the gateway's id, assigned by the controller."},
		{"connections.max.idle.ms", itoa(s.cfg.IdleTimeout.Milliseconds()), kmsg.ConfigTypeLong, src(s.cfg.IdleTimeout == DefaultIdleTimeout),
			"Idle connections are closed after this many milliseconds (gateway --kafka-idle-timeout)."},
		{"default.replication.factor", itoa(int64(s.defaultRF())), kmsg.ConfigTypeInt, src(s.cfg.DefaultReplicationFactor <= 0),
			"Replication factor of auto-created topics and of CreateTopics with -1 (gateway --default-replication-factor; by default the smaller of 3 and the live storage nodes)."},
		{"group.consumer.assignors", "uniform,range", kmsg.ConfigTypeList, kmsg.ConfigSourceDefaultConfig,
			"The server-side assignors of consumer-protocol (KIP-848) groups, the first the default (controller --consumer-group-assignors)."},
		{"group.consumer.heartbeat.interval.ms", itoa(defaultConsumerHeartbeatMs), kmsg.ConfigTypeInt, kmsg.ConfigSourceDefaultConfig,
			"The heartbeat interval told to consumer-protocol members (controller --consumer-group-heartbeat-interval)."},
		{"group.consumer.session.timeout.ms", itoa(defaultConsumerSessionMs), kmsg.ConfigTypeInt, kmsg.ConfigSourceDefaultConfig,
			"A consumer-protocol member without a heartbeat for this long is removed (controller --consumer-group-session-timeout)."},
		{"group.initial.rebalance.delay.ms", itoa(defaultGroupInitialDelayMs), kmsg.ConfigTypeInt, kmsg.ConfigSourceDefaultConfig,
			"How long the coordinator waits for more members before the first rebalance of an empty group (controller --group-initial-rebalance-delay)."},
		{"group.max.session.timeout.ms", itoa(groupMaxSessionTimeoutMs), kmsg.ConfigTypeInt, kmsg.ConfigSourceDefaultConfig,
			"The longest session timeout a group member may ask for."},
		{"group.min.session.timeout.ms", itoa(groupMinSessionTimeoutMs), kmsg.ConfigTypeInt, kmsg.ConfigSourceDefaultConfig,
			"The shortest session timeout a group member may ask for."},
		{"log.cleaner.backoff.ms", itoa(defaultRetentionCheckMs), kmsg.ConfigTypeLong, kmsg.ConfigSourceDefaultConfig,
			"How long compaction sleeps between passes: it runs with retention, every storage --retention-check-interval."},
		{"log.cleaner.enable", "true", kmsg.ConfigTypeBoolean, kmsg.ConfigSourceDefaultConfig,
			"Compaction runs for topics with cleanup.policy compact; it cannot be turned off."},
		{"log.retention.check.interval.ms", itoa(defaultRetentionCheckMs), kmsg.ConfigTypeLong, kmsg.ConfigSourceDefaultConfig,
			"How often storage nodes apply retention (storage --retention-check-interval)."},
		{"fetch.max.bytes", itoa(limits.FetchMaxBytes), kmsg.ConfigTypeInt, kmsg.ConfigSourceDefaultConfig,
			"The most a Fetch returns: its max_bytes and partition max_bytes are clamped to it."},
		{"max.connections", itoa(int64(s.cfg.MaxConnections)), kmsg.ConfigTypeInt, src(s.cfg.MaxConnections == limits.MaxConnections),
			"Connections past this many are closed at accept (gateway --max-connections)."},
		{"max.connections.per.ip", itoa(int64(s.cfg.MaxConnectionsPerIP)), kmsg.ConfigTypeInt, src(s.cfg.MaxConnectionsPerIP == limits.MaxConnectionsPerIP),
			"Connections from one IP past this many are closed at accept (gateway --max-connections-per-ip)."},
		{"queued.max.request.bytes", itoa(s.cfg.QueuedMaxRequestBytes), kmsg.ConfigTypeLong, src(s.cfg.QueuedMaxRequestBytes == limits.QueuedMaxRequestBytes),
			"Request bytes this gateway holds read and unanswered; past it, reading pauses (gateway --queued-max-request-bytes)."},
		{"num.partitions", itoa(int64(s.cfg.DefaultPartitions)), kmsg.ConfigTypeInt, src(s.cfg.DefaultPartitions == defaultNumPartitions),
			"Partitions of auto-created topics and of CreateTopics with -1 (gateway --num-partitions)."},
		{"replica.lag.time.max.ms", itoa(defaultReplicaLagTimeMaxMs), kmsg.ConfigTypeLong, kmsg.ConfigSourceDefaultConfig,
			"A follower that has not caught up for this long leaves the ISR (storage --replica-lag-time-max)."},
		{"socket.request.max.bytes", itoa(int64(s.cfg.MaxRequestBytes)), kmsg.ConfigTypeInt, src(s.cfg.MaxRequestBytes == DefaultMaxRequestBytes),
			"The largest request accepted (gateway --kafka-max-request-bytes)."},
	}
	for _, d := range logDefaults {
		spec, ok := topicconfig.Lookup(d.topic)
		if !ok {
			continue
		}
		out = append(out, brokerConfig{d.broker, spec.Default, configType(spec.Type), kmsg.ConfigSourceDefaultConfig,
			"The default of the topic config " + d.topic + ": " + spec.Doc + "."})
	}
	slices.SortFunc(out, func(a, b brokerConfig) int { return strings.Compare(a.name, b.name) })
	return out
}

// configType maps a topicconfig type name to Kafka's ConfigType.
func configType(name string) kmsg.ConfigType {
	t, err := kmsg.ParseConfigType(name)
	if err != nil {
		return kmsg.ConfigTypeUnknown
	}
	return t
}
