package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testutil"
)

// A reassignment under acks=all load whose new replica is made leader the
// moment the controller confirms it in the ISR: the new leader holds every
// acknowledged record, because while the ISR expansion was in flight the
// old leader's high watermark already counted it (Kafka's maximal ISR).
func TestReassignUnderAcksAllLoadNewLeaderHasEveryAck(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3})
	c.admin("topic", "create", "moving", "--partitions", "1", "--replication-factor", "1")
	rn := nodesByID(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	testutil.WaitFor(t, 20*time.Second, func() error {
		if p, err := describePartition(t, c, "moving", 0); err != nil || p.Leader < 0 {
			return fmt.Errorf("no leader yet: %v", err)
		}
		return nil
	})
	from, _ := describePartition(t, c, "moving", 0)
	var to int32 = -1
	for id := range rn.byID {
		if id != from.Leader {
			to = id
			break
		}
	}
	h, stop := startHistory(ctx, t, c, rn, "moving")
	h.waitAcked(t, 0, 200)
	c.admin("topic", "reassign", "moving", "--partition", "0", "--replicas", fmt.Sprint(to))
	testutil.WaitFor(t, 30*time.Second, func() error {
		p, err := describePartition(t, c, "moving", 0)
		if err != nil {
			return err
		}
		if p.Leader != to || len(p.Replicas) != 1 {
			return fmt.Errorf("still moving from %d to %d: leader %d replicas %v", from.Leader, to, p.Leader, p.Replicas)
		}
		return nil
	})
	h.waitAcked(t, h.ackedCount(), 100) // writes continue on the new leader
	stop()
	checkHistory(t, h, readAll(ctx, t, rn.clients[to], "moving"))
}
