package controller

import (
	"context"
	"fmt"
	"slices"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/services/controller/mdstore"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ElectLeaders is Kafka's ElectLeaders on the controller's election rules
// (preferred.go, partitions.go): one guarded write per partition that
// needs a new leader, each answered on its own.
//
//   - PREFERRED: the first target replica, if it is alive, in the ISR, not
//     offline and not shutting down; ELECTION_NOT_NEEDED when it already
//     leads, PREFERRED_LEADER_NOT_AVAILABLE when it cannot.
//   - UNCLEAN: only for a partition without a live leader (else
//     ELECTION_NOT_NEEDED): an in-sync replica when one can lead, otherwise
//     any live replica that is not offline, which may lose acknowledged
//     records; the record remembers the epoch (unclean_leader_epoch) so the
//     other replicas truncate to the new leader's log. With none,
//     ELIGIBLE_LEADERS_NOT_AVAILABLE.

// maxElectPartitions bounds one ElectLeaders request.
const maxElectPartitions = 100000

// electOne returns rec with the leader the election gives it, or the
// error that says why there is none.
func electOne(rec *metadatav1.PartitionRecord, typ adminv1.ElectionType, alive map[int32]bool, going func(int32) bool) (*metadatav1.PartitionRecord, bool, error) {
	name := fmt.Sprintf("%s-%d", rec.GetTopic(), rec.GetPartition())
	switch typ {
	case adminv1.ElectionType_ELECTION_TYPE_PREFERRED:
		target := targetReplicas(rec)
		if len(target) == 0 {
			return nil, false, errs.New(errs.PreferredLeaderNotAvailable, "partition %s has no replicas", name)
		}
		p := target[0]
		if p == rec.GetLeader() {
			return nil, false, errs.New(errs.ElectionNotNeeded, "the preferred replica %d already leads %s", p, name)
		}
		if !canLead(rec, p, rec.GetIsr(), alive) || going(p) {
			return nil, false, errs.New(errs.PreferredLeaderNotAvailable, "the preferred replica %d of %s is not alive, in the ISR %v and online", p, name, rec.GetIsr())
		}
		return withLeader(rec, p, rec.GetIsr()), false, nil
	case adminv1.ElectionType_ELECTION_TYPE_UNCLEAN:
		if l := rec.GetLeader(); l >= 0 && alive[l] && !slices.Contains(rec.GetOfflineReplicas(), l) {
			return nil, false, errs.New(errs.ElectionNotNeeded, "partition %s has a live leader, %d", name, l)
		}
		if r := pickLeader(rec, rec.GetIsr(), alive); r >= 0 {
			return withLeader(rec, r, rec.GetIsr()), false, nil
		}
		for _, r := range append(targetReplicas(rec), rec.GetReplicas()...) {
			if alive[r] && !slices.Contains(rec.GetOfflineReplicas(), r) {
				next := withLeader(rec, r, []int32{r})
				next.UncleanLeaderEpoch = next.GetLeaderEpoch()
				return next, true, nil
			}
		}
		return nil, false, errs.New(errs.EligibleLeadersNotAvailable, "no replica of %s (%v) is alive and online", name, rec.GetReplicas())
	}
	return nil, false, errs.New(errs.InvalidRequest, "unknown election type %v", typ)
}

type electTarget struct {
	key string
	rec *metadatav1.PartitionRecord
	rev int64
}

func (h *adminHandler) ElectLeaders(ctx context.Context, req *adminv1.ElectLeadersRequest) (*adminv1.ElectLeadersResponse, error) {
	typ := req.GetType()
	if typ != adminv1.ElectionType_ELECTION_TYPE_PREFERRED && typ != adminv1.ElectionType_ELECTION_TYPE_UNCLEAN {
		return nil, errs.New(errs.InvalidRequest, "election type must be preferred or unclean").Field("type", "unspecified")
	}
	if n := len(req.GetPartitions()); n > maxElectPartitions {
		return nil, errs.New(errs.InvalidRequest, "%d partitions in one election; the limit is %d", n, maxElectPartitions)
	}
	nodes, alive, err := h.c.storageNodes(ctx)
	if err != nil {
		return nil, err
	}
	going := h.c.shuttingDown.skipper(nodes)
	out := &adminv1.ElectLeadersResponse{}
	var targets []electTarget
	if req.GetAll() {
		resp, err := h.c.cli.Get(ctx, mdstore.PartitionsPrefix, clientv3.WithPrefix())
		if err != nil {
			return nil, readErr(err)
		}
		for _, kv := range resp.Kvs {
			rec := &metadatav1.PartitionRecord{}
			if err := mdstore.Unmarshal(kv.Value, rec); err != nil {
				return nil, fmt.Errorf("%s: %w", kv.Key, err)
			}
			targets = append(targets, electTarget{string(kv.Key), rec, kv.ModRevision})
		}
	} else {
		seen := map[string]bool{}
		for _, tp := range req.GetPartitions() {
			key := mdstore.PartitionKey(tp.GetTopic(), tp.GetPartition())
			if seen[key] {
				continue // asked twice: elect once, answer once
			}
			seen[key] = true
			res := &adminv1.ElectionResult{Topic: tp.GetTopic(), Partition: tp.GetPartition(), Leader: -1, LeaderEpoch: -1}
			if err := validName(tp.GetTopic()); err != nil {
				res.Error = errs.New(errs.UnknownTopicOrPartition, "%v", err).Detail
				out.Results = append(out.Results, res)
				continue
			}
			rec, rev, err := h.c.partition(ctx, tp.GetTopic(), tp.GetPartition())
			if err != nil {
				if e := errs.From(err); e != nil && e.Code() == errs.UnknownTopicOrPartition {
					res.Error = e.Detail
					out.Results = append(out.Results, res)
					continue
				}
				return nil, err
			}
			targets = append(targets, electTarget{key, rec, rev})
		}
	}
	for _, tg := range targets {
		res := &adminv1.ElectionResult{Topic: tg.rec.GetTopic(), Partition: tg.rec.GetPartition(), Leader: tg.rec.GetLeader(), LeaderEpoch: tg.rec.GetLeaderEpoch()}
		next, unclean, err := electOne(tg.rec, typ, alive, going)
		if err != nil {
			if req.GetAll() && errs.Is(err, errs.ElectionNotNeeded) {
				continue // as Kafka: an election of everything lists what it tried
			}
			res.Error = errs.From(err).Detail
			out.Results = append(out.Results, res)
			continue
		}
		next.PartitionEpoch = tg.rec.GetPartitionEpoch() + 1
		applied, err := h.c.write(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(tg.key), "=", tg.rev)},
			clientv3.OpPut(tg.key, string(mdstore.Marshal(next))))
		if err != nil {
			return nil, err
		}
		if !applied {
			res.Error = errs.New(errs.ConcurrentUpdate, "partition %s-%d changed during the election; retry", tg.rec.GetTopic(), tg.rec.GetPartition()).Detail
			out.Results = append(out.Results, res)
			continue
		}
		why := "preferred leader election (ElectLeaders)"
		if unclean {
			why = "UNCLEAN leader election (ElectLeaders): acknowledged records may be lost"
			h.c.log.Warn("UNCLEAN LEADER ELECTION requested: electing an out-of-sync replica, acknowledged records may be lost",
				"topic", next.GetTopic(), "partition", next.GetPartition(), "new_leader", next.GetLeader(), "last_isr", tg.rec.GetIsr())
		} else if typ == adminv1.ElectionType_ELECTION_TYPE_UNCLEAN {
			why = "leader election from the ISR (ElectLeaders unclean)"
		}
		h.c.logPartitionChange(tg.rec, next, []string{why})
		res.Leader, res.LeaderEpoch = next.GetLeader(), next.GetLeaderEpoch()
		out.Results = append(out.Results, res)
	}
	return out, nil
}
