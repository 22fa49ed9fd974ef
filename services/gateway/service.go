// Package gateway is the gateway role: the stateless front door. It
// registers with the controller, follows the cluster metadata, and serves
// the public gRPC API (admin calls forwarded to the controller, the data
// plane of services/gateway/stream, server reflection), REST/JSON over the
// same API (services/gateway/rest), and HTTP health and metrics.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/acl"
	"github.com/strata-io/strata/internal/config"
	"github.com/strata-io/strata/internal/httpserver"
	"github.com/strata-io/strata/internal/limits"
	"github.com/strata-io/strata/internal/member"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/internal/quota"
	"github.com/strata-io/strata/internal/roles"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/internal/tlsconf"
	"github.com/strata-io/strata/services/gateway/authn"
	"github.com/strata-io/strata/services/gateway/groups"
	"github.com/strata-io/strata/services/gateway/kafka"
	"github.com/strata-io/strata/services/gateway/pids"
	"github.com/strata-io/strata/services/gateway/rest"
	"github.com/strata-io/strata/services/gateway/router"
	"github.com/strata-io/strata/services/gateway/stream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"
)

const registerTimeout = 60 * time.Second

// Gateway is a running gateway.
type Gateway struct {
	roles.Base
	cfg           Config
	advertiseGRPC string
	cache         *metadata.Cache
	tls           *tlsconf.TLS // nil: plaintext
	reg           *prometheus.Registry
	kafkaLns      []kafka.Listener
	users         *authn.Store
	kafka         *kafka.Server
	storage       rpc.Pool // connections to storage nodes, for Kafka and describe progress
	// router routes partition work to storage leaders, for the Kafka
	// listener and the public gRPC API alike.
	router *router.Router
	// pids allocates idempotent producer ids for Kafka and gRPC producers.
	pids *pids.Allocator
	// loopback reaches the gateway's own gRPC API, for REST.
	loopback *grpc.ClientConn
	// authorizer checks Kafka, gRPC and REST requests against the ACLs.
	authorizer *acl.Authorizer
}

// Start registers the gateway and starts serving.
func Start(cfg Config, log *slog.Logger) (_ *Gateway, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, cache: metadata.NewCache(), reg: httpserver.NewRegistry()}
	g.router = router.New(g.cache, router.Pool{Conns: &g.storage}, g.reg)
	g.Log = log.With("role", "gateway")
	defer func() {
		if err != nil {
			g.Stop()
		}
	}()
	if g.tls, err = tlsconf.Load(cfg.TLS); err != nil {
		return nil, err
	}
	g.storage.Creds = g.tls.ClientCreds()
	if g.Conn, err = rpc.DialCreds(g.tls.ClientCreds(), cfg.Controllers...); err != nil {
		return nil, err
	}
	g.users = authn.NewStore(controllerv1.NewUserCredentialServiceClient(g.Conn))
	g.router.SetCatchUp(newCatchUp(g.cache, adminv1.NewAdminServiceClient(g.Conn), g.Log).run)
	if g.Listener, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("grpc listen: %w", err)
	}
	g.advertiseGRPC = config.Advertise(cfg.AdvertiseGRPC, g.Listener.Addr().String())
	// Authentication (cfg.AuthnUnary/AuthnStream) names the principal,
	// then authorization checks it, before any handler or forwarding.
	supers, err := acl.ParseSuperUsers(cfg.SuperUsers)
	if err != nil {
		return nil, fmt.Errorf("--super-users: %w", err)
	}
	g.authorizer = acl.New(acl.Config{Enabled: cfg.Authorizer, SuperUsers: supers}, g.cache)
	au := &authorizer{a: g.authorizer, loopback: newLoopbackIdentity()}
	// The user store's authentication (Basic, client certificates) first;
	// the hooks may replace its principal.
	unary := []grpc.UnaryServerInterceptor{g.users.UnaryInterceptor(cfg.AuthRequired)}
	streamIcs := []grpc.StreamServerInterceptor{g.users.StreamInterceptor(cfg.AuthRequired)}
	if cfg.AuthnUnary != nil {
		unary = append(unary, cfg.AuthnUnary)
	}
	if cfg.AuthnStream != nil {
		streamIcs = append(streamIcs, cfg.AuthnStream)
	}
	unary = append(unary, au.unary, g.describeProgress, forwardAdmin(g.Conn, g.router))
	streamIcs = append(streamIcs, au.stream)
	// A bad ProduceStream batch is answered in its ack, not by ending the
	// session, so the handler checks those itself.
	g.GRPC = rpc.NewServer(g.Log, g.reg, rpc.WithCreds(g.tls.ServerCreds()), rpc.WithMaxConcurrentStreams(limits.GRPCMaxConcurrentStreams),
		rpc.WithValidation((&streamv1.ProduceStreamRequest{}).ProtoReflect().Type()),
		rpc.WithUnary(unary...), rpc.WithStream(streamIcs...))
	adminv1.RegisterAdminServiceServer(g.GRPC.Server, adminv1.UnimplementedAdminServiceServer{})
	adminv1.RegisterAclServiceServer(g.GRPC.Server, adminv1.UnimplementedAclServiceServer{})
	adminv1.RegisterUserServiceServer(g.GRPC.Server, adminv1.UnimplementedUserServiceServer{})
	g.pids = pids.New(controllerv1.NewGroupCoordinatorServiceClient(g.Conn))
	streamv1.RegisterStreamServiceServer(g.GRPC.Server, stream.New(g.cache, g.router, g.pids, controllerv1.NewGroupCoordinatorServiceClient(g.Conn)))
	streamv1.RegisterGroupServiceServer(g.GRPC.Server, groups.New(controllerv1.NewGroupCoordinatorServiceClient(g.Conn), g.router, g.cache))
	reflection.Register(g.GRPC.Server) // grpcurl and GUI clients work without the .proto files
	go func() { _ = g.GRPC.Serve(g.Listener) }()
	// REST calls the gRPC API above over loopback, so its requests are
	// validated, bounded and counted as gRPC ones are.
	if g.loopback, err = rpc.DialCreds(g.tls.ClientCreds(), loopbackAddr(g.Listener.Addr())); err != nil {
		return nil, err
	}
	api, err := rest.New(rest.Config{Conn: restConn{g.loopback, au.loopback}, Partitions: g.partitions, MaxBodyBytes: cfg.RESTMaxBodyBytes})
	if err != nil {
		return nil, err
	}
	restMux := http.NewServeMux()
	api.Register(restMux)
	mux := http.NewServeMux()
	mux.Handle("/v1/", restHosts(restMux))
	mux.Handle("GET /openapi.json", restMux)
	if g.HTTP, err = httpserver.StartTLS(cfg.HTTPAddr, g.tls.Server(), g.reg, g.ready, mux); err != nil {
		return nil, err
	}

	client := controllerv1.NewControllerServiceClient(g.Conn)
	regCtx, regCancel := context.WithTimeout(g.Context(), registerTimeout)
	defer regCancel()
	kafkaAddr, listeners, err := g.listenKafka()
	if err != nil {
		return nil, err
	}
	g.Member, err = member.Register(regCtx, controllerv1.MemberKind_MEMBER_KIND_GATEWAY, client, cfg.GatewayID,
		func(ctx context.Context, id int32) (member.Registration, error) {
			resp, err := client.RegisterGateway(ctx, &controllerv1.RegisterGatewayRequest{
				GatewayId: id, KafkaAddress: kafkaAddr, GrpcAddress: g.advertiseGRPC, HttpAddress: g.HTTP.Addr(), KafkaListeners: listeners,
			})
			if err != nil {
				return member.Registration{}, err
			}
			return member.Registration{ID: resp.GetGatewayId(), Epoch: resp.GetGatewayEpoch(), ClusterID: resp.GetClusterId(),
				Interval: time.Duration(resp.GetHeartbeatIntervalMs()) * time.Millisecond}, nil
		}, g.Log)
	if err != nil {
		return nil, err
	}
	g.Log = g.Log.With("gateway_id", g.Member.Registration().ID)
	g.Go(func(ctx context.Context) {
		if err := g.Member.Run(ctx); err != nil {
			g.Log.Error("gateway stops", "err", err)
			g.Fail(err)
		}
	})
	g.Go(func(ctx context.Context) { metadata.Follow(ctx, client, g.cache, g.Log) })
	g.Go(g.trackReadiness)
	reg := g.Member.Registration()
	g.kafka = kafka.NewServer(nil, kafka.Config{
		MaxRequestBytes:          cfg.KafkaMaxRequestBytes,
		IdleTimeout:              cfg.KafkaIdleTimeout,
		AutoCreateTopics:         cfg.AutoCreateTopics,
		DefaultPartitions:        cfg.DefaultPartitions,
		DefaultReplicationFactor: cfg.DefaultReplicationFactor,
		MaxFetchSessions:         cfg.MaxFetchSessions,
		QuotaWindowSamples:       cfg.QuotaWindowNum,
		QuotaWindow:              time.Duration(cfg.QuotaWindowSizeSeconds) * time.Second,
		MaxConnections:           cfg.MaxConnections,
		MaxConnectionsPerIP:      cfg.MaxConnectionsPerIP,
		QueuedMaxRequestBytes:    cfg.QueuedMaxRequestBytes,
		FetchReadAheadBytes:      cfg.FetchReadAheadBytes,
		SASLMechanisms:           cfg.SASLMechanisms,
		MaxReauth:                cfg.KafkaMaxReauth,
	}, kafka.Deps{
		Cache:      g.cache,
		Admin:      adminv1.NewAdminServiceClient(g.Conn),
		Groups:     controllerv1.NewGroupCoordinatorServiceClient(g.Conn),
		NodeID:     reg.ID,
		Advertise:  kafkaAddr,
		ClusterID:  reg.ClusterID,
		Log:        g.Log,
		Storage:    &g.storage,
		Router:     g.router,
		PIDs:       g.pids,
		ACLs:       adminv1.NewAclServiceClient(g.Conn),
		Authorizer: g.authorizer,
		Principal:  cfg.KafkaPrincipal,
		Users:      g.users,
		UserAdmin:  adminv1.NewUserServiceClient(g.Conn),
		Listeners:  g.kafkaLns,
	})
	g.registerFetchSessionMetrics()
	g.registerQuotaMetrics()
	g.registerLimitMetrics()
	g.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_gateway_kafka_connections",
		Help: "Open Kafka connections, on every listener."}, func() float64 { return float64(g.kafka.ConnCount()) }))
	go g.kafka.Serve()
	g.Log.Info("gateway started", "grpc", g.advertiseGRPC, "http", g.HTTP.Addr(), "kafka", kafkaAddr)
	return g, nil
}

// registerFetchSessionMetrics exports the Kafka fetch session cache (Kafka's
// NumIncrementalFetchSessions, NumIncrementalFetchPartitionsCached and
// IncrementalFetchSessionEvictionsPerSec).
func (g *Gateway) registerFetchSessionMetrics() {
	stat := func(i int) func() float64 {
		return func() float64 {
			n, p, e := g.kafka.FetchSessionStats()
			return float64([]int{n, p, e}[i])
		}
	}
	g.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_gateway_kafka_fetch_sessions",
			Help: "Kafka incremental fetch sessions this gateway holds."}, stat(0)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_gateway_kafka_fetch_session_partitions",
			Help: "Partitions cached by this gateway's Kafka fetch sessions."}, stat(1)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "strata_gateway_kafka_fetch_session_evictions_total",
			Help: "Kafka fetch sessions evicted to make room for new ones."}, stat(2)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "strata_gateway_kafka_fetch_read_aheads_used_total",
			Help: "Kafka fetches answered from the fetch read ahead for their consumer."},
			func() float64 { n, _ := g.kafka.ReadAheadStats(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "strata_gateway_kafka_fetch_read_aheads_dropped_total",
			Help: "Kafka fetch read-aheads dropped unused: the next fetch asked for other offsets, or the connection closed."},
			func() float64 { _, n := g.kafka.ReadAheadStats(); return float64(n) }),
	)
}

// registerQuotaMetrics exports the Kafka listener's client quota throttles
// per quota key (Kafka's per-quota-type throttle-time metrics).
func (g *Gateway) registerQuotaMetrics() {
	for _, key := range []string{quota.ProducerByteRate, quota.ConsumerByteRate, quota.RequestRate} {
		stat := func(i int, scale float64) func() float64 {
			return func() float64 { return float64(g.kafka.ThrottleStats()[key][i]) * scale }
		}
		labels := prometheus.Labels{"quota": key}
		g.reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "strata_gateway_kafka_throttled_responses_total", ConstLabels: labels,
				Help: "Kafka responses this gateway throttled for a client quota, by the quota that set the throttle."}, stat(0, 1)),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "strata_gateway_kafka_throttle_seconds_total", ConstLabels: labels,
				Help: "Time Kafka clients were throttled for a client quota, by the quota that set the throttle."}, stat(1, 0.001)),
		)
	}
}

// registerLimitMetrics exports the Kafka listener's limits at work.
func (g *Gateway) registerLimitMetrics() {
	g.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "strata_gateway_kafka_connections_rejected_total",
			Help: "Kafka connections closed at accept for max.connections or max.connections.per.ip."},
			func() float64 { n, _ := g.kafka.LimitStats(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "strata_gateway_kafka_reads_paused_total",
			Help: "Kafka requests whose reading waited for room in queued.max.request.bytes."},
			func() float64 { _, n := g.kafka.LimitStats(); return float64(n) }),
	)
}

// loopbackAddr is where this process reaches a listener of its own: the
// loopback address for one bound to every interface.
func loopbackAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		_, port, _ := net.SplitHostPort(a.String())
		return net.JoinHostPort("127.0.0.1", port)
	}
	return tcp.String()
}

// partitions is the partition count of a topic the metadata knows.
func (g *Gateway) partitions(topic string) (int32, bool) {
	t, ok := g.cache.Topic(topic)
	return t.GetPartitionCount(), ok
}

// trackReadiness mirrors ready() into the gRPC health service.
func (g *Gateway) trackReadiness(ctx context.Context) {
	for {
		g.GRPC.SetReady(g.ready() == nil)
		select {
		case <-ctx.Done():
			return
		case <-g.cache.Changed():
		case <-time.After(time.Second):
		}
	}
}

func (g *Gateway) ready() error {
	if g.Member == nil || !g.Member.Alive() {
		return errors.New("not registered with a controller")
	}
	if !g.cache.Synced() {
		return errors.New("metadata not synced yet")
	}
	return nil
}

// listenKafka binds the Kafka listeners: --kafka-listeners, or the one
// listener at --kafka-addr (PLAINTEXT, or SSL with --kafka-tls). TLS
// listeners serve the --tls-* block. It warns once about listeners beyond
// loopback without TLS, and returns the address registered as the
// gateway's Kafka address (the first listener's) and every listener's
// advertised address by name.
func (g *Gateway) listenKafka() (string, map[string]string, error) {
	specs, err := parseListeners(g.cfg.KafkaListeners, g.cfg.AdvertiseKafkaListeners, g.cfg.KafkaListenerProtocols)
	if err != nil {
		return "", nil, err
	}
	if len(specs) == 0 {
		sp := listenerSpec{name: kafka.DefaultListener, protocol: kafka.Plaintext, addr: g.cfg.KafkaAddr, advertise: g.cfg.AdvertiseKafka}
		if g.cfg.KafkaTLS {
			sp.name, sp.protocol = string(kafka.SSL), kafka.SSL
		}
		specs = []listenerSpec{sp}
	}
	plaintext := map[string]string{}
	byName := map[string]string{}
	for _, sp := range specs {
		ln, err := net.Listen("tcp", sp.addr)
		if err != nil {
			return "", nil, fmt.Errorf("kafka listen %s: %w", sp.name, err)
		}
		l := kafka.Listener{Name: sp.name, Protocol: sp.protocol, Ln: ln, Advertise: config.Advertise(sp.advertise, ln.Addr().String())}
		if sp.protocol.TLS() {
			l.TLS = g.tls.Server()
		} else {
			plaintext["kafka-"+sp.name] = sp.addr
		}
		g.kafkaLns = append(g.kafkaLns, l)
		byName[sp.name] = l.Advertise
	}
	if g.tls == nil {
		plaintext["grpc"], plaintext["http"] = g.cfg.GRPCAddr, g.cfg.HTTPAddr
	}
	tlsconf.WarnPlaintext(g.Log, nil, plaintext)
	return g.kafkaLns[0].Advertise, byName, nil
}

// KafkaAddrs is every Kafka listener's advertised address by name.
func (g *Gateway) KafkaAddrs() map[string]string {
	out := map[string]string{}
	for _, l := range g.kafkaLns {
		out[l.Name] = l.Advertise
	}
	return out
}

// KafkaConns is the number of open Kafka connections.
func (g *Gateway) KafkaConns() int { return g.kafka.ConnCount() }

// GRPCAddr is the advertised gRPC address.
func (g *Gateway) GRPCAddr() string { return g.advertiseGRPC }

// HTTPAddr is the bound HTTP address.
func (g *Gateway) HTTPAddr() string { return g.HTTP.Addr() }

// Stop stops serving: not ready first, then drain, then close.
func (g *Gateway) Stop() {
	if g.GRPC != nil {
		g.GRPC.SetReady(false)
	}
	if g.kafka != nil {
		g.kafka.Shutdown(5 * time.Second)
	} else {
		for _, l := range g.kafkaLns {
			l.Ln.Close()
		}
	}
	g.Base.Stop()
	if g.loopback != nil {
		g.loopback.Close()
	}
	g.storage.Close()
	g.Log.Info("gateway stopped")
}
