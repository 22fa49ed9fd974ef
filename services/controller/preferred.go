package controller

import (
	"context"
	"fmt"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/services/controller/mdstore"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Leadership drifts away from the preferred leader (the first replica)
// whenever a node dies or shuts down, and does not come back by itself:
// without a balancer the nodes that stayed up lead everything. Like Kafka's
// auto.leader.rebalance, the active controller moves it back periodically
// and on demand (ElectPreferredLeaders), only to a preferred replica that
// is alive, in the ISR and not offline, so no data is at risk.

// preferredLeader returns rec led by its preferred replica, or rec itself
// when it already is or the preferred replica cannot lead now.
func preferredLeader(rec *metadatav1.PartitionRecord, alive map[int32]bool, skip func(int32) bool) *metadatav1.PartitionRecord {
	target := targetReplicas(rec)
	if len(target) == 0 {
		return rec
	}
	p := target[0]
	if p == rec.GetLeader() || !canLead(rec, p, rec.GetIsr(), alive) || skip(p) {
		return rec
	}
	next := withLeader(rec, p, rec.GetIsr())
	next.PartitionEpoch = rec.GetPartitionEpoch() + 1
	return next
}

// electPreferred moves leadership to the preferred replica of every
// partition under prefix where it can, one guarded write per partition. A
// partition that changed meanwhile is left for the next run.
func (c *Controller) electPreferred(ctx context.Context, prefix string) ([]*adminv1.ElectedLeader, error) {
	nodes, alive, err := c.storageNodes(ctx)
	if err != nil {
		return nil, err
	}
	going := c.shuttingDown.skipper(nodes)
	resp, err := c.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, readErr(err)
	}
	out := []*adminv1.ElectedLeader{}
	for _, kv := range resp.Kvs {
		rec := &metadatav1.PartitionRecord{}
		if err := mdstore.Unmarshal(kv.Value, rec); err != nil {
			return nil, fmt.Errorf("%s: %w", kv.Key, err)
		}
		next := preferredLeader(rec, alive, going)
		if next == rec {
			continue
		}
		applied, err := c.write(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision)},
			clientv3.OpPut(string(kv.Key), string(mdstore.Marshal(next))))
		if err != nil {
			return out, err
		}
		if !applied {
			continue
		}
		c.logPartitionChange(rec, next, []string{"preferred leader election"})
		out = append(out, &adminv1.ElectedLeader{Topic: next.GetTopic(), Partition: next.GetPartition(), Leader: next.GetLeader(), LeaderEpoch: next.GetLeaderEpoch()})
	}
	return out, nil
}

func (h *adminHandler) ElectPreferredLeaders(ctx context.Context, req *adminv1.ElectPreferredLeadersRequest) (*adminv1.ElectPreferredLeadersResponse, error) {
	prefix := mdstore.PartitionsPrefix
	if req.GetTopic() != "" {
		if err := validName(req.GetTopic()); err != nil {
			return nil, err
		}
		if _, _, err := h.c.topic(ctx, req.GetTopic()); err != nil {
			return nil, err
		}
		prefix = mdstore.PartitionsOf(req.GetTopic())
	}
	elected, err := h.c.electPreferred(ctx, prefix)
	if err != nil {
		return nil, err
	}
	return &adminv1.ElectPreferredLeadersResponse{Elected: elected}, nil
}

// runLeaderBalancer runs while this controller is active: every interval
// it moves leadership back to preferred replicas. 0 turns it off.
func (c *Controller) runLeaderBalancer(ctx context.Context) {
	every := c.cfg.LeaderImbalanceCheckInterval
	if every <= 0 {
		return
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		elected, err := c.electPreferred(ctx, mdstore.PartitionsPrefix)
		if err != nil && ctx.Err() == nil {
			c.log.Warn("preferred leader election failed; retrying next interval", "err", err)
		}
		if len(elected) > 0 {
			c.log.Info("moved leadership back to preferred replicas", "partitions", len(elected))
		}
	}
}

// runActive is everything this controller runs while it is active.
func (c *Controller) runActive(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.runLeaderBalancer(ctx)
	}()
	c.runPartitionReconciler(ctx)
	<-done
}
