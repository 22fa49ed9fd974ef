package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// member848 is a franz-go consumer of the consumer group protocol
// (KIP-848, kgo.ServerSideBalancer) that counts every record it processes
// and commits everything it processed before it gives a partition up.
type member848 struct {
	cl     *kgo.Client
	dialer *cutDialer
	mu     sync.Mutex
	owned  map[string]map[int32]bool
	done   chan struct{}
}

// seen848 counts how often each record value was processed.
type seen848 struct {
	mu     sync.Mutex
	counts map[string]int
}

func (s *seen848) add(v string) {
	s.mu.Lock()
	s.counts[v]++
	s.mu.Unlock()
}

// stats returns distinct values, duplicates and distinct values with the prefix.
func (s *seen848) stats(prefix string) (distinct, dups, withPrefix int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for v, n := range s.counts {
		distinct++
		dups += n - 1
		if strings.HasPrefix(v, prefix) {
			withPrefix++
		}
	}
	return distinct, dups, withPrefix
}

func (m *member848) count(topic string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.owned[topic])
}

func startMember848(t *testing.T, seed, group string, seen *seen848, opts ...kgo.Opt) *member848 {
	t.Helper()
	return startGroupMember(t, seed, group, seen, append([]kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer())}, opts...)...)
}

// startGroupMember is startMember848 without the consumer group protocol:
// opts pick the protocol (kgo.ServerSideBalancer) and balancers.
func startGroupMember(t *testing.T, seed, group string, seen *seen848, opts ...kgo.Opt) *member848 {
	t.Helper()
	m := &member848{dialer: &cutDialer{}, owned: map[string]map[int32]bool{}, done: make(chan struct{})}
	drop := func(ps map[string][]int32) {
		m.mu.Lock()
		defer m.mu.Unlock()
		for topic, parts := range ps {
			for _, p := range parts {
				delete(m.owned[topic], p)
			}
		}
	}
	opts = append([]kgo.Opt{kgo.SeedBrokers(seed), kgo.ConsumerGroup(group), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.Dialer(m.dialer.dial), kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for topic, parts := range a {
				if m.owned[topic] == nil {
					m.owned[topic] = map[int32]bool{}
				}
				for _, p := range parts {
					m.owned[topic][p] = true
				}
			}
		}),
		// Everything polled was processed (rebalances wait for the poll
		// loop), so committing it all before giving partitions up makes
		// handoffs exact.
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, r map[string][]int32) {
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				t.Logf("commit on revoke: %v", err)
			}
			drop(r)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) { drop(l) }),
	}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	t.Cleanup(cl.Close)
	go func() {
		defer close(m.done)
		for {
			fs := cl.PollFetches(context.Background())
			if fs.IsClientClosed() {
				return
			}
			fs.EachRecord(func(r *kgo.Record) { seen.add(r.Topic + "/" + string(r.Value)) })
			cl.AllowRebalance()
		}
	}()
	return m
}

// describe848 is the group as ConsumerGroupDescribe reports it.
func describe848(t *testing.T, cl *kgo.Client, group string) kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("ConsumerGroupDescribe: %v", err)
	}
	return resp.Groups[0]
}

// The consumer group protocol (KIP-848) with franz-go against three
// gateways: members on different gateways join, one leaves, one dies (its
// connections cut, no leave); the coordinator's uniform assignor balances
// them, a partition moves only after its owner revoked it, and with
// commits on revocation no record is processed twice across the graceful
// handoffs and a controller restart nor lost across the death; the
// committed offsets end at the high watermarks. A regex subscription picks
// up a topic created later (with the range assignor); static members come
// back to their partitions.
func TestKafkaConsumerGroupProtocol(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3,
		controllerArgs: []string{"--consumer-group-session-timeout", "6s", "--consumer-group-heartbeat-interval", "500ms"}})
	k2, _ := addGateway(t, c, "gateway-2")
	k3, _ := addGateway(t, c, "gateway-3")
	c.admin("topic", "create", "k848", "--partitions", "6", "--replication-factor", "3")
	waitTopicsReady(t, c, map[string]int{"k848": 6})
	produceValues(t, c, "k848", "a", 600)

	seen := &seen848{counts: map[string]int{}}
	waitSeen := func(prefix string, want int) {
		t.Helper()
		testutil.WaitFor(t, 60*time.Second, func() error {
			if _, _, n := seen.stats("k848/" + prefix); n != want {
				return fmt.Errorf("processed %d of %d %q records", n, want, prefix)
			}
			return nil
		})
	}
	waitCounts := func(ms []*member848, want ...int) {
		t.Helper()
		testutil.WaitFor(t, 60*time.Second, func() error {
			for i, m := range ms {
				if n := m.count("k848"); n != want[i] {
					return fmt.Errorf("member %d owns %d partitions, want %d", i, n, want[i])
				}
			}
			return nil
		})
	}
	m1 := startMember848(t, c.kafka, "g848", seen, kgo.ConsumeTopics("k848"))
	m2 := startMember848(t, k2, "g848", seen, kgo.ConsumeTopics("k848"))
	waitCounts([]*member848{m1, m2}, 3, 3)
	waitSeen("a", 600)

	adm := franzClient(t, c)
	g := describe848(t, adm, "g848")
	if g.ErrorCode != 0 || g.AssignorName != "uniform" || len(g.Members) != 2 || g.Members[0].MemberType != 1 {
		t.Fatalf("ConsumerGroupDescribe: %+v", g)
	}

	m3 := startMember848(t, k3, "g848", seen, kgo.ConsumeTopics("k848"))
	waitCounts([]*member848{m1, m2, m3}, 2, 2, 2)
	produceValues(t, c, "k848", "b", 300)
	waitSeen("b", 300)

	// m1 leaves (epoch -1): the others take its partitions.
	m1.cl.Close()
	<-m1.done
	waitCounts([]*member848{m2, m3}, 3, 3)
	produceValues(t, c, "k848", "c", 300)
	waitSeen("c", 300)
	// The gRPC group API describes the group too, with the members'
	// assignments, and refuses to reset its offsets while it has members.
	grp := groupClient(t, c)
	testutil.WaitFor(t, 30*time.Second, func() error {
		d, err := grp.DescribeGroup(context.Background(), &streamv1.DescribeGroupRequest{GroupId: "g848"})
		if err != nil {
			return err
		}
		n := 0
		for _, m := range d.GetMembers() {
			for _, a := range m.GetAssignment() {
				n += len(a.GetPartitions())
			}
		}
		if d.GetState() != "Stable" || d.GetProtocolType() != "consumer" || d.GetProtocol() != "uniform" || len(d.GetMembers()) != 2 || n != 6 {
			return fmt.Errorf("gRPC DescribeGroup: %v", d)
		}
		return nil
	})
	_, rerr := grp.ResetOffsets(context.Background(), &streamv1.ResetOffsetsRequest{GroupId: "g848",
		Target: &streamv1.ResetOffsetsRequest_ToEarliest{ToEarliest: true}, Execute: true})
	if !strings.Contains(fmt.Sprint(rerr), "active members") {
		t.Fatalf("ResetOffsets of a consumer group with members: %v, want NON_EMPTY_GROUP", rerr)
	}
	if _, dups, _ := seen.stats(""); dups != 0 {
		t.Fatalf("%d records processed twice across joins and a leave", dups)
	}

	// The controller restarts: the members are in etcd, so they keep their
	// ids and partitions, and nothing is processed twice.
	memberIDs := func() string {
		var ids []string
		for _, m := range describe848(t, adm, "g848").Members {
			ids = append(ids, m.MemberID)
		}
		return strings.Join(ids, ",")
	}
	idsBefore := memberIDs()
	ctrl := c.controllers[0]
	ctrl.kill()
	ctrl.restart(t)
	waitHealthy(t, ctrl.grpc, 60*time.Second)
	produceValues(t, c, "k848", "e", 300)
	waitSeen("e", 300)
	if ids := memberIDs(); ids != idsBefore {
		t.Fatalf("members after the controller restart: %s, before: %s", ids, idsBefore)
	}
	if _, dups, _ := seen.stats(""); dups != 0 {
		t.Fatalf("%d records processed twice across a controller restart", dups)
	}
	waitCounts([]*member848{m2, m3}, 3, 3)

	// m2 dies: after the session timeout m3 owns everything.
	m2.dialer.cutAll()
	waitCounts([]*member848{m3}, 6)
	m2.cl.Close()
	produceValues(t, c, "k848", "d", 300)
	for _, p := range []string{"a", "b", "c", "d", "e"} {
		waitSeen(p, map[string]int{"a": 600, "b": 300, "c": 300, "d": 300, "e": 300}[p])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m3.cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	ka := kadm.NewClient(adm)
	ends, err := ka.ListEndOffsets(ctx, "k848")
	if err != nil {
		t.Fatal(err)
	}
	committed, err := ka.FetchOffsets(ctx, "g848")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if got, ok := committed.Lookup("k848", o.Partition); !ok || got.At != o.Offset {
			t.Errorf("partition %d: committed %v, high watermark %d", o.Partition, got.At, o.Offset)
		}
	})

	m3.cl.Close() // before the cleanup, which stops the restarted controller first
	// ListGroups tells consumer groups from classic ones.
	lg, err := ka.ListGroupsByType(ctx, []string{"consumer"})
	if err != nil || len(lg) != 1 || lg.Groups()[0] != "g848" {
		t.Fatalf("ListGroups types=consumer: %v %v", lg, err)
	}

	// A regex subscription: a topic created while the member runs is
	// resolved by the coordinator and assigned.
	c.admin("topic", "create", "k848re-1", "--partitions", "2", "--replication-factor", "3")
	waitTopicsReady(t, c, map[string]int{"k848re-1": 2})
	produceValues(t, c, "k848re-1", "r1", 50)
	re := startMember848(t, k2, "g848re", seen, kgo.ConsumeRegex(), kgo.ConsumeTopics("^k848re-.*"), kgo.Balancers(kgo.RangeBalancer()))
	testutil.WaitFor(t, 60*time.Second, func() error {
		if _, _, n := seen.stats("k848re-1/"); n != 50 {
			return fmt.Errorf("regex member processed %d of 50 records of k848re-1", n)
		}
		return nil
	})
	c.admin("topic", "create", "k848re-2", "--partitions", "3", "--replication-factor", "3")
	waitTopicsReady(t, c, map[string]int{"k848re-2": 3})
	produceValues(t, c, "k848re-2", "r2", 50)
	testutil.WaitFor(t, 60*time.Second, func() error {
		if _, _, n := seen.stats("k848re-2/"); n != 50 || re.count("k848re-2") != 3 {
			return fmt.Errorf("regex member processed %d of 50 records of the new topic k848re-2, owns %d of its partitions", n, re.count("k848re-2"))
		}
		return nil
	})
	if g := describe848(t, adm, "g848re"); len(g.Members) != 1 || g.Members[0].SubscribedTopicRegex == nil || g.AssignorName != "range" {
		t.Fatalf("regex group: %+v", g)
	}

	// Static members: one closes (a leave with epoch -2, keeping its
	// place) and its next incarnation gets the same partitions while the
	// other keeps its own.
	static := func(seed, id string) *member848 {
		return startMember848(t, seed, "g848s", seen, kgo.ConsumeTopics("k848"), kgo.InstanceID(id))
	}
	sa, sb := static(c.kafka, "sa"), static(k3, "sb")
	waitCounts([]*member848{sa, sb}, 3, 3)
	owned := func(m *member848) string {
		m.mu.Lock()
		defer m.mu.Unlock()
		return fmt.Sprint(m.owned["k848"])
	}
	before, other := owned(sa), owned(sb)
	sa.cl.Close()
	<-sa.done
	sa2 := static(k2, "sa")
	waitCounts([]*member848{sa2}, 3)
	if got := owned(sa2); got != before {
		t.Fatalf("the static member came back with %s, had %s", got, before)
	}
	if got := owned(sb); got != other {
		t.Fatalf("the other static member went from %s to %s", other, got)
	}
}
