package groups

import (
	"cmp"
	"context"
	"maps"
	"strconv"
	"strings"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/services/controller/mdstore"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// APIs are the Kafka API keys Handle serves.
var APIs = map[int16]bool{11: true, 14: true, 12: true, 13: true, 8: true, 9: true, 16: true, 15: true, 42: true, 47: true, 68: true, 69: true}

// Handle serves one decoded group request. It fails with NOT_CONTROLLER
// while the groups are not loaded (before the first load of a term, or
// after the term ended).
func (gc *Coordinator) Handle(ctx context.Context, kreq kmsg.Request, clientID, clientHost string) (kmsg.Response, error) {
	if err := gc.lockLoaded(); err != nil {
		return nil, err
	}
	gc.mu.Unlock()
	var resp kmsg.Response
	switch r := kreq.(type) {
	case *kmsg.JoinGroupRequest:
		resp = gc.join(ctx, r, clientID, clientHost)
	case *kmsg.SyncGroupRequest:
		resp = gc.sync(ctx, r)
	case *kmsg.HeartbeatRequest:
		resp = gc.heartbeat(r)
	case *kmsg.LeaveGroupRequest:
		resp = gc.leave(ctx, r)
	case *kmsg.OffsetCommitRequest:
		resp = gc.commit(ctx, r)
	case *kmsg.OffsetFetchRequest:
		resp = gc.fetchOffsets(ctx, r)
	case *kmsg.ListGroupsRequest:
		resp = gc.list(r)
	case *kmsg.DescribeGroupsRequest:
		resp = gc.describe(r)
	case *kmsg.DeleteGroupsRequest:
		resp = gc.deleteGroups(ctx, r)
	case *kmsg.OffsetDeleteRequest:
		resp = gc.deleteOffsets(ctx, r)
	case *kmsg.ConsumerGroupHeartbeatRequest:
		resp = gc.consumerHeartbeat(ctx, r, clientID, clientHost)
	case *kmsg.ConsumerGroupDescribeRequest:
		resp = gc.consumerDescribe(r)
	default:
		return nil, errs.New(errs.UnsupportedVersion, "%s is not a group call", kmsg.NameForKey(kreq.Key()))
	}
	if resp == nil {
		return nil, errs.New(errs.NotController, "the group coordinator moved; retry")
	}
	return resp, nil
}

func (gc *Coordinator) join(ctx context.Context, req *kmsg.JoinGroupRequest, clientID, clientHost string) kmsg.Response {
	if err := gc.classicTopics(ctx, req.Group, true); err != nil {
		return joinError(kerr.CoordinatorNotAvailable.Code, req.MemberID)
	}
	if err := gc.lockLoaded(); err != nil {
		return nil
	}
	now := time.Now()
	resp, wait := gc.joinLocked(ctx, req, clientID, clientHost, now)
	gc.mu.Unlock()
	if wait == nil {
		return resp
	}
	select {
	case r := <-wait:
		return r
	case <-ctx.Done():
		return joinError(kerr.RebalanceInProgress.Code, req.MemberID)
	}
}

func (gc *Coordinator) joinLocked(ctx context.Context, req *kmsg.JoinGroupRequest, clientID, clientHost string, now time.Time) (*kmsg.JoinGroupResponse, chan *kmsg.JoinGroupResponse) {
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	rebalance := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if req.Version == 0 {
		rebalance = session
	}
	switch {
	case req.Group == "":
		return joinError(kerr.InvalidGroupID.Code, req.MemberID), nil
	case session < groupMinSessionTimeout || session > groupMaxSessionTimeout:
		return joinError(kerr.InvalidSessionTimeout.Code, req.MemberID), nil
	case req.ProtocolType == "" || len(req.Protocols) == 0:
		return joinError(kerr.InconsistentGroupProtocol.Code, req.MemberID), nil
	}
	g := gc.groups[req.Group]
	if g == nil {
		if gc.full() {
			return joinError(kerr.CoordinatorNotAvailable.Code, req.MemberID), nil
		}
		g = &group{id: req.Group, members: map[string]*groupMember{}, pending: map[string]time.Time{}}
		gc.groups[req.Group] = g
	}
	if g.cg != nil {
		// Classic members join a consumer group with members unless the
		// migration policy is disabled (migrate.go); an empty one
		// becomes a classic group again, as Kafka downgrades it.
		if len(g.cg.members) > 0 {
			if gc.consumer.MigrationPolicy == MigrationDisabled {
				return joinError(kerr.InconsistentGroupProtocol.Code, req.MemberID), nil
			}
			return gc.classicJoin(ctx, g, req, clientID, clientHost, session, rebalance, now), nil
		}
		g.cg, g.state, g.protocolType = nil, groupEmpty, ""
	}
	if len(g.members) > 0 && g.protocolType != req.ProtocolType {
		return joinError(kerr.InconsistentGroupProtocol.Code, req.MemberID), nil
	}
	instance := ""
	if req.InstanceID != nil {
		instance = *req.InstanceID
	}
	var m *groupMember
	switch {
	case req.MemberID == "" && instance != "":
		for _, o := range g.members {
			if o.instanceID == instance {
				m = o
			}
		}
		if m != nil { // a static member restarted: it takes over its old identity
			old, oldLeader := m.id, g.leader
			delete(g.members, old)
			m.id = newMemberID(instance)
			g.members[m.id] = m
			if g.leader == old {
				g.leader = m.id
			}
			if m.joinWait != nil {
				m.joinWait <- joinError(kerr.FencedInstanceID.Code, old)
				m.joinWait = nil
			}
			if m.syncWait != nil {
				m.syncWait <- &kmsg.SyncGroupResponse{ErrorCode: kerr.FencedInstanceID.Code}
				m.syncWait = nil
			}
			// As Kafka does (KIP-345), a stable group whose protocol the
			// member still supports keeps its generation and assignment:
			// only the protocol is compared, not the metadata, which for
			// cooperative assignors carries the owned partitions and
			// generation that a restarted client no longer knows.
			unchanged := g.state == groupStable && g.protocolType == req.ProtocolType && hasProtocol(req.Protocols, g.protocol)
			m.protocols, m.sessionTimeout, m.rebalanceTimeout = req.Protocols, session, rebalance
			m.clientID, m.clientHost = clientID, clientHost
			m.deadline = now.Add(session)
			if unchanged {
				gc.persist(ctx, g)
				resp := kmsg.NewPtrJoinGroupResponse()
				resp.Generation, resp.ProtocolType, resp.Protocol = g.generation, &g.protocolType, &g.protocol
				// The leader id is the one before the restart, so a
				// restarted leader does not compute an assignment that a
				// stable group would not hand out (Kafka does the same;
				// clients recognise their old id by the instance prefix).
				resp.LeaderID, resp.MemberID = oldLeader, m.id
				if m.id == g.leader {
					resp.Members = g.memberList()
				}
				return resp, nil
			}
		}
	case req.MemberID == "":
		id := newMemberID(clientID)
		if instance != "" {
			id = newMemberID(instance)
		}
		if len(g.members)+len(g.pending) >= gc.maxSize {
			return joinError(kerr.GroupMaxSizeReached.Code, ""), nil
		}
		if req.Version >= 4 {
			g.pending[id] = now.Add(session)
			return joinError(kerr.MemberIDRequired.Code, id), nil
		}
		req.MemberID = id
	default:
		if fenced(g, req.MemberID, instance) {
			return joinError(kerr.FencedInstanceID.Code, req.MemberID), nil
		}
		m = g.members[req.MemberID]
		if m == nil {
			if _, ok := g.pending[req.MemberID]; !ok {
				return joinError(kerr.UnknownMemberID.Code, req.MemberID), nil
			}
			delete(g.pending, req.MemberID)
		} else if m.instanceID != instance {
			return joinError(kerr.FencedInstanceID.Code, req.MemberID), nil
		}
	}
	if !g.supportsProtocols(req.Protocols, m) {
		return joinError(kerr.InconsistentGroupProtocol.Code, req.MemberID), nil
	}
	if m == nil {
		id := req.MemberID
		if id == "" {
			id = newMemberID(cmp.Or(instance, clientID))
		}
		if len(g.members) >= gc.maxSize {
			return joinError(kerr.GroupMaxSizeReached.Code, req.MemberID), nil
		}
		m = &groupMember{id: id, instanceID: instance}
		gc.joinSeq++
		m.joinSeq = gc.joinSeq
		g.members[id] = m
	}
	changed := string(m.metadataFor(g.protocol)) != string(protocolMetadata(req.Protocols, g.protocol)) || len(m.protocols) == 0
	m.clientID, m.clientHost, m.protocols, m.sessionTimeout, m.rebalanceTimeout = clientID, clientHost, req.Protocols, session, rebalance
	g.protocolType = req.ProtocolType
	if (g.state == groupStable || g.state == groupCompleting) && !changed && m.id != g.leader {
		// A follower re-joining without changes: nothing to rebalance.
		m.deadline = now.Add(session)
		resp := kmsg.NewPtrJoinGroupResponse()
		resp.Generation, resp.ProtocolType, resp.Protocol = g.generation, &g.protocolType, &g.protocol
		resp.LeaderID, resp.MemberID = g.leader, m.id
		return resp, nil
	}
	if g.state != groupPreparing {
		gc.prepareRebalance(g, now)
	}
	if m.joinWait != nil {
		m.joinWait <- joinError(kerr.RebalanceInProgress.Code, m.id)
	}
	wait := make(chan *kmsg.JoinGroupResponse, 1)
	m.joinWait = wait
	gc.tryCompleteJoin(ctx, g, now)
	return nil, wait
}

func protocolMetadata(ps []kmsg.JoinGroupRequestProtocol, name string) []byte {
	for _, p := range ps {
		if p.Name == name {
			return p.Metadata
		}
	}
	return nil
}

// supportsProtocols reports whether a joining member shares a protocol
// with every other member.
func (g *group) supportsProtocols(ps []kmsg.JoinGroupRequestProtocol, self *groupMember) bool {
	for _, p := range ps {
		ok := true
		for _, o := range g.members {
			if o != self && len(o.protocols) > 0 && protocolMetadata(o.protocols, p.Name) == nil && !hasProtocol(o.protocols, p.Name) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func hasProtocol(ps []kmsg.JoinGroupRequestProtocol, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}

func (g *group) memberList() []kmsg.JoinGroupResponseMember {
	var out []kmsg.JoinGroupResponseMember
	for _, o := range g.members {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID, jm.ProtocolMetadata = o.id, o.metadataFor(g.protocol)
		if o.instanceID != "" {
			jm.InstanceID = &o.instanceID
		}
		out = append(out, jm)
	}
	return out
}

// fenced reports whether a static member (a non-empty group.instance.id)
// now belongs to another member id: the caller is an older incarnation
// that a restart with the same instance id replaced, and gets
// FENCED_INSTANCE_ID rather than UNKNOWN_MEMBER_ID, so it stops instead of
// rejoining and replacing the newer one in turn (Kafka's
// isStaticMemberFenced, KIP-345).
func fenced(g *group, memberID, instanceID string) bool {
	if instanceID == "" {
		return false
	}
	for _, o := range g.members {
		if o.instanceID == instanceID {
			return o.id != memberID
		}
	}
	return false
}

// member finds a member and checks its instance id and generation.
func (g *group) member(memberID string, instanceID *string, generation int32) (*groupMember, int16) {
	if g == nil {
		return nil, kerr.UnknownMemberID.Code
	}
	if instanceID != nil && fenced(g, memberID, *instanceID) {
		return nil, kerr.FencedInstanceID.Code
	}
	m := g.members[memberID]
	if m == nil {
		return nil, kerr.UnknownMemberID.Code
	}
	if instanceID != nil && m.instanceID != *instanceID {
		return nil, kerr.FencedInstanceID.Code
	}
	if generation != g.generation {
		return m, kerr.IllegalGeneration.Code
	}
	return m, 0
}

func (gc *Coordinator) sync(ctx context.Context, req *kmsg.SyncGroupRequest) kmsg.Response {
	if err := gc.classicTopics(ctx, req.Group, false); err != nil {
		r := req.ResponseKind().(*kmsg.SyncGroupResponse)
		r.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return r
	}
	if err := gc.lockLoaded(); err != nil {
		return nil
	}
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	g := gc.groups[req.Group]
	if g != nil && g.cg != nil {
		defer gc.mu.Unlock()
		return gc.classicSync(g, req, resp)
	}
	m, code := g.member(req.MemberID, req.InstanceID, req.Generation)
	if code != 0 {
		gc.mu.Unlock()
		resp.ErrorCode = code
		return resp
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		gc.mu.Unlock()
		resp.ErrorCode = kerr.InconsistentGroupProtocol.Code
		return resp
	}
	now := time.Now()
	m.deadline = now.Add(m.sessionTimeout)
	resp.ProtocolType, resp.Protocol = &g.protocolType, &g.protocol
	switch g.state {
	case groupPreparing, groupEmpty:
		gc.mu.Unlock()
		resp.ErrorCode = kerr.RebalanceInProgress.Code
		return resp
	case groupStable:
		resp.MemberAssignment = m.assignment
		gc.mu.Unlock()
		return resp
	}
	if m.id == g.leader {
		for _, a := range req.GroupAssignment {
			if o := g.members[a.MemberID]; o != nil {
				o.assignment = a.MemberAssignment
			}
		}
		g.state = groupStable
		gc.persist(ctx, g)
		for _, o := range g.members {
			if o.syncWait != nil {
				r := kmsg.NewPtrSyncGroupResponse()
				r.ProtocolType, r.Protocol, r.MemberAssignment = &g.protocolType, &g.protocol, o.assignment
				o.syncWait <- r
				o.syncWait = nil
			}
		}
		resp.MemberAssignment = m.assignment
		gc.mu.Unlock()
		return resp
	}
	if m.syncWait != nil {
		m.syncWait <- &kmsg.SyncGroupResponse{ErrorCode: kerr.RebalanceInProgress.Code}
	}
	wait := make(chan *kmsg.SyncGroupResponse, 1)
	m.syncWait = wait
	gc.mu.Unlock()
	select {
	case r := <-wait:
		resp.ErrorCode, resp.MemberAssignment = r.ErrorCode, r.MemberAssignment
		if r.ErrorCode != 0 {
			resp.ProtocolType, resp.Protocol = nil, nil
		}
		return resp
	case <-ctx.Done():
		resp.ErrorCode = kerr.RebalanceInProgress.Code
		return resp
	}
}

func (gc *Coordinator) heartbeat(req *kmsg.HeartbeatRequest) kmsg.Response {
	if err := gc.lockLoaded(); err != nil {
		return nil
	}
	defer gc.mu.Unlock()
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	g := gc.groups[req.Group]
	if g != nil && g.cg != nil {
		return gc.classicHeartbeat(g, req, resp)
	}
	m, code := g.member(req.MemberID, req.InstanceID, req.Generation)
	if m != nil && m.joinWait == nil {
		m.deadline = time.Now().Add(m.sessionTimeout)
	}
	switch {
	case code == kerr.IllegalGeneration.Code && g.state == groupPreparing:
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	case code != 0:
		resp.ErrorCode = code
	case g.state == groupPreparing:
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	}
	return resp
}

func (gc *Coordinator) leave(ctx context.Context, req *kmsg.LeaveGroupRequest) kmsg.Response {
	if err := gc.lockLoaded(); err != nil {
		return nil
	}
	defer gc.mu.Unlock()
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	g := gc.groups[req.Group]
	if g != nil && g.cg != nil {
		return gc.classicLeave(ctx, g, req, resp)
	}
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	removed := false
	for _, l := range leaving {
		lr := kmsg.NewLeaveGroupResponseMember()
		lr.MemberID, lr.InstanceID = l.MemberID, l.InstanceID
		var m *groupMember
		if g != nil {
			if l.InstanceID != nil {
				for _, o := range g.members {
					if o.instanceID == *l.InstanceID {
						m = o
					}
				}
				if m != nil && l.MemberID != "" && m.id != l.MemberID {
					lr.ErrorCode = kerr.FencedInstanceID.Code
					resp.Members = append(resp.Members, lr)
					continue
				}
			} else {
				m = g.members[l.MemberID]
			}
		}
		if m == nil {
			lr.ErrorCode = kerr.UnknownMemberID.Code
		} else {
			gc.removeMember(g, m)
			removed = true
		}
		resp.Members = append(resp.Members, lr)
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	if removed {
		now := time.Now()
		if g.state != groupPreparing {
			gc.prepareRebalance(g, now)
		}
		gc.tryCompleteJoin(ctx, g, now)
		if g.state != groupPreparing {
			gc.persist(ctx, g)
		}
	}
	return resp
}

func (gc *Coordinator) commit(ctx context.Context, req *kmsg.OffsetCommitRequest) kmsg.Response {
	if err := gc.lockLoaded(); err != nil {
		return nil
	}
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	code := int16(0)
	g := gc.groups[req.Group]
	switch {
	case req.Group == "":
		code = kerr.InvalidGroupID.Code
	case g != nil && g.cg != nil:
		var parts []tpName
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				parts = append(parts, tpName{t.Topic, p.Partition})
			}
		}
		code = g.cg.validateCommit(req.MemberID, req.Generation, parts, gc.topics)
		if m := g.cg.members[req.MemberID]; code == 0 && m != nil {
			m.deadline = time.Now().Add(gc.session(m))
		}
	case req.Generation < 0 && req.MemberID == "":
		if g != nil && len(g.members) > 0 {
			code = kerr.IllegalGeneration.Code
		}
	default:
		var m *groupMember
		m, code = g.committer(req.MemberID, req.InstanceID, req.Generation)
		if code == 0 {
			m.deadline = time.Now().Add(m.sessionTimeout)
			if g.state == groupCompleting {
				code = kerr.RebalanceInProgress.Code
			}
		}
	}
	created := false
	if code == 0 && g == nil && gc.full() {
		code = kerr.CoordinatorNotAvailable.Code
	}
	if code == 0 && g == nil {
		g = &group{id: req.Group, members: map[string]*groupMember{}, pending: map[string]time.Time{}}
		gc.groups[req.Group] = g
		created = true
	}
	if code == 0 {
		g.activeAt = time.Now()
	}
	gc.mu.Unlock()
	var ops []mdstore.Op
	now := time.Now().UnixMilli()
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			meta := ""
			if p.Metadata != nil {
				meta = *p.Metadata
			}
			if code == 0 && len(meta) > maxOffsetMetadata {
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			}
			if code == 0 && (t.Topic == "" || strings.Contains(t.Topic, "/")) {
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			if rp.ErrorCode == 0 {
				rec := &controllerv1.OffsetRecord{Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, Metadata: meta, CommitUnixMs: now}
				ops = append(ops, mdstore.Put(offsetKey(req.Group, t.Topic, p.Partition), mdstore.Marshal(rec)))
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(ops) > 0 {
		if created {
			ops = append(ops, mdstore.Put(groupMetaKey(req.Group), mdstore.Marshal(&controllerv1.GroupRecord{Group: req.Group})))
		}
		if _, err := gc.store.Write(ctx, nil, ops...); err != nil {
			code := errs.KafkaCode(err)
			if errs.Is(err, errs.NotController) {
				code = 16 // NOT_COORDINATOR: the client finds the coordinator again
			}
			for i := range resp.Topics {
				for j := range resp.Topics[i].Partitions {
					if resp.Topics[i].Partitions[j].ErrorCode == 0 {
						resp.Topics[i].Partitions[j].ErrorCode = code
					}
				}
			}
		}
	}
	return resp
}

// committed reads a group's committed offsets: topic → partition → record.
func (gc *Coordinator) committed(ctx context.Context, group string) (map[string]map[int32]*controllerv1.OffsetRecord, error) {
	prefix := groupOffsetsPrefix(group)
	kvs, err := gc.store.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := map[string]map[int32]*controllerv1.OffsetRecord{}
	for _, kv := range kvs {
		topic, part, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), prefix), "/")
		if !ok {
			continue
		}
		p, err := strconv.ParseInt(part, 10, 32)
		if err != nil {
			continue
		}
		rec := &controllerv1.OffsetRecord{}
		if mdstore.Unmarshal(kv.Value, rec) != nil {
			continue
		}
		if out[topic] == nil {
			out[topic] = map[int32]*controllerv1.OffsetRecord{}
		}
		out[topic][int32(p)] = rec
	}
	return out, nil
}

func (gc *Coordinator) fetchOffsets(ctx context.Context, req *kmsg.OffsetFetchRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group = rg.Group
			var topics []offsetFetchTopic
			if rg.Topics != nil {
				topics = []offsetFetchTopic{}
				for _, t := range rg.Topics {
					topics = append(topics, offsetFetchTopic{t.Topic, t.Partitions})
				}
			}
			res, code := gc.readOffsets(ctx, rg.Group, topics, req.RequireStable)
			if c := gc.validateOffsetFetch(rg); c != 0 {
				res, code = nil, c
			}
			g.ErrorCode = code
			for _, t := range res {
				gt := kmsg.NewOffsetFetchResponseGroupTopic()
				gt.Topic = t.topic
				for _, p := range t.parts {
					gp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
					gt.Partitions = append(gt.Partitions, gp)
				}
				g.Topics = append(g.Topics, gt)
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	}
	var topics []offsetFetchTopic
	if req.Topics != nil {
		topics = []offsetFetchTopic{}
		for _, t := range req.Topics {
			topics = append(topics, offsetFetchTopic{t.Topic, t.Partitions})
		}
	}
	res, code := gc.readOffsets(ctx, req.Group, topics, req.Version >= 7 && req.RequireStable)
	resp.ErrorCode = code
	for _, t := range res {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic, rt.Partitions = t.topic, t.parts
		if code != 0 && req.Version < 2 {
			for i := range rt.Partitions {
				rt.Partitions[i].ErrorCode = code
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// validateOffsetFetch checks the member id and epoch of an OffsetFetch
// v9+ to a consumer group, as Kafka does (STALE_MEMBER_EPOCH makes the
// client wait for its next heartbeat).
func (gc *Coordinator) validateOffsetFetch(rg kmsg.OffsetFetchRequestGroup) int16 {
	if rg.MemberID == nil && rg.MemberEpoch < 0 {
		return 0
	}
	gc.mu.Lock()
	defer gc.mu.Unlock()
	g := gc.groups[rg.Group]
	if g == nil || g.cg == nil {
		return 0
	}
	id := ""
	if rg.MemberID != nil {
		id = *rg.MemberID
	}
	m := g.cg.members[id]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case m.epoch != rg.MemberEpoch && m.classic != nil:
		return kerr.IllegalGeneration.Code
	case m.epoch != rg.MemberEpoch:
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

type offsetFetchTopic struct {
	topic string
	parts []int32
}

type offsetFetchResult struct {
	topic string
	parts []kmsg.OffsetFetchResponseTopicPartition
}

// readOffsets answers one group's OffsetFetch; topics nil means all. With
// requireStable (KIP-447), a partition with an offset pending in an open
// transaction gets UNSTABLE_OFFSET_COMMIT, which the client retries.
func (gc *Coordinator) readOffsets(ctx context.Context, group string, topics []offsetFetchTopic, requireStable bool) ([]offsetFetchResult, int16) {
	committed, err := gc.committed(ctx, group)
	if err != nil {
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	if topics == nil {
		for t, parts := range committed {
			ft := offsetFetchTopic{topic: t}
			for p := range parts {
				ft.parts = append(ft.parts, p)
			}
			topics = append(topics, ft)
		}
	}
	var pending map[string]map[int32]bool
	if requireStable && gc.pending != nil {
		pending = gc.pending(group)
	}
	var out []offsetFetchResult
	for _, t := range topics {
		r := offsetFetchResult{topic: t.topic}
		for _, p := range t.parts {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = p, -1, -1
			empty := ""
			rp.Metadata = &empty
			if rec := committed[t.topic][p]; rec != nil {
				meta := rec.GetMetadata()
				rp.Offset, rp.LeaderEpoch, rp.Metadata = rec.GetOffset(), rec.GetLeaderEpoch(), &meta
			}
			if pending[t.topic][p] {
				rp.ErrorCode = kerr.UnstableOffsetCommit.Code
			}
			r.parts = append(r.parts, rp)
		}
		out = append(out, r)
	}
	return out, 0
}

func (gc *Coordinator) list(req *kmsg.ListGroupsRequest) kmsg.Response {
	if err := gc.lockLoaded(); err != nil {
		return nil
	}
	defer gc.mu.Unlock()
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	for _, g := range gc.groups {
		state, typ := g.state.String(), "classic"
		if g.cg != nil {
			state, typ = g.cg.state(), "consumer"
		}
		if len(req.StatesFilter) > 0 && !containsFold(req.StatesFilter, state) {
			continue
		}
		if len(req.TypesFilter) > 0 && !containsFold(req.TypesFilter, typ) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.id, g.protocolType, state, typ
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// containsFold is contains ignoring case (Kafka matches group states and
// types case-insensitively).
func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func (gc *Coordinator) describe(req *kmsg.DescribeGroupsRequest) kmsg.Response {
	if err := gc.lockLoaded(); err != nil {
		return nil
	}
	defer gc.mu.Unlock()
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group, dg.State, dg.AuthorizedOperations = id, "Dead", -2147483648
		g := gc.groups[id]
		if g == nil || g.cg != nil {
			// As Kafka 4.0: DescribeGroups describes classic groups only;
			// v6+ says why (ConsumerGroupDescribe serves the others).
			if req.Version >= 6 {
				msg := "Group " + id + " not found."
				if g != nil {
					msg = "Group " + id + " is not a classic group."
				}
				dg.State, dg.ErrorCode, dg.ErrorMessage = "", kerr.GroupIDNotFound.Code, &msg
			}
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		{
			dg.State, dg.ProtocolType, dg.Protocol = g.state.String(), g.protocolType, g.protocol
			for _, m := range g.members {
				dm := kmsg.NewDescribeGroupsResponseGroupMember()
				dm.MemberID, dm.ClientID, dm.ClientHost = m.id, m.clientID, m.clientHost
				if m.instanceID != "" {
					dm.InstanceID = &m.instanceID
				}
				dm.ProtocolMetadata, dm.MemberAssignment = m.metadataFor(g.protocol), m.assignment
				dg.Members = append(dg.Members, dm)
			}
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (gc *Coordinator) deleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) kmsg.Response {
	if err := gc.lockLoaded(); err != nil {
		return nil
	}
	defer gc.mu.Unlock()
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		g := gc.groups[id]
		switch {
		case g == nil:
			dg.ErrorCode = kerr.GroupIDNotFound.Code
		case len(g.members) > 0 || g.cg != nil && len(g.cg.members) > 0:
			dg.ErrorCode = kerr.NonEmptyGroup.Code
		default:
			if _, err := gc.store.Write(ctx, nil, mdstore.DeletePrefix(groupKey(id))); err != nil {
				dg.ErrorCode = errs.KafkaCode(err)
			} else {
				delete(gc.groups, id)
			}
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (gc *Coordinator) deleteOffsets(ctx context.Context, req *kmsg.OffsetDeleteRequest) kmsg.Response {
	if err := gc.lockLoaded(); err != nil {
		return nil
	}
	defer gc.mu.Unlock()
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	g := gc.groups[req.Group]
	if g == nil {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp
	}
	subscribed := map[string]bool{}
	if g.cg != nil {
		for id := range maps.Keys(g.cg.subscribed) {
			subscribed[gc.topicName(id)] = true
		}
	}
	if g.protocolType == "consumer" {
		for _, m := range g.members {
			var meta kmsg.ConsumerMemberMetadata
			if meta.ReadFrom(m.metadataFor(g.protocol)) == nil {
				for _, t := range meta.Topics {
					subscribed[t] = true
				}
			}
		}
	}
	var ops []mdstore.Op
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			if subscribed[t.Topic] {
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			} else {
				ops = append(ops, mdstore.Delete(offsetKey(req.Group, t.Topic, p.Partition)))
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(ops) > 0 {
		if _, err := gc.store.Write(ctx, nil, ops...); err != nil {
			resp.ErrorCode = errs.KafkaCode(err)
		}
	}
	return resp
}
