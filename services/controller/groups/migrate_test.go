package groups

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/services/controller/mdstore"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// classicClient is a classic consumer as the coordinator sees it: it
// speaks JoinGroup/SyncGroup/Heartbeat with the embedded consumer
// protocol, cooperative (it reports what it owns and keeps it across a
// rejoin) or eager (it gives everything up before it rejoins).
type classicClient struct {
	id          string
	topics      []string
	cooperative bool
	gen         int32
	leader      bool
	members     []kmsg.JoinGroupResponseMember // as the leader of a classic group
	owned       map[string][]int32
	rebalanceMs int32 // 10s unless set
}

func newClassic(cooperative bool, topics ...string) *classicClient {
	return &classicClient{topics: topics, cooperative: cooperative, owned: map[string][]int32{}}
}

func (c *classicClient) protocol() string {
	if c.cooperative {
		return "cooperative-sticky"
	}
	return "range"
}

func (c *classicClient) joinRequest(group string) *kmsg.JoinGroupRequest {
	if !c.cooperative {
		c.owned = map[string][]int32{} // eager: revoke everything first
	}
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version, meta.Topics, meta.Generation = 3, c.topics, c.gen
	if c.cooperative {
		for _, topic := range sortedKeys(c.owned) {
			op := kmsg.NewConsumerMemberMetadataOwnedPartition()
			op.Topic, op.Partitions = topic, c.owned[topic]
			meta.OwnedPartitions = append(meta.OwnedPartitions, op)
		}
	}
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 5
	r.Group, r.MemberID = group, c.id
	r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 10000, cmp.Or(c.rebalanceMs, 10000)
	r.ProtocolType = "consumer"
	r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: c.protocol(), Metadata: meta.AppendTo(nil)}}
	return r
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// join joins (twice, when the coordinator asks for a member id first).
func (c *classicClient) join(ctx context.Context, gc *Coordinator, group string) (int16, error) {
	for range 2 {
		resp, err := gc.Handle(ctx, c.joinRequest(group), "client", "/127.0.0.1")
		if err != nil {
			return 0, err
		}
		j := resp.(*kmsg.JoinGroupResponse)
		if j.ErrorCode == kerr.MemberIDRequired.Code {
			c.id = j.MemberID
			continue
		}
		if j.ErrorCode == 0 {
			c.gen, c.leader, c.members = j.Generation, j.LeaderID == c.id, j.Members
		}
		return j.ErrorCode, nil
	}
	return 0, fmt.Errorf("member id required twice")
}

// sync syncs; as the leader of a classic group it assigns the topic's
// partitions round robin. It reports whether it lost partitions (a
// cooperative client then rejoins).
func (c *classicClient) sync(ctx context.Context, gc *Coordinator, group, topic string, partitions int32) (code int16, lost bool, err error) {
	s := kmsg.NewPtrSyncGroupRequest()
	s.Version = 5
	s.Group, s.MemberID, s.Generation = group, c.id, c.gen
	s.ProtocolType, s.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr(c.protocol())
	if c.leader && len(c.members) > 0 {
		ids := make([]string, 0, len(c.members))
		for _, m := range c.members {
			ids = append(ids, m.MemberID)
		}
		slices.Sort(ids)
		per := map[string][]int32{}
		for p := range partitions {
			per[ids[int(p)%len(ids)]] = append(per[ids[int(p)%len(ids)]], p)
		}
		for _, id := range ids {
			a := kmsg.NewConsumerMemberAssignment()
			a.Topics = []kmsg.ConsumerMemberAssignmentTopic{{Topic: topic, Partitions: per[id]}}
			s.GroupAssignment = append(s.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: a.AppendTo(nil)})
		}
	}
	resp, err := gc.Handle(ctx, s, "client", "/127.0.0.1")
	if err != nil {
		return 0, false, err
	}
	r := resp.(*kmsg.SyncGroupResponse)
	if r.ErrorCode != 0 {
		return r.ErrorCode, false, nil
	}
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(r.MemberAssignment); err != nil {
		return 0, false, fmt.Errorf("assignment: %w", err)
	}
	next := map[string][]int32{}
	for _, t := range a.Topics {
		next[t.Topic] = append(next[t.Topic], t.Partitions...)
	}
	for topic, ps := range c.owned {
		for _, p := range ps {
			if !slices.Contains(next[topic], p) {
				lost = true
			}
		}
	}
	c.owned = next
	return 0, lost, nil
}

// rejoin joins and syncs until the client is done (a cooperative client
// that lost partitions rejoins at once), in a consumer group.
func (c *classicClient) rejoin(t *testing.T, gc *Coordinator, group, topic string, partitions int32) {
	t.Helper()
	ctx := context.Background()
	for range 3 {
		if code, err := c.join(ctx, gc, group); err != nil || code != 0 {
			t.Fatalf("%s join: %d %v", c.id, code, err)
		}
		code, lost, err := c.sync(ctx, gc, group, topic, partitions)
		if err != nil || code != 0 {
			t.Fatalf("%s sync: %d %v", c.id, code, err)
		}
		if !lost || !c.cooperative {
			return
		}
	}
	t.Fatalf("%s keeps losing partitions", c.id)
}

func (c *classicClient) heartbeat(t *testing.T, gc *Coordinator, group string) int16 {
	t.Helper()
	return heartbeat(t, gc, group, c.id, nil, c.gen)
}

// classicRound rebalances a classic group of the clients as their
// consumers do: each joins and syncs, then heartbeats, rejoining when told
// to, until the group is stable with all of them at its generation.
func classicRound(t *testing.T, gc *Coordinator, group, topic string, partitions int32, cs ...*classicClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := func(c *classicClient) bool {
		gc.mu.Lock()
		defer gc.mu.Unlock()
		g := gc.groups[group]
		return g != nil && g.cg == nil && g.state == groupStable && len(g.members) == len(cs) && g.generation == c.gen
	}
	var wg sync.WaitGroup
	errs := make([]error, len(cs))
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				code, err := c.join(ctx, gc, group)
				if err == nil && code == 0 {
					code, _, err = c.sync(ctx, gc, group, topic, partitions)
				}
				if err != nil || code != 0 && code != kerr.RebalanceInProgress.Code {
					errs[i] = fmt.Errorf("join or sync: %d %v", code, err)
					return
				}
				for code == 0 {
					if done(c) {
						return
					}
					h := kmsg.NewPtrHeartbeatRequest()
					h.Version = 3
					h.Group, h.MemberID, h.Generation = group, c.id, c.gen
					resp, err := gc.Handle(ctx, h, "client", "/127.0.0.1")
					if err != nil {
						errs[i] = err
						return
					}
					code = resp.(*kmsg.HeartbeatResponse).ErrorCode
					time.Sleep(5 * time.Millisecond) // a heartbeat interval
				}
			}
			errs[i] = ctx.Err()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("classic member %d: %v", i, err)
		}
	}
}

// held maps each partition of topic to its holders, over classic and
// consumer-protocol clients; it fails on a partition held twice.
func held(t *testing.T, topic string, id byte, cs []*classicClient, ns []*client) int {
	t.Helper()
	seen := map[int32]string{}
	add := func(p int32, who string) {
		if o, ok := seen[p]; ok {
			t.Fatalf("partition %d held by %s and %s", p, o, who)
		}
		seen[p] = who
	}
	for _, c := range cs {
		for _, p := range c.owned[topic] {
			add(p, c.id)
		}
	}
	for _, n := range ns {
		for p := range n.owned {
			if p.topic == tid(id) {
				add(p.part, n.id)
			}
		}
	}
	return len(seen)
}

func groupType(t *testing.T, gc *Coordinator, group string) (typ, state string) {
	t.Helper()
	l := kmsg.NewPtrListGroupsRequest()
	l.Version = 5
	for _, g := range call[*kmsg.ListGroupsResponse](t, gc, l).Groups {
		if g.Group == group {
			return g.GroupType, g.GroupState
		}
	}
	return "", ""
}

func withPolicy(gc *Coordinator, policy string) {
	cc := DefaultConsumerConfig()
	cc.MigrationPolicy = policy
	gc.SetConsumerConfig(cc)
}

// A consumer-protocol member joining a stable classic group upgrades it:
// the classic members keep their partitions until they rejoin, give up
// what the new target moves (cooperatively or eagerly), commit at their
// member epoch, survive a failover; when the consumer-protocol member
// leaves, the group is classic again and rebalances.
func TestClassicGroupUpgradeAndDowngrade(t *testing.T) {
	for _, cooperative := range []bool{true, false} {
		t.Run(fmt.Sprintf("cooperative=%v", cooperative), func(t *testing.T) {
			store := mdstore.NewMemory()
			gc := loaded(t, store)
			createTopic(t, gc, store, "t", 1, 6)
			a, b := newClassic(cooperative, "t"), newClassic(cooperative, "t")
			classicRound(t, gc, "g", "t", 6, a, b)
			if n := held(t, "t", 1, []*classicClient{a, b}, nil); n != 6 || len(a.owned["t"]) != 3 {
				t.Fatalf("classic group: %v %v", a.owned, b.owned)
			}
			gen := a.gen

			// The upgrade: c joins; nothing moves before a and b rejoin.
			c := newClient("c", "t")
			if r := c.beat(t, gc, "g"); r.ErrorCode != 0 || len(c.owned) != 0 {
				t.Fatalf("consumer member joining a classic group: %d, owned %v", r.ErrorCode, c.owned)
			}
			if typ, _ := groupType(t, gc, "g"); typ != "consumer" {
				t.Fatalf("type after the upgrade: %q", typ)
			}
			d := kmsg.NewPtrConsumerGroupDescribeRequest()
			d.Groups = []string{"g"}
			dg := call[*kmsg.ConsumerGroupDescribeResponse](t, gc, d).Groups[0]
			types := map[string]int8{}
			for _, m := range dg.Members {
				types[m.MemberID] = m.MemberType
			}
			if dg.ErrorCode != 0 || len(types) != 3 || types[a.id] != 0 || types[b.id] != 0 || types["c"] != 1 {
				t.Fatalf("described: %+v", dg)
			}
			// A classic member is not served the consumer protocol.
			impostor := newClient(a.id, "t")
			impostor.epoch = gen
			if r := impostor.beat(t, gc, "g"); r.ErrorCode != kerr.UnknownMemberID.Code {
				t.Fatalf("consumer heartbeat of a classic member: %d", r.ErrorCode)
			}
			// A commit at the classic generation is the member epoch.
			commit := kmsg.NewPtrOffsetCommitRequest()
			commit.Version = 8
			commit.Group, commit.MemberID, commit.Generation = "g", a.id, gen
			commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: a.owned["t"][0], Offset: 5}}}}
			if r := call[*kmsg.OffsetCommitResponse](t, gc, commit); r.Topics[0].Partitions[0].ErrorCode != 0 {
				t.Fatalf("commit of a classic member: %d", r.Topics[0].Partitions[0].ErrorCode)
			}

			// The classic members are told to rejoin, and give up partitions.
			for _, m := range []*classicClient{a, b} {
				if code := m.heartbeat(t, gc, "g"); code != kerr.RebalanceInProgress.Code {
					t.Fatalf("classic heartbeat after the upgrade: %d", code)
				}
				m.rejoin(t, gc, "g", "t", 6)
				held(t, "t", 1, []*classicClient{a, b}, []*client{c})
				c.beat(t, gc, "g")
				held(t, "t", 1, []*classicClient{a, b}, []*client{c})
			}
			for range 3 {
				for _, m := range []*classicClient{a, b} {
					if m.heartbeat(t, gc, "g") == kerr.RebalanceInProgress.Code {
						m.rejoin(t, gc, "g", "t", 6)
					}
				}
				c.beat(t, gc, "g")
				held(t, "t", 1, []*classicClient{a, b}, []*client{c})
			}
			if n := held(t, "t", 1, []*classicClient{a, b}, []*client{c}); n != 6 || len(a.owned["t"]) != 2 || len(b.owned["t"]) != 2 || len(c.owned) != 2 {
				t.Fatalf("after the upgrade: a %v b %v c %v", a.owned, b.owned, c.owned)
			}
			for _, m := range []*classicClient{a, b} {
				if code := m.heartbeat(t, gc, "g"); code != 0 {
					t.Fatalf("stable classic heartbeat: %d", code)
				}
			}
			commit.Generation = gen
			if r := call[*kmsg.OffsetCommitResponse](t, gc, commit); r.Topics[0].Partitions[0].ErrorCode != kerr.IllegalGeneration.Code {
				t.Fatalf("commit at an old generation: %d", r.Topics[0].Partitions[0].ErrorCode)
			}

			// A failover keeps the classic members of the consumer group.
			gc = loaded(t, store)
			createTopic(t, gc, store, "t", 1, 6)
			dg = call[*kmsg.ConsumerGroupDescribeResponse](t, gc, d).Groups[0]
			if len(dg.Members) != 3 {
				t.Fatalf("after a failover: %+v", dg)
			}
			c.beat(t, gc, "g")
			for _, m := range []*classicClient{a, b} {
				if m.heartbeat(t, gc, "g") == kerr.RebalanceInProgress.Code {
					m.rejoin(t, gc, "g", "t", 6)
				}
			}
			c.beat(t, gc, "g")
			if n := held(t, "t", 1, []*classicClient{a, b}, []*client{c}); n != 6 {
				t.Fatalf("after a failover: a %v b %v c %v", a.owned, b.owned, c.owned)
			}

			// The downgrade: c leaves, the group is classic and rebalances.
			leave := c.request("g")
			leave.MemberEpoch = -1
			if r := call[*kmsg.ConsumerGroupHeartbeatResponse](t, gc, leave); r.ErrorCode != 0 {
				t.Fatalf("leave: %d", r.ErrorCode)
			}
			if typ, state := groupType(t, gc, "g"); typ != "classic" || state != "PreparingRebalance" {
				t.Fatalf("after the downgrade: %s %s", typ, state)
			}
			for _, m := range []*classicClient{a, b} {
				if code := m.heartbeat(t, gc, "g"); code != kerr.RebalanceInProgress.Code {
					t.Fatalf("classic heartbeat after the downgrade: %d", code)
				}
			}
			// Until they rejoin, the members commit at their member epoch
			// (an eager one does before it rejoins).
			commit.Generation = a.gen
			commit.Topics[0].Partitions[0].Partition = a.owned["t"][0]
			if r := call[*kmsg.OffsetCommitResponse](t, gc, commit); r.Topics[0].Partitions[0].ErrorCode != 0 {
				t.Fatalf("commit at the member epoch after the downgrade: %d", r.Topics[0].Partitions[0].ErrorCode)
			}
			classicRound(t, gc, "g", "t", 6, a, b)
			if r := call[*kmsg.OffsetCommitResponse](t, gc, commit); r.Topics[0].Partitions[0].ErrorCode != kerr.IllegalGeneration.Code {
				t.Fatalf("commit at the old member epoch after the rebalance: %d", r.Topics[0].Partitions[0].ErrorCode)
			}
			if n := held(t, "t", 1, []*classicClient{a, b}, nil); n != 6 {
				t.Fatalf("classic again: %v %v", a.owned, b.owned)
			}
			if typ, state := groupType(t, loaded(t, store), "g"); typ != "classic" || state != "Stable" {
				t.Fatalf("downgraded group after a failover: %s %s", typ, state)
			}
		})
	}
}

// group.consumer.migration.policy: disabled refuses both conversions,
// upgrade keeps a consumer group of classic members, downgrade does not
// upgrade a classic group with members.
func TestMigrationPolicies(t *testing.T) {
	setup := func(t *testing.T, policy string) (*Coordinator, *classicClient) {
		store := mdstore.NewMemory()
		gc := loaded(t, store)
		withPolicy(gc, policy)
		createTopic(t, gc, store, "t", 1, 2)
		a := newClassic(true, "t")
		classicRound(t, gc, "classic", "t", 2, a)
		newClient("n", "t").beat(t, gc, "consumer")
		return gc, a
	}
	t.Run("disabled", func(t *testing.T) {
		gc, _ := setup(t, MigrationDisabled)
		if r := newClient("x", "t").beat(t, gc, "classic"); r.ErrorCode != kerr.GroupIDNotFound.Code {
			t.Fatalf("upgrade: %d", r.ErrorCode)
		}
		if code, err := newClassic(true, "t").join(context.Background(), gc, "consumer"); err != nil || code != kerr.InconsistentGroupProtocol.Code {
			t.Fatalf("classic member into a consumer group: %d %v", code, err)
		}
	})
	t.Run("upgrade", func(t *testing.T) {
		gc, a := setup(t, MigrationUpgrade)
		x := newClient("x", "t")
		if r := x.beat(t, gc, "classic"); r.ErrorCode != 0 {
			t.Fatalf("upgrade: %d", r.ErrorCode)
		}
		leave := x.request("classic")
		leave.MemberEpoch = -1
		call[*kmsg.ConsumerGroupHeartbeatResponse](t, gc, leave)
		if typ, _ := groupType(t, gc, "classic"); typ != "consumer" {
			t.Fatalf("downgraded under the upgrade policy: %s", typ)
		}
		a.rejoin(t, gc, "classic", "t", 2)
		if len(a.owned["t"]) != 2 {
			t.Fatalf("the classic member alone: %v", a.owned)
		}
	})
	t.Run("classic members share a protocol", func(t *testing.T) {
		gc, _ := setup(t, MigrationBidirectional)
		newClassic(true, "t").rejoin(t, gc, "consumer", "t", 2)
		if code, err := newClassic(false, "t").join(context.Background(), gc, "consumer"); err != nil || code != kerr.InconsistentGroupProtocol.Code {
			t.Fatalf("an eager member beside a cooperative one: %d %v", code, err)
		}
	})
	t.Run("downgrade", func(t *testing.T) {
		gc, _ := setup(t, MigrationDowngrade)
		if r := newClient("x", "t").beat(t, gc, "classic"); r.ErrorCode != kerr.GroupIDNotFound.Code {
			t.Fatalf("upgrade: %d", r.ErrorCode)
		}
		b := newClassic(true, "t")
		b.rejoin(t, gc, "consumer", "t", 2)
		leave := newClient("n", "t").request("consumer")
		leave.MemberEpoch = -1
		call[*kmsg.ConsumerGroupHeartbeatResponse](t, gc, leave)
		if typ, state := groupType(t, gc, "consumer"); typ != "classic" || state != "PreparingRebalance" {
			t.Fatalf("after the last consumer member left: %s %s", typ, state)
		}
	})
}

// A classic member of a consumer group that is told to rejoin and does
// not, within its rebalance timeout, is removed; the expiry of the last
// consumer-protocol member's session downgrades the group.
func TestClassicMemberTimeouts(t *testing.T) {
	store := mdstore.NewMemory()
	gc := loaded(t, store)
	createTopic(t, gc, store, "t", 1, 2)
	a, b := newClassic(true, "t"), newClassic(true, "t")
	a.rebalanceMs = 3000
	classicRound(t, gc, "g", "t", 2, a, b)
	c := newClient("c", "t")
	c.beat(t, gc, "g")
	if code := a.heartbeat(t, gc, "g"); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat: %d", code)
	}
	b.rejoin(t, gc, "g", "t", 2)
	gc.expire(context.Background(), time.Now().Add(4*time.Second)) // past a's rebalance timeout (3s), within the sessions
	d := kmsg.NewPtrConsumerGroupDescribeRequest()
	d.Groups = []string{"g"}
	if dg := call[*kmsg.ConsumerGroupDescribeResponse](t, gc, d).Groups[0]; len(dg.Members) != 2 {
		t.Fatalf("a did not rejoin in time but is kept: %+v", dg.Members)
	}
	if code := a.heartbeat(t, gc, "g"); code != kerr.UnknownMemberID.Code {
		t.Fatalf("a after it was removed: %d", code)
	}
	// c's session (45s) ends, b's was renewed: the group is classic again.
	b.heartbeat(t, gc, "g")
	cc := DefaultConsumerConfig()
	cc.SessionTimeout = time.Second
	gc.SetConsumerConfig(cc)
	c.beat(t, gc, "g")
	gc.expire(context.Background(), time.Now().Add(2*time.Second))
	if typ, _ := groupType(t, gc, "g"); typ != "classic" {
		t.Fatalf("after the last consumer member expired: %s", typ)
	}
}
