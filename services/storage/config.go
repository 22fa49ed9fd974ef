package storage

import (
	"math"
	"time"

	"github.com/spf13/pflag"
	"github.com/strata-io/strata/internal/config"
	"github.com/strata-io/strata/internal/limits"
	"github.com/strata-io/strata/internal/tlsconf"
)

// Config is the storage role's configuration.
type Config struct {
	DataDir       string
	GRPCAddr      string
	AdvertiseAddr string
	HTTPAddr      string
	Controllers   []string
	Rack          string

	// FlushMessages and FlushMs are the node's flush policy for topics that
	// set none (Kafka's log.flush.interval.messages and .ms). The default
	// leaves flushing to the OS, as Kafka does: replication, not fsync,
	// makes an acknowledged write survive a machine loss.
	FlushMessages int64
	FlushMs       int64
	// RetentionCheckInterval is how often retention and compaction run.
	RetentionCheckInterval time.Duration
	// ReplicaLagTimeMax is how long a follower may go without catching up
	// before its leader drops it from the ISR (replica.lag.time.max.ms).
	ReplicaLagTimeMax time.Duration
	// ProducerIDExpiration is Kafka's producer.id.expiration.ms: a
	// producer that wrote nothing to a partition for this long is
	// forgotten there (checked every retention-check-interval).
	ProducerIDExpiration time.Duration
	// DiskFreeWarnBytes is the free space of the data dir's file system
	// below which the node logs a warning and describe marks it.
	DiskFreeWarnBytes uint64

	// TLS serves the gRPC API (client certificates required) and the HTTP
	// port, and is the client side of calls to controllers and leaders.
	// Its certificate names this node's id (strata://storage/N).
	TLS tlsconf.Config
}

// defaultDiskFreeWarnBytes is the default --disk-free-warn-bytes: 1 GiB.
const defaultDiskFreeWarnBytes = 1 << 30

// RegisterFlags binds the storage role's flags to c with their defaults.
func (c *Config) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", "./strata-data/storage", "directory for partition data and the node id")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", ":9290", "gRPC listen address (storage API, replication, health)")
	fs.StringVar(&c.AdvertiseAddr, "advertise-addr", "", "gRPC address other roles dial (default: hostname and the grpc-addr port)")
	fs.StringVar(&c.HTTPAddr, "http-addr", ":8091", "HTTP listen address for /healthz, /readyz and /metrics")
	fs.StringSliceVar(&c.Controllers, "controllers", []string{"localhost:9190"}, "controller gRPC addresses, comma-separated")
	fs.StringVar(&c.Rack, "rack", "", "rack or zone of this node; replicas of a partition spread over racks")
	fs.Int64Var(&c.FlushMessages, "log-flush-messages", math.MaxInt64, "fsync a partition after this many messages, for topics without flush.messages (default: leave it to the OS)")
	fs.Int64Var(&c.FlushMs, "log-flush-ms", math.MaxInt64, "fsync a partition after this many ms, for topics without flush.ms (default: leave it to the OS)")
	fs.DurationVar(&c.RetentionCheckInterval, "retention-check-interval", 5*time.Minute, "how often retention and compaction run")
	fs.DurationVar(&c.ReplicaLagTimeMax, "replica-lag-time-max", 30*time.Second, "a follower not caught up for this long leaves the ISR (Kafka's replica.lag.time.max.ms)")
	fs.DurationVar(&c.ProducerIDExpiration, "producer-id-expiration", limits.ProducerIDExpiration,
		"Kafka producer.id.expiration.ms: a producer idle this long on a partition is forgotten there (its next batch may start at any sequence)")
	fs.Uint64Var(&c.DiskFreeWarnBytes, "disk-free-warn-bytes", defaultDiskFreeWarnBytes, "warn (log, metrics, cluster describe) when the data dir's file system has fewer free bytes than this")
	c.TLS.RegisterFlags(fs)
}

// Validate checks every field and reports each bad one.
func (c *Config) Validate() error {
	var p config.Problems
	c.TLS.Validate(&p)
	if c.DataDir == "" {
		p.Addf("data-dir", "must not be empty")
	}
	p.Addr("grpc-addr", c.GRPCAddr)
	p.Addr("http-addr", c.HTTPAddr)
	if c.AdvertiseAddr != "" {
		p.Addr("advertise-addr", c.AdvertiseAddr)
	}
	p.Controllers(c.Controllers)
	if c.FlushMessages < 1 {
		p.Addf("log-flush-messages", "%d is less than 1", c.FlushMessages)
	}
	if c.FlushMs < 0 {
		p.Addf("log-flush-ms", "%d is negative", c.FlushMs)
	}
	if c.RetentionCheckInterval < 100*time.Millisecond {
		p.Addf("retention-check-interval", "%s is shorter than 100ms", c.RetentionCheckInterval)
	}
	if c.ProducerIDExpiration < time.Second {
		p.Addf("producer-id-expiration", "%s is shorter than 1s", c.ProducerIDExpiration)
	}
	if c.ReplicaLagTimeMax < 100*time.Millisecond {
		p.Addf("replica-lag-time-max", "%s is shorter than 100ms", c.ReplicaLagTimeMax)
	}
	if len(c.Rack) > 64 {
		p.Addf("rack", "longer than 64 bytes")
	}
	return p.Err()
}
