package controller

import (
	"context"
	"slices"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/services/controller/mdstore"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// AlterPartition applies a leader's ISR change, fenced by the node epoch,
// the leader epoch and the partition epoch, so only the current leader's
// view of the current record can change it.
func (h *controllerHandler) AlterPartition(ctx context.Context, req *controllerv1.AlterPartitionRequest) (*controllerv1.AlterPartitionResponse, error) {
	c := h.c
	if err := c.checkNodeEpoch(ctx, req.GetNodeId(), req.GetNodeEpoch()); err != nil {
		return nil, err
	}
	rec, rev, err := c.partition(ctx, req.GetTopic(), req.GetPartition())
	if err != nil {
		return nil, err
	}
	switch {
	case rec.GetLeader() != req.GetNodeId():
		return nil, errs.New(errs.NotLeaderOrFollower, "node %d does not lead %s-%d (node %d does)", req.GetNodeId(), req.GetTopic(), req.GetPartition(), rec.GetLeader())
	case req.GetLeaderEpoch() != rec.GetLeaderEpoch():
		return nil, errs.New(errs.FencedLeaderEpoch, "leader epoch %d is not the current %d", req.GetLeaderEpoch(), rec.GetLeaderEpoch())
	case req.GetPartitionEpoch() != rec.GetPartitionEpoch():
		return nil, errs.New(errs.StaleEpoch, "partition epoch %d is not the current %d", req.GetPartitionEpoch(), rec.GetPartitionEpoch())
	}
	isr := req.GetNewIsr()
	if !slices.Contains(isr, rec.GetLeader()) {
		return nil, errs.New(errs.InvalidRequest, "the new ISR %v lacks the leader %d", isr, rec.GetLeader()).Field("new_isr", "must contain the leader")
	}
	seen := map[int32]bool{}
	for _, r := range isr {
		if seen[r] || !slices.Contains(rec.GetReplicas(), r) {
			return nil, errs.New(errs.InvalidRequest, "the new ISR %v has a duplicate or a non-replica (%d)", isr, r).Field("new_isr", "not a subset of the replicas")
		}
		seen[r] = true
	}
	_, alive, err := c.storageNodes(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range isr {
		if slices.Contains(rec.GetIsr(), r) {
			continue
		}
		if !alive[r] {
			return nil, errs.New(errs.InvalidRequest, "node %d is not alive and cannot join the ISR", r).Field("new_isr", "dead node")
		}
		if slices.Contains(rec.GetOfflineReplicas(), r) {
			return nil, errs.New(errs.InvalidRequest, "the replica on node %d is offline and cannot join the ISR", r).Field("new_isr", "offline replica")
		}
	}
	next := metadata.Clone(rec)
	next.Isr = slices.Clone(isr)
	next.PartitionEpoch++
	if v, _ := c.viewNow(ctx, alive); v != nil {
		// An ISR change may complete a reassignment: apply that in the same write.
		if n, why := c.advanceReassignment(next, v); why != "" {
			n.PartitionEpoch = next.GetPartitionEpoch()
			c.logPartitionChange(rec, n, []string{why})
			next = n
		}
	}
	key := mdstore.PartitionKey(req.GetTopic(), req.GetPartition())
	applied, err := c.write(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)},
		clientv3.OpPut(key, string(mdstore.Marshal(next))))
	if err != nil {
		return nil, err
	}
	if !applied {
		return nil, errs.New(errs.StaleEpoch, "partition %s-%d changed concurrently; re-read it", req.GetTopic(), req.GetPartition())
	}
	dir := "expand"
	if len(isr) < len(rec.GetIsr()) {
		dir = "shrink"
	}
	c.metrics.isrChanges.WithLabelValues(dir).Inc()
	c.log.Info("ISR changed", "topic", req.GetTopic(), "partition", req.GetPartition(), "from", rec.GetIsr(), "to", isr, "leader", rec.GetLeader())
	return &controllerv1.AlterPartitionResponse{Partition: next}, nil
}

// checkNodeEpoch fails unless epoch is the node's current registration.
func (c *Controller) checkNodeEpoch(ctx context.Context, id int32, epoch int64) error {
	resp, err := c.cli.Get(ctx, mdstore.NodeKey(id))
	if err != nil {
		return readErr(err)
	}
	if len(resp.Kvs) == 0 {
		return errs.New(errs.UnknownMember, "storage node %d is not registered", id)
	}
	n := &metadatav1.StorageNodeRecord{}
	if err := mdstore.Unmarshal(resp.Kvs[0].Value, n); err != nil {
		return err
	}
	if n.GetNodeEpoch() != epoch {
		return errs.New(errs.StaleEpoch, "storage node %d epoch %d is stale (current %d)", id, epoch, n.GetNodeEpoch())
	}
	return nil
}

// viewNow builds a cluster view for one-off decisions outside the loop.
func (c *Controller) viewNow(ctx context.Context, alive map[int32]bool) (*clusterView, error) {
	topics, err := list[metadatav1.TopicRecord](ctx, c.cli, mdstore.TopicsPrefix)
	if err != nil {
		return nil, err
	}
	v := &clusterView{alive: alive, topics: map[string]*metadatav1.TopicRecord{}}
	for _, t := range topics {
		v.topics[t.GetName()] = t
	}
	return v, nil
}
