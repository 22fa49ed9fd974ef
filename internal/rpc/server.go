// Package rpc holds what every Strata gRPC server and client shares:
// interceptors (panic recovery, structured logging, Prometheus metrics), the
// standard health service, and dialing a list of addresses with failover.
package rpc

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/strata-io/strata/internal/limits"
)

// MaxMessageBytes bounds one gRPC message either way: Kafka's
// socket.request.max.bytes (100 MiB) plus room for framing
// (internal/limits).
const MaxMessageBytes = limits.GRPCMaxMessageBytes

// Server is a gRPC server with Strata's interceptors and a health service.
type Server struct {
	*grpc.Server
	Health *health.Server
}

// ServerOption adds to what NewServer sets up.
type ServerOption func(*serverOptions)

type serverOptions struct {
	creds    credentials.TransportCredentials
	unary    []grpc.UnaryServerInterceptor
	stream   []grpc.StreamServerInterceptor
	validate bool
	skip     []protoreflect.MessageType
	maxRecv  int
	streams  uint32
}

// WithMaxRecvBytes lowers the largest message the server accepts from
// MaxMessageBytes, for a role whose requests are all small.
func WithMaxRecvBytes(n int) ServerOption {
	return func(o *serverOptions) { o.maxRecv = n }
}

// WithMaxConcurrentStreams sets the streams one client connection may have
// open at once (default limits.GRPCInternalMaxConcurrentStreams).
func WithMaxConcurrentStreams(n uint32) ServerOption {
	return func(o *serverOptions) { o.streams = n }
}

// WithUnary adds unary interceptors, run after Strata's own.
func WithUnary(i ...grpc.UnaryServerInterceptor) ServerOption {
	return func(o *serverOptions) { o.unary = append(o.unary, i...) }
}

// WithStream adds stream interceptors, run after Strata's own.
func WithStream(i ...grpc.StreamServerInterceptor) ServerOption {
	return func(o *serverOptions) { o.stream = append(o.stream, i...) }
}

// WithCreds serves with transport credentials (TLS); nil is plaintext.
func WithCreds(c credentials.TransportCredentials) ServerOption {
	return func(o *serverOptions) { o.creds = c }
}

// WithValidation checks every request against the buf.validate rules of
// its .proto before the handler (and the WithUnary interceptors) run,
// except the messages named in skip, which their handlers check with
// Validate.
func WithValidation(skip ...protoreflect.MessageType) ServerOption {
	return func(o *serverOptions) { o.validate, o.skip = true, skip }
}

// NewServer builds a server that logs finished calls (at debug for success,
// warn for server faults), counts them in reg, and turns panics into
// INTERNAL errors.
func NewServer(log *slog.Logger, reg prometheus.Registerer, opts ...ServerOption) *Server {
	o := serverOptions{maxRecv: MaxMessageBytes, streams: limits.GRPCInternalMaxConcurrentStreams}
	for _, opt := range opts {
		opt(&o)
	}
	metrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	reg.MustRegister(metrics)
	logger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		log.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithLevels(codeToLevel),
	}
	recoverOpt := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in gRPC handler", "panic", p, "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	})
	unary := []grpc.UnaryServerInterceptor{
		metrics.UnaryServerInterceptor(),
		logging.UnaryServerInterceptor(logger, logOpts...),
		recovery.UnaryServerInterceptor(recoverOpt),
	}
	stream := []grpc.StreamServerInterceptor{
		metrics.StreamServerInterceptor(),
		logging.StreamServerInterceptor(logger, logOpts...),
		recovery.StreamServerInterceptor(recoverOpt),
	}
	if o.validate {
		u, s := validationInterceptors(o.skip...)
		unary, stream = append(unary, u), append(stream, s)
	}
	sopts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(append(unary, o.unary...)...),
		grpc.ChainStreamInterceptor(append(stream, o.stream...)...),
		grpc.MaxRecvMsgSize(o.maxRecv),
		grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.MaxConcurrentStreams(o.streams),
		// A peer pinging more often than MinTime is disconnected; dead
		// peers are found by the server's own pings.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: limits.GRPCKeepaliveMinTime, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: limits.GRPCKeepaliveTime, Timeout: limits.GRPCKeepaliveTimeout}),
	}
	if o.creds != nil {
		sopts = append(sopts, grpc.Creds(o.creds))
	}
	srv := grpc.NewServer(sopts...)
	h := health.NewServer()
	h.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, h)
	metrics.InitializeMetrics(srv)
	return &Server{Server: srv, Health: h}
}

// SetReady flips the overall health status that `strata health` checks.
func (s *Server) SetReady(ready bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ready {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.Health.SetServingStatus("", st)
}

// Stop marks the server not serving, then drains in-flight calls for up to
// grace before closing every connection.
func (s *Server) Stop(grace time.Duration) {
	s.Health.Shutdown()
	done := make(chan struct{})
	go func() {
		s.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		s.Server.Stop()
	}
}

func codeToLevel(c codes.Code) logging.Level {
	switch c {
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unimplemented:
		return logging.LevelWarn
	default:
		return logging.LevelDebug
	}
}

// CheckHealth asks the gRPC health service at addr whether the role there is
// ready; nil means SERVING.
func CheckHealth(ctx context.Context, addr string) error { return CheckHealthCreds(ctx, nil, addr) }

// CheckHealthCreds is CheckHealth over the given credentials (nil: plaintext).
func CheckHealthCreds(ctx context.Context, creds credentials.TransportCredentials, addr string) error {
	conn, err := DialCreds(creds, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("health check %s: %w", addr, err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("health check %s: %s", addr, resp.GetStatus())
	}
	return nil
}
