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
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/services/controller/groups"
	"github.com/strata-io/strata/services/controller/mdstore"
	"github.com/strata-io/strata/services/controller/pid"
	"github.com/strata-io/strata/services/controller/txn"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// Controller is a running controller role.
type Controller struct {
	cfg       Config
	log       *slog.Logger
	etcd      *embed.Etcd
	cli       *clientv3.Client
	grpc      *rpc.Server
	http      *httpserver.Server
	ln        net.Listener
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

	ctx         context.Context // ends when the controller stops
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	etcdClosing atomic.Bool
}

// Start starts etcd, the gRPC and HTTP servers, and the election.
func Start(cfg Config, log *slog.Logger) (_ *Controller, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log = log.With("role", "controller", "name", cfg.Name)
	c := &Controller{cfg: cfg, log: log, reg: httpserver.NewRegistry()}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if c.ln, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("grpc listen: %w", err)
	}
	c.advertise = config.Advertise(cfg.AdvertiseAddr, c.ln.Addr().String())
	if c.etcd, c.cli, err = startEtcd(&cfg, log, &c.etcdClosing); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.ctx, c.cancel = ctx, cancel
	if c.clusterID, err = ensureClusterID(ctx, c.cli); err != nil {
		return nil, err
	}
	c.metrics = newMetrics(c.reg)
	c.elector = newElector(c.cli, cfg.Name, c.advertise, cfg.ElectionTTL, log, c.metrics)
	c.store = mdstore.NewEtcd(c.cli, cfg.Name, c.elector.fence)
	c.groups = groups.New(c.store, log, cfg.GroupInitialRebalanceDelay)
	c.groups.SetConsumerConfig(cfg.consumerGroups())
	c.pids = pid.New(c.store)
	c.markers = &txnMarkers{c: c}
	c.txns = txn.New(txn.Config{Store: c.store, Log: log, PIDs: c.pids, Groups: c.groups, OffsetOp: groups.OffsetOp,
		Markers: c.markers, Topics: c.markers, MaxTimeout: cfg.TransactionMaxTimeout, MaxOffsetMetadata: groups.MaxOffsetMetadata})
	c.groups.SetPendingOffsets(c.txns.PendingOffsets)
	c.elector.onActive = c.whileActive(c.runActive, c.groups.Run, c.txns.Run)
	c.fwd = newForwarder(c.elector)
	c.grpc = rpc.NewServer(log, c.reg, rpc.WithUnary(c.fwd.intercept))
	adminv1.RegisterAdminServiceServer(c.grpc.Server, &adminHandler{c: c})
	controllerv1.RegisterControllerServiceServer(c.grpc.Server, &controllerHandler{c: c})
	controllerv1.RegisterGroupCoordinatorServiceServer(c.grpc.Server, &groupHandler{gc: c.groups, tc: c.txns, pids: c.pids})
	go func() { _ = c.grpc.Serve(c.ln) }()

	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		c.elector.run(ctx)
	}()
	go func() {
		defer c.wg.Done()
		c.maintainEtcd(ctx)
	}()
	if c.http, err = httpserver.Start(cfg.HTTPAddr, c.reg, c.ready, nil); err != nil {
		return nil, err
	}
	c.grpc.SetReady(true)
	log.Info("controller started", "grpc", c.advertise, "http", c.http.Addr(), "cluster_id", c.clusterID)
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
func (c *Controller) HTTPAddr() string { return c.http.Addr() }

// IsActive reports whether this controller is the active one.
func (c *Controller) IsActive() bool { _, ok := c.elector.fence(); return ok }

// Stop hands off the active role, drains calls and stops etcd.
func (c *Controller) Stop() {
	if c.grpc != nil {
		c.grpc.SetReady(false)
	}
	if c.cancel != nil {
		c.cancel() // resigns the election, so a standby takes over at once
	}
	c.wg.Wait()
	if c.http != nil {
		c.http.Stop(2 * time.Second)
	}
	if c.grpc != nil {
		c.grpc.Stop(5 * time.Second)
	} else if c.ln != nil {
		c.ln.Close()
	}
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

// Fatal never fires: a controller that loses its etcd session rejoins the election.
func (c *Controller) Fatal() <-chan error { return nil }
