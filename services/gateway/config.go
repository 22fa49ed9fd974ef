package gateway

import (
	"time"

	"github.com/spf13/pflag"
	"github.com/strata-io/strata/internal/acl"
	"github.com/strata-io/strata/internal/config"
	"github.com/strata-io/strata/internal/limits"
	"github.com/strata-io/strata/internal/quota"
	"github.com/strata-io/strata/internal/tlsconf"
	"github.com/strata-io/strata/services/gateway/kafka"
	"github.com/strata-io/strata/services/gateway/rest"
	"google.golang.org/grpc"
)

// Config is the gateway role's configuration.
type Config struct {
	GRPCAddr       string
	HTTPAddr       string
	KafkaAddr      string
	AdvertiseGRPC  string
	AdvertiseKafka string
	Controllers    []string
	GatewayID      int32

	// Kafka listener settings (see services/gateway/kafka).
	AutoCreateTopics         bool
	DefaultPartitions        int32
	DefaultReplicationFactor int32
	KafkaMaxRequestBytes     int32
	KafkaIdleTimeout         time.Duration
	MaxFetchSessions         int
	// QuotaWindowNum and QuotaWindowSizeSeconds are Kafka's
	// quota.window.num and quota.window.size.seconds.
	QuotaWindowNum         int
	QuotaWindowSizeSeconds int
	// MaxConnections, MaxConnectionsPerIP and QueuedMaxRequestBytes are
	// Kafka's max.connections, max.connections.per.ip and
	// queued.max.request.bytes (defaults in internal/limits).
	MaxConnections        int
	MaxConnectionsPerIP   int
	QueuedMaxRequestBytes int64
	// FetchReadAheadBytes bounds the Kafka fetches read ahead for
	// consumers with a backlog (0: none).
	FetchReadAheadBytes int64

	// Kafka listeners (listeners.go): Kafka's listeners,
	// advertised.listeners and listener.security.protocol.map.
	KafkaListeners          []string
	AdvertiseKafkaListeners []string
	KafkaListenerProtocols  []string
	// SASLMechanisms is sasl.enabled.mechanisms; KafkaMaxReauth is
	// connections.max.reauth.ms.
	SASLMechanisms []string
	KafkaMaxReauth time.Duration
	// AuthRequired refuses gRPC and REST calls without valid credentials.
	AuthRequired bool

	// RESTMaxBodyBytes bounds a REST request body (services/gateway/rest).
	RESTMaxBodyBytes int64

	// TLS serves the public gRPC API and the HTTP port (client
	// certificates as --tls-client-auth says), the Kafka listener with
	// KafkaTLS, and is the client side of calls to controllers and storage
	// nodes.
	TLS      tlsconf.Config
	KafkaTLS bool

	// Authorizer turns ACL enforcement on for Kafka, gRPC and REST: a
	// request no ACL allows is refused (Kafka's authorizer with
	// allow.everyone.if.no.acl.found=false). SuperUsers is Kafka's
	// super.users: principals separated by ';', allowed everything.
	Authorizer bool
	SuperUsers string

	// Hooks for authentication, never set from flags: KafkaPrincipal names
	// a Kafka connection's principal before SASL (Kafka's
	// principal.builder.class; nil: User:ANONYMOUS), and AuthnUnary and
	// AuthnStream put the principal of a gRPC call in its context
	// (auth.NewContext) before authorization runs.
	KafkaPrincipal kafka.PrincipalBuilder
	AuthnUnary     grpc.UnaryServerInterceptor
	AuthnStream    grpc.StreamServerInterceptor
}

// RegisterFlags binds the gateway's flags to c with their defaults.
func (c *Config) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.GRPCAddr, "grpc-addr", ":9191", "public gRPC API listen address (admin and data APIs, health, reflection)")
	fs.StringVar(&c.HTTPAddr, "http-addr", ":8080", "HTTP listen address for the REST API (/v1/, /openapi.json), /healthz, /readyz and /metrics")
	fs.StringVar(&c.KafkaAddr, "kafka-addr", ":9092", "Kafka protocol listen address")
	fs.StringVar(&c.AdvertiseGRPC, "advertise-grpc", "", "gRPC address clients dial (default: hostname and the grpc-addr port)")
	fs.StringVar(&c.AdvertiseKafka, "advertise-kafka", "", "Kafka address advertised to Kafka clients (default: hostname and the kafka-addr port)")
	fs.StringSliceVar(&c.Controllers, "controllers", []string{"localhost:9190"}, "controller gRPC addresses, comma-separated")
	fs.Int32Var(&c.GatewayID, "id", 0, "gateway id (0: the controller assigns one)")
	fs.Int64Var(&c.RESTMaxBodyBytes, "rest-max-body-bytes", rest.DefaultMaxBodyBytes, "the largest REST request body accepted; a larger one is answered 413")
	fs.StringSliceVar(&c.KafkaListeners, "kafka-listeners", nil,
		"Kafka listeners as Kafka's listeners, NAME://host:port comma-separated (e.g. 'PLAINTEXT://127.0.0.1:9092,SASL_SSL://:9093'); replaces --kafka-addr")
	fs.StringSliceVar(&c.AdvertiseKafkaListeners, "advertise-kafka-listeners", nil,
		"Kafka's advertised.listeners: NAME://host:port per listener (default: hostname and the listener's port)")
	fs.StringSliceVar(&c.KafkaListenerProtocols, "kafka-listener-security-protocol-map", nil,
		"Kafka's listener.security.protocol.map: NAME:PROTOCOL for listeners not named after their protocol (e.g. CLIENT:SASL_SSL)")
	fs.StringSliceVar(&c.SASLMechanisms, "sasl-enabled-mechanisms", kafka.DefaultSASLMechanisms,
		"Kafka sasl.enabled.mechanisms: SASL mechanisms of the SASL listeners (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)")
	fs.DurationVar(&c.KafkaMaxReauth, "connections-max-reauth", 0,
		"Kafka connections.max.reauth.ms: SASL sessions last this long, then the client re-authenticates or is disconnected (0: forever)")
	fs.BoolVar(&c.AuthRequired, "auth-required", false,
		"refuse gRPC and REST calls without valid credentials (HTTP Basic user and password, or a verified client certificate)")
	c.RegisterKafkaFlags(fs)
	c.TLS.RegisterFlags(fs)
	fs.BoolVar(&c.KafkaTLS, "kafka-tls", false, "serve the Kafka listener over TLS (Kafka's SSL security protocol) with the --tls-* block")
}

// RegisterKafkaFlags binds the Kafka listener's settings (the flags named
// after Kafka's broker settings), which `strata dev` takes too.
func (c *Config) RegisterKafkaFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&c.AutoCreateTopics, "auto-create-topics-enable", false,
		"Kafka auto.create.topics.enable: create a topic when a client asks for metadata of a missing one")
	fs.Int32Var(&c.DefaultPartitions, "num-partitions", 1, "Kafka num.partitions: partitions of auto-created topics and of CreateTopics with -1")
	fs.Int32Var(&c.DefaultReplicationFactor, "default-replication-factor", 0,
		"Kafka default.replication.factor for auto-created topics and CreateTopics with -1 (0: min(3, live storage nodes))")
	fs.Int32Var(&c.KafkaMaxRequestBytes, "kafka-max-request-bytes", 100<<20, "Kafka socket.request.max.bytes: the largest request frame accepted")
	fs.DurationVar(&c.KafkaIdleTimeout, "kafka-idle-timeout", 10*time.Minute, "Kafka connections.max.idle.ms: close connections idle this long")
	fs.IntVar(&c.MaxFetchSessions, "max-incremental-fetch-session-cache-slots", kafka.DefaultMaxFetchSessions,
		"Kafka max.incremental.fetch.session.cache.slots: fetch sessions this gateway keeps (0: every fetch is sessionless)")
	fs.IntVar(&c.QuotaWindowNum, "quota-window-num", quota.DefaultSamples,
		"Kafka quota.window.num: samples client quota rates are measured over")
	fs.IntVar(&c.QuotaWindowSizeSeconds, "quota-window-size-seconds", 1,
		"Kafka quota.window.size.seconds: the length of one client quota sample")
	fs.BoolVar(&c.Authorizer, "authorizer", false,
		"enforce Kafka ACLs on the Kafka, gRPC and REST APIs; a request no ACL allows is denied (see docs/security.md)")
	fs.StringVar(&c.SuperUsers, "super-users", "", "Kafka super.users: principals allowed everything, separated by ';' (e.g. 'User:admin;User:ops')")
	fs.IntVar(&c.MaxConnections, "max-connections", limits.MaxConnections,
		"Kafka max.connections: connections past this many are closed at accept")
	fs.IntVar(&c.MaxConnectionsPerIP, "max-connections-per-ip", limits.MaxConnectionsPerIP,
		"Kafka max.connections.per.ip: connections from one IP past this many are closed at accept")
	fs.Int64Var(&c.QueuedMaxRequestBytes, "queued-max-request-bytes", limits.QueuedMaxRequestBytes,
		"Kafka queued.max.request.bytes: request bytes held read and unanswered before reading pauses (at least kafka-max-request-bytes)")
	fs.Int64Var(&c.FetchReadAheadBytes, "fetch-read-ahead-bytes", limits.FetchReadAheadBytes,
		"bytes of Kafka fetches read ahead for consumers with a backlog, over all connections (0: no read-ahead)")
}

// CopyKafkaSettings sets c's Kafka listener settings to from's.
func (c *Config) CopyKafkaSettings(from Config) {
	c.AutoCreateTopics, c.DefaultPartitions, c.DefaultReplicationFactor = from.AutoCreateTopics, from.DefaultPartitions, from.DefaultReplicationFactor
	c.KafkaMaxRequestBytes, c.KafkaIdleTimeout, c.MaxFetchSessions = from.KafkaMaxRequestBytes, from.KafkaIdleTimeout, from.MaxFetchSessions
	c.QuotaWindowNum, c.QuotaWindowSizeSeconds = from.QuotaWindowNum, from.QuotaWindowSizeSeconds
	c.Authorizer, c.SuperUsers = from.Authorizer, from.SuperUsers
	c.MaxConnections, c.MaxConnectionsPerIP, c.QueuedMaxRequestBytes = from.MaxConnections, from.MaxConnectionsPerIP, from.QueuedMaxRequestBytes
	c.FetchReadAheadBytes = from.FetchReadAheadBytes
}

// Validate checks every field and reports each bad one.
func (c *Config) Validate() error {
	var p config.Problems
	c.TLS.Validate(&p)
	if c.KafkaTLS && !c.TLS.Enabled() {
		p.Addf("kafka-tls", "needs --tls-cert, --tls-key and --tls-ca")
	}
	p.Addr("grpc-addr", c.GRPCAddr)
	p.Addr("http-addr", c.HTTPAddr)
	p.Addr("kafka-addr", c.KafkaAddr)
	if c.AdvertiseGRPC != "" {
		p.Addr("advertise-grpc", c.AdvertiseGRPC)
	}
	if c.AdvertiseKafka != "" {
		p.Addr("advertise-kafka", c.AdvertiseKafka)
	}
	p.Controllers(c.Controllers)
	if c.DefaultPartitions < 1 {
		p.Addf("num-partitions", "must be at least 1, got %d", c.DefaultPartitions)
	}
	if c.DefaultReplicationFactor < 0 {
		p.Addf("default-replication-factor", "%d is negative", c.DefaultReplicationFactor)
	}
	if c.KafkaMaxRequestBytes < 1024 {
		p.Addf("kafka-max-request-bytes", "must be at least 1024, got %d", c.KafkaMaxRequestBytes)
	}
	if c.RESTMaxBodyBytes < 1024 {
		p.Addf("rest-max-body-bytes", "must be at least 1024, got %d", c.RESTMaxBodyBytes)
	}
	if c.KafkaIdleTimeout <= 0 {
		p.Addf("kafka-idle-timeout", "must be positive")
	}
	if c.MaxConnections < 1 {
		p.Addf("max-connections", "must be at least 1, got %d", c.MaxConnections)
	}
	if c.MaxConnectionsPerIP < 1 {
		p.Addf("max-connections-per-ip", "must be at least 1, got %d", c.MaxConnectionsPerIP)
	}
	if c.QueuedMaxRequestBytes < int64(c.KafkaMaxRequestBytes) {
		p.Addf("queued-max-request-bytes", "must be at least kafka-max-request-bytes (%d), got %d", c.KafkaMaxRequestBytes, c.QueuedMaxRequestBytes)
	}
	if c.FetchReadAheadBytes < 0 {
		p.Addf("fetch-read-ahead-bytes", "%d is negative", c.FetchReadAheadBytes)
	}
	if c.MaxFetchSessions < 0 {
		p.Addf("max-incremental-fetch-session-cache-slots", "%d is negative", c.MaxFetchSessions)
	}
	if c.QuotaWindowNum < 2 || c.QuotaWindowNum > 1000 {
		p.Addf("quota-window-num", "must be between 2 and 1000, got %d", c.QuotaWindowNum)
	}
	if c.QuotaWindowSizeSeconds < 1 || c.QuotaWindowSizeSeconds > 3600 {
		p.Addf("quota-window-size-seconds", "must be between 1 and 3600, got %d", c.QuotaWindowSizeSeconds)
	}
	if specs, err := parseListeners(c.KafkaListeners, c.AdvertiseKafkaListeners, c.KafkaListenerProtocols); err != nil {
		p.Addf("kafka-listeners", "%v", err)
	} else {
		for _, l := range specs {
			if l.protocol.TLS() && !c.TLS.Enabled() {
				p.Addf("kafka-listeners", "listener %s (%s) needs the --tls-* block", l.name, l.protocol)
			}
		}
	}
	for _, m := range c.SASLMechanisms {
		if m != "PLAIN" && m != "SCRAM-SHA-256" && m != "SCRAM-SHA-512" {
			p.Addf("sasl-enabled-mechanisms", "unknown mechanism %q (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)", m)
		}
	}
	if c.KafkaMaxReauth < 0 {
		p.Addf("connections-max-reauth", "%v is negative", c.KafkaMaxReauth)
	}
	if _, err := acl.ParseSuperUsers(c.SuperUsers); err != nil {
		p.Addf("super-users", "%v", err)
	}
	if c.GatewayID < 0 {
		p.Addf("id", "%d is negative", c.GatewayID)
	}
	return p.Err()
}
