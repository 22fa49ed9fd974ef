package groups

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/services/controller/mdstore"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// createTopic writes a topic record as the controller does and lets the
// coordinator read it.
func createTopic(t *testing.T, gc *Coordinator, store *mdstore.Memory, name string, id byte, partitions int32) {
	t.Helper()
	rec := &metadatav1.TopicRecord{Name: name, TopicId: tidBytes(id), PartitionCount: partitions}
	if _, err := store.Write(context.Background(), nil, mdstore.Put(mdstore.TopicKey(name), mdstore.Marshal(rec))); err != nil {
		t.Fatal(err)
	}
	if err := gc.refreshTopics(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func tidBytes(n byte) []byte { id := tid(n); return id[:] }

// client is a consumer as the coordinator sees it: it takes partitions
// when assigned, and gives up revoked ones at once or, when slow, only
// when told to (finish).
type client struct {
	id       string
	instance *string
	topics   []string
	regex    *string
	assignor *string
	epoch    int32
	owned    partSet
	pending  partSet // the last assignment, while revoking slowly
	slow     bool
}

func newClient(id string, topics ...string) *client {
	return &client{id: id, topics: topics, owned: partSet{}}
}

func (c *client) request(group string) *kmsg.ConsumerGroupHeartbeatRequest {
	r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	r.Version = 1
	r.Group, r.MemberID, r.MemberEpoch, r.InstanceID = group, c.id, c.epoch, c.instance
	if c.epoch == 0 {
		r.RebalanceTimeoutMillis = 60000
		r.SubscribedTopicNames, r.SubscribedTopicRegex, r.ServerAssignor = c.topics, c.regex, c.assignor
		if r.SubscribedTopicNames == nil && r.SubscribedTopicRegex == nil {
			r.SubscribedTopicNames = []string{}
		}
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		return r
	}
	r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for _, p := range c.owned.sorted() {
		if n := len(r.Topics); n > 0 && r.Topics[n-1].TopicID == p.topic {
			r.Topics[n-1].Partitions = append(r.Topics[n-1].Partitions, p.part)
			continue
		}
		r.Topics = append(r.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: p.topic, Partitions: []int32{p.part}})
	}
	return r
}

// beat sends one heartbeat and applies the answer as a client does.
func (c *client) beat(t *testing.T, gc *Coordinator, group string) *kmsg.ConsumerGroupHeartbeatResponse {
	t.Helper()
	resp := call[*kmsg.ConsumerGroupHeartbeatResponse](t, gc, c.request(group))
	switch resp.ErrorCode {
	case 0:
	case kerr.FencedMemberEpoch.Code, kerr.UnknownMemberID.Code:
		c.owned, c.pending, c.epoch = partSet{}, nil, 0
		return resp
	default:
		return resp
	}
	c.epoch = resp.MemberEpoch
	if resp.Assignment != nil {
		next := partSet{}
		for _, tp := range resp.Assignment.Topics {
			for _, p := range tp.Partitions {
				next[tpID{tp.TopicID, p}] = struct{}{}
			}
		}
		for p := range next {
			c.owned[p] = struct{}{}
		}
		c.pending = next
		if !c.slow {
			c.finish()
		}
	}
	return resp
}

// finish gives up the partitions the last assignment revoked.
func (c *client) finish() {
	if c.pending != nil {
		c.owned, c.pending = c.pending.clone(), nil
	}
}

// checkDisjoint fails when two clients hold one partition.
func checkDisjoint(t *testing.T, clients []*client) {
	t.Helper()
	held := map[tpID]string{}
	for _, c := range clients {
		for p := range c.owned {
			if o, ok := held[p]; ok {
				t.Fatalf("partition %v held by %s and %s", p, o, c.id)
			}
			held[p] = c.id
		}
	}
}

func owned(c *client, topic byte) int {
	n := 0
	for p := range c.owned {
		if p.topic == tid(topic) {
			n++
		}
	}
	return n
}

// A second member gets partitions only after the first revoked them; the
// member epochs move with the group epoch; a leave hands everything back.
func TestConsumerGroupRevokesBeforeAssigning(t *testing.T) {
	store := mdstore.NewMemory()
	gc := loaded(t, store)
	createTopic(t, gc, store, "t", 1, 6)
	a, b := newClient("a", "t"), newClient("b", "t")
	a.slow = true
	r := a.beat(t, gc, "g")
	a.finish()
	if r.ErrorCode != 0 || r.MemberEpoch != 1 || owned(a, 1) != 6 || r.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("first join: code %d epoch %d owned %d interval %d", r.ErrorCode, r.MemberEpoch, owned(a, 1), r.HeartbeatIntervalMillis)
	}
	if r := b.beat(t, gc, "g"); r.MemberEpoch != 2 || owned(b, 1) != 0 {
		t.Fatalf("b joins: epoch %d owned %d: the partitions are still a's", r.MemberEpoch, owned(b, 1))
	}
	if r := a.beat(t, gc, "g"); r.MemberEpoch != 1 || len(a.pending) != 3 {
		t.Fatalf("a is asked to revoke: epoch %d, keeps %d", r.MemberEpoch, len(a.pending))
	}
	checkDisjoint(t, []*client{a, b})
	if b.beat(t, gc, "g"); owned(b, 1) != 0 {
		t.Fatal("b got partitions a has not revoked")
	}
	a.finish()
	if r := a.beat(t, gc, "g"); r.MemberEpoch != 2 {
		t.Fatalf("a after revoking: epoch %d, want 2", r.MemberEpoch)
	}
	if r := b.beat(t, gc, "g"); r.MemberEpoch != 2 || owned(b, 1) != 3 {
		t.Fatalf("b after a revoked: epoch %d owned %d", r.MemberEpoch, owned(b, 1))
	}
	checkDisjoint(t, []*client{a, b})

	d := call[*kmsg.ConsumerGroupDescribeResponse](t, gc, &kmsg.ConsumerGroupDescribeRequest{Version: 1, Groups: []string{"g"}})
	if g := d.Groups[0]; g.ErrorCode != 0 || g.State != "Stable" || g.Epoch != 2 || g.AssignmentEpoch != 2 || g.AssignorName != "uniform" || len(g.Members) != 2 ||
		len(g.Members[0].Assignment.TopicPartitions) != 1 || g.Members[0].Assignment.TopicPartitions[0].Topic != "t" {
		t.Fatalf("describe: %+v", g)
	}

	leave := b.request("g")
	leave.MemberEpoch = -1
	if r := call[*kmsg.ConsumerGroupHeartbeatResponse](t, gc, leave); r.ErrorCode != 0 || r.MemberEpoch != -1 {
		t.Fatalf("leave: %d %d", r.ErrorCode, r.MemberEpoch)
	}
	if r := a.beat(t, gc, "g"); r.MemberEpoch != 3 || owned(a, 1) != 6 {
		t.Fatalf("after b left: epoch %d owned %d", r.MemberEpoch, owned(a, 1))
	}
	if r := b.beat(t, gc, "g"); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat after leaving: %d", r.ErrorCode)
	}
}

// Epochs are checked as Kafka does: ahead is fenced, the previous epoch
// with a subset of the assignment is accepted (a lost response), others
// fenced; a session that ends removes the member.
func TestConsumerGroupFencing(t *testing.T) {
	store := mdstore.NewMemory()
	gc := loaded(t, store)
	gc.SetConsumerConfig(ConsumerConfig{SessionTimeout: 10 * time.Second, HeartbeatInterval: time.Second, Assignors: []string{"range", "uniform"}, MaxRegexLen: 100})
	createTopic(t, gc, store, "t", 1, 4)
	a := newClient("a", "t")
	a.beat(t, gc, "g")
	b := newClient("b", "t")
	b.beat(t, gc, "g") // epoch 2
	a.beat(t, gc, "g")
	a.beat(t, gc, "g")
	if a.epoch != 2 {
		t.Fatalf("a at epoch %d", a.epoch)
	}
	req := a.request("g")
	req.MemberEpoch = 3
	if r := call[*kmsg.ConsumerGroupHeartbeatResponse](t, gc, req); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("epoch ahead: %d", r.ErrorCode)
	}
	req.MemberEpoch = 1 // the previous epoch, owning a subset: accepted
	if r := call[*kmsg.ConsumerGroupHeartbeatResponse](t, gc, req); r.ErrorCode != 0 || r.MemberEpoch != 2 {
		t.Fatalf("previous epoch: %d %d", r.ErrorCode, r.MemberEpoch)
	}
	req.MemberEpoch = 0
	req.Topics = nil
	req.Group = "other"
	req.SubscribedTopicNames, req.RebalanceTimeoutMillis = []string{"t"}, 1000
	req.ServerAssignor = kmsg.StringPtr("sticky")
	if r := call[*kmsg.ConsumerGroupHeartbeatResponse](t, gc, req); r.ErrorCode != kerr.UnsupportedAssignor.Code {
		t.Fatalf("unknown assignor: %d", r.ErrorCode)
	}
	req.ServerAssignor, req.SubscribedTopicRegex = nil, kmsg.StringPtr("(")
	if r := call[*kmsg.ConsumerGroupHeartbeatResponse](t, gc, req); r.ErrorCode != kerr.InvalidRegularExpression.Code {
		t.Fatalf("bad regex: %d", r.ErrorCode)
	}
	for _, bad := range []func(r *kmsg.ConsumerGroupHeartbeatRequest){
		func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = "" },
		func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "" },
		func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.RebalanceTimeoutMillis = -1 },
		func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -3 },
		func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: tid(1), Partitions: []int32{0}}}
		},
	} {
		r := newClient("x", "t").request("g")
		bad(r)
		if resp := call[*kmsg.ConsumerGroupHeartbeatResponse](t, gc, r); resp.ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("invalid request answered %d", resp.ErrorCode)
		}
	}
	if r := call[*kmsg.ConsumerGroupHeartbeatResponse](t, gc, newClient("x", "t").request("nope")); r.ErrorCode != 0 {
		t.Fatalf("joining a new group: %d", r.ErrorCode)
	}
	stale := b.request("nope2")
	stale.MemberEpoch = 4
	if r := call[*kmsg.ConsumerGroupHeartbeatResponse](t, gc, stale); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("heartbeat to an unknown group: %d", r.ErrorCode)
	}

	// b's session ends: it is removed and a gets everything.
	gc.mu.Lock()
	gc.groups["g"].cg.members["b"].deadline = time.Now().Add(-time.Second)
	gc.mu.Unlock()
	gc.expire(context.Background(), time.Now())
	b.owned = partSet{} // b is dead
	if r := a.beat(t, gc, "g"); owned(a, 1) != 4 || r.MemberEpoch != 3 {
		t.Fatalf("after b expired: epoch %d owned %d", r.MemberEpoch, owned(a, 1))
	}
	if r := b.beat(t, gc, "g"); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("expired member: %d", r.ErrorCode)
	}
}

// A static member's instance id cannot be taken while it is in use
// (UNRELEASED_INSTANCE_ID); after a leave with epoch -2 a new incarnation
// gets the same partitions at once, and the old one is fenced.
func TestConsumerGroupStaticMembers(t *testing.T) {
	store := mdstore.NewMemory()
	gc := loaded(t, store)
	createTopic(t, gc, store, "t", 1, 4)
	a, b := newClient("a1", "t"), newClient("b", "t")
	a.instance = kmsg.StringPtr("ia")
	a.beat(t, gc, "g")
	b.beat(t, gc, "g")
	for i := 0; i < 3; i++ {
		a.beat(t, gc, "g")
		b.beat(t, gc, "g")
	}
	if owned(a, 1) != 2 || owned(b, 1) != 2 {
		t.Fatalf("owned %d and %d", owned(a, 1), owned(b, 1))
	}
	a2 := newClient("a2", "t")
	a2.instance = a.instance
	if r := a2.beat(t, gc, "g"); r.ErrorCode != kerr.UnreleasedInstanceID.Code {
		t.Fatalf("instance in use: %d", r.ErrorCode)
	}
	leave := a.request("g")
	leave.MemberEpoch = -2
	if r := call[*kmsg.ConsumerGroupHeartbeatResponse](t, gc, leave); r.ErrorCode != 0 || r.MemberEpoch != -2 {
		t.Fatalf("static leave: %d %d", r.ErrorCode, r.MemberEpoch)
	}
	before := a.owned
	a.owned = partSet{}
	if r := a2.beat(t, gc, "g"); r.ErrorCode != 0 || !a2.owned.equal(before) {
		t.Fatalf("rejoin: %d, owned %v, want %v", r.ErrorCode, a2.owned, before)
	}
	if r := a.beat(t, gc, "g"); r.ErrorCode != kerr.FencedInstanceID.Code {
		t.Fatalf("old incarnation: %d", r.ErrorCode)
	}
	checkDisjoint(t, []*client{a2, b})
}

// A regex subscription picks up a topic created later; metadata changes
// bump the group epoch.
func TestConsumerGroupRegexResolvesNewTopics(t *testing.T) {
	store := mdstore.NewMemory()
	gc := loaded(t, store)
	createTopic(t, gc, store, "ev-1", 1, 2)
	createTopic(t, gc, store, "other", 2, 2)
	c := newClient("c")
	c.regex = kmsg.StringPtr("^ev-")
	c.beat(t, gc, "g")
	if owned(c, 1) != 2 || owned(c, 2) != 0 {
		t.Fatalf("owned %v", c.owned)
	}
	epoch := c.epoch
	createTopic(t, gc, store, "ev-2", 3, 3)
	if r := c.beat(t, gc, "g"); r.MemberEpoch != epoch+1 || owned(c, 3) != 3 {
		t.Fatalf("after ev-2 was created: epoch %d owned %v", r.MemberEpoch, c.owned)
	}
	rec := &metadatav1.TopicRecord{Name: "ev-2", TopicId: tidBytes(3), PartitionCount: 5}
	if _, err := store.Write(context.Background(), nil, mdstore.Put(mdstore.TopicKey("ev-2"), mdstore.Marshal(rec))); err != nil {
		t.Fatal(err)
	}
	if err := gc.refreshTopics(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.beat(t, gc, "g"); owned(c, 3) != 5 {
		t.Fatalf("after partitions were added: %v", c.owned)
	}
	if _, err := store.Write(context.Background(), nil, mdstore.Delete(mdstore.TopicKey("ev-1"))); err != nil {
		t.Fatal(err)
	}
	if err := gc.refreshTopics(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.beat(t, gc, "g"); owned(c, 1) != 0 {
		t.Fatalf("a deleted topic stays assigned: %v", c.owned)
	}
}

// Offsets of a consumer group: the member epoch is the generation; an
// older epoch commits only partitions the member still owns.
func TestConsumerGroupOffsetCommitEpochs(t *testing.T) {
	store := mdstore.NewMemory()
	gc := loaded(t, store)
	createTopic(t, gc, store, "t", 1, 2)
	a := newClient("a", "t")
	a.beat(t, gc, "g")
	commit := func(member string, epoch int32, parts ...int32) int16 {
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Version = 9
		r.Group, r.MemberID, r.Generation = "g", member, epoch
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "t"
		for _, p := range parts {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = p, 10
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = []kmsg.OffsetCommitRequestTopic{rt}
		return call[*kmsg.OffsetCommitResponse](t, gc, r).Topics[0].Partitions[0].ErrorCode
	}
	if c := commit("a", a.epoch, 0, 1); c != 0 {
		t.Fatalf("commit at the member epoch: %d", c)
	}
	if c := commit("a", a.epoch+1, 0); c != kerr.StaleMemberEpoch.Code {
		t.Fatalf("commit ahead: %d", c)
	}
	if c := commit("zz", 1, 0); c != kerr.UnknownMemberID.Code {
		t.Fatalf("commit of an unknown member: %d", c)
	}
	if c := commit("", -1, 0); c != kerr.UnknownMemberID.Code {
		t.Fatalf("simple commit to a group with members: %d", c)
	}
	b := newClient("b", "t")
	b.beat(t, gc, "g")
	old := a.epoch
	a.beat(t, gc, "g")
	a.beat(t, gc, "g")
	keep := a.owned.sorted()[0].part
	if a.epoch == old || owned(a, 1) != 1 {
		t.Fatalf("a at epoch %d owns %d", a.epoch, owned(a, 1))
	}
	if c := commit("a", old, keep); c != 0 {
		t.Fatalf("commit at the previous epoch of an owned partition: %d", c)
	}
	if c := commit("a", old, 1-keep); c != kerr.StaleMemberEpoch.Code {
		t.Fatalf("commit at the previous epoch of a revoked partition: %d", c)
	}
	f := kmsg.NewPtrOffsetFetchRequest()
	f.Version = 9
	fg := kmsg.NewOffsetFetchRequestGroup()
	fg.Group, fg.MemberID, fg.MemberEpoch = "g", kmsg.StringPtr("a"), old
	f.Groups = []kmsg.OffsetFetchRequestGroup{fg}
	if r := call[*kmsg.OffsetFetchResponse](t, gc, f); r.Groups[0].ErrorCode != kerr.StaleMemberEpoch.Code {
		t.Fatalf("offset fetch at an old epoch: %d", r.Groups[0].ErrorCode)
	}
	f.Groups[0].MemberEpoch = a.epoch
	if r := call[*kmsg.OffsetFetchResponse](t, gc, f); r.Groups[0].ErrorCode != 0 || len(r.Groups[0].Topics) != 1 {
		t.Fatalf("offset fetch: %+v", r.Groups[0])
	}
}

// Classic and consumer groups side by side: ListGroups reports the type
// and filters by it, DescribeGroups says Dead for a consumer group (Kafka
// 4.0), a classic member whose metadata is not the consumer protocol
// cannot join a consumer group with members (INCONSISTENT_GROUP_PROTOCOL),
// a consumer member cannot join a classic group whose members' metadata
// is not the consumer protocol (GROUP_ID_NOT_FOUND: it cannot be
// upgraded), and an empty classic group is upgraded. migrate_test.go has
// the online upgrade and downgrade.
func TestConsumerAndClassicGroups(t *testing.T) {
	store := mdstore.NewMemory()
	gc := loaded(t, store)
	createTopic(t, gc, store, "t", 1, 2)
	stableStatic(t, gc, "classic", "i")
	newClient("a", "t").beat(t, gc, "new")

	if r := newClient("x", "t").beat(t, gc, "classic"); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("consumer member into a classic group: %d", r.ErrorCode)
	}
	if r := call[*kmsg.JoinGroupResponse](t, gc, joinReq("new", "", nil)); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("classic member into a consumer group: %d", r.ErrorCode)
	}
	l := kmsg.NewPtrListGroupsRequest()
	l.Version = 5
	l.TypesFilter = []string{"consumer"}
	if r := call[*kmsg.ListGroupsResponse](t, gc, l); len(r.Groups) != 1 || r.Groups[0].Group != "new" || r.Groups[0].GroupType != "consumer" || r.Groups[0].GroupState != "Stable" {
		t.Fatalf("list consumer groups: %+v", r.Groups)
	}
	l.TypesFilter = []string{"Classic"}
	if r := call[*kmsg.ListGroupsResponse](t, gc, l); len(r.Groups) != 1 || r.Groups[0].Group != "classic" {
		t.Fatalf("list classic groups: %+v", r.Groups)
	}
	d := kmsg.NewPtrDescribeGroupsRequest()
	d.Version = 5
	d.Groups = []string{"new"}
	if r := call[*kmsg.DescribeGroupsResponse](t, gc, d); r.Groups[0].State != "Dead" {
		t.Fatalf("describe a consumer group: %+v", r.Groups[0])
	}
	dg := kmsg.NewPtrConsumerGroupDescribeRequest()
	dg.Groups = []string{"classic", "none"}
	if r := call[*kmsg.ConsumerGroupDescribeResponse](t, gc, dg); r.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code || r.Groups[1].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("consumer-describe a classic group: %+v", r.Groups)
	}
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"new"}
	if r := call[*kmsg.DeleteGroupsResponse](t, gc, del); r.Groups[0].ErrorCode != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete a consumer group with members: %d", r.Groups[0].ErrorCode)
	}

	// An empty classic group (offsets only) is upgraded.
	c := kmsg.NewPtrOffsetCommitRequest()
	c.Group, c.Generation = "empty", -1
	c.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 3}}}}
	call[*kmsg.OffsetCommitResponse](t, gc, c)
	if r := newClient("y", "t").beat(t, gc, "empty"); r.ErrorCode != 0 {
		t.Fatalf("upgrade of an empty classic group: %d", r.ErrorCode)
	}
	// The group type survives a failover.
	gc2 := loaded(t, store)
	l.TypesFilter = []string{"consumer"}
	if r := call[*kmsg.ListGroupsResponse](t, gc2, l); len(r.Groups) != 2 {
		t.Fatalf("consumer groups after a reload: %+v", r.Groups)
	}
}

// Members join, leave, die, revoke slowly and heartbeat in random order:
// no partition is ever held by two members, and once they all heartbeat
// every partition is held once and counts differ by at most one.
func TestConsumerGroupReconciliationRandomized(t *testing.T) {
	for seed := uint64(0); seed < 30; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			store := mdstore.NewMemory()
			gc := loaded(t, store)
			createTopic(t, gc, store, "a", 1, 7)
			createTopic(t, gc, store, "b", 2, 5)
			rng := rand.New(rand.NewPCG(seed, 7))
			var clients []*client
			n := 0
			for step := 0; step < 400; step++ {
				switch op := rng.IntN(20); {
				case op == 0 && len(clients) < 6 || len(clients) == 0:
					n++
					c := newClient(fmt.Sprintf("m%d", n), "a", "b")
					c.slow = rng.IntN(2) == 0
					clients = append(clients, c)
					c.beat(t, gc, "g")
				case op == 1 && len(clients) > 0: // leave
					i := rng.IntN(len(clients))
					leave := clients[i].request("g")
					leave.MemberEpoch = -1
					call[*kmsg.ConsumerGroupHeartbeatResponse](t, gc, leave)
					clients = append(clients[:i], clients[i+1:]...)
				case op == 2 && len(clients) > 0: // die: the session ends
					i := rng.IntN(len(clients))
					gc.mu.Lock()
					if m := gc.groups["g"].cg.members[clients[i].id]; m != nil {
						m.deadline = time.Now().Add(-time.Second)
					}
					gc.mu.Unlock()
					gc.expire(context.Background(), time.Now())
					clients = append(clients[:i], clients[i+1:]...)
				case op == 3: // the controller fails over: members carry on
					gc = loaded(t, store)
				case op < 8:
					clients[rng.IntN(len(clients))].finish()
				default:
					clients[rng.IntN(len(clients))].beat(t, gc, "g")
				}
				checkDisjoint(t, clients)
			}
			if len(clients) == 0 {
				clients = append(clients, newClient("last", "a", "b"))
			}
			for round := 0; round < 10; round++ {
				for _, c := range clients {
					c.slow = false
					c.finish()
					c.beat(t, gc, "g")
					checkDisjoint(t, clients)
				}
			}
			total, lo, hi := 0, 1<<30, 0
			for _, c := range clients {
				total += len(c.owned)
				lo, hi = min(lo, len(c.owned)), max(hi, len(c.owned))
			}
			if total != 12 || hi-lo > 1 {
				t.Fatalf("%d clients hold %d of 12 partitions, from %d to %d each", len(clients), total, lo, hi)
			}
			gc.mu.Lock()
			state := gc.groups["g"].cg.state()
			gc.mu.Unlock()
			if state != "Stable" {
				t.Fatalf("group is %s", state)
			}
		})
	}
}

// A transactional offset commit to a consumer group checks the member
// epoch too.
func TestConsumerGroupTxnOffsetCommitMember(t *testing.T) {
	store := mdstore.NewMemory()
	gc := loaded(t, store)
	createTopic(t, gc, store, "t", 1, 1)
	a := newClient("a", "t")
	a.beat(t, gc, "g")
	if c := gc.CheckMember("g", "a", nil, a.epoch); c != 0 {
		t.Fatalf("member at its epoch: %d", c)
	}
	if c := gc.CheckMember("g", "a", nil, a.epoch+1); c != kerr.StaleMemberEpoch.Code {
		t.Fatalf("another epoch: %d", c)
	}
	if c := gc.CheckMember("g", "b", nil, 1); c != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %d", c)
	}
}

// Joins beyond group.max.size are refused with GROUP_MAX_SIZE_REACHED.
func TestConsumerGroupMaxSize(t *testing.T) {
	store := mdstore.NewMemory()
	gc := loaded(t, store)
	gc.SetLimits(time.Hour, 3, 10)
	createTopic(t, gc, store, "t", 1, 1)
	for i := 0; i < 3; i++ {
		if r := newClient(fmt.Sprint(i), "t").beat(t, gc, "g"); r.ErrorCode != 0 {
			t.Fatalf("join %d: %d", i, r.ErrorCode)
		}
	}
	if r := newClient("3", "t").beat(t, gc, "g"); r.ErrorCode != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("join beyond the bound: %d", r.ErrorCode)
	}
}

// A newly active controller loads the members: they keep their ids and
// partitions (one epoch later), and nothing is handed out twice.
func TestConsumerGroupSurvivesFailover(t *testing.T) {
	store := mdstore.NewMemory()
	gc := loaded(t, store)
	createTopic(t, gc, store, "t", 1, 6)
	a, b := newClient("a", "t"), newClient("b", "t")
	b.instance = kmsg.StringPtr("ib")
	a.beat(t, gc, "g")
	b.beat(t, gc, "g")
	for i := 0; i < 3; i++ {
		a.beat(t, gc, "g")
		b.beat(t, gc, "g")
	}
	wantA, wantB, epoch := a.owned.clone(), b.owned.clone(), a.epoch
	if len(wantA) != 3 || len(wantB) != 3 || b.epoch != epoch {
		t.Fatalf("before: %v %v at %d/%d", wantA, wantB, a.epoch, b.epoch)
	}
	gc2 := loaded(t, store)
	for i := 0; i < 2; i++ {
		for _, c := range []*client{a, b} {
			if r := c.beat(t, gc2, "g"); r.ErrorCode != 0 {
				t.Fatalf("%s after the failover: %d", c.id, r.ErrorCode)
			}
		}
	}
	if !a.owned.equal(wantA) || !b.owned.equal(wantB) || a.epoch != epoch+1 || b.epoch != epoch+1 {
		t.Fatalf("after: a %v (was %v) b %v (was %v) at %d/%d, was %d", a.owned, wantA, b.owned, wantB, a.epoch, b.epoch, epoch)
	}
	// A member that left is not brought back by a later failover.
	leave := a.request("g")
	leave.MemberEpoch = -1
	call[*kmsg.ConsumerGroupHeartbeatResponse](t, gc2, leave)
	gc3 := loaded(t, store)
	if r := a.beat(t, gc3, "g"); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("a member that left, after a failover: %d", r.ErrorCode)
	}
	if b.beat(t, gc3, "g"); len(b.owned) != 6 {
		t.Fatalf("b after a left: %v", b.owned)
	}
}

// offsets.retention.minutes does not expire a consumer group that has
// members.
func TestConsumerGroupWithMembersIsNotExpired(t *testing.T) {
	store := mdstore.NewMemory()
	gc := loaded(t, store)
	gc.SetLimits(time.Minute, 10, 10)
	cc := DefaultConsumerConfig()
	cc.SessionTimeout = 3 * time.Hour
	gc.SetConsumerConfig(cc)
	createTopic(t, gc, store, "t", 1, 1)
	a := newClient("a", "t")
	a.beat(t, gc, "g")
	gc.expire(context.Background(), time.Now().Add(time.Hour))
	gc.expire(context.Background(), time.Now().Add(2*time.Hour))
	if r := a.beat(t, gc, "g"); r.ErrorCode != 0 || owned(a, 1) != 1 {
		t.Fatalf("after the retention passed: %d, owned %v", r.ErrorCode, a.owned)
	}
}
