package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// describeGroup describes one group through kadm.
func describeGroup(ctx context.Context, adm *kadm.Client, group string) (kadm.DescribedGroup, error) {
	ds, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return kadm.DescribedGroup{}, err
	}
	d, ok := ds[group]
	if !ok {
		return kadm.DescribedGroup{}, fmt.Errorf("group %s not in the describe response", group)
	}
	return d, nil
}

// committedOffsets is a group's committed offsets as topic → partition → offset.
func committedOffsets(ctx context.Context, adm *kadm.Client, group string) (map[string]map[int32]int64, error) {
	rs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return nil, err
	}
	if err := rs.Error(); err != nil {
		return nil, err
	}
	out := map[string]map[int32]int64{}
	rs.Each(func(o kadm.OffsetResponse) {
		if o.At < 0 {
			return
		}
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.At
	})
	return out, nil
}

// DeleteGroups and OffsetDelete through kadm: offsets of an empty group are
// deleted per partition, then the group; a group with members is refused
// with NON_EMPTY_GROUP, and its subscribed topics' offsets with
// GROUP_SUBSCRIBED_TO_TOPIC, until its last member leaves.
func TestKafkaDeleteGroupsAndOffsets(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"gdel": 2})
	adm := kadm.NewClient(franzClient(t, c))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// A group with committed offsets and no members.
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "gdel", Partition: 0, At: 3, LeaderEpoch: -1, Metadata: "m0"})
	os.Add(kadm.Offset{Topic: "gdel", Partition: 1, At: 5, LeaderEpoch: -1, Metadata: "m1"})
	if rs, err := adm.CommitOffsets(ctx, "del-empty", os); err != nil || rs.Error() != nil {
		t.Fatalf("commit: %v %v", err, rs.Error())
	}
	got, err := committedOffsets(ctx, adm, "del-empty")
	if want := map[string]map[int32]int64{"gdel": {0: 3, 1: 5}}; err != nil || !equalOffsets(got, want) {
		t.Fatalf("committed offsets: %v %v, want %v", err, got, want)
	}
	ds, err := adm.DeleteOffsets(ctx, "del-empty", kadm.TopicsSet{"gdel": {0: {}}})
	if err != nil || ds.Error() != nil {
		t.Fatalf("delete offsets: %v %v", err, ds.Error())
	}
	got, err = committedOffsets(ctx, adm, "del-empty")
	if want := map[string]map[int32]int64{"gdel": {1: 5}}; err != nil || !equalOffsets(got, want) {
		t.Fatalf("after OffsetDelete of partition 0: %v %v, want %v", err, got, want)
	}
	dg, err := adm.DeleteGroups(ctx, "del-empty")
	if err != nil || dg["del-empty"].Err != nil {
		t.Fatalf("delete group: %v %+v", err, dg)
	}
	got, err = committedOffsets(ctx, adm, "del-empty")
	if err != nil || len(got) != 0 {
		t.Fatalf("offsets after DeleteGroups: %v %v, want none", err, got)
	}
	if d, err := describeGroup(ctx, adm, "del-empty"); err != nil || (d.Err == nil && d.State != "Dead") || len(d.Members) != 0 {
		t.Fatalf("describe after DeleteGroups: %v %+v, want Dead or GROUP_ID_NOT_FOUND", err, d)
	}
	if dg, err := adm.DeleteGroups(ctx, "del-empty"); err != nil || !errors.Is(dg["del-empty"].Err, kerr.GroupIDNotFound) {
		t.Fatalf("second delete: %v %+v, want GROUP_ID_NOT_FOUND", err, dg)
	}

	// A group with a member.
	produceValues(t, c, "gdel", "x", 20)
	var seen sync.Map
	m := startMember(t, c, "del-busy", "gdel", &seen)
	testutil.WaitFor(t, 30*time.Second, func() error {
		if n := countSeen(&seen); n != 20 || len(m.partitions()) != 2 {
			return fmt.Errorf("member holds %v and saw %d of 20", m.partitions(), n)
		}
		return nil
	})
	if err := m.cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if dg, err := adm.DeleteGroups(ctx, "del-busy"); err != nil || !errors.Is(dg["del-busy"].Err, kerr.NonEmptyGroup) {
		t.Fatalf("delete of a group with a member: %v %+v, want NON_EMPTY_GROUP", err, dg)
	}
	ds, err = adm.DeleteOffsets(ctx, "del-busy", kadm.TopicsSet{"gdel": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := ds.Lookup("gdel", 0); !errors.Is(e, kerr.GroupSubscribedToTopic) {
		t.Fatalf("delete offsets of a subscribed topic: %v, want GROUP_SUBSCRIBED_TO_TOPIC", e)
	}
	got, err = committedOffsets(ctx, adm, "del-busy")
	if want := 20; err != nil || len(got["gdel"]) != 2 || got["gdel"][0]+got["gdel"][1] != int64(want) {
		t.Fatalf("offsets of the busy group: %v %v, want both partitions summing to %d", err, got, want)
	}
	m.cl.Close() // LeaveGroup: the group is empty at once
	testutil.WaitFor(t, 15*time.Second, func() error {
		d, err := describeGroup(ctx, adm, "del-busy")
		if err == nil && (d.State != "Empty" || len(d.Members) != 0) {
			err = fmt.Errorf("group is %s with %d members", d.State, len(d.Members))
		}
		return err
	})
	if dg, err := adm.DeleteGroups(ctx, "del-busy"); err != nil || dg["del-busy"].Err != nil {
		t.Fatalf("delete of the emptied group: %v %+v", err, dg)
	}
	if got, err := committedOffsets(ctx, adm, "del-busy"); err != nil || len(got) != 0 {
		t.Fatalf("offsets after DeleteGroups: %v %v, want none", err, got)
	}
}

func equalOffsets(a, b map[string]map[int32]int64) bool {
	return maps.EqualFunc(a, b, func(x, y map[int32]int64) bool { return maps.Equal(x, y) })
}

// assignedTo is each member's assigned partitions of topic, by instance id
// (or member id for dynamic members).
func assignedTo(d kadm.DescribedGroup, topic string) map[string][]int32 {
	out := map[string][]int32{}
	for _, m := range d.Members {
		key := m.MemberID
		if m.InstanceID != nil {
			key = *m.InstanceID
		}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				if t.Topic == topic {
					out[key] = slices.Sorted(slices.Values(t.Partitions))
				}
			}
		}
	}
	return out
}

// Static membership (KIP-345): a static member that restarts within the
// session timeout takes its old place and partitions back; the other
// member keeps its generation and assignment (no rebalance).
func TestKafkaStaticMemberRestartsWithoutRebalance(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"gstatic": 4})
	adm := kadm.NewClient(franzClient(t, c))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var seen sync.Map
	a := startMember(t, c, "static", "gstatic", &seen, kgo.InstanceID("static-a"), kgo.SessionTimeout(20*time.Second))
	b := startMember(t, c, "static", "gstatic", &seen, kgo.InstanceID("static-b"), kgo.SessionTimeout(20*time.Second))
	var before map[string][]int32
	testutil.WaitFor(t, 30*time.Second, func() error {
		d, err := describeGroup(ctx, adm, "static")
		if err != nil {
			return err
		}
		before = assignedTo(d, "gstatic")
		if d.State != "Stable" || len(before["static-a"]) != 2 || len(before["static-b"]) != 2 ||
			len(a.partitions()) != 2 || len(b.partitions()) != 2 {
			return fmt.Errorf("group %s, assignment %v", d.State, before)
		}
		return nil
	})
	// Restart each member in turn (one of them is the leader): a static
	// member does not leave the group on close.
	members := map[string]*groupMember{"static-a": a, "static-b": b}
	for _, restart := range []string{"static-a", "static-b"} {
		other := "static-b"
		if restart == "static-b" {
			other = "static-a"
		}
		o := members[other]
		oMember, oGen := o.cl.GroupMetadata()
		oAssigned := o.partitions()
		members[restart].cl.Close()
		r := startMember(t, c, "static", "gstatic", &seen, kgo.InstanceID(restart), kgo.SessionTimeout(20*time.Second))
		members[restart] = r
		testutil.WaitFor(t, 15*time.Second, func() error {
			if got := r.partitions(); !maps.Equal(got, setOf(before[restart])) {
				return fmt.Errorf("restarted %s holds %v, want %v", restart, got, before[restart])
			}
			return nil
		})
		d, err := describeGroup(ctx, adm, "static")
		if err != nil {
			t.Fatal(err)
		}
		if after := assignedTo(d, "gstatic"); d.State != "Stable" || len(d.Members) != 2 || !maps.EqualFunc(after, before, slices.Equal) {
			t.Fatalf("after restarting %s: group %s with %d members, assignment %v, want %v", restart, d.State, len(d.Members), after, before)
		}
		for _, m := range d.Members {
			if m.InstanceID == nil || !strings.HasPrefix(m.MemberID, *m.InstanceID+"-") {
				t.Errorf("member id %q does not start with its instance id %v", m.MemberID, m.InstanceID)
			}
		}
		if id, gen := o.cl.GroupMetadata(); id != oMember || gen != oGen || !maps.Equal(o.partitions(), oAssigned) {
			t.Fatalf("restarting %s rebalanced %s: member %s generation %d partitions %v, was %s %d %v",
				restart, other, id, gen, o.partitions(), oMember, oGen, oAssigned)
		}
		if _, gen := r.cl.GroupMetadata(); gen != oGen {
			t.Fatalf("restarted %s is at generation %d, the group at %d", restart, gen, oGen)
		}
	}
	// The restarted member consumes: new records on its partitions arrive.
	produceValues(t, c, "gstatic", "after", 40)
	testutil.WaitFor(t, 30*time.Second, func() error {
		n := 0
		seen.Range(func(k, _ any) bool {
			if len(k.(string)) > 5 && k.(string)[:5] == "after" {
				n++
			}
			return true
		})
		if n != 40 {
			return fmt.Errorf("seen %d of 40 new records", n)
		}
		return nil
	})
}

func setOf(ps []int32) map[int32]bool {
	out := map[int32]bool{}
	for _, p := range ps {
		out[p] = true
	}
	return out
}

// Committed offsets survive a failover of the active controller in a
// 3-controller cluster: a new consumer in the group resumes from them.
func TestKafkaOffsetsSurviveControllerFailover(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 3, storage: 3})
	c.admin("topic", "create", "gfail", "--partitions", "3", "--replication-factor", "3")
	waitTopicsReady(t, c, map[string]int{"gfail": 3})
	produceValues(t, c, "gfail", "a", 90)
	var seen sync.Map
	m := startMember(t, c, "failover", "gfail", &seen)
	testutil.WaitFor(t, 30*time.Second, func() error {
		if n := countSeen(&seen); n != 90 {
			return fmt.Errorf("seen %d of 90", n)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := m.cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	m.cl.Close()
	adm := kadm.NewClient(franzClient(t, c))
	before, err := committedOffsets(ctx, adm, "failover")
	if err != nil || len(before["gfail"]) != 3 {
		t.Fatalf("committed before the failover: %v %v", err, before)
	}

	var cl clusterInfo
	c.adminJSON(&cl, "cluster", "describe")
	var victim *node
	for _, ctrl := range cl.Controllers {
		for _, n := range c.controllers {
			if ctrl.Active && n.name == ctrl.ID {
				victim = n
			}
		}
	}
	if victim == nil {
		t.Fatalf("no active controller among %+v", cl.Controllers)
	}
	victim.signal(syscall.SIGKILL)
	testutil.WaitFor(t, 30*time.Second, func() error {
		out, errOut, code := cli(t, "cluster", "describe", "--output", "json", "--server", c.gateway.grpc, "--timeout", "3s")
		if code != 0 {
			return fmt.Errorf("%s", errOut)
		}
		var now clusterInfo
		if err := jsonUnmarshal(out, &now); err != nil {
			return err
		}
		for _, ctrl := range now.Controllers {
			if ctrl.Active && ctrl.ID != victim.name {
				return nil
			}
		}
		return fmt.Errorf("no new active controller yet: %+v", now.Controllers)
	})
	after, err := committedOffsets(ctx, adm, "failover")
	if err != nil || !equalOffsets(after, before) {
		t.Fatalf("committed after the failover: %v %v, want %v", err, after, before)
	}
	produceValues(t, c, "gfail", "b", 30)
	var resumed sync.Map
	m2 := startMember(t, c, "failover", "gfail", &resumed)
	testutil.WaitFor(t, 60*time.Second, func() error {
		if n := countSeen(&resumed); n < 30 {
			return fmt.Errorf("the new member saw %d of 30 new records", n)
		}
		return nil
	})
	resumed.Range(func(k, _ any) bool {
		if v := k.(string); v[0] != 'b' {
			t.Errorf("after the failover the group re-read %q: committed offsets were lost", v)
		}
		return true
	})
	m2.cl.Close()
}
