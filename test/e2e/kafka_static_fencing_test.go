package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Two consumers started with the same group.instance.id: the newer one
// takes the static member's place, and the older one is fenced with
// FENCED_INSTANCE_ID on every later call, instead of rejoining and
// replacing the newer one in turn (KIP-345).
func TestKafkaStaticMemberFencedInstanceID(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"static": 2})
	group := "static-group"
	opts := func() []kgo.Opt {
		return []kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics("static"), kgo.InstanceID("instance-1"),
			kgo.SessionTimeout(10 * time.Second), kgo.HeartbeatInterval(300 * time.Millisecond)}
	}
	adm := kadm.NewClient(franzClient(t, c))
	memberOf := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gs, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return "", err
		}
		g := gs[group]
		if g.Err != nil {
			return "", g.Err
		}
		if g.State != "Stable" || len(g.Members) != 1 {
			return "", fmt.Errorf("group %s with %d members", g.State, len(g.Members))
		}
		return g.Members[0].MemberID, nil
	}

	older := franzClient(t, c, opts()...)
	pollCtx, stopPoll := context.WithCancel(context.Background())
	t.Cleanup(stopPoll)
	fencedOlder := make(chan error, 16)
	go func() {
		for pollCtx.Err() == nil {
			older.PollFetches(pollCtx).EachError(func(_ string, _ int32, err error) {
				if errors.Is(err, kerr.FencedInstanceID) {
					select {
					case fencedOlder <- err:
					default:
					}
				}
			})
		}
	}()
	var first string
	testutil.WaitFor(t, 30*time.Second, func() (err error) { first, err = memberOf(); return err })

	newer := franzClient(t, c, opts()...)
	go func() {
		for pollCtx.Err() == nil {
			newer.PollFetches(pollCtx)
		}
	}()
	var second string
	testutil.WaitFor(t, 30*time.Second, func() error {
		id, err := memberOf()
		if err == nil && id == first {
			err = fmt.Errorf("still the older member %s", id)
		}
		second = id
		return err
	})
	// The older consumer learns it was fenced, tries again (franz-go backs
	// off and rejoins with its member id) and is fenced again; meanwhile
	// the newer one keeps the slot.
	for i := range 2 {
		select {
		case <-fencedOlder:
		case <-time.After(30 * time.Second):
			t.Fatalf("the older consumer saw no FENCED_INSTANCE_ID (%d)", i)
		}
		if id, err := memberOf(); err != nil || id != second {
			t.Fatalf("member after the older one was fenced = %q, %v; want %q", id, err, second)
		}
	}
}
