package controller

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/services/controller/mdstore"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
)

// Offline replicas (Kafka's log-directory failure, KIP-112): a storage
// fault on one partition (disk full, I/O error, failed fsync, a config the
// log cannot apply) takes that replica offline, not the whole node. The
// node reports it with ReportReplicaStates; the controller records it in
// PartitionRecord.offline_replicas, takes the replica out of the ISR
// (never the last member, which is the one copy known to hold every
// acknowledged record) and moves its leadership away. Every election skips
// offline replicas (canLead). When the node reports the replica online
// again it only leaves offline_replicas: it rejoins the ISR through normal
// catch-up, by the leader's AlterPartition.

// reportRetries bounds the read-modify-write attempts of one replica state
// when the partition keeps changing under it.
const reportRetries = 5

// canLead reports whether replica r of rec may become its leader now:
// alive, in isr and not offline.
func canLead(rec *metadatav1.PartitionRecord, r int32, isr []int32, alive map[int32]bool) bool {
	return alive[r] && slices.Contains(isr, r) && !slices.Contains(rec.GetOfflineReplicas(), r)
}

// pickLeader returns the first replica of rec, in preference order (the
// reassignment target first), that can lead with the given ISR, or -1.
func pickLeader(rec *metadatav1.PartitionRecord, isr []int32, alive map[int32]bool) int32 {
	for _, r := range append(targetReplicas(rec), rec.GetReplicas()...) {
		if canLead(rec, r, isr, alive) {
			return r
		}
	}
	return -1
}

// withReplicaOffline returns rec with node's replica offline: recorded in
// offline_replicas, out of the ISR unless it is the last member, and, if it
// leads, its leadership moved to the first replica that can lead — or no
// leader (leader epoch bumped, ISR kept) when none can. It returns rec
// itself and "" when nothing changes.
func withReplicaOffline(rec *metadatav1.PartitionRecord, node int32, alive map[int32]bool) (*metadatav1.PartitionRecord, string) {
	next := metadata.Clone(rec)
	if !slices.Contains(next.GetOfflineReplicas(), node) {
		next.OfflineReplicas = append(next.OfflineReplicas, node)
	}
	if isr := slices.DeleteFunc(slices.Clone(next.GetIsr()), func(r int32) bool { return r == node }); len(isr) > 0 {
		next.Isr = isr
	}
	why := fmt.Sprintf("replica %d is offline", node)
	if rec.GetLeader() == node {
		leader := pickLeader(next, next.GetIsr(), alive)
		next.Leader, next.LeaderEpoch = leader, rec.GetLeaderEpoch()+1
		if leader >= 0 {
			why += fmt.Sprintf("; leadership moved to %d", leader)
		} else {
			why += "; no other in-sync replica can lead"
		}
	}
	if proto.Equal(next, rec) {
		return rec, ""
	}
	return next, why
}

// withReplicaOnline returns rec with node's replica out of
// offline_replicas, or rec itself and "" when it was not there.
func withReplicaOnline(rec *metadatav1.PartitionRecord, node int32) (*metadatav1.PartitionRecord, string) {
	if !slices.Contains(rec.GetOfflineReplicas(), node) {
		return rec, ""
	}
	next := metadata.Clone(rec)
	next.OfflineReplicas = slices.DeleteFunc(next.OfflineReplicas, func(r int32) bool { return r == node })
	return next, fmt.Sprintf("replica %d is back online", node)
}

// moveOffOffline is the reconcile step that keeps every partition
// consistent with its offline replicas, whichever controller recorded
// them: an offline leader loses its leadership and offline followers
// leave the ISR, by the same rule as a report.
func (c *Controller) moveOffOffline(rec *metadatav1.PartitionRecord, v *clusterView) (*metadatav1.PartitionRecord, string) {
	next, reasons := rec, []string{}
	for _, r := range rec.GetOfflineReplicas() {
		if n, why := withReplicaOffline(next, r, v.alive); why != "" {
			next, reasons = n, append(reasons, why)
		}
	}
	if len(reasons) == 0 {
		return rec, ""
	}
	return next, strings.Join(reasons, "; ")
}

func (h *controllerHandler) ReportReplicaStates(ctx context.Context, req *controllerv1.ReportReplicaStatesRequest) (*controllerv1.ReportReplicaStatesResponse, error) {
	c := h.c
	if err := c.checkNodeEpoch(ctx, req.GetNodeId(), req.GetNodeEpoch()); err != nil {
		return nil, err
	}
	for _, s := range req.GetReplicas() {
		if err := c.applyReplicaState(ctx, req.GetNodeId(), s); err != nil {
			return nil, err
		}
	}
	return &controllerv1.ReportReplicaStatesResponse{}, nil
}

// applyReplicaState records one replica state of node, retrying when the
// partition changes concurrently. A state about a partition that no longer
// exists, an older incarnation of the topic (another topic id) or a
// partition node does not replicate changes nothing.
func (c *Controller) applyReplicaState(ctx context.Context, node int32, s *controllerv1.ReplicaState) error {
	key := mdstore.PartitionKey(s.GetTopic(), s.GetPartition())
	for range reportRetries {
		rec, rev, err := c.partition(ctx, s.GetTopic(), s.GetPartition())
		if errs.Is(err, errs.UnknownTopicOrPartition) {
			return nil
		}
		if err != nil {
			return err
		}
		if !bytes.Equal(rec.GetTopicId(), s.GetTopicId()) || !slices.Contains(rec.GetReplicas(), node) {
			return nil
		}
		_, alive, err := c.storageNodes(ctx)
		if err != nil {
			return err
		}
		var next *metadatav1.PartitionRecord
		var why string
		if s.GetOffline() {
			next, why = withReplicaOffline(rec, node, alive)
		} else {
			next, why = withReplicaOnline(rec, node)
		}
		if why == "" {
			return nil
		}
		reasons := []string{why}
		if next.GetLeader() < 0 {
			// A leaderless partition may lead again now (its last in-sync
			// replica is back), without waiting for the next reconcile.
			if v, err := c.viewNow(ctx, alive); err == nil {
				if n, w := c.electIfLeaderDead(next, v); w != "" {
					next, reasons = n, append(reasons, w)
				}
			}
		}
		next.PartitionEpoch = rec.GetPartitionEpoch() + 1
		applied, err := c.write(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)},
			clientv3.OpPut(key, string(mdstore.Marshal(next))))
		if err != nil {
			return err
		}
		if !applied {
			continue
		}
		if s.GetOffline() {
			c.log.Warn("replica offline", "topic", s.GetTopic(), "partition", s.GetPartition(), "node", node, "reason", s.GetReason(),
				"leader", next.GetLeader(), "isr", next.GetIsr())
		} else {
			c.log.Info("replica online", "topic", s.GetTopic(), "partition", s.GetPartition(), "node", node)
		}
		c.logPartitionChange(rec, next, reasons)
		return nil
	}
	return errs.New(errs.ConcurrentUpdate, "partition %s-%d kept changing while recording replica %d's state; retry", s.GetTopic(), s.GetPartition(), node)
}
