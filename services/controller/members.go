package controller

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/services/controller/mdstore"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// controllerHandler implements the internal ControllerService.
type controllerHandler struct {
	controllerv1.UnimplementedControllerServiceServer
	c *Controller
}

// maxRegisterAttempts bounds retries of a registration that raced another.
const maxRegisterAttempts = 5

const maxRackLength = 64

func validAddress(field, addr string) error {
	if err := rpc.ValidateAddress(addr); err != nil {
		return errs.New(errs.InvalidRequest, "%s: %v", field, err).Field(field, err.Error())
	}
	return nil
}

func (h *controllerHandler) leaseSeconds() int64 {
	return int64((h.c.cfg.MemberLeaseTTL + time.Second - 1) / time.Second)
}

func (h *controllerHandler) heartbeatInterval() int64 {
	return max(h.c.cfg.MemberLeaseTTL.Milliseconds()/5, 100)
}

// nextID reads an id counter and returns the next id with the compare and
// put that claim it.
func (h *controllerHandler) nextID(ctx context.Context, counter string) (int32, clientv3.Cmp, clientv3.Op, error) {
	resp, err := h.c.cli.Get(ctx, counter)
	if err != nil {
		return 0, clientv3.Cmp{}, clientv3.Op{}, readErr(err)
	}
	var last int64
	var rev int64
	if len(resp.Kvs) > 0 {
		rev = resp.Kvs[0].ModRevision
		if last, err = strconv.ParseInt(string(resp.Kvs[0].Value), 10, 32); err != nil {
			return 0, clientv3.Cmp{}, clientv3.Op{}, errors.New("corrupt id counter " + counter)
		}
	}
	id := int32(last + 1)
	return id, clientv3.Compare(clientv3.ModRevision(counter), "=", rev), clientv3.OpPut(counter, strconv.Itoa(int(id))), nil
}

// registration is one attempt to write a member's records under a new lease.
type registration struct {
	cmps     []clientv3.Cmp
	ops      func(lease clientv3.LeaseID) []clientv3.Op
	oldLease clientv3.LeaseID
}

// register grants a lease and applies the attempt built by prepare, retrying
// when it raced another registration.
func (h *controllerHandler) register(ctx context.Context, kind string, prepare func() (registration, error)) error {
	for range maxRegisterAttempts {
		reg, err := prepare()
		if err != nil {
			return err
		}
		lease, err := h.c.cli.Grant(ctx, h.leaseSeconds())
		if err != nil {
			return errs.New(errs.NotController, "granting a lease: %v", err)
		}
		applied, err := h.c.write(ctx, reg.cmps, reg.ops(lease.ID)...)
		if err != nil || !applied {
			_, _ = h.c.cli.Revoke(context.WithoutCancel(ctx), lease.ID)
		}
		if err != nil {
			return err
		}
		if !applied {
			continue
		}
		if reg.oldLease != 0 {
			// The earlier incarnation's lease holds nothing now; free it.
			_, _ = h.c.cli.Revoke(ctx, reg.oldLease)
		}
		h.c.metrics.registrations.WithLabelValues(kind).Inc()
		return nil
	}
	return errs.New(errs.ConcurrentUpdate, "registration raced other changes %d times; retry", maxRegisterAttempts)
}

// existing returns a key's value, mod revision and lease (zero when absent).
func (h *controllerHandler) existing(ctx context.Context, key string) ([]byte, int64, clientv3.LeaseID, error) {
	resp, err := h.c.cli.Get(ctx, key)
	if err != nil {
		return nil, 0, 0, readErr(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, 0, nil
	}
	kv := resp.Kvs[0]
	return kv.Value, kv.ModRevision, clientv3.LeaseID(kv.Lease), nil
}

func (h *controllerHandler) RegisterStorageNode(ctx context.Context, req *controllerv1.RegisterStorageNodeRequest) (*controllerv1.RegisterStorageNodeResponse, error) {
	if err := validAddress("address", req.GetAddress()); err != nil {
		return nil, err
	}
	if req.GetNodeId() < 0 {
		return nil, errs.New(errs.InvalidRequest, "node_id %d is negative", req.GetNodeId()).Field("node_id", "negative")
	}
	if len(req.GetRack()) > maxRackLength {
		return nil, errs.New(errs.InvalidRequest, "rack is longer than %d bytes", maxRackLength).Field("rack", "too long")
	}
	var rec *metadatav1.StorageNodeRecord
	err := h.register(ctx, "storage", func() (registration, error) {
		var reg registration
		id, epoch := req.GetNodeId(), int64(1)
		if id == 0 {
			newID, cmp, op, err := h.nextID(ctx, mdstore.NodeIDCounter)
			if err != nil {
				return reg, err
			}
			id = newID
			reg.cmps = append(reg.cmps, cmp, clientv3.Compare(clientv3.CreateRevision(mdstore.NodeKey(id)), "=", 0))
			reg.ops = func(clientv3.LeaseID) []clientv3.Op { return []clientv3.Op{op} }
		} else {
			val, rev, _, err := h.existing(ctx, mdstore.NodeKey(id))
			if err != nil {
				return reg, err
			}
			switch {
			case val == nil && h.c.tls != nil:
				// With TLS the id comes from the node's certificate
				// (authorize checked it names this id): its first
				// registration creates it.
				reg.cmps = append(reg.cmps, clientv3.Compare(clientv3.CreateRevision(mdstore.NodeKey(id)), "=", 0))
				reg.ops = func(clientv3.LeaseID) []clientv3.Op { return nil }
			case val == nil:
				return reg, errs.New(errs.UnknownMember, "storage node id %d was never allocated by this cluster; "+
					"a node whose data dir belongs to another cluster must start with an empty one", id)
			default:
				old := &metadatav1.StorageNodeRecord{}
				if err := mdstore.Unmarshal(val, old); err != nil {
					return reg, err
				}
				epoch = old.GetNodeEpoch() + 1
				reg.cmps = append(reg.cmps, clientv3.Compare(clientv3.ModRevision(mdstore.NodeKey(id)), "=", rev))
				if _, _, lease, err := h.existing(ctx, mdstore.AliveKey(id)); err == nil {
					reg.oldLease = lease
				} else {
					return reg, err
				}
				reg.ops = func(clientv3.LeaseID) []clientv3.Op { return nil }
			}
		}
		rec = &metadatav1.StorageNodeRecord{NodeId: id, Address: req.GetAddress(), Rack: req.GetRack(), NodeEpoch: epoch, HttpAddress: req.GetHttpAddress()}
		base := reg.ops
		reg.ops = func(lease clientv3.LeaseID) []clientv3.Op {
			return append(base(lease),
				clientv3.OpPut(mdstore.NodeKey(id), string(mdstore.Marshal(rec))),
				clientv3.OpPut(mdstore.AliveKey(id), string(mdstore.Marshal(&metadatav1.LivenessRecord{NodeId: id, NodeEpoch: epoch})), clientv3.WithLease(lease)))
		}
		return reg, nil
	})
	if err != nil {
		return nil, err
	}
	h.c.log.Info("storage node registered", "node_id", rec.GetNodeId(), "epoch", rec.GetNodeEpoch(), "address", rec.GetAddress(), "rack", rec.GetRack())
	if rec.GetNodeEpoch() > 1 && !req.GetCleanRestart() {
		// A new incarnation may have lost what the old one had not flushed:
		// its leaderships move (or get a new epoch, so followers re-check
		// their logs) and it rejoins ISRs only once caught up again.
		if _, err := h.c.moveOffNode(ctx, rec.GetNodeId(), fmt.Sprintf("node %d restarted (epoch %d)", rec.GetNodeId(), rec.GetNodeEpoch()), true); err != nil {
			h.c.log.Warn("fencing a restarted node's partitions failed; the reconciler retries", "node_id", rec.GetNodeId(), "err", err)
		}
	}
	return &controllerv1.RegisterStorageNodeResponse{
		NodeId: rec.GetNodeId(), NodeEpoch: rec.GetNodeEpoch(), ClusterId: h.c.clusterID,
		HeartbeatIntervalMs: h.heartbeatInterval(), LeaseTtlMs: h.c.cfg.MemberLeaseTTL.Milliseconds(),
	}, nil
}

// maxKafkaListeners bounds the Kafka listeners one gateway registers.
const maxKafkaListeners = 16

func (h *controllerHandler) RegisterGateway(ctx context.Context, req *controllerv1.RegisterGatewayRequest) (*controllerv1.RegisterGatewayResponse, error) {
	for field, addr := range map[string]string{"kafka_address": req.GetKafkaAddress(), "grpc_address": req.GetGrpcAddress()} {
		if err := validAddress(field, addr); err != nil {
			return nil, err
		}
	}
	if req.GetGatewayId() < 0 {
		return nil, errs.New(errs.InvalidRequest, "gateway_id %d is negative", req.GetGatewayId()).Field("gateway_id", "negative")
	}
	if n := len(req.GetKafkaListeners()); n > maxKafkaListeners {
		return nil, errs.New(errs.InvalidRequest, "%d Kafka listeners, at most %d", n, maxKafkaListeners).Field("kafka_listeners", "too many")
	}
	for name, addr := range req.GetKafkaListeners() {
		if name == "" || len(name) > 64 {
			return nil, errs.New(errs.InvalidRequest, "Kafka listener name %q must be 1 to 64 bytes", name).Field("kafka_listeners", "bad name")
		}
		if err := validAddress("kafka_listeners", addr); err != nil {
			return nil, err
		}
	}
	var rec *metadatav1.GatewayRecord
	err := h.register(ctx, "gateway", func() (registration, error) {
		var reg registration
		id, epoch := req.GetGatewayId(), int64(1)
		var extra []clientv3.Op
		if id == 0 {
			newID, cmp, op, err := h.nextID(ctx, mdstore.GatewayIDCounter)
			if err != nil {
				return reg, err
			}
			id, extra = newID, []clientv3.Op{op}
			reg.cmps = append(reg.cmps, cmp)
		}
		val, rev, lease, err := h.existing(ctx, mdstore.GatewayKey(id))
		if err != nil {
			return reg, err
		}
		if val != nil {
			old := &metadatav1.GatewayRecord{}
			if err := mdstore.Unmarshal(val, old); err == nil {
				epoch = old.GetGatewayEpoch() + 1
			}
			reg.oldLease = lease
		}
		reg.cmps = append(reg.cmps, clientv3.Compare(clientv3.ModRevision(mdstore.GatewayKey(id)), "=", rev))
		rec = &metadatav1.GatewayRecord{GatewayId: id, KafkaAddress: req.GetKafkaAddress(), GrpcAddress: req.GetGrpcAddress(),
			HttpAddress: req.GetHttpAddress(), GatewayEpoch: epoch, KafkaListeners: req.GetKafkaListeners()}
		reg.ops = func(l clientv3.LeaseID) []clientv3.Op {
			return append(extra, clientv3.OpPut(mdstore.GatewayKey(id), string(mdstore.Marshal(rec)), clientv3.WithLease(l)))
		}
		return reg, nil
	})
	if err != nil {
		return nil, err
	}
	h.c.log.Info("gateway registered", "gateway_id", rec.GetGatewayId(), "kafka", rec.GetKafkaAddress(), "grpc", rec.GetGrpcAddress())
	return &controllerv1.RegisterGatewayResponse{
		GatewayId: rec.GetGatewayId(), GatewayEpoch: rec.GetGatewayEpoch(), ClusterId: h.c.clusterID,
		HeartbeatIntervalMs: h.heartbeatInterval(), LeaseTtlMs: h.c.cfg.MemberLeaseTTL.Milliseconds(),
	}, nil
}

// Heartbeat renews the lease behind a member's liveness key. Any controller
// serves it: leases are cluster-wide in etcd.
func (h *controllerHandler) Heartbeat(ctx context.Context, req *controllerv1.HeartbeatRequest) (*controllerv1.HeartbeatResponse, error) {
	lease, err := h.memberLease(ctx, req.GetKind(), req.GetId(), req.GetEpoch())
	if err != nil {
		return nil, err
	}
	resp, err := h.c.cli.KeepAliveOnce(ctx, lease)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return nil, errs.New(errs.LeaseExpired, "%s %d lease expired; register again", req.GetKind(), req.GetId())
	}
	if err != nil {
		return nil, errs.New(errs.NotController, "renewing lease: %v", err)
	}
	return &controllerv1.HeartbeatResponse{LeaseTtlMs: resp.TTL * 1000}, nil
}

// Unregister revokes a member's lease, which deletes its liveness key.
func (h *controllerHandler) Unregister(ctx context.Context, req *controllerv1.UnregisterRequest) (*controllerv1.UnregisterResponse, error) {
	lease, err := h.memberLease(ctx, req.GetKind(), req.GetId(), req.GetEpoch())
	if errs.Is(err, errs.LeaseExpired) {
		return &controllerv1.UnregisterResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := h.c.cli.Revoke(ctx, lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return nil, errs.New(errs.NotController, "revoking lease: %v", err)
	}
	h.c.log.Info("member unregistered", "kind", req.GetKind(), "id", req.GetId())
	return &controllerv1.UnregisterResponse{}, nil
}

// memberLease returns the lease behind a member's liveness key after
// checking that epoch is the current incarnation.
func (h *controllerHandler) memberLease(ctx context.Context, kind controllerv1.MemberKind, id int32, reqEpoch int64) (clientv3.LeaseID, error) {
	var key string
	var epochOf func([]byte) (int64, error)
	switch kind {
	case controllerv1.MemberKind_MEMBER_KIND_STORAGE_NODE:
		key = mdstore.AliveKey(id)
		epochOf = func(b []byte) (int64, error) {
			r := &metadatav1.LivenessRecord{}
			err := mdstore.Unmarshal(b, r)
			return r.GetNodeEpoch(), err
		}
	case controllerv1.MemberKind_MEMBER_KIND_GATEWAY:
		key = mdstore.GatewayKey(id)
		epochOf = func(b []byte) (int64, error) {
			r := &metadatav1.GatewayRecord{}
			err := mdstore.Unmarshal(b, r)
			return r.GetGatewayEpoch(), err
		}
	default:
		return 0, errs.New(errs.InvalidRequest, "kind must be storage node or gateway").Field("kind", "unspecified")
	}
	val, _, lease, err := h.existing(ctx, key)
	if err != nil {
		return 0, err
	}
	if val == nil {
		return 0, errs.New(errs.LeaseExpired, "%s %d has no live lease; register again", kind, id)
	}
	epoch, err := epochOf(val)
	if err != nil {
		return 0, err
	}
	if epoch != reqEpoch {
		return 0, errs.New(errs.StaleEpoch, "%s %d epoch %d is stale: epoch %d registered since", kind, id, reqEpoch, epoch)
	}
	return lease, nil
}
