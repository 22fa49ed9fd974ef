package controller

import (
	"context"
	"fmt"
	"slices"
	"time"

	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/internal/topicconfig"
	"github.com/strata-io/strata/services/controller/mdstore"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The active controller keeps every partition consistent with the live
// storage nodes: a partition whose leader died gets a new leader from its
// ISR (leader epoch bumped), dead nodes leave ISRs, a leaderless partition
// gets its leader back when an in-sync replica returns, and reassignments
// advance. It reconciles on every liveness change and periodically, so
// nothing is missed across controller failovers.

// reconcileEvery bounds how long a missed event can go unnoticed.
const reconcileEvery = 10 * time.Second

// clusterView is what one reconcile pass knows about the cluster.
type clusterView struct {
	alive  map[int32]bool
	topics map[string]*metadatav1.TopicRecord
}

// partitionStep computes the next state of one partition; it returns the
// new record and a reason when something changed. Steps run in order and
// each sees the previous one's result.
type partitionStep func(c *Controller, rec *metadatav1.PartitionRecord, v *clusterView) (*metadatav1.PartitionRecord, string)

// partitionSteps are the rules of the reconcile loop.
var partitionSteps = []partitionStep{
	(*Controller).moveOffOffline,
	(*Controller).electIfLeaderDead,
	(*Controller).dropDeadFromISR,
	(*Controller).advanceReassignment,
}

// runPartitionReconciler runs while this controller is active.
func (c *Controller) runPartitionReconciler(ctx context.Context) {
	wch := c.cli.Watch(clientv3.WithRequireLeader(ctx), mdstore.AlivePrefix, clientv3.WithPrefix())
	tick := time.NewTicker(reconcileEvery)
	defer tick.Stop()
	for {
		if err := c.reconcilePartitions(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("partition reconcile failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case _, ok := <-wch:
			if !ok {
				wch = c.cli.Watch(clientv3.WithRequireLeader(ctx), mdstore.AlivePrefix, clientv3.WithPrefix())
			}
		}
	}
}

// reconcilePartitions applies partitionSteps to every partition once.
func (c *Controller) reconcilePartitions(ctx context.Context) error {
	_, alive, err := c.storageNodes(ctx)
	if err != nil {
		return err
	}
	v, err := c.viewNow(ctx, alive)
	if err != nil {
		return err
	}
	resp, err := c.cli.Get(ctx, mdstore.PartitionsPrefix, clientv3.WithPrefix())
	if err != nil {
		return readErr(err)
	}
	offline, offlineReplicas, underReplicated := 0, 0, 0
	for _, kv := range resp.Kvs {
		rec := &metadatav1.PartitionRecord{}
		if err := mdstore.Unmarshal(kv.Value, rec); err != nil {
			return fmt.Errorf("%s: %w", kv.Key, err)
		}
		next, reasons := rec, []string{}
		for _, step := range partitionSteps {
			if n, why := step(c, next, v); why != "" {
				next, reasons = n, append(reasons, why)
			}
		}
		if len(reasons) > 0 {
			next.PartitionEpoch = rec.GetPartitionEpoch() + 1
			applied, err := c.write(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision)},
				clientv3.OpPut(string(kv.Key), string(mdstore.Marshal(next))))
			if err != nil {
				return err
			}
			if applied {
				c.logPartitionChange(rec, next, reasons)
			}
		}
		if next.GetLeader() < 0 {
			offline++
		}
		offlineReplicas += len(next.GetOfflineReplicas())
		if len(next.GetIsr()) < len(next.GetReplicas())-len(next.GetAddingReplicas()) {
			underReplicated++
		}
	}
	c.metrics.offlinePartitions.Set(float64(offline))
	c.metrics.offlineReplicas.Set(float64(offlineReplicas))
	c.metrics.underReplicated.Set(float64(underReplicated))
	return nil
}

func (c *Controller) logPartitionChange(old, rec *metadatav1.PartitionRecord, reasons []string) {
	if old.GetLeader() != rec.GetLeader() {
		c.metrics.leaderElections.Inc()
	}
	lvl := c.log.Info
	if rec.GetLeader() < 0 {
		lvl = c.log.Warn
	}
	lvl("partition changed", "topic", rec.GetTopic(), "partition", rec.GetPartition(), "why", reasons,
		"leader", rec.GetLeader(), "leader_epoch", rec.GetLeaderEpoch(), "isr", rec.GetIsr(), "replicas", rec.GetReplicas())
}

// electIfLeaderDead gives a partition whose leader is dead (or missing) a
// new leader: the first replica, in preference order, that is alive, in
// the ISR and not offline. With none, the partition stays leaderless and keeps its last
// ISR, so the old leader takes over again when it returns — unless the
// topic allows unclean election, which picks any live replica that is not
// offline and may lose acknowledged data.
func (c *Controller) electIfLeaderDead(rec *metadatav1.PartitionRecord, v *clusterView) (*metadatav1.PartitionRecord, string) {
	if rec.GetLeader() >= 0 && v.alive[rec.GetLeader()] {
		return rec, ""
	}
	if r := pickLeader(rec, rec.GetIsr(), v.alive); r >= 0 {
		return withLeader(rec, r, rec.GetIsr()), fmt.Sprintf("leader %d is not alive; elected %d from the ISR", rec.GetLeader(), r)
	}
	if t := v.topics[rec.GetTopic()]; t != nil && topicconfig.Effective(t.GetConfigs(), "unclean.leader.election.enable") == "true" {
		for _, r := range rec.GetReplicas() {
			if v.alive[r] && !slices.Contains(rec.GetOfflineReplicas(), r) {
				c.log.Warn("UNCLEAN LEADER ELECTION: no in-sync replica is alive; electing an out-of-sync replica, acknowledged records may be lost",
					"topic", rec.GetTopic(), "partition", rec.GetPartition(), "new_leader", r, "last_isr", rec.GetIsr())
				return withLeader(rec, r, []int32{r}), fmt.Sprintf("unclean election of %d", r)
			}
		}
	}
	if rec.GetLeader() < 0 {
		return rec, ""
	}
	next := metadata.Clone(rec)
	next.Leader, next.LeaderEpoch = -1, rec.GetLeaderEpoch()+1
	return next, fmt.Sprintf("leader %d is not alive and no other in-sync replica is", rec.GetLeader())
}

// dropDeadFromISR removes dead followers from the ISR (never the last
// member: it is the one that may lead again without losing data).
func (c *Controller) dropDeadFromISR(rec *metadatav1.PartitionRecord, v *clusterView) (*metadatav1.PartitionRecord, string) {
	var keep []int32
	for _, r := range rec.GetIsr() {
		if v.alive[r] || r == rec.GetLeader() {
			keep = append(keep, r)
		}
	}
	if len(keep) == len(rec.GetIsr()) || len(keep) == 0 {
		return rec, ""
	}
	next := metadata.Clone(rec)
	next.Isr = keep
	return next, "dead replicas left the ISR"
}

// withLeader returns rec led by leader at the next leader epoch.
func withLeader(rec *metadatav1.PartitionRecord, leader int32, isr []int32) *metadatav1.PartitionRecord {
	next := metadata.Clone(rec)
	next.Leader, next.LeaderEpoch, next.Isr = leader, rec.GetLeaderEpoch()+1, slices.Clone(isr)
	return next
}

// targetReplicas is where the partition is going: its replicas minus those
// a reassignment removes.
func targetReplicas(rec *metadatav1.PartitionRecord) []int32 {
	var out []int32
	for _, r := range rec.GetReplicas() {
		if !slices.Contains(rec.GetRemovingReplicas(), r) {
			out = append(out, r)
		}
	}
	return out
}

// partition reads one partition record with its mod revision.
func (c *Controller) partition(ctx context.Context, topic string, p int32) (*metadatav1.PartitionRecord, int64, error) {
	resp, err := c.cli.Get(ctx, mdstore.PartitionKey(topic, p))
	if err != nil {
		return nil, 0, readErr(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, errs.New(errs.UnknownTopicOrPartition, "partition %s-%d not found", topic, p)
	}
	rec := &metadatav1.PartitionRecord{}
	if err := mdstore.Unmarshal(resp.Kvs[0].Value, rec); err != nil {
		return nil, 0, err
	}
	return rec, resp.Kvs[0].ModRevision, nil
}
