// Package groups is the Kafka group coordinator (classic protocol) of the
// active controller. See proto/strata/controller/v1/groups.proto.
//
// State: groups live in memory on the active controller — members, their
// sessions, the rebalance in progress — because they change with timers.
// What must survive a failover is in etcd (docs/etcd-keys.md): a group's
// metadata (generation, protocol, leader, members and their assignments)
// after every completed rebalance and membership change, and every
// committed offset. A controller that becomes active loads both before it
// serves group calls (until then they get NOT_CONTROLLER, which gateways
// wait out); members of a stable group keep their generation and
// assignment and get fresh session timers.
//
// Lock order: Coordinator.mu, then etcd calls only for the writes
// that must be ordered with the state change (group metadata); offset
// commits validate under the lock and write after releasing it.
package groups

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/limits"
	"github.com/strata-io/strata/services/controller/mdstore"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Group coordinator limits and defaults (Kafka's broker defaults).
const (
	groupMinSessionTimeout = 6 * time.Second  // group.min.session.timeout.ms
	groupMaxSessionTimeout = 30 * time.Minute // group.max.session.timeout.ms
	groupTick              = 100 * time.Millisecond
	maxOffsetMetadata      = 4096 // offset.metadata.max.bytes
	groupsPrefix           = mdstore.Prefix + "groups/"
)

type groupState int

const (
	groupEmpty groupState = iota
	groupPreparing
	groupCompleting
	groupStable
)

func (s groupState) String() string {
	return [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable"}[s]
}

type groupMember struct {
	id, instanceID, clientID, clientHost string
	sessionTimeout, rebalanceTimeout     time.Duration
	protocols                            []kmsg.JoinGroupRequestProtocol
	assignment                           []byte
	deadline                             time.Time // session expiry while not waiting to join
	joinSeq                              int64
	// epoch is the member epoch it had when its consumer group was
	// downgraded (downgraded), until the rebalance that follows completes.
	epoch      int32
	downgraded bool
	joinWait   chan *kmsg.JoinGroupResponse
	syncWait   chan *kmsg.SyncGroupResponse
}

func (m *groupMember) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

type group struct {
	id                string
	state             groupState
	protocolType      string
	protocol          string
	generation        int32
	leader            string
	members           map[string]*groupMember
	pending           map[string]time.Time // member ids handed out with MEMBER_ID_REQUIRED
	rebalanceDeadline time.Time
	delayUntil        time.Time // initial rebalance delay of a group that was empty
	// cg is set for a group of the consumer protocol (KIP-848); such a
	// group has no classic members.
	cg *consumerGroup
	// activeAt is when the group last had members or an offset commit:
	// an Empty group is deleted, offsets and all, retention after it.
	activeAt time.Time
}

// Coordinator is the group coordinator of the active controller.
type Coordinator struct {
	store        mdstore.Store
	log          *slog.Logger
	initialDelay time.Duration
	// pending returns a group's partitions with offsets pending in open
	// transactions (SetPendingOffsets); nil: none.
	pending func(group string) map[string]map[int32]bool

	// retention is offsets.retention.minutes and maxSize group.max.size
	// (SetLimits; defaults in internal/limits).
	retention time.Duration
	maxSize   int
	maxGroups int

	mu       sync.Mutex
	loaded   bool
	groups   map[string]*group
	joinSeq  int64
	consumer ConsumerConfig
	// topics and topicNames are the topics as last read (refreshTopics),
	// for consumer groups' subscriptions; nil until the first read.
	topics       map[string]topicMeta
	topicNames   map[topicID]string
	topicsReadAt time.Time
}

// New returns a coordinator over store; initialDelay is Kafka's
// group.initial.rebalance.delay.ms.
func New(store mdstore.Store, log *slog.Logger, initialDelay time.Duration) *Coordinator {
	return &Coordinator{store: store, log: log, initialDelay: initialDelay, groups: map[string]*group{},
		retention: limits.OffsetsRetention, maxSize: limits.MaxGroupMembers, maxGroups: limits.MaxGroups, consumer: DefaultConsumerConfig()}
}

// SetLimits sets offsets.retention.minutes (how long an Empty group keeps
// its offsets), group.max.size (members and pending joins of one group)
// and the number of groups kept. Call it before Run.
func (gc *Coordinator) SetLimits(retention time.Duration, maxSize, maxGroups int) {
	gc.retention, gc.maxSize, gc.maxGroups = retention, maxSize, maxGroups
}

// full reports whether a new group would pass maxGroups. Called with mu
// held.
func (gc *Coordinator) full() bool {
	return len(gc.groups) >= gc.maxGroups
}

func groupKey(id string) string           { return groupsPrefix + url.PathEscape(id) + "/" }
func groupMetaKey(id string) string       { return groupKey(id) + "meta" }
func groupOffsetsPrefix(id string) string { return groupKey(id) + "offsets/" }
func offsetKey(id, topic string, p int32) string {
	return groupOffsetsPrefix(id) + topic + "/" + strconv.Itoa(int(p))
}

// Run serves groups while this controller is active: load, then expire
// sessions and rebalance deadlines until the term ends.
func (gc *Coordinator) Run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := gc.load(ctx); err != nil {
			gc.log.Warn("loading consumer groups failed; retrying", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		break
	}
	tick := time.NewTicker(groupTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			gc.unload()
			return
		case now := <-tick.C:
			gc.expire(ctx, now)
			gc.maybeRefreshTopics(ctx, now)
		}
	}
}

func (gc *Coordinator) load(ctx context.Context) error {
	kvs, err := gc.store.List(ctx, groupsPrefix)
	if err != nil {
		return err
	}
	groups := map[string]*group{}
	members := map[string][]*controllerv1.ConsumerMemberRecord{} // of consumer groups
	now := time.Now()
	for _, kv := range kvs {
		rest := strings.TrimPrefix(string(kv.Key), groupsPrefix)
		esc, tail, _ := strings.Cut(rest, "/")
		id, err := url.PathUnescape(esc)
		if err != nil {
			continue
		}
		g := groups[id]
		if g == nil {
			g = &group{id: id, members: map[string]*groupMember{}, pending: map[string]time.Time{}}
			groups[id] = g
		}
		if rest, ok := strings.CutPrefix(tail, "members/"); ok {
			rec := &controllerv1.ConsumerMemberRecord{}
			if mdstore.Unmarshal(kv.Value, rec) != nil {
				gc.log.Warn("bad consumer group member record", "group", id, "member", rest)
				continue
			}
			members[id] = append(members[id], rec)
			continue
		}
		if tail != "meta" { // an offset: retention counts from the latest commit
			rec := &controllerv1.OffsetRecord{}
			if mdstore.Unmarshal(kv.Value, rec) == nil {
				if at := time.UnixMilli(rec.GetCommitUnixMs()); at.After(g.activeAt) {
					g.activeAt = at
				}
			}
			continue
		}
		if g.activeAt.IsZero() {
			g.activeAt = now // updated by the offsets that follow
		}
		rec := &controllerv1.GroupRecord{}
		if err := mdstore.Unmarshal(kv.Value, rec); err != nil {
			gc.log.Warn("bad group record", "group", id, "err", err)
			continue
		}
		g.protocolType, g.protocol, g.generation, g.leader = rec.GetProtocolType(), rec.GetProtocol(), rec.GetGeneration(), rec.GetLeader()
		if rec.GetGroupType() == "consumer" {
			g.cg = newConsumerGroup()
			g.cg.epoch, g.cg.assignmentEpoch, g.cg.flushedEpoch = rec.GetGeneration(), rec.GetGeneration(), rec.GetGeneration()
			continue
		}
		for _, mr := range rec.GetMembers() {
			m := &groupMember{id: mr.GetMemberId(), instanceID: mr.GetInstanceId(), clientID: mr.GetClientId(), clientHost: mr.GetClientHost(),
				sessionTimeout: time.Duration(mr.GetSessionTimeoutMs()) * time.Millisecond, rebalanceTimeout: time.Duration(mr.GetRebalanceTimeoutMs()) * time.Millisecond,
				assignment: mr.GetAssignment()}
			for _, p := range mr.GetProtocols() {
				m.protocols = append(m.protocols, kmsg.JoinGroupRequestProtocol{Name: p.GetName(), Metadata: p.GetMetadata()})
			}
			m.deadline = now.Add(m.sessionTimeout)
			gc.joinSeq++
			m.joinSeq = gc.joinSeq
			g.members[m.id] = m
		}
		if len(g.members) > 0 {
			g.state = groupStable
		}
	}
	gc.mu.Lock()
	for id, recs := range members {
		if g := groups[id]; g != nil && g.cg != nil {
			g.cg.load(recs, now, gc.consumer.SessionTimeout)
		}
	}
	gc.groups, gc.loaded, gc.topics, gc.topicNames = groups, true, nil, nil
	gc.mu.Unlock()
	gc.log.Info("consumer groups loaded", "groups", len(groups))
	return nil
}

// unload drops the in-memory state at the end of a term; waiting calls get
// NOT_COORDINATOR so their clients find the coordinator again.
func (gc *Coordinator) unload() {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	for _, g := range gc.groups {
		for _, m := range g.members {
			if m.joinWait != nil {
				m.joinWait <- joinError(16, m.id)
			}
			if m.syncWait != nil {
				m.syncWait <- &kmsg.SyncGroupResponse{ErrorCode: kerr.NotCoordinator.Code}
			}
		}
	}
	gc.groups, gc.loaded = map[string]*group{}, false
}

// newMemberID is a fresh member id: the static member's group.instance.id
// or else the client id, then a random suffix (as Kafka forms them).
func newMemberID(clientID string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	if clientID == "" {
		clientID = "member"
	}
	return clientID + "-" + hex.EncodeToString(b)
}

func joinError(code int16, memberID string) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.ErrorCode, r.MemberID, r.Generation = code, memberID, -1
	return r
}

// expire removes members whose session ended and completes rebalances
// whose deadline passed.
func (gc *Coordinator) expire(ctx context.Context, now time.Time) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	gc.expireEmpty(ctx, now)
	for _, g := range gc.groups {
		if g.cg != nil {
			gc.expireConsumers(ctx, g, now)
			continue
		}
		for id, until := range g.pending {
			if now.After(until) {
				delete(g.pending, id)
			}
		}
		changed := false
		for id, m := range g.members {
			if m.joinWait == nil && now.After(m.deadline) {
				gc.log.Info("group member session expired", "group", g.id, "member", id)
				gc.removeMember(g, m)
				changed = true
			}
		}
		if changed && (g.state == groupStable || g.state == groupCompleting) {
			gc.prepareRebalance(g, now)
		}
		if g.state == groupPreparing {
			if now.After(g.rebalanceDeadline) {
				for _, m := range g.members {
					if m.joinWait == nil {
						gc.log.Info("group member did not rejoin in time", "group", g.id, "member", m.id)
						gc.removeMember(g, m)
					}
				}
				gc.completeJoin(ctx, g, now)
			} else {
				gc.tryCompleteJoin(ctx, g, now)
			}
		}
		if changed && g.state != groupPreparing {
			gc.persist(ctx, g)
		}
	}
}

// maxExpiredPerTick bounds the groups one tick deletes, so a backlog does
// not hold the lock for long.
const maxExpiredPerTick = 100

// expireEmpty deletes groups that have been Empty, without commits, for
// offsets.retention.minutes (Kafka's offset expiration for groups with no
// members, KIP-211), unless offsets of theirs are pending in a transaction.
func (gc *Coordinator) expireEmpty(ctx context.Context, now time.Time) {
	n := 0
	for id, g := range gc.groups {
		if len(g.members) > 0 || g.state != groupEmpty || g.cg != nil && len(g.cg.members) > 0 {
			g.activeAt = now
			continue
		}
		if gc.retention <= 0 || now.Sub(g.activeAt) < gc.retention || len(g.pending) > 0 {
			continue
		}
		if gc.pending != nil && len(gc.pending(id)) > 0 {
			continue
		}
		if n++; n > maxExpiredPerTick {
			return
		}
		if _, err := gc.store.Write(ctx, nil, mdstore.DeletePrefix(groupKey(id))); err != nil {
			gc.log.Warn("deleting an expired group failed", "group", id, "err", err)
			return
		}
		gc.log.Info("group expired: empty past offsets.retention.minutes", "group", id, "retention", gc.retention)
		delete(gc.groups, id)
	}
}

func (gc *Coordinator) removeMember(g *group, m *groupMember) {
	if m.joinWait != nil {
		m.joinWait <- joinError(kerr.UnknownMemberID.Code, m.id)
		m.joinWait = nil
	}
	if m.syncWait != nil {
		m.syncWait <- &kmsg.SyncGroupResponse{ErrorCode: kerr.UnknownMemberID.Code}
		m.syncWait = nil
	}
	delete(g.members, m.id)
}

func (gc *Coordinator) prepareRebalance(g *group, now time.Time) {
	if g.state == groupEmpty && gc.initialDelay > 0 {
		g.delayUntil = now.Add(gc.initialDelay)
	}
	g.state = groupPreparing
	var longest time.Duration
	for _, m := range g.members {
		longest = max(longest, m.rebalanceTimeout)
		if m.syncWait != nil {
			m.syncWait <- &kmsg.SyncGroupResponse{ErrorCode: kerr.RebalanceInProgress.Code}
			m.syncWait = nil
		}
	}
	g.rebalanceDeadline = now.Add(max(longest, gc.initialDelay))
}

func (gc *Coordinator) tryCompleteJoin(ctx context.Context, g *group, now time.Time) {
	if g.state != groupPreparing || now.Before(g.delayUntil) {
		return
	}
	for _, m := range g.members {
		if m.joinWait == nil {
			return
		}
	}
	gc.completeJoin(ctx, g, now)
}

// completeJoin ends the join phase: a new generation, a protocol everyone
// supports, a leader, and an answer to every waiting JoinGroup.
func (gc *Coordinator) completeJoin(ctx context.Context, g *group, now time.Time) {
	g.generation++
	g.delayUntil = time.Time{}
	if len(g.members) == 0 {
		g.state, g.protocol, g.leader = groupEmpty, "", ""
		gc.persist(ctx, g)
		return
	}
	g.protocol = selectProtocol(g)
	ordered := make([]*groupMember, 0, len(g.members))
	for _, m := range g.members {
		ordered = append(ordered, m)
	}
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].joinSeq < ordered[j].joinSeq })
	if _, ok := g.members[g.leader]; !ok {
		g.leader = ordered[0].id
	}
	g.state = groupCompleting
	for _, m := range ordered {
		m.assignment, m.downgraded = nil, false
		resp := kmsg.NewPtrJoinGroupResponse()
		resp.Generation, resp.ProtocolType, resp.Protocol = g.generation, &g.protocolType, &g.protocol
		resp.LeaderID, resp.MemberID = g.leader, m.id
		if m.id == g.leader {
			for _, o := range ordered {
				jm := kmsg.NewJoinGroupResponseMember()
				jm.MemberID, jm.ProtocolMetadata = o.id, o.metadataFor(g.protocol)
				if o.instanceID != "" {
					jm.InstanceID = &o.instanceID
				}
				resp.Members = append(resp.Members, jm)
			}
		}
		m.deadline = now.Add(m.sessionTimeout)
		if m.joinWait != nil {
			m.joinWait <- resp
			m.joinWait = nil
		}
	}
}

// selectProtocol picks the protocol every member supports that most
// members prefer (Kafka's vote).
func selectProtocol(g *group) string {
	var candidates []string
	first := true
	for _, m := range g.members {
		names := map[string]bool{}
		for _, p := range m.protocols {
			names[p.Name] = true
		}
		if first {
			for _, p := range m.protocols {
				candidates = append(candidates, p.Name)
			}
			first = false
			continue
		}
		kept := candidates[:0]
		for _, c := range candidates {
			if names[c] {
				kept = append(kept, c)
			}
		}
		candidates = kept
	}
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// persist writes the group's metadata (fenced); called with mu held.
func (gc *Coordinator) persist(ctx context.Context, g *group) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := gc.store.Write(wctx, nil, gc.groupRecordOp(g)); err != nil {
		gc.log.Warn("persisting group metadata failed", "group", g.id, "err", err)
	}
}

// groupRecordOp is the write of the group's metadata record.
func (gc *Coordinator) groupRecordOp(g *group) mdstore.Op {
	rec := &controllerv1.GroupRecord{Group: g.id, ProtocolType: g.protocolType, Protocol: g.protocol, Generation: g.generation, Leader: g.leader}
	if g.cg != nil {
		rec = consumerRecord(g)
	}
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := g.members[id]
		mr := &controllerv1.GroupMemberRecord{MemberId: m.id, InstanceId: m.instanceID, ClientId: m.clientID, ClientHost: m.clientHost,
			SessionTimeoutMs: int32(m.sessionTimeout / time.Millisecond), RebalanceTimeoutMs: int32(m.rebalanceTimeout / time.Millisecond),
			Assignment: m.assignment}
		for _, p := range m.protocols {
			mr.Protocols = append(mr.Protocols, &controllerv1.GroupProtocolRecord{Name: p.Name, Metadata: p.Metadata})
		}
		rec.Members = append(rec.Members, mr)
	}
	return mdstore.Put(groupMetaKey(g.id), mdstore.Marshal(rec))
}

// lockLoaded takes mu if the groups are loaded; otherwise NOT_CONTROLLER.
func (gc *Coordinator) lockLoaded() error {
	gc.mu.Lock()
	if !gc.loaded {
		gc.mu.Unlock()
		return errs.New(errs.NotController, "the group coordinator is loading; retry")
	}
	return nil
}
