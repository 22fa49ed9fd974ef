package storage

import (
	"context"
	"time"
)

// applyRoles makes every open replica lead or follow as the metadata says:
// a new leadership (or leader epoch) starts fresh leader state, and a
// partition led elsewhere follows its leader.
func (n *Node) applyRoles() {
	me := n.id()
	leaders := map[int32]bool{} // leader → whether it has a newly followed partition
	for _, p := range n.parts.online() {
		rec, ok := n.cache.Partition(p.key.topic, p.key.partition)
		if !ok {
			continue
		}
		if rec.GetLeader() == me {
			p.follow.Store(nil)
			if ls := p.leader.Load(); ls != nil && ls.epoch == rec.GetLeaderEpoch() {
				ls.apply(rec)
				continue
			}
			ls := newLeaderState(p, rec)
			if old := p.leader.Swap(ls); old != nil {
				old.resign()
			}
			if p.offline.Load() != nil && p.leader.CompareAndSwap(ls, nil) {
				ls.resign() // it failed meanwhile
				continue
			}
			n.Log.Debug("leading", "partition", replicaDir(p.key.topic, p.key.partition), "leader_epoch", rec.GetLeaderEpoch())
			continue
		}
		if old := p.leader.Swap(nil); old != nil {
			old.resign()
		}
		if rec.GetLeader() < 0 {
			p.follow.Store(nil)
			continue
		}
		if fs := p.follow.Load(); fs == nil || fs.leaderID != rec.GetLeader() || fs.epoch != rec.GetLeaderEpoch() {
			p.follow.Store(&followState{leaderID: rec.GetLeader(), epoch: rec.GetLeaderEpoch()})
			leaders[rec.GetLeader()] = true // a partition its loop must add now
		} else if _, ok := leaders[rec.GetLeader()]; !ok {
			leaders[rec.GetLeader()] = false
		}
	}
	n.fetchers.ensure(leaders)
}

// watchReplicaLag shrinks ISRs of lagging followers and refreshes the
// replication gauges.
func (n *Node) watchReplicaLag(ctx context.Context) {
	every := min(max(n.cfg.ReplicaLagTimeMax/4, 50*time.Millisecond), time.Second)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		under, maxLag := 0, time.Duration(0)
		for _, p := range n.parts.online() {
			if ls := p.leader.Load(); ls != nil {
				maxLag = max(maxLag, ls.checkLag(n.cfg.ReplicaLagTimeMax))
				if ls.underReplicated() {
					under++
				}
			}
		}
		n.metrics.underReplicated.Set(float64(under))
		n.metrics.maxLagMs.Set(float64(maxLag.Milliseconds()))
	}
}
