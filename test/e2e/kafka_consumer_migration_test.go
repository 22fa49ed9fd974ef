package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Online migration between the classic and the consumer group protocol
// (KIP-848, group.consumer.migration.policy=bidirectional) with franz-go:
// classic members (cooperative-sticky) consume a group; a member of the
// consumer protocol joins, which upgrades the group, and the classic
// members leave; a classic member (eager, range) joins the consumer
// group, the consumer-protocol members leave, and the group is classic
// again. The converted group survives a controller restart. With commits
// on revocation no record is processed twice at a handoff or across the
// restart and none is lost; the committed offsets end at the high
// watermarks.
func TestKafkaConsumerGroupMigration(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1,
		controllerArgs: []string{"--consumer-group-session-timeout", "6s", "--consumer-group-heartbeat-interval", "500ms"}})
	c.admin("topic", "create", "kmix", "--partitions", "6", "--replication-factor", "1")
	waitTopicsReady(t, c, map[string]int{"kmix": 6})
	seen := &seen848{counts: map[string]int{}}
	batch := 0
	produce := func() {
		t.Helper()
		batch++
		prefix := fmt.Sprint("b", batch, "-")
		produceValues(t, c, "kmix", prefix, 120)
		testutil.WaitFor(t, 60*time.Second, func() error {
			if _, _, n := seen.stats("kmix/" + prefix); n != 120 {
				return fmt.Errorf("processed %d of 120 %q records", n, prefix)
			}
			return nil
		})
		if _, dups, _ := seen.stats(""); dups != 0 {
			t.Fatalf("%d records processed twice", dups)
		}
	}
	waitCounts := func(ms []*member848, want ...int) {
		t.Helper()
		testutil.WaitFor(t, 60*time.Second, func() error {
			for i, m := range ms {
				if n := m.count("kmix"); n != want[i] {
					return fmt.Errorf("member %d owns %d partitions, want %d", i, n, want[i])
				}
			}
			return nil
		})
	}
	classic := func(b kgo.GroupBalancer) *member848 {
		return startGroupMember(t, c.kafka, "gmix", seen, kgo.ConsumeTopics("kmix"), kgo.Balancers(b),
			kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(500*time.Millisecond))
	}
	consumer := func() *member848 { return startMember848(t, c.kafka, "gmix", seen, kgo.ConsumeTopics("kmix")) }
	adm := franzClient(t, c)
	ka := kadm.NewClient(adm)
	groupType := func() string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req := kmsg.NewPtrListGroupsRequest()
		resp, err := req.RequestWith(ctx, adm)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range resp.Groups {
			if g.Group == "gmix" {
				return g.GroupType
			}
		}
		return ""
	}

	// A classic group.
	c1, c2 := classic(kgo.CooperativeStickyBalancer()), classic(kgo.CooperativeStickyBalancer())
	waitCounts([]*member848{c1, c2}, 3, 3)
	produce()
	if typ := groupType(); typ != "classic" {
		t.Fatalf("group type %q, want classic", typ)
	}

	// Upgrade: a consumer-protocol member joins, the classic members give
	// it partitions through their rejoins.
	n1 := consumer()
	waitCounts([]*member848{c1, c2, n1}, 2, 2, 2)
	produce()
	g := describe848(t, adm, "gmix")
	types := map[int8]int{}
	for _, m := range g.Members {
		types[m.MemberType]++
	}
	if g.ErrorCode != 0 || g.State != "Stable" || types[0] != 2 || types[1] != 1 {
		t.Fatalf("ConsumerGroupDescribe of the upgraded group: %+v", g)
	}
	if typ := groupType(); typ != "consumer" {
		t.Fatalf("group type %q after the upgrade, want consumer", typ)
	}
	// The controller restarts: the converted group's members, classic
	// ones included, are in etcd and keep their partitions.
	ctrl := c.controllers[0]
	ctrl.kill()
	ctrl.restart(t)
	waitHealthy(t, ctrl.grpc, 60*time.Second)
	produce()
	if g := describe848(t, adm, "gmix"); len(g.Members) != 3 {
		t.Fatalf("ConsumerGroupDescribe after the controller restart: %+v", g)
	}
	waitCounts([]*member848{c1, c2, n1}, 2, 2, 2)
	for _, m := range []*member848{c1, c2} {
		m.cl.Close()
		<-m.done
	}
	waitCounts([]*member848{n1}, 6)
	produce()

	// Downgrade: a classic (eager) member joins the consumer group, then
	// the consumer-protocol members leave.
	n2 := consumer()
	waitCounts([]*member848{n1, n2}, 3, 3)
	c3 := classic(kgo.RangeBalancer())
	waitCounts([]*member848{n1, n2, c3}, 2, 2, 2)
	produce()
	for _, m := range []*member848{n1, n2} {
		m.cl.Close()
		<-m.done
	}
	waitCounts([]*member848{c3}, 6)
	if typ := groupType(); typ != "classic" {
		t.Fatalf("group type %q after the downgrade, want classic", typ)
	}
	produce()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c3.cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	ends, err := ka.ListEndOffsets(ctx, "kmix")
	if err != nil {
		t.Fatal(err)
	}
	committed, err := ka.FetchOffsets(ctx, "gmix")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if got, ok := committed.Lookup("kmix", o.Partition); !ok || got.At != o.Offset {
			t.Errorf("partition %d: committed %v, high watermark %d", o.Partition, got.At, o.Offset)
		}
	})
	if distinct, dups, _ := seen.stats(""); dups != 0 || distinct != 6*120 {
		t.Fatalf("processed %d distinct records (want %d), %d twice", distinct, 6*120, dups)
	}
	c3.cl.Close() // before the cleanup, which stops the restarted controller first
}
