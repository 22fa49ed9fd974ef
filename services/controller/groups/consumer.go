package groups

// The consumer group protocol of KIP-848 (ConsumerGroupHeartbeat,
// ConsumerGroupDescribe): the coordinator resolves subscriptions, computes
// a target assignment with a server-side assignor whenever the group epoch
// moves past the assignment epoch, and hands each member its partitions
// step by step (reconcile): partitions it must give up first, then, at the
// target's epoch, the partitions no other member owns any more. A
// partition is therefore never owned by two members at once.
//
// State is in memory, driven by heartbeats and the coordinator's tick;
// the group's type and epoch and each member's record are persisted as
// they change (consumer_store.go), so a failover keeps the members.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/services/controller/mdstore"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumerConfig is the coordinator's consumer-protocol configuration
// (Kafka's group.consumer.* broker settings).
type ConsumerConfig struct {
	SessionTimeout    time.Duration // group.consumer.session.timeout.ms
	HeartbeatInterval time.Duration // group.consumer.heartbeat.interval.ms
	// Assignors are the server assignors offered, the first the default
	// (group.consumer.assignors): "uniform", "range".
	Assignors []string
	// MaxRegexLen bounds subscribed_topic_regex.
	MaxRegexLen int
	// MigrationPolicy is group.consumer.migration.policy (migrate.go).
	MigrationPolicy string
}

// DefaultConsumerConfig is Kafka 4.0's defaults.
func DefaultConsumerConfig() ConsumerConfig {
	return ConsumerConfig{SessionTimeout: 45 * time.Second, HeartbeatInterval: 5 * time.Second,
		Assignors: []string{"uniform", "range"}, MaxRegexLen: 4096, MigrationPolicy: MigrationBidirectional}
}

// KnownAssignor reports whether name is a server-side assignor
// ("uniform", "range").
func KnownAssignor(name string) bool { return assignors[name] != nil }

// SetConsumerConfig replaces the consumer-protocol configuration; call
// before Run.
func (gc *Coordinator) SetConsumerConfig(c ConsumerConfig) {
	gc.mu.Lock()
	gc.consumer = c
	gc.mu.Unlock()
}

type memberState int

const (
	memberStable     memberState = iota
	memberUnrevoked              // must give up partitions before it moves on
	memberUnreleased             // at the target epoch, waiting for partitions others still own
)

func (s memberState) String() string {
	return [...]string{"STABLE", "UNREVOKED_PARTITIONS", "UNRELEASED_PARTITIONS"}[s]
}

// leftStatic is the member epoch of a static member that left
// temporarily (epoch -2): it keeps its assignment for a session timeout.
const leftStatic = -2

type consumerMember struct {
	id, instanceID, rackID, clientID, clientHost string
	epoch, prevEpoch                             int32
	state                                        memberState
	rebalanceTimeout                             time.Duration
	topicNames                                   []string // sorted
	regex                                        string
	re                                           *regexp.Regexp
	assignor                                     string
	assigned, revoking                           partSet
	deadline                                     time.Time    // session expiry
	revokeDeadline                               time.Time    // rebalance timeout while unrevoked
	classic                                      *classicMeta // set for a member of the classic protocol (migrate.go)
	// rejoinBy and syncBy are a classic member's deadlines to rejoin
	// after REBALANCE_IN_PROGRESS and to sync after a join (its rebalance
	// timeout; zero: none), as Kafka's join and sync timeouts.
	rejoinBy, syncBy time.Time
}

type consumerGroup struct {
	epoch, assignmentEpoch int32
	members                map[string]*consumerMember
	target                 map[string]partSet
	owners                 map[tpID]string   // partition → member owning it (assigned or revoking)
	subscribed             map[topicID]int32 // resolved subscription: topic → partitions
	assignor               string            // of the last target
	dirty                  map[string]bool   // member records to write (or delete) at the next flush
	flushedEpoch           int32             // the epoch last persisted
	reloaded               bool              // loaded by a newly active controller, not used since
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{members: map[string]*consumerMember{}, target: map[string]partSet{}, owners: map[tpID]string{}}
}

// state is the group state Kafka reports for a consumer group.
func (cg *consumerGroup) state() string {
	if len(cg.members) == 0 {
		return "Empty"
	}
	if cg.assignmentEpoch != cg.epoch {
		return "Assigning"
	}
	for _, m := range cg.members {
		if m.epoch != cg.assignmentEpoch && m.epoch != leftStatic {
			return "Reconciling"
		}
	}
	return "Stable"
}

// topicMeta is a topic as the coordinator last read it from the metadata.
type topicMeta struct {
	id         topicID
	partitions int32
}

// refreshTopics reads the topics and bumps the epoch of every consumer
// group whose resolved subscription changed (a topic created, deleted, or
// given more partitions).
func (gc *Coordinator) refreshTopics(ctx context.Context) error {
	kvs, err := gc.store.List(ctx, mdstore.TopicsPrefix)
	if err != nil {
		return err
	}
	topics, names := make(map[string]topicMeta, len(kvs)), make(map[topicID]string, len(kvs))
	for _, kv := range kvs {
		rec := &metadatav1.TopicRecord{}
		if mdstore.Unmarshal(kv.Value, rec) != nil || len(rec.GetTopicId()) != 16 || rec.GetPartitionCount() <= 0 {
			continue
		}
		topics[rec.GetName()] = topicMeta{id: topicID(rec.GetTopicId()), partitions: rec.GetPartitionCount()}
		names[topicID(rec.GetTopicId())] = rec.GetName()
	}
	gc.mu.Lock()
	defer gc.mu.Unlock()
	gc.topics, gc.topicNames, gc.topicsReadAt = topics, names, time.Now()
	for _, g := range gc.groups {
		if g.cg == nil {
			continue
		}
		if !gc.reloaded(g.cg) && gc.resubscribe(g.cg) {
			g.cg.epoch++
		}
		gc.flush(ctx, g, false)
	}
	return nil
}

// resolve is the topics a member subscribes to that exist.
func (gc *Coordinator) resolve(m *consumerMember) map[topicID]bool {
	out := map[topicID]bool{}
	for _, n := range m.topicNames {
		if t, ok := gc.topics[n]; ok {
			out[t.id] = true
		}
	}
	if m.re != nil {
		for n, t := range gc.topics {
			if m.re.MatchString(n) {
				out[t.id] = true
			}
		}
	}
	return out
}

// resubscribe recomputes the group's resolved subscription; true when it
// changed (the caller bumps the group epoch).
func (gc *Coordinator) resubscribe(cg *consumerGroup) bool {
	sub := map[topicID]int32{}
	for _, m := range cg.members {
		for id := range gc.resolve(m) {
			sub[id] = gc.topics[gc.topicNames[id]].partitions
		}
	}
	changed := len(sub) != len(cg.subscribed)
	for id, n := range sub {
		if cg.subscribed[id] != n {
			changed = true
		}
	}
	cg.subscribed = sub
	return changed
}

func (gc *Coordinator) topicName(id topicID) string { return gc.topicNames[id] }

// newUUIDMemberID is a member id as Kafka's coordinator makes one for a
// v0 client that sent none.
func newUUIDMemberID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func heartbeatError(code int16, msg string) *kmsg.ConsumerGroupHeartbeatResponse {
	r := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	r.ErrorCode, r.ErrorMessage = code, &msg
	return r
}

// validateHeartbeat checks a heartbeat's fields as Kafka's coordinator
// does; nil when valid.
func (gc *Coordinator) validateHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	bad := func(msg string) *kmsg.ConsumerGroupHeartbeatResponse {
		return heartbeatError(kerr.InvalidRequest.Code, msg)
	}
	switch {
	case req.Group == "":
		return bad("GroupId can't be empty.")
	case req.Version >= 1 && req.MemberID == "":
		return bad("MemberId can't be empty.")
	case req.MemberEpoch < leftStatic:
		return bad("MemberEpoch is invalid.")
	case req.InstanceID != nil && *req.InstanceID == "":
		return bad("InstanceId can't be empty.")
	case req.MemberEpoch == 0 && req.RebalanceTimeoutMillis < 0:
		return bad("RebalanceTimeoutMs must be provided in first request.")
	case req.MemberEpoch == 0 && len(req.Topics) > 0:
		return bad("TopicPartitions must be empty when (re-)joining.")
	case req.MemberEpoch == 0 && req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
		return bad("SubscribedTopicNames or SubscribedTopicRegex must be set in first request.")
	case req.MemberEpoch == -1 && req.InstanceID == nil && req.MemberID == "":
		return bad("MemberId can't be empty.")
	}
	if req.ServerAssignor != nil && !slices.Contains(gc.consumer.Assignors, *req.ServerAssignor) {
		return heartbeatError(kerr.UnsupportedAssignor.Code, fmt.Sprintf("ServerAssignor %s is not supported. Supported assignors: %s.",
			*req.ServerAssignor, strings.Join(gc.consumer.Assignors, ", ")))
	}
	if r := req.SubscribedTopicRegex; r != nil && *r != "" {
		if len(*r) > gc.consumer.MaxRegexLen {
			return heartbeatError(kerr.InvalidRegularExpression.Code, "SubscribedTopicRegex is too long.")
		}
		if _, err := regexp.Compile(*r); err != nil {
			return heartbeatError(kerr.InvalidRegularExpression.Code, fmt.Sprintf("SubscribedTopicRegex `%s` is not a valid regular expression: %v.", *r, err))
		}
	}
	for _, n := range req.SubscribedTopicNames {
		if n == "" || len(n) > 249 {
			return bad("SubscribedTopicNames contains an invalid topic name.")
		}
	}
	return nil
}

// consumerHeartbeat serves ConsumerGroupHeartbeat: join (epoch 0),
// heartbeat, leave (-1, or -2 for a static member that comes back).
func (gc *Coordinator) consumerHeartbeat(ctx context.Context, req *kmsg.ConsumerGroupHeartbeatRequest, clientID, clientHost string) kmsg.Response {
	if err := gc.lockLoaded(); err != nil {
		return nil
	}
	// A join reads the topics unless they were read within the refresh
	// interval (they are not refreshed while no group has members).
	fresh := gc.topics != nil && (req.MemberEpoch != 0 || time.Since(gc.topicsReadAt) < topicsRefresh)
	gc.mu.Unlock()
	if !fresh {
		if err := gc.refreshTopics(ctx); err != nil {
			return heartbeatError(kerr.CoordinatorNotAvailable.Code, "reading topics: "+err.Error())
		}
	}
	if err := gc.lockLoaded(); err != nil {
		return nil
	}
	defer gc.mu.Unlock()
	if bad := gc.validateHeartbeat(req); bad != nil {
		return bad
	}
	now := time.Now()
	resp, g, created := gc.heartbeatLocked(req, clientID, clientHost, now)
	if g != nil && req.MemberEpoch == -1 && resp.ErrorCode == 0 && gc.maybeDowngrade(ctx, g, now) {
		return resp // persisted as a classic group
	}
	if g != nil {
		gc.flush(ctx, g, created)
	}
	return resp
}

// heartbeatLocked runs one heartbeat; it returns the consumer group to
// flush (nil when the heartbeat was refused before reaching one), and
// whether it was created (or upgraded from an empty classic group).
func (gc *Coordinator) heartbeatLocked(req *kmsg.ConsumerGroupHeartbeatRequest, clientID, clientHost string, now time.Time) (*kmsg.ConsumerGroupHeartbeatResponse, *group, bool) {
	g := gc.groups[req.Group]
	created := false
	switch {
	case g == nil && req.MemberEpoch != 0:
		return heartbeatError(kerr.GroupIDNotFound.Code, fmt.Sprintf("Group %s not found.", req.Group)), nil, false
	case g == nil:
		if gc.full() {
			return heartbeatError(kerr.CoordinatorNotAvailable.Code, "The coordinator holds as many groups as it may."), nil, false
		}
		g = &group{id: req.Group, members: map[string]*groupMember{}, pending: map[string]time.Time{}, activeAt: now}
		gc.groups[req.Group] = g
	}
	if g.cg == nil {
		created = true
		// A classic group becomes a consumer group when a
		// consumer-protocol member joins (Kafka's upgrade): an empty one
		// always, one with members as the migration policy allows.
		if req.MemberEpoch != 0 {
			return heartbeatError(kerr.GroupIDNotFound.Code, fmt.Sprintf("Group %s is not a consumer group.", req.Group)), nil, false
		}
		if len(g.members) > 0 {
			if refused := gc.upgrade(g, now); refused != nil {
				return refused, nil, false
			}
		} else {
			g.cg, g.state, g.protocolType, g.protocol, g.leader = newConsumerGroup(), groupEmpty, "consumer", "", ""
			g.cg.epoch = g.generation
		}
	}
	cg := g.cg
	gc.reloaded(cg)
	if req.MemberEpoch < 0 {
		return gc.consumerLeave(g, req), g, created
	}
	m, joined, errResp := gc.lookupMember(cg, req)
	if errResp != nil {
		return errResp, g, created
	}
	var rec *controllerv1.ConsumerMemberRecord
	if !joined {
		rec = m.record()
	}
	changed := joined
	if req.InstanceID != nil {
		m.instanceID = *req.InstanceID
	}
	if req.RackID != nil {
		m.rackID = *req.RackID
	}
	if req.RebalanceTimeoutMillis >= 0 {
		m.rebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.assignor {
		m.assignor, changed = *req.ServerAssignor, true
	}
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.topicNames) {
			m.topicNames, changed = names, true
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != m.regex {
		m.regex, m.re, changed = *req.SubscribedTopicRegex, nil, true
		if m.regex != "" {
			m.re = regexp.MustCompile(m.regex) // validated
		}
	}
	m.clientID, m.clientHost = clientID, clientHost
	// Topic changes are resolved by refreshTopics; a heartbeat resolves
	// again only when the member's own subscription changed.
	if changed {
		gc.resubscribe(cg)
		cg.epoch++
	}
	if cg.epoch > cg.assignmentEpoch {
		gc.computeTarget(cg)
	}
	var owned partSet
	if req.Topics != nil {
		owned = partSet{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				owned[tpID{t.TopicID, p}] = struct{}{}
			}
		}
	}
	before := m.assigned.clone()
	cg.reconcile(m, owned, now)
	m.deadline = now.Add(gc.consumer.SessionTimeout)

	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	resp.MemberID, resp.MemberEpoch = &m.id, m.epoch
	resp.HeartbeatIntervalMillis = int32(gc.consumer.HeartbeatInterval / time.Millisecond)
	full := req.MemberEpoch == 0 || (req.RebalanceTimeoutMillis != -1 && req.SubscribedTopicNames != nil && req.Topics != nil)
	if full || !before.equal(m.assigned) {
		resp.Assignment = assignmentOf(m.assigned)
	}
	if recordChanged(rec, m) {
		cg.touch(m.id)
	}
	return resp, g, created
}

func assignmentOf(s partSet) *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	a := &kmsg.ConsumerGroupHeartbeatResponseAssignment{}
	a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
	for _, p := range s.sorted() {
		if n := len(a.Topics); n > 0 && a.Topics[n-1].TopicID == p.topic {
			a.Topics[n-1].Partitions = append(a.Topics[n-1].Partitions, p.part)
			continue
		}
		t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
		t.TopicID, t.Partitions = p.topic, []int32{p.part}
		a.Topics = append(a.Topics, t)
	}
	return a
}

// lookupMember finds, creates or replaces the heartbeating member and
// checks its epoch and instance id as Kafka does.
//
// joined is true for a member new to the group.
func (gc *Coordinator) lookupMember(cg *consumerGroup, req *kmsg.ConsumerGroupHeartbeatRequest) (m *consumerMember, joined bool, errResp *kmsg.ConsumerGroupHeartbeatResponse) {
	id := req.MemberID
	if id == "" {
		id = newUUIDMemberID() // v0: the coordinator names the member
	}
	var static *consumerMember
	if req.InstanceID != nil {
		for _, o := range cg.members {
			if o.instanceID == *req.InstanceID {
				static = o
			}
		}
	}
	if req.MemberEpoch == 0 {
		if static != nil && static.id != id {
			if static.epoch != leftStatic {
				return nil, false, heartbeatError(kerr.UnreleasedInstanceID.Code, fmt.Sprintf("Static member %s with instance id %s is not released yet.", static.id, *req.InstanceID))
			}
			// The static member comes back under a new member id and
			// keeps its assignment and target (KIP-345 for KIP-848).
			target := cg.target[static.id]
			cg.removeMember(static)
			cg.touch(static.id)
			cg.touch(id)
			m = &consumerMember{id: id, instanceID: static.instanceID, topicNames: static.topicNames, regex: static.regex, re: static.re,
				assignor: static.assignor, rebalanceTimeout: static.rebalanceTimeout, assigned: static.assigned, revoking: partSet{}}
			cg.members[id] = m
			cg.target[id] = target
			cg.own(m, nil)
			return m, false, nil
		}
		if m := cg.members[id]; m != nil && m.classic != nil {
			return nil, false, heartbeatError(kerr.UnknownMemberID.Code, fmt.Sprintf("Member %s does not use the consumer protocol.", id))
		}
		if m := cg.members[id]; m != nil {
			// A member rejoining with its id (a lost response): it has
			// given up its partitions, so it starts over in place.
			cg.release(m)
			cg.touch(m.id)
			m.assigned, m.revoking, m.epoch, m.prevEpoch, m.state = partSet{}, partSet{}, 0, 0, memberStable
			return m, false, nil
		}
		if len(cg.members) >= gc.maxSize {
			return nil, false, heartbeatError(kerr.GroupMaxSizeReached.Code, fmt.Sprintf("The consumer group has reached its maximum capacity of %d members.", gc.maxSize))
		}
		m = &consumerMember{id: id, assigned: partSet{}, revoking: partSet{}}
		cg.members[id] = m
		return m, true, nil
	}
	if req.InstanceID != nil {
		if static == nil {
			return nil, false, heartbeatError(kerr.UnknownMemberID.Code, fmt.Sprintf("Instance id %s is unknown.", *req.InstanceID))
		}
		if static.id != id {
			return nil, false, heartbeatError(kerr.FencedInstanceID.Code, fmt.Sprintf("Static member %s with instance id %s was replaced by member %s.", id, *req.InstanceID, static.id))
		}
	}
	m = cg.members[id]
	if m == nil {
		return nil, false, heartbeatError(kerr.UnknownMemberID.Code, fmt.Sprintf("Member %s is not a member of group %s.", id, req.Group))
	}
	if m.classic != nil {
		return nil, false, heartbeatError(kerr.UnknownMemberID.Code, fmt.Sprintf("Member %s does not use the consumer protocol.", id))
	}
	if req.MemberEpoch > m.epoch {
		return nil, false, heartbeatError(kerr.FencedMemberEpoch.Code, fmt.Sprintf("The member has a greater member epoch (%d) than the one known by the coordinator (%d).", req.MemberEpoch, m.epoch))
	}
	if req.MemberEpoch < m.epoch {
		// The previous epoch with a subset of the assignment: the
		// response that bumped the epoch was lost.
		ok := req.MemberEpoch == m.prevEpoch && req.Topics != nil
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				if !m.assigned.has(tpID{t.TopicID, p}) {
					ok = false
				}
			}
		}
		if !ok {
			return nil, false, heartbeatError(kerr.FencedMemberEpoch.Code, fmt.Sprintf("The member has a smaller member epoch (%d) than the one known by the coordinator (%d).", req.MemberEpoch, m.epoch))
		}
	}
	return m, false, nil
}

// consumerLeave serves epochs -1 (leave) and -2 (a static member leaves
// for now, keeping its assignment until its session expires).
func (gc *Coordinator) consumerLeave(g *group, req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	cg := g.cg
	var m *consumerMember
	if req.InstanceID != nil {
		for _, o := range cg.members {
			if o.instanceID == *req.InstanceID {
				m = o
			}
		}
		if m == nil {
			return heartbeatError(kerr.UnknownMemberID.Code, fmt.Sprintf("Instance id %s is unknown.", *req.InstanceID))
		}
		if m.id != req.MemberID {
			return heartbeatError(kerr.FencedInstanceID.Code, fmt.Sprintf("Static member %s with instance id %s was replaced by member %s.", req.MemberID, *req.InstanceID, m.id))
		}
	} else if m = cg.members[req.MemberID]; m == nil {
		return heartbeatError(kerr.UnknownMemberID.Code, fmt.Sprintf("Member %s is not a member of group %s.", req.MemberID, g.id))
	}
	if m.classic != nil {
		return heartbeatError(kerr.UnknownMemberID.Code, fmt.Sprintf("Member %s does not use the consumer protocol.", m.id))
	}
	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	resp.MemberID, resp.MemberEpoch = &req.MemberID, req.MemberEpoch
	resp.HeartbeatIntervalMillis = int32(gc.consumer.HeartbeatInterval / time.Millisecond)
	if req.MemberEpoch == leftStatic && m.instanceID != "" {
		for p := range m.revoking {
			delete(cg.owners, p)
		}
		m.revoking, m.epoch, m.state = partSet{}, leftStatic, memberStable
		cg.touch(m.id)
		return resp
	}
	gc.log.Info("consumer group member left", "group", g.id, "member", m.id)
	gc.fence(cg, m)
	return resp
}

// fence removes a member and bumps the group epoch so the others get its
// partitions.
func (gc *Coordinator) fence(cg *consumerGroup, m *consumerMember) {
	cg.removeMember(m)
	cg.touch(m.id)
	gc.resubscribe(cg)
	cg.epoch++
}

func (cg *consumerGroup) removeMember(m *consumerMember) {
	cg.release(m)
	delete(cg.members, m.id)
	delete(cg.target, m.id)
}

// release drops the member's ownership of its partitions.
func (cg *consumerGroup) release(m *consumerMember) {
	for _, s := range []partSet{m.assigned, m.revoking} {
		for p := range s {
			if cg.owners[p] == m.id {
				delete(cg.owners, p)
			}
		}
	}
}

// own records the member's partitions as owned by it, after releasing
// what it had before (old; nil: nothing).
func (cg *consumerGroup) own(m *consumerMember, old []partSet) {
	for _, s := range old {
		for p := range s {
			if cg.owners[p] == m.id {
				delete(cg.owners, p)
			}
		}
	}
	for _, s := range []partSet{m.assigned, m.revoking} {
		for p := range s {
			cg.owners[p] = m.id
		}
	}
}

// computeTarget runs the group's assignor over its members and their
// resolved subscriptions, and moves the assignment epoch to the group
// epoch. The assignor is the one most members ask for, else the default.
func (gc *Coordinator) computeTarget(cg *consumerGroup) {
	votes := map[string]int{}
	for _, m := range cg.members {
		if m.assignor != "" {
			votes[m.assignor]++
		}
	}
	name := gc.consumer.Assignors[0]
	for _, a := range gc.consumer.Assignors {
		if votes[a] > votes[name] {
			name = a
		}
	}
	ms := make([]assignMember, 0, len(cg.members))
	for _, m := range cg.members {
		current := cg.target[m.id]
		if current == nil {
			// No previous target (a newly active controller): stick to
			// what the member owns.
			current = m.assigned
		}
		ms = append(ms, assignMember{id: m.id, instance: m.instanceID, topics: gc.resolve(m), current: current})
	}
	cg.target = assignors[name](ms, cg.subscribed)
	cg.assignor, cg.assignmentEpoch = name, cg.epoch
}

// reconcile moves a member toward its target (Kafka's
// CurrentAssignmentBuilder). owned is what the member reported owning
// (nil: not reported, i.e. unchanged).
func (cg *consumerGroup) reconcile(m *consumerMember, owned partSet, now time.Time) {
	if m.epoch == leftStatic {
		return
	}
	ownsAny := func(s partSet) bool {
		if owned == nil {
			return true
		}
		for p := range s {
			if owned.has(p) {
				return true
			}
		}
		return false
	}
	switch m.state {
	case memberUnrevoked:
		if ownsAny(m.revoking) {
			return
		}
		for p := range m.revoking {
			if cg.owners[p] == m.id {
				delete(cg.owners, p)
			}
		}
		m.revoking = partSet{}
	case memberStable:
		if m.epoch == cg.assignmentEpoch {
			return
		}
	}
	target := cg.target[m.id]
	kept, revoke := partSet{}, partSet{}
	for p := range m.assigned {
		if target.has(p) {
			kept[p] = struct{}{}
		} else {
			revoke[p] = struct{}{}
		}
	}
	old := []partSet{m.assigned, m.revoking}
	if len(revoke) > 0 && ownsAny(revoke) {
		m.assigned, m.revoking, m.state = kept, revoke, memberUnrevoked
		m.revokeDeadline = now.Add(m.rebalanceTimeout)
		cg.own(m, old)
		return
	}
	unreleased := false
	for p := range target {
		if kept.has(p) {
			continue
		}
		if o, ok := cg.owners[p]; ok && o != m.id {
			unreleased = true
			continue
		}
		kept[p] = struct{}{}
	}
	m.assigned, m.revoking = kept, partSet{}
	if m.epoch != cg.assignmentEpoch {
		m.prevEpoch, m.epoch = m.epoch, cg.assignmentEpoch
	}
	m.state = memberStable
	if unreleased {
		m.state = memberUnreleased
	}
	cg.own(m, old)
}

// expireConsumers fences members whose session ended, static members that
// did not come back in time, and members that did not revoke partitions
// within their rebalance timeout.
func (gc *Coordinator) expireConsumers(ctx context.Context, g *group, now time.Time) {
	cg, changed := g.cg, false
	for _, m := range cg.members {
		expired := now.After(m.deadline)
		late := m.state == memberUnrevoked && m.rebalanceTimeout > 0 && now.After(m.revokeDeadline)
		late = late || !m.rejoinBy.IsZero() && now.After(m.rejoinBy) || !m.syncBy.IsZero() && now.After(m.syncBy)
		if expired || late {
			gc.log.Info("consumer group member fenced", "group", g.id, "member", m.id, "session_expired", expired, "revocation_late", late)
			gc.fence(cg, m)
			changed = true
		}
	}
	if changed && !gc.maybeDowngrade(ctx, g, now) {
		gc.flush(ctx, g, false)
	}
}

// consumerDescribe serves ConsumerGroupDescribe.
func (gc *Coordinator) consumerDescribe(req *kmsg.ConsumerGroupDescribeRequest) kmsg.Response {
	if err := gc.lockLoaded(); err != nil {
		return nil
	}
	defer gc.mu.Unlock()
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewConsumerGroupDescribeResponseGroup()
		dg.Group = id
		g := gc.groups[id]
		switch {
		case id == "":
			dg.ErrorCode = kerr.InvalidGroupID.Code
		case g == nil:
			msg := fmt.Sprintf("Group %s not found.", id)
			dg.ErrorCode, dg.ErrorMessage = kerr.GroupIDNotFound.Code, &msg
		case g.cg == nil:
			msg := fmt.Sprintf("Group %s is not a consumer group.", id)
			dg.ErrorCode, dg.ErrorMessage = kerr.GroupIDNotFound.Code, &msg
		default:
			cg := g.cg
			dg.State, dg.Epoch, dg.AssignmentEpoch, dg.AssignorName = cg.state(), cg.epoch, cg.assignmentEpoch, cmpOr(cg.assignor, gc.consumer.Assignors[0])
			ids := make([]string, 0, len(cg.members))
			for mid := range cg.members {
				ids = append(ids, mid)
			}
			slices.Sort(ids)
			for _, mid := range ids {
				m := cg.members[mid]
				dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
				dm.MemberID, dm.MemberEpoch, dm.ClientID, dm.ClientHost = m.id, m.epoch, m.clientID, m.clientHost
				if m.instanceID != "" {
					dm.InstanceID = &m.instanceID
				}
				if m.rackID != "" {
					dm.RackID = &m.rackID
				}
				dm.SubscribedTopics = slices.Clone(m.topicNames)
				if dm.SubscribedTopics == nil {
					dm.SubscribedTopics = []string{}
				}
				if m.regex != "" {
					dm.SubscribedTopicRegex = &m.regex
				}
				dm.Assignment, dm.TargetAssignment = gc.describeAssignment(m.assigned), gc.describeAssignment(cg.target[m.id])
				dm.MemberType = 1 // consumer protocol
				if m.classic != nil {
					dm.MemberType = 0 // classic protocol
				}
				dg.Members = append(dg.Members, dm)
			}
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (gc *Coordinator) describeAssignment(s partSet) kmsg.Assignment {
	var a kmsg.Assignment
	a.TopicPartitions = []kmsg.AssignmentTopicPartition{}
	for _, p := range s.sorted() {
		if n := len(a.TopicPartitions); n > 0 && a.TopicPartitions[n-1].TopicID == p.topic {
			a.TopicPartitions[n-1].Partitions = append(a.TopicPartitions[n-1].Partitions, p.part)
			continue
		}
		t := kmsg.NewAssignmentTopicPartition()
		t.TopicID, t.Topic, t.Partitions = p.topic, gc.topicName(p.topic), []int32{p.part}
		a.TopicPartitions = append(a.TopicPartitions, t)
	}
	return a
}

// validateConsumerCommit checks an offset commit (or fetch) to a consumer
// group: the member epoch is the generation. A commit at an older epoch
// is accepted when the member still owns every partition it commits
// (Kafka 4.3's relaxation, which clients rely on while reconciling);
// otherwise STALE_MEMBER_EPOCH.
func (cg *consumerGroup) validateCommit(memberID string, epoch int32, parts []tpName, topics map[string]topicMeta) int16 {
	if epoch < 0 && memberID == "" {
		if len(cg.members) > 0 {
			return kerr.UnknownMemberID.Code
		}
		return 0
	}
	m := cg.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	if epoch == m.epoch {
		return 0
	}
	if m.classic != nil {
		return kerr.IllegalGeneration.Code // a classic member commits at its generation
	}
	if epoch > m.epoch || epoch < 0 {
		return kerr.StaleMemberEpoch.Code
	}
	for _, p := range parts {
		t, ok := topics[p.topic]
		if !ok || cg.owners[tpID{t.id, p.part}] != m.id {
			return kerr.StaleMemberEpoch.Code
		}
	}
	return 0
}

// tpName is a partition named by its topic's name.
type tpName struct {
	topic string
	part  int32
}

// consumerRecord is the persisted form of a consumer group.
func consumerRecord(g *group) *controllerv1.GroupRecord {
	return &controllerv1.GroupRecord{Group: g.id, ProtocolType: "consumer", Generation: g.cg.epoch, GroupType: "consumer"}
}

// topicsRefresh is how often the coordinator re-reads the topics while
// consumer groups exist (Kafka's metadata image is pushed; ours is
// polled).
const topicsRefresh = time.Second

func (gc *Coordinator) maybeRefreshTopics(ctx context.Context, now time.Time) {
	gc.mu.Lock()
	due := now.Sub(gc.topicsReadAt) >= topicsRefresh
	any := false
	for _, g := range gc.groups {
		if g.cg != nil && len(g.cg.members) > 0 {
			any = true
			break
		}
	}
	gc.mu.Unlock()
	if due && any {
		if err := gc.refreshTopics(ctx); err != nil {
			gc.log.Debug("reading topics for consumer groups failed", "err", err)
		}
	}
}
