package controller

import (
	"context"
	"fmt"
	"slices"
	"sync"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/services/controller/mdstore"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Controlled shutdown (Kafka's ControlledShutdown): before a storage node
// stops it asks the controller to move leadership of its partitions to
// other in-sync replicas, so producers see one NOT_LEADER and retry rather
// than waiting out the lease. It also leaves the ISRs, so acks=all does
// not wait for a node that is about to go.

// shutdownSet remembers which incarnation (node epoch) of each node asked
// for a controlled shutdown, so preferred leader election does not hand
// leadership straight back to it; a restart registers a new epoch and is
// eligible again. In memory only: a new active controller just forgets,
// and at worst moves one leadership twice.
type shutdownSet struct {
	mu     sync.Mutex
	epochs map[int32]int64
}

func (s *shutdownSet) add(id int32, epoch int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epochs == nil {
		s.epochs = map[int32]int64{}
	}
	s.epochs[id] = epoch
}

// skipper returns whether a node is going away, given the current epochs.
func (s *shutdownSet) skipper(nodes []*metadatav1.StorageNodeRecord) func(int32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	going := map[int32]bool{}
	for _, n := range nodes {
		if e, ok := s.epochs[n.GetNodeId()]; ok && e == n.GetNodeEpoch() {
			going[n.GetNodeId()] = true
		}
	}
	return func(id int32) bool { return going[id] }
}

// withoutNode returns rec with node's leadership moved to another live
// in-sync replica that is not offline (preferred order) and node out of the ISR, as far as
// that keeps someone in sync. stillLeads is true when no one could take
// over.
func withoutNode(rec *metadatav1.PartitionRecord, node int32, alive map[int32]bool) (next *metadatav1.PartitionRecord, stillLeads bool) {
	isr := slices.DeleteFunc(slices.Clone(rec.GetIsr()), func(r int32) bool { return r == node })
	if rec.GetLeader() == node {
		if r := pickLeader(rec, isr, alive); r >= 0 {
			return withLeader(rec, r, isr), false
		}
		return rec, true
	}
	if !slices.Contains(rec.GetIsr(), node) || len(isr) == 0 {
		return rec, false
	}
	next = metadata.Clone(rec)
	next.Isr = isr
	return next, false
}

func (h *controllerHandler) ControlledShutdown(ctx context.Context, req *controllerv1.ControlledShutdownRequest) (*controllerv1.ControlledShutdownResponse, error) {
	c := h.c
	if err := c.checkNodeEpoch(ctx, req.GetNodeId(), req.GetNodeEpoch()); err != nil {
		return nil, err
	}
	c.shuttingDown.add(req.GetNodeId(), req.GetNodeEpoch())
	remaining, err := c.moveOffNode(ctx, req.GetNodeId(), fmt.Sprintf("controlled shutdown of node %d", req.GetNodeId()), false)
	if err != nil {
		return nil, err
	}
	c.log.Info("controlled shutdown", "node", req.GetNodeId(), "remaining_leaderships", remaining)
	return &controllerv1.ControlledShutdownResponse{RemainingLeaderships: remaining}, nil
}

// moveOffNode moves every leadership of node to another live in-sync
// replica and takes node out of the ISRs where others remain. With
// bumpStuck, a partition no one else can lead gets a new leader epoch under
// the same leader, so its followers check their logs against it again. It
// returns how many partitions node still leads.
func (c *Controller) moveOffNode(ctx context.Context, node int32, why string, bumpStuck bool) (int32, error) {
	_, alive, err := c.storageNodes(ctx)
	if err != nil {
		return 0, err
	}
	resp, err := c.cli.Get(ctx, mdstore.PartitionsPrefix, clientv3.WithPrefix())
	if err != nil {
		return 0, readErr(err)
	}
	remaining := int32(0)
	for _, kv := range resp.Kvs {
		rec := &metadatav1.PartitionRecord{}
		if err := mdstore.Unmarshal(kv.Value, rec); err != nil {
			return 0, fmt.Errorf("%s: %w", kv.Key, err)
		}
		next, stillLeads := withoutNode(rec, node, alive)
		if stillLeads {
			remaining++
			if bumpStuck {
				next = withLeader(rec, node, rec.GetIsr())
			}
		}
		if next == rec {
			continue
		}
		next.PartitionEpoch = rec.GetPartitionEpoch() + 1
		applied, err := c.write(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision)},
			clientv3.OpPut(string(kv.Key), string(mdstore.Marshal(next))))
		if err != nil {
			return 0, err
		}
		if !applied {
			// Changed under us: count it if node led it; callers retry.
			if rec.GetLeader() == node {
				remaining++
			}
			continue
		}
		c.logPartitionChange(rec, next, []string{why})
	}
	return remaining, nil
}
