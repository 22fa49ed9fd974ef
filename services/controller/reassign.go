package controller

import (
	"context"
	"fmt"
	"slices"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/services/controller/mdstore"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A reassignment moves a partition from its current replicas to a target
// list in two writes, as Kafka's KIP-455 does:
//
//  1. start: replicas = target ∪ current (target order first), adding =
//     target − current, removing = current − target. New replicas start
//     fetching at once and the leader adds them to the ISR when caught up.
//  2. finish (advanceReassignment, on every reconcile pass and ISR change):
//     once every adding replica is in the ISR, move leadership if the leader
//     is being removed (to a live, in-sync, not offline target replica),
//     then replicas = target, ISR = ISR ∩ target, offline = offline ∩ target.
//
// The target is always replicas − removing, so a controller that takes over
// half way finishes the move from the record alone.

// inReassignment reports whether a move is under way on rec.
func inReassignment(rec *metadatav1.PartitionRecord) bool {
	return len(rec.GetAddingReplicas()) > 0 || len(rec.GetRemovingReplicas()) > 0
}

// startReassignment returns rec moving to target (not yet written). A
// target with the same replicas in another order is applied at once: there
// is nothing to copy, only the preferred leader changes.
func startReassignment(rec *metadatav1.PartitionRecord, target []int32) *metadatav1.PartitionRecord {
	cur := rec.GetReplicas()
	next := metadata.Clone(rec)
	next.Replicas = slices.Clone(target)
	next.AddingReplicas, next.RemovingReplicas = nil, nil
	for _, r := range target {
		if !slices.Contains(cur, r) {
			next.AddingReplicas = append(next.AddingReplicas, r)
		}
	}
	for _, r := range cur {
		if !slices.Contains(target, r) {
			next.Replicas = append(next.Replicas, r)
			next.RemovingReplicas = append(next.RemovingReplicas, r)
		}
	}
	next.PartitionEpoch = rec.GetPartitionEpoch() + 1
	return next
}

// advanceReassignment finishes a running reassignment once every adding
// replica is in the ISR. It waits (returns rec unchanged) while one is not,
// or while no live in-sync target replica could lead.
func (c *Controller) advanceReassignment(rec *metadatav1.PartitionRecord, v *clusterView) (*metadatav1.PartitionRecord, string) {
	return finishReassignment(rec, v.alive)
}

// finishReassignment is advanceReassignment without the controller, so the
// state machine is testable on its own.
func finishReassignment(rec *metadatav1.PartitionRecord, alive map[int32]bool) (*metadatav1.PartitionRecord, string) {
	if !inReassignment(rec) {
		return rec, ""
	}
	isr := rec.GetIsr()
	for _, r := range rec.GetAddingReplicas() {
		if !slices.Contains(isr, r) {
			return rec, ""
		}
	}
	target := targetReplicas(rec)
	var keptISR []int32
	for _, r := range isr {
		if slices.Contains(target, r) {
			keptISR = append(keptISR, r)
		}
	}
	if len(keptISR) == 0 {
		return rec, "" // dropping the old replicas now would leave no in-sync copy
	}
	next := metadata.Clone(rec)
	why := fmt.Sprintf("reassignment to %v finished", target)
	if !slices.Contains(target, rec.GetLeader()) {
		leader := pickLeader(rec, keptISR, alive)
		if leader < 0 {
			return rec, "" // the leader is leaving and no in-sync target replica is alive yet
		}
		next.Leader, next.LeaderEpoch = leader, rec.GetLeaderEpoch()+1
		why += fmt.Sprintf("; leadership moved from %d to %d", rec.GetLeader(), leader)
	}
	next.Replicas, next.Isr = slices.Clone(target), keptISR
	next.AddingReplicas, next.RemovingReplicas = nil, nil
	// A removed replica's offline state goes with it.
	next.OfflineReplicas = slices.DeleteFunc(next.OfflineReplicas, func(r int32) bool { return !slices.Contains(target, r) })
	return next, why
}

// validTarget checks a reassignment target: at least one replica, no
// duplicates, every node registered and alive.
func validTarget(target []int32, registered, alive map[int32]bool) error {
	if len(target) == 0 {
		return errs.New(errs.InvalidReplicationFactor, "a partition needs at least one replica").Field("replicas", "empty")
	}
	seen := map[int32]bool{}
	for _, r := range target {
		switch {
		case seen[r]:
			return errs.New(errs.InvalidReplicationFactor, "node %d appears twice in %v", r, target).Field("replicas", "duplicate node")
		case !registered[r]:
			return errs.New(errs.InvalidReplicationFactor, "node %d is not a registered storage node", r).Field("replicas", "unknown node")
		case !alive[r]:
			return errs.New(errs.InvalidReplicationFactor, "node %d is not alive", r).Field("replicas", "dead node")
		}
		seen[r] = true
	}
	return nil
}

// registeredNodes returns the registered node ids and which are alive.
func (c *Controller) registeredNodes(ctx context.Context) (registered, alive map[int32]bool, err error) {
	nodes, alive, err := c.storageNodes(ctx)
	if err != nil {
		return nil, nil, err
	}
	registered = map[int32]bool{}
	for _, n := range nodes {
		registered[n.GetNodeId()] = true
	}
	return registered, alive, nil
}

// reassign validates and starts one reassignment, guarded by the
// partition's mod revision; a partition already moving is refused.
func (c *Controller) reassign(ctx context.Context, topic string, partition int32, target []int32, registered, alive map[int32]bool) (*adminv1.PartitionMove, error) {
	return c.startMove(ctx, topic, partition, target, registered, alive, false)
}

// startMove is reassign; with replace, a running move is replaced as in
// Kafka: reverted to its original replicas (revertReassignment), then
// moved from there to the new target in the same write.
func (c *Controller) startMove(ctx context.Context, topic string, partition int32, target []int32, registered, alive map[int32]bool, replace bool) (*adminv1.PartitionMove, error) {
	if err := validTarget(target, registered, alive); err != nil {
		return nil, err
	}
	rec, rev, err := c.partition(ctx, topic, partition)
	if err != nil {
		return nil, err
	}
	from := rec
	if inReassignment(rec) {
		if !replace {
			return nil, errs.New(errs.ReassignmentInProgress, "partition %s-%d is already moving to %v", topic, partition, targetReplicas(rec))
		}
		if from, err = revertReassignment(rec, alive); err != nil {
			return nil, err
		}
	}
	move := &adminv1.PartitionMove{Topic: topic, Partition: partition, FromReplicas: from.GetReplicas(), ToReplicas: slices.Clone(target)}
	next := from
	if !slices.Equal(from.GetReplicas(), target) {
		next = startReassignment(from, target)
		if v, err := c.viewNow(ctx, alive); err == nil {
			// A reorder or a pure shrink may be finished already.
			if n, _ := c.advanceReassignment(next, v); n != next {
				n.PartitionEpoch = next.GetPartitionEpoch()
				next = n
			}
		}
	} else if from == rec {
		return move, nil
	}
	key := mdstore.PartitionKey(topic, partition)
	applied, err := c.write(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)},
		clientv3.OpPut(key, string(mdstore.Marshal(next))))
	if err != nil {
		return nil, err
	}
	if !applied {
		return nil, errs.New(errs.ConcurrentUpdate, "partition %s-%d changed while starting the move; retry", topic, partition)
	}
	c.metrics.topicOps.WithLabelValues("reassign").Inc()
	if from != rec {
		c.log.Info("running reassignment replaced", "topic", topic, "partition", partition, "was_moving_to", targetReplicas(rec),
			"original", from.GetReplicas())
	}
	c.log.Info("reassignment started", "topic", topic, "partition", partition, "from", from.GetReplicas(), "to", target,
		"adding", next.GetAddingReplicas(), "removing", next.GetRemovingReplicas())
	return move, nil
}

func (h *adminHandler) ReassignPartition(ctx context.Context, req *adminv1.ReassignPartitionRequest) (*adminv1.ReassignPartitionResponse, error) {
	if err := validName(req.GetTopic()); err != nil {
		return nil, err
	}
	if _, _, err := h.c.topic(ctx, req.GetTopic()); err != nil {
		return nil, err
	}
	registered, alive, err := h.c.registeredNodes(ctx)
	if err != nil {
		return nil, err
	}
	move, err := h.c.startMove(ctx, req.GetTopic(), req.GetPartition(), req.GetReplicas(), registered, alive, req.GetReplace())
	if err != nil {
		return nil, err
	}
	return &adminv1.ReassignPartitionResponse{Move: move}, nil
}

// revertReassignment returns rec with its running reassignment cancelled
// (Kafka's PartitionReassignmentRevert): replicas and ISR without the
// adding replicas, offline replicas without them too, and, if an adding
// replica led, the first original replica that can lead — or no leader
// when none can (leader epoch bumped either way). The replicas being
// removed stay: they are original replicas.
func revertReassignment(rec *metadatav1.PartitionRecord, alive map[int32]bool) (*metadatav1.PartitionRecord, error) {
	name := fmt.Sprintf("%s-%d", rec.GetTopic(), rec.GetPartition())
	if !inReassignment(rec) {
		return nil, errs.New(errs.NoReassignmentInProgress, "partition %s is not being reassigned", name)
	}
	adding := rec.GetAddingReplicas()
	notAdding := func(r int32) bool { return !slices.Contains(adding, r) }
	next := metadata.Clone(rec)
	next.Replicas = slices.DeleteFunc(slices.Clone(rec.GetReplicas()), func(r int32) bool { return !notAdding(r) })
	next.Isr = slices.DeleteFunc(slices.Clone(rec.GetIsr()), func(r int32) bool { return !notAdding(r) })
	next.OfflineReplicas = slices.DeleteFunc(slices.Clone(rec.GetOfflineReplicas()), func(r int32) bool { return !notAdding(r) })
	next.AddingReplicas, next.RemovingReplicas = nil, nil
	if len(next.Isr) == 0 {
		return nil, errs.New(errs.InvalidReplicaAssignment,
			"cannot cancel the reassignment of %s: no original replica is in the ISR %v, reverting would lose records; let it finish or move it again", name, rec.GetIsr())
	}
	if !slices.Contains(next.Replicas, rec.GetLeader()) {
		next.Leader, next.LeaderEpoch = pickLeader(next, next.Isr, alive), rec.GetLeaderEpoch()+1
	}
	next.PartitionEpoch = rec.GetPartitionEpoch() + 1
	return next, nil
}

func (h *adminHandler) CancelReassignment(ctx context.Context, req *adminv1.CancelReassignmentRequest) (*adminv1.CancelReassignmentResponse, error) {
	if err := validName(req.GetTopic()); err != nil {
		return nil, err
	}
	_, alive, err := h.c.storageNodes(ctx)
	if err != nil {
		return nil, err
	}
	rec, rev, err := h.c.partition(ctx, req.GetTopic(), req.GetPartition())
	if err != nil {
		return nil, err
	}
	next, err := revertReassignment(rec, alive)
	if err != nil {
		return nil, err
	}
	key := mdstore.PartitionKey(req.GetTopic(), req.GetPartition())
	applied, err := h.c.write(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)},
		clientv3.OpPut(key, string(mdstore.Marshal(next))))
	if err != nil {
		return nil, err
	}
	if !applied {
		return nil, errs.New(errs.ConcurrentUpdate, "partition %s-%d changed while cancelling its move; retry", req.GetTopic(), req.GetPartition())
	}
	h.c.metrics.topicOps.WithLabelValues("cancel_reassignment").Inc()
	h.c.logPartitionChange(rec, next, []string{fmt.Sprintf("reassignment to %v cancelled; reverted to %v", targetReplicas(rec), next.GetReplicas())})
	return &adminv1.CancelReassignmentResponse{Cancelled: &adminv1.PartitionMove{Topic: req.GetTopic(), Partition: req.GetPartition(),
		FromReplicas: next.GetReplicas(), ToReplicas: targetReplicas(rec)}}, nil
}
