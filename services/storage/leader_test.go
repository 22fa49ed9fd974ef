package storage

import (
	"context"
	"testing"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/testutil"
	"google.golang.org/grpc"
)

// heldController answers AlterPartition only when release is closed, so a
// test can look at a leader while an ISR change is in flight.
type heldController struct {
	controllerv1.ControllerServiceClient
	calls   chan *controllerv1.AlterPartitionRequest
	release chan struct{}
}

func (c *heldController) AlterPartition(ctx context.Context, req *controllerv1.AlterPartitionRequest, _ ...grpc.CallOption) (*controllerv1.AlterPartitionResponse, error) {
	c.calls <- req
	select {
	case <-c.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &controllerv1.AlterPartitionResponse{Partition: &metadatav1.PartitionRecord{
		Topic: req.GetTopic(), Partition: req.GetPartition(), Replicas: []int32{1, 2}, Leader: 1,
		LeaderEpoch: req.GetLeaderEpoch(), PartitionEpoch: req.GetPartitionEpoch() + 1, Isr: req.GetNewIsr()}}, nil
}

type heldHost struct {
	testHost
	ctl *heldController
}

func (h *heldHost) controller() controllerv1.ControllerServiceClient { return h.ctl }

// While the leader asks the controller to add a caught-up follower to the
// ISR, the high watermark already counts that follower (Kafka's maximal
// ISR): the controller may make it leader as soon as it confirms, so it
// must hold everything below the high watermark.
func TestHighWatermarkCountsFollowersBeingAdded(t *testing.T) {
	host := &heldHost{ctl: &heldController{calls: make(chan *controllerv1.AlterPartitionRequest, 1), release: make(chan struct{})}}
	ps := newPartitions(t.TempDir())
	if err := ps.reconcile([]assignment{testAssignment("t", 0, "aa")}, keepAll, host); err != nil {
		t.Fatal(err)
	}
	defer ps.closeAll()
	r, _ := ps.get("t", 0)
	ls := newLeaderState(r, &metadatav1.PartitionRecord{Topic: "t", Replicas: []int32{1, 2}, Leader: 1, Isr: []int32{1}})
	r.leader.Store(ls)
	for i := 0; i < 3; i++ {
		if _, err := r.appendProduced(0, batch(t, "a")); err != nil {
			t.Fatal(err)
		}
	}
	ls.advanceHighWatermark()
	if hw := r.log.HighWatermark(); hw != 3 {
		t.Fatalf("high watermark %d with the leader alone in the ISR, want 3", hw)
	}
	// Follower 2 catches up: the leader asks to add it, and the answer is held.
	ls.followerFetched(2, 3, 0)
	var req *controllerv1.AlterPartitionRequest
	select {
	case req = <-host.ctl.calls:
	case <-time.After(10 * time.Second):
		t.Fatal("the leader never asked to expand the ISR")
	}
	if len(req.GetNewIsr()) != 2 {
		t.Fatalf("expansion asks for ISR %v", req.GetNewIsr())
	}
	// Two more records: the follower being added has not fetched them, so
	// the high watermark stays.
	for i := 0; i < 2; i++ {
		if _, err := r.appendProduced(0, batch(t, "b")); err != nil {
			t.Fatal(err)
		}
	}
	ls.advanceHighWatermark()
	if hw := r.log.HighWatermark(); hw != 3 {
		t.Fatalf("high watermark %d while follower 2 (at 3) is being added, want 3", hw)
	}
	ls.followerFetched(2, 5, 0)
	if hw := r.log.HighWatermark(); hw != 5 {
		t.Fatalf("high watermark %d after follower 2 reached 5, want 5", hw)
	}
	close(host.ctl.release)
	testutil.WaitFor(t, 10*time.Second, func() error {
		if ls.isrSize() != 2 {
			return context.DeadlineExceeded
		}
		return nil
	})
}
