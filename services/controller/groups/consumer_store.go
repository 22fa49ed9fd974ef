package groups

// Persistence of consumer-protocol groups: the group record (type and
// epoch) at /strata/groups/<group>/meta and one ConsumerMemberRecord per
// member at /strata/groups/<group>/members/<member id>, written when the
// member's subscription, epoch or assignment changed. A newly active
// controller loads them, bumps each group's epoch and computes the target
// assignments again (sticking to what members own), so members keep their
// ids and partitions across a failover.

import (
	"context"
	"net/url"
	"regexp"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/services/controller/mdstore"
	"google.golang.org/protobuf/proto"
)

// maxOpsPerWrite stays below etcd's default --max-txn-ops (128).
const maxOpsPerWrite = 100

func consumerMemberKey(group, member string) string {
	return groupKey(group) + "members/" + url.PathEscape(member)
}

func partsRecord(s partSet) []*controllerv1.TopicPartitionsRecord {
	var out []*controllerv1.TopicPartitionsRecord
	for _, p := range s.sorted() {
		if n := len(out); n > 0 && string(out[n-1].TopicId) == string(p.topic[:]) {
			out[n-1].Partitions = append(out[n-1].Partitions, p.part)
			continue
		}
		id := p.topic
		out = append(out, &controllerv1.TopicPartitionsRecord{TopicId: id[:], Partitions: []int32{p.part}})
	}
	return out
}

func partsFromRecord(rs []*controllerv1.TopicPartitionsRecord) partSet {
	out := partSet{}
	for _, r := range rs {
		if len(r.GetTopicId()) != 16 {
			continue
		}
		for _, p := range r.GetPartitions() {
			if p >= 0 {
				out[tpID{topicID(r.GetTopicId()), p}] = struct{}{}
			}
		}
	}
	return out
}

func (m *consumerMember) record() *controllerv1.ConsumerMemberRecord {
	return &controllerv1.ConsumerMemberRecord{MemberId: m.id, InstanceId: m.instanceID, RackId: m.rackID, ClientId: m.clientID, ClientHost: m.clientHost,
		MemberEpoch: m.epoch, PreviousMemberEpoch: m.prevEpoch, State: int32(m.state), RebalanceTimeoutMs: int32(m.rebalanceTimeout / time.Millisecond),
		SubscribedTopicNames: m.topicNames, SubscribedTopicRegex: m.regex, ServerAssignor: m.assignor,
		Assigned: partsRecord(m.assigned), Revoking: partsRecord(m.revoking), Classic: classicRecord(m.classic)}
}

// memberFromRecord rebuilds a member; nil for a record that does not make
// sense (it is skipped, and the member rejoins).
func memberFromRecord(r *controllerv1.ConsumerMemberRecord, now time.Time, session time.Duration) *consumerMember {
	classic, ok := classicFromRecord(r.GetClassic())
	if !ok || r.GetMemberId() == "" || r.GetState() < 0 || r.GetState() > int32(memberUnreleased) {
		return nil
	}
	if classic != nil {
		session = classic.session
	}
	m := &consumerMember{id: r.GetMemberId(), instanceID: r.GetInstanceId(), rackID: r.GetRackId(), clientID: r.GetClientId(), clientHost: r.GetClientHost(),
		epoch: r.GetMemberEpoch(), prevEpoch: r.GetPreviousMemberEpoch(), state: memberState(r.GetState()),
		rebalanceTimeout: time.Duration(r.GetRebalanceTimeoutMs()) * time.Millisecond,
		topicNames:       r.GetSubscribedTopicNames(), regex: r.GetSubscribedTopicRegex(), assignor: r.GetServerAssignor(),
		assigned: partsFromRecord(r.GetAssigned()), revoking: partsFromRecord(r.GetRevoking()), deadline: now.Add(session), classic: classic}
	if m.regex != "" {
		re, err := regexp.Compile(m.regex)
		if err != nil {
			return nil
		}
		m.re = re
	}
	if m.state == memberUnrevoked {
		m.revokeDeadline = now.Add(m.rebalanceTimeout)
	}
	return m
}

// touch marks a member's record (or its removal) for the next flush.
func (cg *consumerGroup) touch(id string) {
	if cg.dirty == nil {
		cg.dirty = map[string]bool{}
	}
	cg.dirty[id] = true
}

// flush writes the group record when its epoch moved since the last flush
// (or always, with meta) and every touched member record; called with mu
// held.
func (gc *Coordinator) flush(ctx context.Context, g *group, meta bool) {
	cg := g.cg
	if meta || cg.epoch != cg.flushedEpoch {
		gc.persist(ctx, g)
		cg.flushedEpoch = cg.epoch
	}
	if len(cg.dirty) == 0 {
		return
	}
	var ops []mdstore.Op
	for id := range cg.dirty {
		if m := cg.members[id]; m != nil {
			ops = append(ops, mdstore.Put(consumerMemberKey(g.id, id), mdstore.Marshal(m.record())))
		} else {
			ops = append(ops, mdstore.Delete(consumerMemberKey(g.id, id)))
		}
	}
	cg.dirty = nil
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for len(ops) > 0 {
		n := min(len(ops), maxOpsPerWrite)
		if _, err := gc.store.Write(wctx, nil, ops[:n]...); err != nil {
			gc.log.Warn("persisting consumer group members failed", "group", g.id, "err", err)
			return
		}
		ops = ops[n:]
	}
}

// recordChanged reports whether a member's persisted form differs from
// before (nil: it had none).
func recordChanged(before *controllerv1.ConsumerMemberRecord, m *consumerMember) bool {
	return before == nil || !proto.Equal(before, m.record())
}

// reloaded handles a group loaded by a newly active controller at its
// first use: resolve the subscriptions and bump the epoch, so every member
// reconciles against a target computed again. True when it did.
func (gc *Coordinator) reloaded(cg *consumerGroup) bool {
	if !cg.reloaded || gc.topics == nil {
		return false
	}
	cg.reloaded = false
	gc.resubscribe(cg)
	cg.epoch++
	return true
}

// load adds the persisted members to a group read by load.
func (cg *consumerGroup) load(recs []*controllerv1.ConsumerMemberRecord, now time.Time, session time.Duration) {
	for _, r := range recs {
		m := memberFromRecord(r, now, session)
		if m == nil {
			continue
		}
		for _, s := range []partSet{m.assigned, m.revoking} {
			for p := range s {
				if _, taken := cg.owners[p]; taken {
					delete(s, p) // never two owners, whatever was stored
				}
			}
		}
		cg.members[m.id] = m
		cg.own(m, nil)
	}
	cg.reloaded = len(cg.members) > 0
}
