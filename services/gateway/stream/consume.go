package stream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/strata-io/strata/services/gateway/groupcall"
	"github.com/strata-io/strata/services/gateway/router"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/grpc"
)

// Limits and defaults of a Consume stream.
const (
	// DefaultSessionTimeout is Kafka 3's session.timeout.ms default.
	DefaultSessionTimeout = 45 * time.Second
	// maxHeartbeatInterval is Kafka's heartbeat.interval.ms default: a
	// member heartbeats every session/3, at most this long apart, so it
	// learns of a rebalance soon.
	maxHeartbeatInterval = 3 * time.Second
	// consumeFetchWait is how long one fetch of a member long-polls.
	consumeFetchWait = 5 * time.Second
	// consumeRetryBackoff spaces fetches after failed ones, and join
	// attempts after a coordinator that could not be reached.
	consumeRetryBackoff = 100 * time.Millisecond
	// leaveTimeout bounds the LeaveGroup sent when a stream ends.
	leaveTimeout = 5 * time.Second
	// defaultConsumeClientID is the member's client id when the open has
	// none.
	defaultConsumeClientID = "strata-grpc"
	// commitQueue bounds the commits a stream has sent and not yet seen
	// answered; the reader waits beyond it.
	commitQueue = 16
	// maxGroupIDLength bounds a group id, as GroupService does.
	maxGroupIDLength = 255
)

// Kafka request versions a Consume member sends the coordinator (the first
// with static membership; JoinGroup v4+ asks for a member id first).
const (
	joinGroupVersion    = 5
	syncGroupVersion    = 3
	heartbeatVersion    = 3
	leaveGroupVersion   = 3
	offsetCommitVersion = 7
)

// consumerProtocol is the group protocol type of Kafka consumers.
const consumerProtocol = "consumer"

// balancers are the assignors a member offers, in preference order (the
// coordinator picks one every member offers): Kafka's eager range and
// round-robin, and cooperative-sticky, franz-go's default and Kafka's
// incremental protocol (KIP-429), under which a member keeps consuming the
// partitions it keeps across a rebalance.
var balancers = []kgo.GroupBalancer{kgo.RangeBalancer(), kgo.RoundRobinBalancer(), kgo.CooperativeStickyBalancer()}

type tp struct {
	topic     string
	partition int32
}

// member is one Consume stream's group member.
type member struct {
	s        *Service
	stream   grpc.BidiStreamingServer[streamv1.ConsumeRequest, streamv1.ConsumeResponse]
	group    string
	topics   []string
	instance *string
	start    streamv1.LogPosition
	session  time.Duration
	clientID string
	// committed reads with isolation level READ_COMMITTED (the default).
	committed bool
	// batchMode is passWhole when the client takes stored batches
	// (ConsumeOpen.record_batches).
	batchMode batchMode
	offer     []kgo.GroupBalancer // the assignors offered, in preference order
	// revokeAck: the client answers each revocation with revoke_done,
	// received on revokeDone.
	revokeAck  bool
	revokeDone chan struct{}

	sendMu sync.Mutex

	credit credit

	// Of the member goroutine (run, join, heartbeat) only.
	held   []tp         // the partitions kept into the next generation (cooperative)
	lost   []tp         // held partitions lost with the membership, to revoke
	pos    map[tp]int64 // fetch positions of held partitions
	commit chan *streamv1.ConsumeCommit

	mu         sync.Mutex // guards the fields below
	memberID   string
	generation int32
	owned      map[tp]bool // the partitions commits may name
	paused     map[tp]bool // not fetched (ConsumePause)
}

// maxPaused bounds the partitions a stream may have paused.
const maxPaused = 100000

// pause applies a ConsumePause.
func (m *member) pause(p *streamv1.ConsumePause) *errs.Error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range p.GetPartitions() {
		for _, part := range t.GetPartitions() {
			k := tp{t.GetTopic(), part}
			switch {
			case p.GetResume():
				delete(m.paused, k)
			case len(m.paused) >= maxPaused:
				return invalid("pause.partitions", "more than %d partitions paused", maxPaused)
			default:
				if m.paused == nil {
					m.paused = map[tp]bool{}
				}
				m.paused[k] = true
			}
		}
	}
	return nil
}

func (m *member) isPaused(p tp) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.paused[p]
}

// Consume implements StreamService.Consume: the handler goroutine is the
// member (join, sync, heartbeat, rejoin); a reader goroutine takes credit
// and answers commits; a fetcher goroutine per generation reads the
// assigned partitions within the credit.
func (s *Service) Consume(stream grpc.BidiStreamingServer[streamv1.ConsumeRequest, streamv1.ConsumeResponse]) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	open := first.GetOpen()
	if open == nil {
		return invalid("open", "the first message of a stream must open it")
	}
	m, e := s.openMember(stream, open)
	if e != nil {
		return e
	}
	// The reader ends the member when the client closes its side (nil) or
	// breaks the protocol; it cannot be waited for, as its Recv returns
	// only once the handler has.
	readDone := make(chan error, 1)
	go func() {
		readDone <- m.read(ctx)
		cancel()
	}()
	go m.committer(ctx)
	err = m.run(ctx)
	cancel()
	if m.instance == nil {
		m.leave()
	}
	select {
	case rerr := <-readDone:
		return rerr
	default:
	}
	if ctx.Err() != nil && stream.Context().Err() != nil {
		return stream.Context().Err()
	}
	return err
}

func (s *Service) openMember(stream grpc.BidiStreamingServer[streamv1.ConsumeRequest, streamv1.ConsumeResponse], open *streamv1.ConsumeOpen) (*member, *errs.Error) {
	switch id := open.GetGroupId(); {
	case id == "":
		return nil, errs.New(errs.InvalidGroupID, "open.group_id is empty").Field("open.group_id", "must not be empty")
	case len(id) > maxGroupIDLength:
		return nil, errs.New(errs.InvalidGroupID, "open.group_id is %d bytes, more than %d", len(id), maxGroupIDLength).Field("open.group_id", "too long")
	}
	committed := true
	switch open.GetIsolationLevel() {
	case streamv1.IsolationLevel_ISOLATION_LEVEL_UNSPECIFIED, streamv1.IsolationLevel_ISOLATION_LEVEL_READ_COMMITTED:
	case streamv1.IsolationLevel_ISOLATION_LEVEL_READ_UNCOMMITTED:
		committed = false
	default:
		return nil, invalid("open.isolation_level", "unknown isolation level %d", open.GetIsolationLevel())
	}
	m := &member{s: s, stream: stream, group: open.GetGroupId(), instance: open.InstanceId, start: open.GetStartPosition(),
		session: DefaultSessionTimeout, clientID: cmp.Or(open.GetClientId(), defaultConsumeClientID), memberID: open.GetMemberId(),
		committed: committed, revokeAck: open.GetRevokeAck(), revokeDone: make(chan struct{}, 1)}
	if open.GetRecordBatches() {
		m.batchMode = passWhole
	}
	m.offer = balancers
	if names := open.GetAssignors(); len(names) > 0 {
		m.offer = nil
		for _, name := range names {
			if b := balancerOf(balancers, name); b != nil && balancerOf(m.offer, name) == nil {
				m.offer = append(m.offer, b)
			}
		}
	}
	m.credit.more = make(chan struct{}, 1)
	m.commit = make(chan *streamv1.ConsumeCommit, commitQueue)
	ctx := context.Background() // bounded by the catch-up itself; unit tests open members without a stream
	if stream != nil {
		ctx = stream.Context()
	}
	seen := map[string]bool{}
	for i, name := range open.GetTopics() {
		t, e := s.lookupTopic(ctx, name, fmt.Sprintf("open.topics[%d]", i))
		if e != nil {
			return nil, e
		}
		if !seen[t.GetName()] {
			seen[t.GetName()] = true
			m.topics = append(m.topics, t.GetName())
		}
	}
	if m.start == streamv1.LogPosition_LOG_POSITION_UNSPECIFIED {
		m.start = streamv1.LogPosition_LOG_POSITION_LATEST
	}
	if d := open.GetSessionTimeout(); d != nil {
		m.session = d.AsDuration()
	}
	return m, nil
}

// send sends one message; the member, its fetcher and its reader share
// the stream.
func (m *member) send(r *streamv1.ConsumeResponse) error {
	m.sendMu.Lock()
	defer m.sendMu.Unlock()
	return m.stream.Send(r)
}

// read takes the client's credit and commits until the client closes its
// side (nil) or breaks the protocol.
func (m *member) read(ctx context.Context) error {
	for {
		r, err := m.stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch msg := r.GetMessage().(type) {
		case *streamv1.ConsumeRequest_Credit:
			m.credit.add(msg.Credit.GetRecords(), msg.Credit.GetBytes())
		case *streamv1.ConsumeRequest_Commit:
			// Commits are answered in order by the committer, so credit
			// that follows a commit is not held up by the coordinator.
			select {
			case m.commit <- msg.Commit:
			case <-ctx.Done():
				return nil
			}
		case *streamv1.ConsumeRequest_Pause:
			if e := m.pause(msg.Pause); e != nil {
				return e
			}
		case *streamv1.ConsumeRequest_RevokeDone:
			if !m.revokeAck {
				return invalid("revoke_done", "sent without revoke_ack in the open")
			}
			select {
			case m.revokeDone <- struct{}{}:
			default: // one is pending already: a late answer
			}
		default:
			return invalid("message", "after the open, every message must be credit, a commit, a pause or revoke_done")
		}
	}
}

// run is the member's life: join and sync, fetch the assignment while
// heartbeating, and join again on a rebalance, until ctx ends or the
// coordinator answers something fatal.
func (m *member) run(ctx context.Context) error {
	m.pos = map[tp]int64{}
	for {
		assignment, cooperative, err := m.join(ctx)
		if err != nil {
			return err
		}
		moved := minus(m.held, assignment) // still committable in the new generation
		revoked := append(m.lost, moved...)
		m.lost = nil
		for _, p := range revoked {
			delete(m.pos, p)
		}
		if len(revoked) > 0 {
			if err := m.revoke(ctx, revoked, moved, assignment); err != nil {
				return err
			}
		}
		m.held = assignment
		if err := m.send(&streamv1.ConsumeResponse{Message: &streamv1.ConsumeResponse_Assigned{Assigned: &streamv1.ConsumeAssigned{
			Generation: m.gen(), MemberId: m.id(), Partitions: topicPartitions(assignment)}}}); err != nil {
			return err
		}
		if cooperative && len(revoked) > 0 {
			// KIP-429: a member that gave partitions up joins again at
			// once, so the leader can hand them to their new owners.
			continue
		}
		fctx, stop := context.WithCancel(ctx)
		fetchDone := make(chan error, 1)
		go func() { fetchDone <- m.fetch(fctx, assignment, m.pos) }()
		err = m.heartbeat(ctx, fetchDone)
		stop()
		if ferr := <-fetchDone; err == nil {
			err = ferr
		}
		// An eager protocol gives every partition up before joining again;
		// a cooperative one keeps them (and their positions) until the
		// next assignment says which move.
		if !cooperative || err != nil {
			held := m.held
			m.held, m.lost, m.pos = nil, nil, map[tp]int64{}
			if len(held) > 0 && ctx.Err() == nil {
				// Before a rebalance the member is still in its
				// generation: the client may commit them first.
				committable := held
				if err != nil {
					committable = nil
				}
				if serr := m.revoke(ctx, held, committable, nil); serr != nil {
					return serr
				}
			}
			m.setOwned(nil)
		}
		if err != nil {
			return err
		}
	}
}

// revoke tells the client that parts are taken away. With revoke_ack and
// partitions it may still commit (committable), those stay the member's,
// beside owned, until the client answers revoke_done or the session
// timeout passes (Kafka's rebalance timeout, within which a member's
// onPartitionsRevoked must finish); then only owned are.
func (m *member) revoke(ctx context.Context, parts, committable, owned []tp) error {
	wait := m.revokeAck && len(committable) > 0
	select {
	case <-m.revokeDone: // a late answer to a revocation that timed out
	default:
	}
	if wait {
		m.setOwned(append(slices.Clone(owned), committable...))
	}
	err := m.send(&streamv1.ConsumeResponse{Message: &streamv1.ConsumeResponse_Revoked{Revoked: &streamv1.ConsumeRevoked{
		Partitions: topicPartitions(parts), AwaitingDone: wait}}})
	if err == nil && wait {
		t := time.NewTimer(m.session)
		select {
		case <-m.revokeDone:
		case <-t.C:
		case <-ctx.Done():
			err = ctx.Err()
		}
		t.Stop()
	}
	if wait {
		m.setOwned(owned)
	}
	return err
}

// minus is the partitions of a not in b.
func minus(a, b []tp) []tp {
	var out []tp
	for _, p := range a {
		if !slices.Contains(b, p) {
			out = append(out, p)
		}
	}
	return out
}

// forget drops the member id after the coordinator forgot the member: the
// partitions it held are lost (Kafka's onPartitionsLost) and revoked.
func (m *member) forget() {
	m.setMember("", -1)
	m.setOwned(nil)
	m.lost, m.held = append(m.lost, m.held...), nil
}

func (m *member) setOwned(parts []tp) {
	var owned map[tp]bool
	if parts != nil {
		owned = make(map[tp]bool, len(parts))
		for _, p := range parts {
			owned[p] = true
		}
	}
	m.mu.Lock()
	m.owned = owned
	m.mu.Unlock()
}

func (m *member) gen() int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.generation
}

func (m *member) id() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.memberID
}

// join joins the group until it has a generation and an assignment, and
// says whether the group's protocol is cooperative.
func (m *member) join(ctx context.Context) ([]tp, bool, error) {
	unreachableSince := time.Time{}
	for {
		assignment, cooperative, retry, err := m.joinOnce(ctx)
		switch {
		case err == nil && !retry:
			return assignment, cooperative, nil
		case err != nil && !retry:
			return nil, false, err
		case err != nil: // the coordinator is not reachable
			if unreachableSince.IsZero() {
				unreachableSince = time.Now()
			} else if time.Since(unreachableSince) > m.session {
				return nil, false, err
			}
			if !sleep(ctx, consumeRetryBackoff) {
				return nil, false, ctx.Err()
			}
		}
	}
}

// joinOnce runs one JoinGroup and SyncGroup. retry is set when the member
// should join again (with err when the coordinator could not be reached).
// The member's metadata names the partitions it holds, which the
// cooperative-sticky leader keeps where they are.
func (m *member) joinOnce(ctx context.Context) (assignment []tp, cooperative, retry bool, err error) {
	req := kmsg.NewPtrJoinGroupRequest()
	req.SetVersion(joinGroupVersion)
	req.Group, req.MemberID, req.InstanceID, req.ProtocolType = m.group, m.id(), m.instance, consumerProtocol
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = int32(m.session.Milliseconds()), int32(m.session.Milliseconds())
	held := map[string][]int32{}
	for _, p := range m.held {
		held[p.topic] = append(held[p.topic], p.partition)
	}
	for _, b := range m.offer {
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = b.ProtocolName(), b.JoinGroupMetadata(m.topics, held, m.gen())
		req.Protocols = append(req.Protocols, p)
	}
	resp, err := groupcall.Call[*kmsg.JoinGroupResponse](ctx, m.s.groups, m.clientID, req)
	if err != nil {
		return nil, false, ctx.Err() == nil && errs.From(err) != nil && errs.From(err).Detail.GetRetriable(), err
	}
	switch resp.ErrorCode {
	case 0:
	case kerr.MemberIDRequired.Code:
		m.setMember(resp.MemberID, -1)
		return nil, false, true, nil
	case kerr.UnknownMemberID.Code:
		m.forget()
		return nil, false, true, nil
	case kerr.RebalanceInProgress.Code, kerr.IllegalGeneration.Code:
		return nil, false, true, nil
	case kerr.CoordinatorNotAvailable.Code, kerr.NotCoordinator.Code, kerr.CoordinatorLoadInProgress.Code:
		return nil, false, true, groupcall.KafkaErr(resp.ErrorCode, "join group %q", m.group)
	default:
		return nil, false, false, groupcall.KafkaErr(resp.ErrorCode, "join group %q", m.group)
	}
	m.setMember(resp.MemberID, resp.Generation)
	protocol := ""
	if resp.Protocol != nil {
		protocol = *resp.Protocol
	}
	balancer := balancerOf(m.offer, protocol)
	if balancer == nil {
		return nil, false, false, inconsistent("group %q chose protocol %q, which this member does not offer", m.group, protocol)
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.SetVersion(syncGroupVersion)
	sync.Group, sync.Generation, sync.MemberID, sync.InstanceID = m.group, resp.Generation, resp.MemberID, m.instance
	if resp.LeaderID == resp.MemberID && len(resp.Members) > 0 {
		if sync.GroupAssignment, err = m.balance(balancer, resp.Members); err != nil {
			return nil, false, false, err
		}
	}
	sresp, err := groupcall.Call[*kmsg.SyncGroupResponse](ctx, m.s.groups, m.clientID, sync)
	if err != nil {
		return nil, false, ctx.Err() == nil && errs.From(err) != nil && errs.From(err).Detail.GetRetriable(), err
	}
	switch sresp.ErrorCode {
	case 0:
	case kerr.UnknownMemberID.Code:
		m.forget()
		return nil, false, true, nil
	case kerr.RebalanceInProgress.Code, kerr.IllegalGeneration.Code:
		return nil, false, true, nil
	default:
		return nil, false, false, groupcall.KafkaErr(sresp.ErrorCode, "sync group %q", m.group)
	}
	byTopic := map[string][]int32{}
	if len(sresp.MemberAssignment) > 0 {
		if byTopic, err = balancer.ParseSyncAssignment(sresp.MemberAssignment); err != nil {
			return nil, false, false, inconsistent("group %q: undecodable assignment: %v", m.group, err)
		}
	}
	assignment = []tp{}
	for topic, parts := range byTopic {
		for _, p := range parts {
			assignment = append(assignment, tp{topic, p})
		}
	}
	slices.SortFunc(assignment, func(a, b tp) int { return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition)) })
	m.setOwned(assignment)
	return assignment, balancer.IsCooperative(), false, nil
}

func (m *member) setMember(id string, generation int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.memberID, m.generation = id, generation
}

func balancerOf(offer []kgo.GroupBalancer, protocol string) kgo.GroupBalancer {
	for _, b := range offer {
		if b.ProtocolName() == protocol {
			return b
		}
	}
	return nil
}

// balance computes the leader's assignment of every member's topics with
// the partition counts of the metadata cache.
func (m *member) balance(b kgo.GroupBalancer, members []kmsg.JoinGroupResponseMember) ([]kmsg.SyncGroupRequestGroupAssignment, error) {
	mb, topics, err := b.MemberBalancer(members)
	if err != nil {
		return nil, inconsistent("group %q: members' metadata: %v", m.group, err)
	}
	counts := map[string]int32{}
	for topic := range topics {
		if t, ok := m.s.cache.Topic(topic); ok {
			counts[topic] = t.GetPartitionCount()
		}
	}
	var plan kgo.IntoSyncAssignment
	if be, ok := mb.(kgo.GroupMemberBalancerOrError); ok {
		if plan, err = be.BalanceOrError(counts); err != nil {
			return nil, inconsistent("group %q: balancing: %v", m.group, err)
		}
	} else {
		plan = mb.Balance(counts)
	}
	return plan.IntoSyncAssignment(), nil
}

// heartbeat keeps the member in its generation until a rebalance (nil:
// join again), the stream's end or a fatal answer.
func (m *member) heartbeat(ctx context.Context, fetchDone <-chan error) error {
	t := time.NewTicker(min(m.session/3, maxHeartbeatInterval))
	defer t.Stop()
	for {
		select {
		case err := <-fetchDone:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		req := kmsg.NewPtrHeartbeatRequest()
		req.SetVersion(heartbeatVersion)
		req.Group, req.Generation, req.MemberID, req.InstanceID = m.group, m.gen(), m.id(), m.instance
		resp, err := groupcall.Call[*kmsg.HeartbeatResponse](ctx, m.s.groups, m.clientID, req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue // a coordinator failover: the next heartbeat may reach the new one
		}
		switch resp.ErrorCode {
		case 0:
		case kerr.RebalanceInProgress.Code, kerr.IllegalGeneration.Code:
			return nil
		case kerr.UnknownMemberID.Code:
			m.forget()
			return nil
		case kerr.CoordinatorNotAvailable.Code, kerr.NotCoordinator.Code, kerr.CoordinatorLoadInProgress.Code:
		default:
			return groupcall.KafkaErr(resp.ErrorCode, "heartbeat of group %q", m.group)
		}
	}
}

// leave takes a dynamic member out of the group when its stream ends, so
// its partitions move at once rather than after the session timeout.
func (m *member) leave() {
	id := m.id()
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	req := kmsg.NewPtrLeaveGroupRequest()
	req.SetVersion(leaveGroupVersion)
	req.Group = m.group
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = id
	req.Members = append(req.Members, lm)
	_, _ = groupcall.Call[*kmsg.LeaveGroupResponse](ctx, m.s.groups, m.clientID, req)
}

// committer answers the stream's commits one after another until ctx ends.
func (m *member) committer(ctx context.Context) {
	for {
		select {
		case c := <-m.commit:
			res := m.commitOffsets(ctx, c)
			if m.send(&streamv1.ConsumeResponse{Message: &streamv1.ConsumeResponse_CommitResult{CommitResult: res}}) != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// commitOffsets commits offsets with the member's generation. A partition the
// member does not own now (revoked, or never assigned) is refused in its
// entry without asking the coordinator.
func (m *member) commitOffsets(ctx context.Context, c *streamv1.ConsumeCommit) *streamv1.ConsumeCommitResult {
	out := &streamv1.ConsumeCommitResult{CommitId: c.GetCommitId(), Results: make([]*streamv1.PartitionResult, len(c.GetOffsets()))}
	m.mu.Lock()
	owned, generation, id := m.owned, m.generation, m.memberID
	m.mu.Unlock()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.SetVersion(offsetCommitVersion)
	req.Group, req.Generation, req.MemberID, req.InstanceID = m.group, generation, id, m.instance
	type at struct{ topic, part int }
	where := make([]at, len(c.GetOffsets()))
	idx := map[string]int{}
	for i, o := range c.GetOffsets() {
		out.Results[i] = &streamv1.PartitionResult{Topic: o.GetTopic(), Partition: o.GetPartition()}
		where[i] = at{-1, -1}
		switch {
		case o.GetOffset() < 0:
			out.Results[i].Error = detail(invalid(fmt.Sprintf("commit.offsets[%d].offset", i), "must not be negative, got %d", o.GetOffset()))
			continue
		case !owned[tp{o.GetTopic(), o.GetPartition()}]:
			out.Results[i].Error = detail(errs.New(errs.IllegalGeneration, "%s-%d is not assigned to this member in generation %d", o.GetTopic(), o.GetPartition(), generation))
			continue
		}
		ti, ok := idx[o.GetTopic()]
		if !ok {
			ti = len(req.Topics)
			idx[o.GetTopic()] = ti
			req.Topics = append(req.Topics, kmsg.OffsetCommitRequestTopic{Topic: o.GetTopic()})
		}
		md := o.GetMetadata()
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata, rp.LeaderEpoch = o.GetPartition(), o.GetOffset(), &md, -1
		req.Topics[ti].Partitions = append(req.Topics[ti].Partitions, rp)
		where[i] = at{ti, len(req.Topics[ti].Partitions) - 1}
	}
	if len(req.Topics) == 0 {
		return out
	}
	resp, err := groupcall.Call[*kmsg.OffsetCommitResponse](ctx, m.s.groups, m.clientID, req)
	for i, o := range c.GetOffsets() {
		w := where[i]
		switch {
		case w.topic < 0:
		case err != nil:
			e := errs.From(err)
			if e == nil {
				e = errs.New(errs.CoordinatorNotAvailable, "commit %s-%d: %v", o.GetTopic(), o.GetPartition(), err)
			}
			out.Results[i].Error = detail(e)
		case w.topic < len(resp.Topics) && w.part < len(resp.Topics[w.topic].Partitions):
			if e := groupcall.KafkaErr(resp.Topics[w.topic].Partitions[w.part].ErrorCode, "commit %s-%d", o.GetTopic(), o.GetPartition()); e != nil {
				out.Results[i].Error = detail(e)
			}
		default:
			out.Results[i].Error = detail(errs.New(errs.CoordinatorNotAvailable, "the coordinator did not answer for %s-%d", o.GetTopic(), o.GetPartition()))
		}
	}
	return out
}

func topicPartitions(parts []tp) []*streamv1.TopicPartitions {
	var out []*streamv1.TopicPartitions
	for _, p := range parts {
		if n := len(out); n == 0 || out[n-1].Topic != p.topic {
			out = append(out, &streamv1.TopicPartitions{Topic: p.topic})
		}
		last := out[len(out)-1]
		last.Partitions = append(last.Partitions, p.partition)
	}
	return out
}

// credit is what the client allows the server to send.
type credit struct {
	mu      sync.Mutex
	records int64
	bytes   int64
	more    chan struct{} // signalled when credit is added
}

func (c *credit) add(records, bytes int64) {
	c.mu.Lock()
	c.records, c.bytes = c.records+records, c.bytes+bytes
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
}

// wait returns the credit once there is some of both kinds.
func (c *credit) wait(ctx context.Context) (records, bytes int64, err error) {
	for {
		c.mu.Lock()
		records, bytes = c.records, c.bytes
		c.mu.Unlock()
		if records > 0 && bytes > 0 {
			return records, bytes, nil
		}
		select {
		case <-c.more:
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}
}

func (c *credit) take(records, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.records, c.bytes = c.records-records, c.bytes-bytes
}

// fetch reads the assignment within the credit, until ctx ends, from pos
// (a partition kept from the last generation) or else the group's
// committed offset (or the start position), and keeps pos up to date. Its
// error ends the stream (a failed send); read failures are retried.
func (m *member) fetch(ctx context.Context, assignment []tp, pos map[tp]int64) error {
	if len(assignment) == 0 {
		<-ctx.Done()
		return nil
	}
	if err := m.startOffsets(ctx, minus(assignment, slices.Collect(maps.Keys(pos))), pos); err != nil {
		<-ctx.Done() // cancelled: the member is rejoining or ending
		return nil
	}
	first := 0 // rotates, so a busy partition does not starve the others
	// The next round is fetched while this one is decoded and sent (as a
	// Kafka consumer fetches while its application processes), from the
	// positions this round leaves once sent whole; a round that leaves
	// others (credit ran out, a partition paused) fetches again.
	var ahead *prefetch
	defer func() { ahead.drop() }()
	for {
		records, bytes, err := m.credit.wait(ctx)
		if err != nil {
			return nil
		}
		var reset []tp
		for _, p := range assignment {
			if pos[p] < 0 {
				reset = append(reset, p)
			}
		}
		if len(reset) > 0 {
			m.resolveStart(ctx, reset, pos)
		}
		items := m.fetchItems(assignment, first, pos, bytes)
		first++
		if len(items) == 0 {
			ahead.drop()
			ahead = nil
			if !sleep(ctx, consumeRetryBackoff) {
				return nil
			}
			continue
		}
		if ahead.matches(items) {
			items = ahead.wait()
		} else {
			ahead.drop()
			m.s.router.Fetch(ctx, consumeFetchWait, 1, fetchBytes(bytes), items)
		}
		ahead = nil
		if ctx.Err() != nil {
			return nil
		}
		if next, left := predict(items); left < records && next != nil {
			if size := fetchedSize(items); int64(size) < bytes {
				after := maps.Clone(pos)
				maps.Copy(after, next)
				ahead = m.prefetch(ctx, m.fetchItems(assignment, first, after, bytes-int64(size)), bytes-int64(size))
			}
		}
		b := &budget{bytes: int(min(bytes, MaxFetchMaxBytes)), records: int(min(records, MaxProduceRecords))}
		startBytes, failed := b.bytes, 0
		for _, it := range items {
			p := tp{it.Topic, it.Partition}
			if it.Err != nil {
				failed++
				if it.Err.Code() == errs.OffsetOutOfRange {
					pos[p] = -1 // start again from the start position, as auto.offset.reset
				}
				continue
			}
			runs, next, derr := readBatches(it.Result.GetRecords(), it.Offset, b, maxInflatedBatch, it.Result.GetAbortedTransactions(), m.batchMode)
			if derr != nil && len(runs) == 0 {
				failed++
				continue
			}
			pos[p] = next
			for _, r := range runs {
				m.credit.take(int64(r.n), 0)
				if err := m.send(&streamv1.ConsumeResponse{Message: &streamv1.ConsumeResponse_Records{Records: &streamv1.ConsumeRecords{
					Topic: it.Topic, Partition: it.Partition, Records: r.recs, RecordBatches: r.batches,
					HighWatermark: it.Result.GetHighWatermark()}}}); err != nil {
					return err
				}
			}
		}
		m.credit.take(0, int64(startBytes-b.bytes))
		if failed == len(items) && !sleep(ctx, consumeRetryBackoff) {
			return nil
		}
	}
}

// fetchItems is a round's fetch of the assigned partitions that are not
// paused and have a position, from the first-th on, within bytes of
// credit: as a Kafka consumer's fetch, up to 1 MiB of each partition
// (max.partition.fetch.bytes).
func (m *member) fetchItems(assignment []tp, first int, pos map[tp]int64, bytes int64) []*router.FetchItem {
	partBytes := int32(min(bytes, DefaultFetchMaxBytes))
	var items []*router.FetchItem
	for i := range assignment {
		p := assignment[(first+i)%len(assignment)]
		if pos[p] >= 0 && !m.isPaused(p) {
			items = append(items, &router.FetchItem{Part: router.Part{Topic: p.topic, Partition: p.partition, ClientEpoch: -1},
				Offset: pos[p], MaxBytes: partBytes, Committed: m.committed})
		}
	}
	return items
}

// fetchBytes is a round's bound on the bytes of all its partitions.
func fetchBytes(credit int64) int32 { return int32(min(credit, MaxFetchMaxBytes)) }

// prefetch is the next round's fetch, sent before this round is decoded.
type prefetch struct{ *router.Ahead }

func (m *member) prefetch(ctx context.Context, items []*router.FetchItem, credit int64) *prefetch {
	return &prefetch{m.s.router.FetchAhead(ctx, consumeFetchWait, 1, fetchBytes(credit), items)}
}

// matches says whether f fetches what items would: the same partitions
// from the same offsets.
func (f *prefetch) matches(items []*router.FetchItem) bool {
	if f == nil || len(f.Items) != len(items) {
		return false
	}
	want := make(map[tp]int64, len(items))
	for _, it := range items {
		want[tp{it.Topic, it.Partition}] = it.Offset
	}
	for _, it := range f.Items {
		if off, ok := want[tp{it.Topic, it.Partition}]; !ok || off != it.Offset {
			return false
		}
	}
	return true
}

// wait returns f's items once fetched (its long poll may still run).
func (f *prefetch) wait() []*router.FetchItem {
	<-f.Done()
	f.Stop()
	return f.Items
}

// drop cuts f short and waits for it to end.
func (f *prefetch) drop() {
	if f != nil {
		f.Stop()
		<-f.Done()
	}
}

// predict is where a round leaves each partition once every batch it
// fetched is sent, and the records it holds; nil when a partition failed,
// so that the next round is not guessed.
func predict(items []*router.FetchItem) (map[tp]int64, int64) {
	next := make(map[tp]int64, len(items))
	var records int64
	for _, it := range items {
		if it.Err != nil {
			return nil, 0
		}
		end, added := recordbatch.Continue(it.Result.GetRecords(), it.Offset)
		records += added
		next[tp{it.Topic, it.Partition}] = end
	}
	return next, records
}

// fetchedSize is the bytes of records a round fetched.
func fetchedSize(items []*router.FetchItem) int {
	n := 0
	for _, it := range items {
		if it.Err == nil {
			n += len(it.Result.GetRecords())
		}
	}
	return n
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}

// startOffsets sets where the member starts each of parts: the group's
// committed offset, or -1 (the start position, resolved when fetching).
func (m *member) startOffsets(ctx context.Context, parts []tp, pos map[tp]int64) error {
	if len(parts) == 0 {
		return nil
	}
	req := groupcall.OffsetFetchRequest(m.group, len(parts), func(i int) (string, int32) { return parts[i].topic, parts[i].partition })
	want := make(map[tp]bool, len(parts))
	for _, p := range parts {
		want[p] = true
	}
	for {
		resp, err := groupcall.Call[*kmsg.OffsetFetchResponse](ctx, m.s.groups, m.clientID, req) // retried until ctx ends
		if err == nil && resp.ErrorCode == 0 {
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if want[tp{t.Topic, p.Partition}] && p.ErrorCode == 0 && p.Offset >= 0 {
						pos[tp{t.Topic, p.Partition}] = p.Offset
					}
				}
			}
			for _, p := range parts {
				if _, ok := pos[p]; !ok {
					pos[p] = -1
				}
			}
			return nil
		}
		if !sleep(ctx, consumeRetryBackoff) {
			return ctx.Err()
		}
	}
}

// resolveStart sets the partitions' positions from the start position;
// those it cannot look up stay -1 and are tried again.
func (m *member) resolveStart(ctx context.Context, parts []tp, pos map[tp]int64) {
	items := make([]*router.ListItem, len(parts))
	for i, p := range parts {
		items[i] = committedItem(listItem(p.topic, p.partition, positionTimestamp(m.start)), m.committed)
	}
	m.s.router.ListOffsets(ctx, items)
	for i, it := range items {
		if it.Err == nil && it.Result.GetOffset() >= 0 {
			pos[parts[i]] = it.Result.GetOffset()
		}
	}
}

// inconsistent is INCONSISTENT_GROUP_PROTOCOL (a Kafka code without a
// Strata counterpart), with msg.
func inconsistent(format string, args ...any) *errs.Error {
	return errs.FromKafkaCode(kerr.InconsistentGroupProtocol.Code, fmt.Sprintf(format, args...))
}
