// Package gateway is the gateway role: the stateless front door. It
// registers with the controller, follows the cluster metadata, and serves
// the public gRPC API (admin calls forwarded to the controller) and HTTP
// health and metrics.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	adminv1 "github.com/strata-io/strata/gen/strata/admin/v1"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/config"
	"github.com/strata-io/strata/internal/httpserver"
	"github.com/strata-io/strata/internal/member"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/internal/rpc"
	"google.golang.org/grpc"
)

const registerTimeout = 60 * time.Second

// Gateway is a running gateway.
type Gateway struct {
	cfg           Config
	log           *slog.Logger
	ln            net.Listener
	advertiseGRPC string
	grpc          *rpc.Server
	http          *httpserver.Server
	conn          *grpc.ClientConn
	member        *member.Member
	cache         *metadata.Cache
	reg           *prometheus.Registry

	cancel context.CancelFunc
	wg     sync.WaitGroup
	fatal  chan error
}

// Start registers the gateway and starts serving.
func Start(cfg Config, log *slog.Logger) (_ *Gateway, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: log.With("role", "gateway"), cache: metadata.NewCache(), reg: httpserver.NewRegistry(), fatal: make(chan error, 1)}
	defer func() {
		if err != nil {
			g.Stop()
		}
	}()
	if g.conn, err = rpc.Dial(cfg.Controllers...); err != nil {
		return nil, err
	}
	if g.ln, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("grpc listen: %w", err)
	}
	g.advertiseGRPC = config.Advertise(cfg.AdvertiseGRPC, g.ln.Addr().String())
	g.grpc = rpc.NewServer(g.log, g.reg, forwardAdmin(g.conn))
	adminv1.RegisterAdminServiceServer(g.grpc.Server, adminv1.UnimplementedAdminServiceServer{})
	go func() { _ = g.grpc.Serve(g.ln) }()
	if g.http, err = httpserver.Start(cfg.HTTPAddr, g.reg, g.ready, nil); err != nil {
		return nil, err
	}

	client := controllerv1.NewControllerServiceClient(g.conn)
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	regCtx, regCancel := context.WithTimeout(ctx, registerTimeout)
	defer regCancel()
	kafka := config.Advertise(cfg.AdvertiseKafka, cfg.KafkaAddr)
	g.member, err = member.Register(regCtx, controllerv1.MemberKind_MEMBER_KIND_GATEWAY, client, cfg.GatewayID,
		func(ctx context.Context, id int32) (member.Registration, error) {
			resp, err := client.RegisterGateway(ctx, &controllerv1.RegisterGatewayRequest{
				GatewayId: id, KafkaAddress: kafka, GrpcAddress: g.advertiseGRPC, HttpAddress: g.http.Addr(),
			})
			if err != nil {
				return member.Registration{}, err
			}
			return member.Registration{ID: resp.GetGatewayId(), Epoch: resp.GetGatewayEpoch(), ClusterID: resp.GetClusterId(),
				Interval: time.Duration(resp.GetHeartbeatIntervalMs()) * time.Millisecond}, nil
		}, g.log)
	if err != nil {
		return nil, err
	}
	g.log = g.log.With("gateway_id", g.member.Registration().ID)
	g.wg.Add(2)
	go func() {
		defer g.wg.Done()
		if err := g.member.Run(ctx); err != nil {
			g.log.Error("gateway stops", "err", err)
			g.fatal <- err
		}
	}()
	go func() {
		defer g.wg.Done()
		metadata.Follow(ctx, client, g.cache, g.log)
	}()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.trackReadiness(ctx)
	}()
	g.log.Info("gateway started", "grpc", g.advertiseGRPC, "http", g.http.Addr())
	return g, nil
}

// trackReadiness mirrors ready() into the gRPC health service.
func (g *Gateway) trackReadiness(ctx context.Context) {
	for {
		g.grpc.SetReady(g.ready() == nil)
		select {
		case <-ctx.Done():
			return
		case <-g.cache.Changed():
		case <-time.After(time.Second):
		}
	}
}

func (g *Gateway) ready() error {
	if g.member == nil || !g.member.Alive() {
		return errors.New("not registered with a controller")
	}
	if !g.cache.Synced() {
		return errors.New("metadata not synced yet")
	}
	return nil
}

// Fatal delivers an error that should stop the process.
func (g *Gateway) Fatal() <-chan error { return g.fatal }

// GRPCAddr is the advertised gRPC address.
func (g *Gateway) GRPCAddr() string { return g.advertiseGRPC }

// HTTPAddr is the bound HTTP address.
func (g *Gateway) HTTPAddr() string { return g.http.Addr() }

// Stop stops serving: not ready first, then drain, then close.
func (g *Gateway) Stop() {
	if g.grpc != nil {
		g.grpc.SetReady(false)
	}
	if g.cancel != nil {
		g.cancel()
	}
	g.wg.Wait()
	if g.member != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := g.member.Unregister(ctx); err != nil {
			g.log.Debug("unregister failed; the lease will expire instead", "err", err)
		}
		cancel()
	}
	if g.http != nil {
		g.http.Stop(2 * time.Second)
	}
	if g.grpc != nil {
		g.grpc.Stop(5 * time.Second)
	} else if g.ln != nil {
		g.ln.Close()
	}
	if g.conn != nil {
		g.conn.Close()
	}
	g.log.Info("gateway stopped")
}
