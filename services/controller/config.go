package controller

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/strata-io/strata/internal/config"
	"github.com/strata-io/strata/internal/limits"
	"github.com/strata-io/strata/internal/tlsconf"
	"github.com/strata-io/strata/internal/topicconfig"
	"github.com/strata-io/strata/services/controller/groups"
)

// Config is the controller role's configuration.
type Config struct {
	Name          string
	DataDir       string
	GRPCAddr      string
	AdvertiseAddr string
	HTTPAddr      string

	EtcdPeerAddr            string
	EtcdClientAddr          string
	EtcdAdvertisePeer       string
	EtcdInitialCluster      string
	EtcdInitialClusterState string
	EtcdLogLevel            string
	// EtcdQuotaBytes is the etcd backend quota: past it etcd raises a
	// NOSPACE alarm and refuses writes (etcdmaint.go recovers).
	EtcdQuotaBytes int64
	// EtcdAutoCompactionMode and EtcdAutoCompactionRetention are etcd's
	// auto-compaction: periodic with a duration, or revision with a count.
	EtcdAutoCompactionMode      string
	EtcdAutoCompactionRetention string
	// EtcdDefragInterval is how often at most the member is defragmented
	// (when half its file is free); 0 turns it off.
	EtcdDefragInterval time.Duration

	// MemberLeaseTTL is how long a storage node or gateway stays alive
	// without a heartbeat (Kafka's broker.session.timeout.ms is 9 s).
	MemberLeaseTTL time.Duration
	// ElectionTTL bounds how long a dead active controller keeps the role.
	ElectionTTL time.Duration
	// GroupInitialRebalanceDelay is Kafka's
	// group.initial.rebalance.delay.ms: how long the first rebalance of an
	// empty group waits for more members.
	GroupInitialRebalanceDelay time.Duration
	// ConsumerGroupSessionTimeout, ConsumerGroupHeartbeatInterval and
	// ConsumerGroupAssignors are Kafka's group.consumer.session.timeout.ms,
	// group.consumer.heartbeat.interval.ms and group.consumer.assignors
	// (the consumer protocol, KIP-848).
	ConsumerGroupSessionTimeout    time.Duration
	ConsumerGroupHeartbeatInterval time.Duration
	ConsumerGroupAssignors         []string
	// ConsumerGroupMigrationPolicy is Kafka's
	// group.consumer.migration.policy: bidirectional, upgrade, downgrade
	// or disabled.
	ConsumerGroupMigrationPolicy string
	// OffsetsRetention is Kafka's offsets.retention.minutes: a group Empty
	// this long is deleted with its offsets. GroupMaxSize is
	// group.max.size. Defaults in internal/limits.
	OffsetsRetention time.Duration
	GroupMaxSize     int
	// TransactionMaxTimeout is Kafka's transaction.max.timeout.ms: the
	// largest transaction.timeout.ms a transactional producer may ask for.
	TransactionMaxTimeout time.Duration
	// MaxPartitions caps the partitions of one topic.
	MaxPartitions int
	// LeaderImbalanceCheckInterval is how often the active controller
	// moves leadership back to preferred replicas (0: never).
	LeaderImbalanceCheckInterval time.Duration
	// DefaultTopicConfigs are stamped on new topics that do not set them
	// (like Kafka's broker-level topic defaults), e.g. min.insync.replicas=2.
	DefaultTopicConfigs []string

	// TLS serves the gRPC API (client certificates required), the HTTP
	// port and etcd's client and peer URLs, and is the client side of
	// calls to other controllers and storage nodes.
	TLS tlsconf.Config
}

// defaultEtcdQuotaBytes is the default --etcd-quota-bytes: 2 GiB, etcd's
// own default, made explicit.
const defaultEtcdQuotaBytes = 2 << 30

// etcdMaxQuotaBytes is the largest quota etcd recommends (8 GiB).
const etcdMaxQuotaBytes = 8 << 30

// DefaultMaxPartitions is the documented per-topic partition limit.
const DefaultMaxPartitions = 10000

// RegisterFlags binds the controller's flags to c with their defaults.
func (c *Config) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Name, "name", "controller-1", "controller name, unique in the cluster (also its etcd member name)")
	fs.StringVar(&c.DataDir, "data-dir", "./strata-data/controller", "directory for etcd's data")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", ":9190", "gRPC listen address (controller API, admin API, health)")
	fs.StringVar(&c.AdvertiseAddr, "advertise-addr", "", "gRPC address other roles dial (default: hostname and the grpc-addr port)")
	fs.StringVar(&c.HTTPAddr, "http-addr", ":8090", "HTTP listen address for /healthz, /readyz and /metrics")
	fs.StringVar(&c.EtcdPeerAddr, "etcd-peer-addr", "127.0.0.1:2380", "etcd peer listen address")
	fs.StringVar(&c.EtcdClientAddr, "etcd-client-addr", "127.0.0.1:2379", "etcd client listen address (for etcdctl; roles never use it)")
	fs.StringVar(&c.EtcdAdvertisePeer, "etcd-advertise-peer", "", "etcd peer URL other controllers dial (default: http:// + etcd-peer-addr)")
	fs.StringVar(&c.EtcdInitialCluster, "etcd-initial-cluster", "", "name=peerURL,... of every controller when forming a cluster (default: this one alone)")
	fs.StringVar(&c.EtcdInitialClusterState, "etcd-initial-cluster-state", "new", "new, or existing to join a running cluster")
	fs.StringVar(&c.EtcdLogLevel, "etcd-log-level", "warn", "log level of the embedded etcd")
	fs.Int64Var(&c.EtcdQuotaBytes, "etcd-quota-bytes", defaultEtcdQuotaBytes, "etcd backend quota; past it metadata writes fail until compaction and defragmentation free space")
	fs.StringVar(&c.EtcdAutoCompactionMode, "etcd-auto-compaction-mode", "periodic", "etcd auto-compaction: periodic (keep --etcd-auto-compaction-retention of history) or revision (keep that many revisions)")
	fs.StringVar(&c.EtcdAutoCompactionRetention, "etcd-auto-compaction-retention", "1h", "history etcd keeps: a duration (periodic) or a revision count (revision)")
	fs.DurationVar(&c.EtcdDefragInterval, "etcd-defrag-interval", time.Hour, "how often at most this controller defragments its etcd member, when half the db file is free; 0 turns it off")
	fs.DurationVar(&c.MemberLeaseTTL, "member-lease-ttl", 10*time.Second, "a storage node or gateway without a heartbeat for this long is dead")
	fs.DurationVar(&c.GroupInitialRebalanceDelay, "group-initial-rebalance-delay", 3*time.Second,
		"Kafka group.initial.rebalance.delay.ms: the first rebalance of an empty consumer group waits this long for more members")
	fs.DurationVar(&c.ConsumerGroupSessionTimeout, "consumer-group-session-timeout", 45*time.Second,
		"Kafka group.consumer.session.timeout.ms: a consumer-protocol (KIP-848) member without a heartbeat for this long is removed")
	fs.DurationVar(&c.ConsumerGroupHeartbeatInterval, "consumer-group-heartbeat-interval", 5*time.Second,
		"Kafka group.consumer.heartbeat.interval.ms: the heartbeat interval told to consumer-protocol members")
	fs.StringSliceVar(&c.ConsumerGroupAssignors, "consumer-group-assignors", []string{"uniform", "range"},
		"Kafka group.consumer.assignors: the server-side assignors consumer-protocol members may pick, the first the default (uniform, range)")
	fs.StringVar(&c.ConsumerGroupMigrationPolicy, "consumer-group-migration-policy", groups.MigrationBidirectional,
		"Kafka group.consumer.migration.policy: whether a classic group converts to a consumer group when a consumer-protocol member joins (upgrade), back when the last one leaves (downgrade), both (bidirectional) or neither (disabled)")
	fs.DurationVar(&c.OffsetsRetention, "offsets-retention", limits.OffsetsRetention,
		"Kafka offsets.retention.minutes: a consumer group without members or commits for this long is deleted with its offsets")
	fs.IntVar(&c.GroupMaxSize, "group-max-size", limits.MaxGroupMembers,
		"Kafka group.max.size: members (and pending joins) past this many are refused with GROUP_MAX_SIZE_REACHED")
	fs.DurationVar(&c.TransactionMaxTimeout, "transaction-max-timeout", 15*time.Minute,
		"Kafka transaction.max.timeout.ms: the longest transaction.timeout.ms a transactional producer may ask for")
	fs.DurationVar(&c.ElectionTTL, "election-ttl", 5*time.Second, "session TTL of the active controller; a standby takes over this long after it dies")
	fs.IntVar(&c.MaxPartitions, "max-partitions", DefaultMaxPartitions, "maximum partitions of one topic")
	fs.DurationVar(&c.LeaderImbalanceCheckInterval, "leader-imbalance-check-interval", 5*time.Minute,
		"how often leadership moves back to each partition's preferred (first) replica when it is alive and in sync; 0 turns it off")
	fs.StringSliceVar(&c.DefaultTopicConfigs, "default-topic-config", nil, "key=value set on new topics that do not set key (repeatable), e.g. min.insync.replicas=2")
	c.TLS.RegisterFlags(fs)
}

// defaultTopicConfigs parses DefaultTopicConfigs.
func (c *Config) defaultTopicConfigs() (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range c.DefaultTopicConfigs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not key=value", kv)
		}
		out[k] = v
	}
	return out, topicconfig.Validate(out)
}

// Validate checks every field and reports each bad one.
func (c *Config) Validate() error {
	var p config.Problems
	if c.Name == "" || strings.ContainsAny(c.Name, "/=, ") {
		p.Addf("name", "%q must be non-empty without '/', '=', ',' or spaces", c.Name)
	}
	if c.DataDir == "" {
		p.Addf("data-dir", "must not be empty")
	}
	p.Addr("grpc-addr", c.GRPCAddr)
	p.Addr("http-addr", c.HTTPAddr)
	p.Addr("etcd-peer-addr", c.EtcdPeerAddr)
	p.Addr("etcd-client-addr", c.EtcdClientAddr)
	if c.AdvertiseAddr != "" {
		p.Addr("advertise-addr", c.AdvertiseAddr)
	}
	if c.EtcdInitialClusterState != "new" && c.EtcdInitialClusterState != "existing" {
		p.Addf("etcd-initial-cluster-state", "%q is not new or existing", c.EtcdInitialClusterState)
	}
	// etcd's peers speak TLS exactly when this controller does.
	scheme := c.etcdScheme()
	for _, m := range splitList(c.EtcdInitialCluster) {
		if name, url, ok := strings.Cut(m, "="); !ok || name == "" || !strings.HasPrefix(url, scheme) {
			p.Addf("etcd-initial-cluster", "%q is not name=%shost:port", m, scheme)
		}
	}
	if c.EtcdAdvertisePeer != "" && !strings.HasPrefix(c.EtcdAdvertisePeer, scheme) {
		p.Addf("etcd-advertise-peer", "%q does not start with %s", c.EtcdAdvertisePeer, scheme)
	}
	switch c.EtcdLogLevel {
	case "debug", "info", "warn", "error":
	default:
		p.Addf("etcd-log-level", "%q is not debug, info, warn or error", c.EtcdLogLevel)
	}
	if c.EtcdQuotaBytes < 16<<20 || c.EtcdQuotaBytes > etcdMaxQuotaBytes {
		p.Addf("etcd-quota-bytes", "%d is not between 16 MiB and 8 GiB", c.EtcdQuotaBytes)
	}
	switch c.EtcdAutoCompactionMode {
	case "periodic":
		if d, err := time.ParseDuration(c.EtcdAutoCompactionRetention); err != nil || d < time.Second {
			p.Addf("etcd-auto-compaction-retention", "%q is not a duration of at least 1s (periodic mode)", c.EtcdAutoCompactionRetention)
		}
	case "revision":
		if n, err := strconv.ParseInt(c.EtcdAutoCompactionRetention, 10, 64); err != nil || n < 1 {
			p.Addf("etcd-auto-compaction-retention", "%q is not a positive revision count (revision mode)", c.EtcdAutoCompactionRetention)
		}
	default:
		p.Addf("etcd-auto-compaction-mode", "%q is not periodic or revision", c.EtcdAutoCompactionMode)
	}
	if c.EtcdDefragInterval < 0 {
		p.Addf("etcd-defrag-interval", "%s is negative", c.EtcdDefragInterval)
	}
	if c.MemberLeaseTTL < 2*time.Second {
		p.Addf("member-lease-ttl", "%s is shorter than 2s", c.MemberLeaseTTL)
	}
	if c.GroupInitialRebalanceDelay < 0 {
		p.Addf("group-initial-rebalance-delay", "is negative")
	}
	if c.ConsumerGroupSessionTimeout <= 0 {
		p.Addf("consumer-group-session-timeout", "%s is not positive", c.ConsumerGroupSessionTimeout)
	}
	if c.ConsumerGroupHeartbeatInterval <= 0 || c.ConsumerGroupHeartbeatInterval >= c.ConsumerGroupSessionTimeout {
		p.Addf("consumer-group-heartbeat-interval", "%s must be positive and below --consumer-group-session-timeout", c.ConsumerGroupHeartbeatInterval)
	}
	if len(c.ConsumerGroupAssignors) == 0 {
		p.Addf("consumer-group-assignors", "names no assignor (uniform, range)")
	}
	for _, a := range c.ConsumerGroupAssignors {
		if !groups.KnownAssignor(a) {
			p.Addf("consumer-group-assignors", "%q is not uniform or range", a)
		}
	}
	if !groups.KnownMigrationPolicy(c.ConsumerGroupMigrationPolicy) {
		p.Addf("consumer-group-migration-policy", "%q is not bidirectional, upgrade, downgrade or disabled", c.ConsumerGroupMigrationPolicy)
	}
	if c.OffsetsRetention < time.Minute {
		p.Addf("offsets-retention", "%s is shorter than 1m", c.OffsetsRetention)
	}
	if c.GroupMaxSize < 1 {
		p.Addf("group-max-size", "must be at least 1, got %d", c.GroupMaxSize)
	}
	if c.TransactionMaxTimeout < time.Second || c.TransactionMaxTimeout > 24*time.Hour {
		p.Addf("transaction-max-timeout", "%s is outside 1s to 24h", c.TransactionMaxTimeout)
	}
	if c.ElectionTTL < time.Second {
		p.Addf("election-ttl", "%s is shorter than 1s", c.ElectionTTL)
	}
	if c.MaxPartitions < 1 || c.MaxPartitions > DefaultMaxPartitionsCeiling {
		p.Addf("max-partitions", "%d is not between 1 and %d", c.MaxPartitions, DefaultMaxPartitionsCeiling)
	}
	if c.LeaderImbalanceCheckInterval < 0 {
		p.Addf("leader-imbalance-check-interval", "%s is negative", c.LeaderImbalanceCheckInterval)
	}
	if _, err := c.defaultTopicConfigs(); err != nil {
		p.Addf("default-topic-config", "%v", err)
	}
	c.TLS.Validate(&p)
	return p.Err()
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func (c *Config) etcdDir() string { return filepath.Join(c.DataDir, "etcd") }

func (c *Config) peerURL() string {
	if c.EtcdAdvertisePeer != "" {
		return c.EtcdAdvertisePeer
	}
	return c.etcdScheme() + c.EtcdPeerAddr
}

// etcdScheme is the scheme of etcd's URLs: https when TLS is on.
func (c *Config) etcdScheme() string {
	if c.TLS.Enabled() {
		return "https://"
	}
	return "http://"
}

func (c *Config) initialCluster() string {
	if c.EtcdInitialCluster != "" {
		return c.EtcdInitialCluster
	}
	return c.Name + "=" + c.peerURL()
}

func (c *Config) String() string { return fmt.Sprintf("controller %s", c.Name) }

// consumerGroups is the consumer-protocol configuration of the group
// coordinator.
func (c *Config) consumerGroups() groups.ConsumerConfig {
	cc := groups.DefaultConsumerConfig()
	cc.SessionTimeout, cc.HeartbeatInterval, cc.Assignors = c.ConsumerGroupSessionTimeout, c.ConsumerGroupHeartbeatInterval, c.ConsumerGroupAssignors
	cc.MigrationPolicy = c.ConsumerGroupMigrationPolicy
	return cc
}
