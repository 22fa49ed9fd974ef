// Package controller is the controller role: it embeds an etcd member that
// holds all cluster metadata, takes part in the election of the one active
// controller, and serves the controller and admin gRPC APIs. Standbys serve
// reads and watches from their own etcd member and forward writes to the
// active controller.
package controller

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/config"
	"github.com/strata-io/strata/internal/httpserver"
	"github.com/strata-io/strata/internal/limits"
	"github.com/strata-io/strata/internal/peerauth"
	"github.com/strata-io/strata/internal/roles"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/internal/tlsconf"
	"github.com/strata-io/strata/services/controller/groups"
	"github.com/strata-io/strata/services/controller/mdstore"
	"github.com/strata-io/strata/services/controller/pid"
	"github.com/strata-io/strata/services/controller/txn"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// Controller is a running controller role.
type Controller struct {
	// Base holds the servers, background work and fatal error every
	// role shares; the controller has no membership or controller conn.
	roles.Base
	cfg       Config
	log       *slog.Logger
	etcd      *embed.Etcd
	cli       *clientv3.Client
	tls       *tlsconf.TLS // nil: plaintext
	reg       *prometheus.Registry
	clusterID string
	advertise string

	elector      *elector
	fwd          *forwarder
	metrics      *metrics
	shuttingDown shutdownSet
	store        *mdstore.Etcd
	groups       *groups.Coordinator
	pids         *pid.Allocator
	txns         *txn.Coordinator
	markers      *txnMarkers

	etcdClosing atomic.Bool
}

// Start starts etcd, the gRPC and HTTP servers, and the election.
func Start(cfg Config, log *slog.Logger) (_ *Controller, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log = log.With("role", "controller", "name", cfg.Name)
	c := &Controller{cfg: cfg, log: log, reg: httpserver.NewRegistry()}
	c.Log = log
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if c.tls, err = tlsconf.Load(cfg.TLS); err != nil {
		return nil, err
	}
	if c.Listener, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("grpc listen: %w", err)
	}
	c.advertise = config.Advertise(cfg.AdvertiseAddr, c.Listener.Addr().String())
	if c.etcd, c.cli, err = startEtcd(&cfg, log, &c.etcdClosing); err != nil {
		return nil, err
	}
	// An etcd member that fails (its disk, its listeners) ends the role:
	// without it the controller can neither serve nor hand over cleanly.
	c.Go(func(ctx context.Context) {
		select {
		case <-ctx.Done():
		case err, ok := <-c.etcd.Err():
			if ok && err != nil && !c.etcdClosing.Load() {
				c.log.Error("controller stops: embedded etcd failed", "err", err)
				c.Fail(fmt.Errorf("embedded etcd: %w", err))
			}
		}
	})
	ctx := c.Context()
	if c.clusterID, err = ensureClusterID(ctx, c.cli); err != nil {
		return nil, err
	}
	c.metrics = newMetrics(c.reg)
	c.elector = newElector(c.cli, cfg.Name, c.advertise, cfg.ElectionTTL, log, c.metrics)
	c.store = mdstore.NewEtcd(c.cli, cfg.Name, c.elector.fence)
	c.groups = groups.New(c.store, log, cfg.GroupInitialRebalanceDelay)
	c.groups.SetLimits(cfg.OffsetsRetention, cfg.GroupMaxSize, limits.MaxGroups)
	c.groups.SetConsumerConfig(cfg.consumerGroups())
	c.pids = pid.New(c.store)
	c.markers = &txnMarkers{c: c}
	c.txns = txn.New(txn.Config{Store: c.store, Log: log, PIDs: c.pids, Groups: c.groups, OffsetOp: groups.OffsetOp,
		Markers: c.markers, Topics: c.markers, MaxTimeout: cfg.TransactionMaxTimeout, MaxOffsetMetadata: groups.MaxOffsetMetadata})
	c.groups.SetPendingOffsets(c.txns.PendingOffsets)
	c.elector.onActive = c.whileActive(c.runActive, c.groups.Run, c.txns.Run)
	c.fwd = newForwarder(c.elector)
	c.fwd.conns.Creds, c.markers.conns.Creds = c.tls.ClientCreds(), c.tls.ClientCreds()
	opts := []rpc.ServerOption{rpc.WithUnary(c.fwd.intercept)}
	if c.tls != nil {
		// Who may call is decided before a standby forwards the call.
		opts = []rpc.ServerOption{rpc.WithCreds(c.tls.InternalServerCreds()),
			rpc.WithUnary(peerauth.Unary(authorize), c.fwd.intercept), rpc.WithStream(peerauth.Stream(authorize))}
	}
	opts = append(opts, rpc.WithMaxRecvBytes(limits.ControllerMaxRecvBytes))
	c.GRPC = rpc.NewServer(log, c.reg, opts...)
	adminv1.RegisterAdminServiceServer(c.GRPC.Server, &adminHandler{c: c})
	adminv1.RegisterAclServiceServer(c.GRPC.Server, &aclHandler{c: c})
	controllerv1.RegisterControllerServiceServer(c.GRPC.Server, &controllerHandler{c: c})
	users := &userHandler{c: c}
	adminv1.RegisterUserServiceServer(c.GRPC.Server, users)
	controllerv1.RegisterUserCredentialServiceServer(c.GRPC.Server, users)
	controllerv1.RegisterGroupCoordinatorServiceServer(c.GRPC.Server, &groupHandler{gc: c.groups, tc: c.txns, pids: c.pids})
	go func() { _ = c.GRPC.Serve(c.Listener) }()

	c.Go(c.elector.run)
	c.Go(c.maintainEtcd)
	if c.HTTP, err = httpserver.StartTLS(cfg.HTTPAddr, c.tls.Server(), c.reg, c.ready, nil); err != nil {
		return nil, err
	}
	tlsconf.WarnPlaintext(log, c.tls, map[string]string{"grpc": cfg.GRPCAddr, "http": cfg.HTTPAddr,
		"etcd-peer": cfg.EtcdPeerAddr, "etcd-client": cfg.EtcdClientAddr})
	c.GRPC.SetReady(true)
	log.Info("controller started", "grpc", c.advertise, "http", c.HTTP.Addr(), "cluster_id", c.clusterID)
	return c, nil
}

// whileActive runs every task of an active term concurrently until the
// term ends.
func (c *Controller) whileActive(tasks ...func(ctx context.Context)) func(ctx context.Context) {
	return func(ctx context.Context) {
		var wg sync.WaitGroup
		for _, task := range tasks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				task(ctx)
			}()
		}
		wg.Wait()
	}
}

// ready reports whether this controller can serve: its etcd member has a
// leader and some controller is active.
func (c *Controller) ready() error {
	if c.etcd.Server.Leader() == 0 {
		return fmt.Errorf("etcd has no leader")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := c.elector.active(ctx); err != nil {
		return err
	}
	return nil
}

// Addr is the gRPC address other roles dial.
func (c *Controller) Addr() string { return c.advertise }

// HTTPAddr is the bound HTTP address.
func (c *Controller) HTTPAddr() string { return c.HTTP.Addr() }

// IsActive reports whether this controller is the active one.
func (c *Controller) IsActive() bool { _, ok := c.elector.fence(); return ok }

// Stop hands off the active role, drains calls and stops etcd. The shared
// part (Base.Stop) cancels the background work first, which resigns the
// election, so a standby takes over at once.
func (c *Controller) Stop() {
	c.Base.Stop()
	if c.fwd != nil {
		c.fwd.close()
	}
	if c.markers != nil {
		c.markers.conns.Close()
	}
	if c.cli != nil {
		c.cli.Close()
	}
	if c.etcd != nil {
		c.etcdClosing.Store(true)
		c.etcd.Close()
	}
	c.log.Info("controller stopped")
}

// ensureClusterID returns the cluster id, creating it on first start.
func ensureClusterID(ctx context.Context, cli *clientv3.Client) (string, error) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := base64.RawURLEncoding.EncodeToString(b)
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(mdstore.ClusterIDKey), "=", 0)).
		Then(clientv3.OpPut(mdstore.ClusterIDKey, id)).
		Else(clientv3.OpGet(mdstore.ClusterIDKey)).
		Commit()
	if err != nil {
		return "", fmt.Errorf("cluster id: %w", err)
	}
	if resp.Succeeded {
		return id, nil
	}
	return string(resp.Responses[0].GetResponseRange().Kvs[0].Value), nil
}

// Fatal (of Base) fires when the embedded etcd member fails; a controller
// that only loses its election session rejoins the election instead.
