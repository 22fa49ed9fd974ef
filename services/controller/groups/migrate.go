package groups

// Online migration between the classic and the consumer group protocol
// (KIP-848, Kafka 4.0's group.consumer.migration.policy):
//
//   - upgrade: a consumer-protocol member joining a classic group with
//     members converts it to a consumer group. The classic members become
//     members of it that keep speaking JoinGroup/SyncGroup/Heartbeat/
//     LeaveGroup: their subscription comes from their JoinGroup metadata,
//     the coordinator computes their assignment and hands it out in
//     SyncGroup, and a Heartbeat answers REBALANCE_IN_PROGRESS when they
//     must rejoin to move on (revoke, or pick up freed partitions).
//   - downgrade: when the last consumer-protocol member leaves (or is
//     fenced) and classic members remain, the group converts back to a
//     classic group and rebalances.
//
// Everything here is called with Coordinator.mu held.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/services/controller/mdstore"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Migration policies (group.consumer.migration.policy).
const (
	MigrationBidirectional = "bidirectional"
	MigrationUpgrade       = "upgrade"
	MigrationDowngrade     = "downgrade"
	MigrationDisabled      = "disabled"
)

// KnownMigrationPolicy reports whether p is a migration policy.
func KnownMigrationPolicy(p string) bool {
	return slices.Contains([]string{MigrationBidirectional, MigrationUpgrade, MigrationDowngrade, MigrationDisabled}, p)
}

func (c ConsumerConfig) upgradeEnabled() bool {
	return c.MigrationPolicy == MigrationBidirectional || c.MigrationPolicy == MigrationUpgrade
}

func (c ConsumerConfig) downgradeEnabled() bool {
	return c.MigrationPolicy == MigrationBidirectional || c.MigrationPolicy == MigrationDowngrade
}

// classicMeta is what a classic member of a consumer group sent in its
// last JoinGroup.
type classicMeta struct {
	session   time.Duration
	protocols []kmsg.JoinGroupRequestProtocol
}

// session is the member's session timeout: its own for a classic member.
func (gc *Coordinator) session(m *consumerMember) time.Duration {
	if m.classic != nil {
		return m.classic.session
	}
	return gc.consumer.SessionTimeout
}

// subscription decodes a classic member's embedded consumer protocol
// metadata (ConsumerProtocolSubscription); every protocol a consumer
// offers carries the same subscription, so the first one is read.
func subscription(ps []kmsg.JoinGroupRequestProtocol) (*kmsg.ConsumerMemberMetadata, error) {
	if len(ps) == 0 {
		return nil, fmt.Errorf("no protocols")
	}
	var meta kmsg.ConsumerMemberMetadata
	if err := meta.ReadFrom(ps[0].Metadata); err != nil {
		return nil, fmt.Errorf("protocol %s: %w", ps[0].Name, err)
	}
	for _, t := range meta.Topics {
		if t == "" || len(t) > 249 {
			return nil, fmt.Errorf("protocol %s: invalid topic name", ps[0].Name)
		}
	}
	return &meta, nil
}

// partsByName maps named partitions to ids, skipping topics that do not
// exist (any more).
func (gc *Coordinator) partsByName(topics map[string][]int32) partSet {
	out := partSet{}
	for name, parts := range topics {
		t, ok := gc.topics[name]
		if !ok {
			continue
		}
		for _, p := range parts {
			if p >= 0 && p < t.partitions {
				out[tpID{t.id, p}] = struct{}{}
			}
		}
	}
	return out
}

// encodeAssignment is a ConsumerProtocolAssignment of the partitions, at
// the version of the member's metadata (as Kafka answers).
func (gc *Coordinator) encodeAssignment(s partSet, version int16) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	a.Version = min(max(version, 0), 3)
	for _, p := range s.sorted() {
		name := gc.topicName(p.topic)
		if name == "" {
			continue
		}
		if n := len(a.Topics); n > 0 && a.Topics[n-1].Topic == name {
			a.Topics[n-1].Partitions = append(a.Topics[n-1].Partitions, p.part)
			continue
		}
		t := kmsg.NewConsumerMemberAssignmentTopic()
		t.Topic, t.Partitions = name, []int32{p.part}
		a.Topics = append(a.Topics, t)
	}
	return a.AppendTo(nil)
}

func metadataVersion(ps []kmsg.JoinGroupRequestProtocol) int16 {
	if len(ps) == 0 || len(ps[0].Metadata) < 2 {
		return 0
	}
	return int16(ps[0].Metadata[0])<<8 | int16(ps[0].Metadata[1])
}

// upgrade converts a classic group with members to a consumer group, for
// a consumer-protocol member that joins; a non-nil response refuses it.
// Each classic member keeps its generation (as its member epoch), its
// subscription and its assignment (also its target), so nothing moves
// until the joining member bumps the group epoch.
func (gc *Coordinator) upgrade(g *group, now time.Time) *kmsg.ConsumerGroupHeartbeatResponse {
	notConsumer := heartbeatError(kerr.GroupIDNotFound.Code, fmt.Sprintf("Group %s is not a consumer group.", g.id))
	switch {
	case !gc.consumer.upgradeEnabled():
		return notConsumer
	case g.protocolType != "consumer":
		return heartbeatError(kerr.GroupIDNotFound.Code, fmt.Sprintf("Group %s does not use the consumer embedded protocol; it cannot be upgraded.", g.id))
	case len(g.members) >= gc.maxSize:
		return heartbeatError(kerr.GroupMaxSizeReached.Code, fmt.Sprintf("The consumer group has reached its maximum capacity of %d members.", gc.maxSize))
	case g.state == groupCompleting:
		// The assignments of this generation are not known yet: a
		// member may still own what it had. Retry once the leader synced.
		return heartbeatError(kerr.CoordinatorLoadInProgress.Code, fmt.Sprintf("Group %s is completing a rebalance; retry.", g.id))
	}
	cg := newConsumerGroup()
	cg.epoch, cg.assignmentEpoch = g.generation, g.generation
	for _, o := range g.members {
		sub, err := subscription([]kmsg.JoinGroupRequestProtocol{{Name: g.protocol, Metadata: o.metadataFor(g.protocol)}})
		if err != nil {
			gc.log.Info("classic group not upgraded: bad member metadata", "group", g.id, "member", o.id, "err", err)
			return heartbeatError(kerr.GroupIDNotFound.Code, fmt.Sprintf("Cannot upgrade the classic group %s: %v.", g.id, err))
		}
		assigned := partSet{}
		if len(o.assignment) > 0 {
			var a kmsg.ConsumerMemberAssignment
			if err := a.ReadFrom(o.assignment); err != nil {
				return heartbeatError(kerr.GroupIDNotFound.Code, fmt.Sprintf("Cannot upgrade the classic group %s: member %s's assignment: %v.", g.id, o.id, err))
			}
			named := map[string][]int32{}
			for _, t := range a.Topics {
				named[t.Topic] = append(named[t.Topic], t.Partitions...)
			}
			assigned = gc.partsByName(named)
		}
		for p := range assigned {
			if _, taken := cg.owners[p]; taken {
				delete(assigned, p) // never two owners
			}
		}
		m := &consumerMember{id: o.id, instanceID: o.instanceID, clientID: o.clientID, clientHost: o.clientHost,
			epoch: g.generation, prevEpoch: g.generation, rebalanceTimeout: o.rebalanceTimeout,
			assigned: assigned, revoking: partSet{}, deadline: now.Add(o.sessionTimeout),
			classic: &classicMeta{session: o.sessionTimeout, protocols: slices.Clone(o.protocols)}}
		m.topicNames = sortedNames(sub.Topics)
		if sub.Rack != nil {
			m.rackID = *sub.Rack
		}
		cg.members[m.id] = m
		cg.target[m.id] = assigned.clone()
		cg.own(m, nil)
		cg.touch(m.id)
		// A member waiting in a rebalance rejoins the new one.
		if o.joinWait != nil {
			o.joinWait <- joinError(kerr.RebalanceInProgress.Code, o.id)
			o.joinWait = nil
		}
		if o.syncWait != nil {
			o.syncWait <- &kmsg.SyncGroupResponse{ErrorCode: kerr.RebalanceInProgress.Code}
			o.syncWait = nil
		}
	}
	gc.resubscribe(cg)
	gc.log.Info("classic group upgraded to a consumer group", "group", g.id, "members", len(cg.members), "epoch", cg.epoch)
	g.cg, g.members, g.pending = cg, map[string]*groupMember{}, map[string]time.Time{}
	g.state, g.protocolType, g.protocol, g.leader = groupEmpty, "consumer", "", ""
	return nil
}

func sortedNames(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}

// maybeDowngrade converts a consumer group whose remaining members all
// speak the classic protocol back to a classic group and starts a
// rebalance, as Kafka does when its last consumer-protocol member leaves.
// True when it did (the caller persists the classic group).
func (gc *Coordinator) maybeDowngrade(ctx context.Context, g *group, now time.Time) bool {
	cg := g.cg
	if cg == nil || len(cg.members) == 0 || !gc.consumer.downgradeEnabled() || len(cg.members) > gc.maxSize {
		return false
	}
	for _, m := range cg.members {
		if m.classic == nil {
			return false
		}
	}
	if len(cg.commonProtocols(nil, "")) == 0 {
		return false // cannot happen: classicJoin keeps one in common
	}
	ms := make([]*consumerMember, 0, len(cg.members))
	for _, m := range cg.members {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].id < ms[j].id })
	g.members = map[string]*groupMember{}
	for _, m := range ms {
		gm := &groupMember{id: m.id, instanceID: m.instanceID, clientID: m.clientID, clientHost: m.clientHost,
			sessionTimeout: m.classic.session, rebalanceTimeout: m.rebalanceTimeout, protocols: m.classic.protocols,
			assignment: gc.encodeAssignment(m.assigned, metadataVersion(m.classic.protocols)), deadline: now.Add(m.classic.session),
			epoch: m.epoch, downgraded: true}
		gc.joinSeq++
		gm.joinSeq = gc.joinSeq
		g.members[gm.id] = gm
	}
	g.cg, g.generation, g.protocolType, g.state = nil, cg.epoch, "consumer", groupStable
	g.protocol = selectProtocol(g)
	g.leader = ms[0].id
	gc.prepareRebalance(g, now)
	// One write: the classic record replaces the consumer group's.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := gc.store.Write(wctx, nil, mdstore.DeletePrefix(groupKey(g.id)+"members/"), gc.groupRecordOp(g)); err != nil {
		gc.log.Warn("persisting a downgraded group failed", "group", g.id, "err", err)
	}
	gc.log.Info("consumer group downgraded to a classic group", "group", g.id, "members", len(g.members), "generation", g.generation)
	return true
}

// committer is member for an offset commit: until the rebalance that
// follows a downgrade completes, a member also commits at the member epoch
// it had (it still owns those partitions: nothing was reassigned yet), as
// it would have in the consumer group; the eager ones commit so before
// they rejoin.
func (g *group) committer(memberID string, instanceID *string, generation int32) (*groupMember, int16) {
	m, code := g.member(memberID, instanceID, generation)
	if code == kerr.IllegalGeneration.Code && m.downgraded && m.epoch == generation {
		code = 0
	}
	return m, code
}

// commonProtocols is the protocol names every classic member offers, the
// member self replaced by one offering ps (nil ps: none replaced).
func (cg *consumerGroup) commonProtocols(ps []kmsg.JoinGroupRequestProtocol, self string) []string {
	var names []string
	first := ps == nil
	for _, p := range ps {
		names = append(names, p.Name)
	}
	for _, o := range cg.members {
		if o.classic == nil || o.id == self {
			continue
		}
		if first {
			for _, p := range o.classic.protocols {
				names = append(names, p.Name)
			}
			first = false
			continue
		}
		names = slices.DeleteFunc(names, func(n string) bool { return !hasProtocol(o.classic.protocols, n) })
	}
	return names
}

// classicMember finds a classic member of a consumer group by its member
// id, or by its instance id for a static member; the error code otherwise.
func (cg *consumerGroup) classicMember(memberID string, instanceID *string) (*consumerMember, int16) {
	var m *consumerMember
	if instanceID != nil {
		for _, o := range cg.members {
			if o.instanceID == *instanceID {
				m = o
			}
		}
		if m == nil {
			return nil, kerr.UnknownMemberID.Code
		}
		if m.id != memberID {
			return nil, kerr.FencedInstanceID.Code
		}
	} else if m = cg.members[memberID]; m == nil {
		return nil, kerr.UnknownMemberID.Code
	}
	if m.classic == nil {
		return nil, kerr.UnknownMemberID.Code // it speaks the consumer protocol
	}
	return m, 0
}

// classicJoin serves a JoinGroup to a consumer group with members: the
// member's subscription and owned partitions come from its metadata, and
// it is answered at once, as a follower (the coordinator assigns), with
// its member epoch as the generation.
func (gc *Coordinator) classicJoin(ctx context.Context, g *group, req *kmsg.JoinGroupRequest, clientID, clientHost string, session, rebalance time.Duration, now time.Time) *kmsg.JoinGroupResponse {
	cg := g.cg
	if req.ProtocolType != "consumer" {
		return joinError(kerr.InconsistentGroupProtocol.Code, req.MemberID)
	}
	sub, err := subscription(req.Protocols)
	if err != nil {
		return joinError(kerr.InconsistentGroupProtocol.Code, req.MemberID)
	}
	instance := ""
	if req.InstanceID != nil {
		instance = *req.InstanceID
	}
	id := req.MemberID
	var m *consumerMember
	var static *consumerMember
	if instance != "" {
		for _, o := range cg.members {
			if o.instanceID == instance {
				static = o
			}
		}
	}
	switch {
	case id == "" && static != nil:
		if static.classic == nil {
			return joinError(kerr.UnreleasedInstanceID.Code, "")
		}
		// A static member restarted: it takes over its old identity
		// (KIP-345) under a new member id, keeping its assignment.
		target := cg.target[static.id]
		cg.removeMember(static)
		cg.touch(static.id)
		id = newMemberID(instance)
		static.id = id
		cg.members[id] = static
		cg.target[id] = target
		cg.own(static, nil)
		m = static
	case id == "":
		if len(cg.members) >= gc.maxSize {
			return joinError(kerr.GroupMaxSizeReached.Code, "")
		}
		id = newMemberID(cmpOrStr(instance, clientID))
		if req.Version >= 4 && instance == "" {
			return joinError(kerr.MemberIDRequired.Code, id)
		}
	case static != nil && static.id != id:
		return joinError(kerr.FencedInstanceID.Code, id)
	}
	if m == nil {
		m = cg.members[id]
	}
	joined := m == nil
	if m != nil && m.classic == nil {
		return joinError(kerr.UnknownMemberID.Code, id)
	}
	if len(cg.commonProtocols(req.Protocols, id)) == 0 {
		// The classic members must share a protocol, for a downgrade.
		return joinError(kerr.InconsistentGroupProtocol.Code, id)
	}
	if joined {
		if len(cg.members) >= gc.maxSize {
			return joinError(kerr.GroupMaxSizeReached.Code, id)
		}
		m = &consumerMember{id: id, instanceID: instance, assigned: partSet{}, revoking: partSet{}}
		cg.members[id] = m
	}
	rec := m.record()
	m.classic = &classicMeta{session: session, protocols: slices.Clone(req.Protocols)}
	m.rebalanceTimeout, m.clientID, m.clientHost, m.assignor = rebalance, clientID, clientHost, ""
	if sub.Rack != nil {
		m.rackID = *sub.Rack
	}
	changed := joined
	if names := sortedNames(sub.Topics); !slices.Equal(names, m.topicNames) {
		m.topicNames, changed = names, true
	}
	if m.regex != "" {
		m.regex, m.re, changed = "", nil, true
	}
	if reloaded := gc.reloaded(cg); changed && !reloaded {
		gc.resubscribe(cg)
		cg.epoch++
	}
	if cg.epoch > cg.assignmentEpoch {
		gc.computeTarget(cg)
	}
	owned := map[string][]int32{}
	for _, t := range sub.OwnedPartitions {
		owned[t.Topic] = append(owned[t.Topic], t.Partitions...)
	}
	cg.reconcile(m, gc.partsByName(owned), now)
	m.deadline, m.rejoinBy, m.syncBy = now.Add(session), time.Time{}, now.Add(rebalance)
	if recordChanged(rec, m) {
		cg.touch(m.id)
	}
	gc.flush(ctx, g, false)
	resp := kmsg.NewPtrJoinGroupResponse()
	protocolType, protocol := "consumer", req.Protocols[0].Name
	resp.MemberID, resp.Generation, resp.ProtocolType, resp.Protocol = m.id, m.epoch, &protocolType, &protocol
	return resp
}

func cmpOrStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// classicSync serves a SyncGroup of a classic member of a consumer group:
// its current assignment, computed by the coordinator.
func (gc *Coordinator) classicSync(g *group, req *kmsg.SyncGroupRequest, resp *kmsg.SyncGroupResponse) *kmsg.SyncGroupResponse {
	cg := g.cg
	m, code := cg.classicMember(req.MemberID, req.InstanceID)
	switch {
	case code != 0:
	case req.Generation != m.epoch:
		code = kerr.IllegalGeneration.Code
	case req.ProtocolType != nil && *req.ProtocolType != "consumer",
		req.Protocol != nil && !hasProtocol(m.classic.protocols, *req.Protocol):
		code = kerr.InconsistentGroupProtocol.Code
	case cg.epoch > m.epoch && m.state != memberUnrevoked:
		// A newer rebalance: rejoin to catch up (a member revoking
		// partitions first finishes that).
		code = kerr.RebalanceInProgress.Code
		if m.rejoinBy.IsZero() {
			m.rejoinBy = time.Now().Add(m.rebalanceTimeout)
		}
	}
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	m.deadline, m.syncBy = time.Now().Add(m.classic.session), time.Time{}
	protocolType := "consumer"
	protocol := m.classic.protocols[0].Name
	if req.Protocol != nil {
		protocol = *req.Protocol
	}
	resp.ProtocolType, resp.Protocol = &protocolType, &protocol
	resp.MemberAssignment = gc.encodeAssignment(m.assigned, metadataVersion(m.classic.protocols))
	return resp
}

// classicHeartbeat serves a Heartbeat of a classic member of a consumer
// group: REBALANCE_IN_PROGRESS when it must rejoin (the group epoch
// moved, it must revoke partitions, or partitions it waits for are free).
func (gc *Coordinator) classicHeartbeat(g *group, req *kmsg.HeartbeatRequest, resp *kmsg.HeartbeatResponse) *kmsg.HeartbeatResponse {
	cg := g.cg
	m, code := cg.classicMember(req.MemberID, req.InstanceID)
	if code == 0 && req.Generation != m.epoch {
		code = kerr.IllegalGeneration.Code
	}
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	now := time.Now()
	m.deadline = now.Add(m.classic.session)
	if m.epoch < cg.epoch || m.state == memberUnrevoked || (m.state == memberUnreleased && !cg.waitingOnUnreleased(m)) {
		resp.ErrorCode = kerr.RebalanceInProgress.Code
		if m.rejoinBy.IsZero() {
			m.rejoinBy = now.Add(m.rebalanceTimeout)
		}
	}
	return resp
}

// waitingOnUnreleased reports whether a partition of the member's target
// is still owned by another member.
func (cg *consumerGroup) waitingOnUnreleased(m *consumerMember) bool {
	for p := range cg.target[m.id] {
		if o, ok := cg.owners[p]; ok && o != m.id {
			return true
		}
	}
	return false
}

// classicLeave serves a LeaveGroup to a consumer group: classic members
// leave as consumer-protocol members do (their partitions move at once).
func (gc *Coordinator) classicLeave(ctx context.Context, g *group, req *kmsg.LeaveGroupRequest, resp *kmsg.LeaveGroupResponse) *kmsg.LeaveGroupResponse {
	cg := g.cg
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	for _, l := range leaving {
		lr := kmsg.NewLeaveGroupResponseMember()
		lr.MemberID, lr.InstanceID = l.MemberID, l.InstanceID
		id := l.MemberID
		if l.InstanceID != nil && id == "" {
			for _, o := range cg.members {
				if o.instanceID == *l.InstanceID {
					id = o.id
				}
			}
		}
		m, code := cg.classicMember(id, l.InstanceID)
		if code == 0 {
			gc.log.Info("classic member left a consumer group", "group", g.id, "member", m.id)
			gc.fence(cg, m)
		}
		lr.ErrorCode = code
		resp.Members = append(resp.Members, lr)
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	if !gc.maybeDowngrade(ctx, g, time.Now()) {
		gc.flush(ctx, g, false)
	}
	return resp
}

func classicRecord(c *classicMeta) *controllerv1.ClassicMemberRecord {
	if c == nil {
		return nil
	}
	r := &controllerv1.ClassicMemberRecord{SessionTimeoutMs: int32(c.session / time.Millisecond)}
	for _, p := range c.protocols {
		r.Protocols = append(r.Protocols, &controllerv1.GroupProtocolRecord{Name: p.Name, Metadata: p.Metadata})
	}
	return r
}

// classicFromRecord is nil for a consumer-protocol member, or a classic
// record that does not make sense (the member is then skipped).
func classicFromRecord(r *controllerv1.ClassicMemberRecord) (*classicMeta, bool) {
	if r == nil {
		return nil, true
	}
	c := &classicMeta{session: time.Duration(r.GetSessionTimeoutMs()) * time.Millisecond}
	for _, p := range r.GetProtocols() {
		c.protocols = append(c.protocols, kmsg.JoinGroupRequestProtocol{Name: p.GetName(), Metadata: p.GetMetadata()})
	}
	if c.session <= 0 || len(c.protocols) == 0 {
		return nil, false
	}
	return c, true
}

// classicTopics reads the topics before a JoinGroup or SyncGroup of a
// classic member of a consumer group when they were never read (a newly
// active controller) or, for a join, not within the refresh interval:
// assignments are handed out by topic name.
func (gc *Coordinator) classicTopics(ctx context.Context, group string, join bool) error {
	if gc.lockLoaded() != nil {
		return nil // the caller answers NOT_CONTROLLER
	}
	g := gc.groups[group]
	stale := g != nil && g.cg != nil && len(g.cg.members) > 0 &&
		(gc.topics == nil || join && time.Since(gc.topicsReadAt) >= topicsRefresh)
	gc.mu.Unlock()
	if !stale {
		return nil
	}
	return gc.refreshTopics(ctx)
}
