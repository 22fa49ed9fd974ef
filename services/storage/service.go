// Package storage is the storage role: a node that registers with the
// controller, follows the cluster metadata, and keeps one directory per
// partition replica assigned to it.
package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/certs"
	"github.com/strata-io/strata/internal/config"
	"github.com/strata-io/strata/internal/fsutil"
	"github.com/strata-io/strata/internal/httpserver"
	"github.com/strata-io/strata/internal/member"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/internal/peerauth"
	"github.com/strata-io/strata/internal/roles"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/internal/tlsconf"
	"github.com/strata-io/strata/services/storage/log"
)

// registerTimeout bounds the first registration at start-up.
const registerTimeout = 60 * time.Second

// Node is a running storage node.
type Node struct {
	roles.Base
	cfg       Config
	lock      *fsutil.DirLock
	tls       *tlsconf.TLS // nil: plaintext
	advertise string
	cache     *metadata.Cache
	reg       *prometheus.Registry
	metrics   *metrics
	fetchers  *fetchers

	parts      *partitions
	appliedRev atomic.Int64
	// stateChanged wakes the reporter of replica states (offline.go).
	stateChanged signal
}

// Start registers the node and starts serving. It returns once the node
// is registered; replica directories follow the metadata from then on.
func Start(cfg Config, log *slog.Logger) (_ *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, cache: metadata.NewCache(), reg: httpserver.NewRegistry(),
		parts: newPartitions(cfg.DataDir)}
	n.Log = log.With("role", "storage")
	defer func() {
		if err != nil {
			n.Stop()
		}
	}()
	if n.lock, err = fsutil.LockDir(cfg.DataDir); err != nil {
		return nil, err
	}
	meta, err := readMeta(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if n.tls, err = tlsconf.Load(cfg.TLS); err != nil {
		return nil, err
	}
	regID, err := nodeIDFromCert(n.tls, meta.NodeID)
	if err != nil {
		return nil, err
	}
	clean := takeCleanShutdown(cfg.DataDir)
	if n.Listener, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("grpc listen: %w", err)
	}
	n.advertise = config.Advertise(cfg.AdvertiseAddr, n.Listener.Addr().String())
	var opts []rpc.ServerOption
	if n.tls != nil {
		opts = append(opts, rpc.WithCreds(n.tls.InternalServerCreds()),
			rpc.WithUnary(peerauth.Unary(authorize)), rpc.WithStream(peerauth.Stream(authorize)))
	}
	n.GRPC = rpc.NewServer(n.Log, n.reg, opts...)
	storagev1.RegisterStorageServiceServer(n.GRPC.Server, &handler{n: n})
	go func() { _ = n.GRPC.Serve(n.Listener) }()
	if n.HTTP, err = httpserver.StartTLS(cfg.HTTPAddr, n.tls.Server(), n.reg, n.ready, nil); err != nil {
		return nil, err
	}
	tlsconf.WarnPlaintext(n.Log, n.tls, map[string]string{"grpc": cfg.GRPCAddr, "http": cfg.HTTPAddr})
	n.metrics = newMetrics(n.reg)
	n.fetchers = newFetchers(n)
	n.fetchers.conns.Creds = n.tls.ClientCreds()

	if n.Conn, err = rpc.DialCreds(n.tls.ClientCreds(), cfg.Controllers...); err != nil {
		return nil, err
	}
	client := controllerv1.NewControllerServiceClient(n.Conn)
	regCtx, regCancel := context.WithTimeout(n.Context(), registerTimeout)
	defer regCancel()
	n.Member, err = member.Register(regCtx, controllerv1.MemberKind_MEMBER_KIND_STORAGE_NODE, client, regID, n.registerFunc(client, meta, clean), n.Log)
	if err != nil {
		return nil, err
	}
	reg := n.Member.Registration()
	n.Log = n.Log.With("node_id", reg.ID)

	n.Go(func(ctx context.Context) {
		if err := n.Member.Run(ctx); err != nil {
			n.Log.Error("storage node stops", "err", err)
			n.Fail(err)
		}
	})
	n.Go(func(ctx context.Context) { metadata.Follow(ctx, client, n.cache, n.Log) })
	n.Go(n.reconcileLoop)
	n.Go(n.reportReplicaStates)
	n.Go(n.maintain)
	n.Go(n.watchReplicaLag)
	n.Go(n.watchDisk)
	n.Log.Info("storage node started", "grpc", n.advertise, "http", n.HTTP.Addr(), "epoch", reg.Epoch)
	return n, nil
}

// nodeIDFromCert is the node id to register with: with TLS, the one the
// certificate names (the controller accepts no other), which must agree
// with the id the data dir already has.
func nodeIDFromCert(t *tlsconf.TLS, stored int32) (int32, error) {
	if t == nil {
		return stored, nil
	}
	id, ok := t.Identity()
	if !ok || id.Role != certs.RoleStorage || id.NodeID == 0 {
		return 0, fmt.Errorf("tls-cert: a storage node's certificate must name its node id (strata://storage/N; see strata certs)")
	}
	if stored != 0 && stored != id.NodeID {
		return 0, fmt.Errorf("tls-cert names storage node %d but the data dir belongs to node %d", id.NodeID, stored)
	}
	return id.NodeID, nil
}

// registerFunc registers with the controller and persists the node id and
// cluster id on first registration, before the node does anything else.
func (n *Node) registerFunc(client controllerv1.ControllerServiceClient, meta nodeMeta, clean bool) member.RegisterFunc {
	return func(ctx context.Context, id int32) (member.Registration, error) {
		resp, err := client.RegisterStorageNode(ctx, &controllerv1.RegisterStorageNodeRequest{
			NodeId: id, Address: n.advertise, Rack: n.cfg.Rack, HttpAddress: n.HTTP.Addr(), CleanRestart: clean,
		})
		if err != nil {
			return member.Registration{}, err
		}
		clean = false // a re-registration after a lost lease is not a clean restart
		if meta.ClusterID != "" && meta.ClusterID != resp.GetClusterId() {
			return member.Registration{}, fmt.Errorf("data dir %s belongs to cluster %s, not %s", n.cfg.DataDir, meta.ClusterID, resp.GetClusterId())
		}
		if meta.NodeID == 0 {
			meta = nodeMeta{NodeID: resp.GetNodeId(), ClusterID: resp.GetClusterId()}
			if err := writeMeta(n.cfg.DataDir, meta); err != nil {
				return member.Registration{}, err
			}
		}
		return member.Registration{
			ID: resp.GetNodeId(), Epoch: resp.GetNodeEpoch(), ClusterID: resp.GetClusterId(),
			Interval: time.Duration(resp.GetHeartbeatIntervalMs()) * time.Millisecond,
		}, nil
	}
}

// reconcileLoop applies every metadata change to the replica directories.
func (n *Node) reconcileLoop(ctx context.Context) {
	for {
		changed := n.cache.Changed()
		if n.cache.Synced() {
			rev := n.cache.Revision()
			want := assignmentsFor(n.cache.ReplicasOf(n.id()), n.cache.Topic, n.cfg)
			// A replica that cannot open is offline and reported; the
			// others are applied all the same.
			if err := n.parts.reconcile(want, n.wanted, n, log.WithLogger(n.Log)); err != nil {
				n.Log.Debug("some replicas did not open", "err", err)
			}
			n.appliedRev.Store(rev)
			n.applyRoles()
			n.metrics.replicas.Set(float64(len(n.parts.all())))
			n.stateChanged.fire()
			n.GRPC.SetReady(n.ready() == nil)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-time.After(30 * time.Second): // retry a failed reconcile
		}
	}
}

func (n *Node) ready() error {
	if n.Member == nil || !n.Member.Alive() {
		return errors.New("not registered")
	}
	if n.appliedRev.Load() == 0 {
		return errors.New("metadata not applied yet")
	}
	return nil
}

// Addr is the gRPC address other roles dial.
func (n *Node) Addr() string { return n.advertise }

// ID is the node id.
func (n *Node) ID() int32 { return n.id() }

func (n *Node) id() int32 { return n.Member.Registration().ID }

// Stop stops serving, heartbeating and watching, then closes every log.
func (n *Node) Stop() {
	n.controlledShutdown()
	n.Base.Stop()
	if n.fetchers != nil {
		n.fetchers.close()
	}
	if n.parts.closeAll() && n.Member != nil {
		if err := markCleanShutdown(n.cfg.DataDir); err != nil {
			n.Log.Warn("could not mark the clean shutdown", "err", err)
		}
	}
	n.lock.Unlock()
	n.Log.Info("storage node stopped")
}

// WaitReady blocks until the node has applied metadata or ctx ends.
func (n *Node) WaitReady(ctx context.Context) error {
	for n.ready() != nil {
		select {
		case <-ctx.Done():
			return fmt.Errorf("storage node not ready: %w", n.ready())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

type handler struct {
	storagev1.UnimplementedStorageServiceServer
	n *Node
}

func (h *handler) ListReplicas(context.Context, *storagev1.ListReplicasRequest) (*storagev1.ListReplicasResponse, error) {
	me := h.n.Member.Registration().ID
	out := &storagev1.ListReplicasResponse{NodeId: me, MetadataRevision: h.n.appliedRev.Load()}
	for _, p := range h.n.parts.all() {
		rec, _ := h.n.cache.Partition(p.key.topic, p.key.partition)
		r := &storagev1.Replica{
			Topic: p.key.topic, Partition: p.key.partition,
			Dir:            filepath.Join(h.n.cfg.DataDir, p.name()),
			LogStartOffset: -1, LogEndOffset: -1, HighWatermark: -1, LastStableOffset: -1,
			Leader: rec.GetLeader() == me && p.leader.Load() != nil, Followers: leaderProgress(p),
		}
		if p.log != nil {
			r.LogStartOffset, r.LogEndOffset, r.HighWatermark, r.SizeBytes = p.log.LogStartOffset(), p.log.LogEndOffset(), p.log.HighWatermark(), p.log.Size()
			r.LastStableOffset = p.log.LastStableOffset()
		}
		if o := p.offline.Load(); o != nil {
			r.Offline, r.OfflineReason = true, o.err.Error()
		}
		out.Replicas = append(out.Replicas, r)
	}
	h.n.fillDiskUsage(out)
	return out, nil
}

func leaderProgress(p *replica) []*storagev1.ReplicaProgress {
	if ls := p.leader.Load(); ls != nil {
		return ls.progress()
	}
	return nil
}
