package strata

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Opt configures a [Client]; pass it to [NewClient]. Producer, consumer and
// reader options are different types ([ProducerOpt], [ConsumerOpt],
// [ReaderOpt]), so a misplaced option fails to compile.
type Opt interface{ applyClient(*clientConfig) }

type clientOpt func(*clientConfig)

func (o clientOpt) applyClient(c *clientConfig) { o(c) }

type clientConfig struct {
	creds       credentials.TransportCredentials
	perRPC      credentials.PerRPCCredentials
	logger      *slog.Logger
	backoff     func(attempt int) time.Duration
	retries     int
	hooks       []Hook
	dialOpts    []grpc.DialOption
	metadataAge time.Duration
	noWait      bool
}

func defaultClientConfig() clientConfig {
	return clientConfig{
		logger:      slog.New(slog.DiscardHandler),
		backoff:     ExponentialBackoff(100*time.Millisecond, 5*time.Second),
		retries:     10,
		metadataAge: time.Minute,
	}
}

// WithTLS dials the gateway over TLS with cfg (nil is the system roots and
// no client certificate). Without WithTLS or WithTransportCredentials the
// connection is plaintext, as `strata dev` serves it.
func WithTLS(cfg *tls.Config) Opt {
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return clientOpt(func(c *clientConfig) { c.creds = credentials.NewTLS(cfg) })
}

// WithTransportCredentials dials with any gRPC transport credentials.
func WithTransportCredentials(creds credentials.TransportCredentials) Opt {
	return clientOpt(func(c *clientConfig) { c.creds = creds })
}

// WithPerRPCCredentials attaches credentials (a bearer token, say) to every
// call. gRPC refuses to send credentials that require transport security
// over a plaintext connection.
func WithPerRPCCredentials(creds credentials.PerRPCCredentials) Opt {
	return clientOpt(func(c *clientConfig) { c.perRPC = creds })
}

// WithLogger logs through l: reconnects and retries at info and warn,
// details at debug. The default logs nothing.
func WithLogger(l *slog.Logger) Opt {
	return clientOpt(func(c *clientConfig) {
		if l != nil {
			c.logger = l
		}
	})
}

// WithRetryBackoff sets how long to wait before retry attempt n (1, 2, ...)
// of a retriable failure, for every call and for the producer's and
// consumer's reconnects. The default is ExponentialBackoff(100ms, 5s).
func WithRetryBackoff(backoff func(attempt int) time.Duration) Opt {
	return clientOpt(func(c *clientConfig) {
		if backoff != nil {
			c.backoff = backoff
		}
	})
}

// WithRetries sets how many times a unary call (admin, Fetch, ListOffsets)
// is retried after a retriable failure (default 10); the call's context
// bounds the retries too. 0 turns retries off. Streams (producer,
// consumer) reconnect until their own timeouts instead.
func WithRetries(n int) Opt {
	return clientOpt(func(c *clientConfig) { c.retries = max(n, 0) })
}

// WithHooks registers hooks: values implementing one or more of the
// Hook... interfaces ([HookCall], [HookProduceAck], [HookConsumeRecords],
// [HookReconnect], [HookProduceRecord]), called synchronously, so they
// must be quick.
func WithHooks(hooks ...Hook) Opt {
	return clientOpt(func(c *clientConfig) { c.hooks = append(c.hooks, hooks...) })
}

// WithDialOptions adds gRPC dial options (interceptors, a custom dialer,
// keepalive, ...), applied after the client's own.
func WithDialOptions(opts ...grpc.DialOption) Opt {
	return clientOpt(func(c *clientConfig) { c.dialOpts = append(c.dialOpts, opts...) })
}

// WithMetadataMaxAge sets how long the producer trusts a topic's partition
// count before looking it up again (default 1m). It is looked up at once
// after an UNKNOWN_TOPIC_OR_PARTITION error.
func WithMetadataMaxAge(d time.Duration) Opt {
	return clientOpt(func(c *clientConfig) {
		if d > 0 {
			c.metadataAge = d
		}
	})
}

// WithoutReadyWait makes [NewClient] return at once instead of waiting for
// the gateway to report SERVING.
func WithoutReadyWait() Opt {
	return clientOpt(func(c *clientConfig) { c.noWait = true })
}

// ExponentialBackoff returns a backoff that starts at base, doubles per
// attempt up to limit, and picks uniformly in [d/2, d] (jitter), so clients
// that failed together do not retry together.
func ExponentialBackoff(base, limit time.Duration) func(attempt int) time.Duration {
	return func(attempt int) time.Duration {
		d := base
		for i := 1; i < attempt && d < limit; i++ {
			d *= 2
		}
		d = min(d, limit)
		if d <= 1 {
			return d
		}
		half := d / 2
		return half + rand.N(half+1)
	}
}

// TLSConfigFromFiles is the TLS configuration for [WithTLS] from PEM files,
// as `strata certs` writes them: the gateway is verified against caFile
// (the system roots when empty), and certFile and keyFile, when given, are
// the client certificate for gateways that ask for one.
func TLSConfigFromFiles(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("strata: CA file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("strata: CA file %s holds no PEM certificate", caFile)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("strata: a client certificate needs both its certificate and its key file")
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("strata: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
