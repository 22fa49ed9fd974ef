package controller

import (
	"slices"
	"testing"

	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/errs"
)

func alive(ids ...int32) map[int32]bool {
	out := map[int32]bool{}
	for _, id := range ids {
		out[id] = true
	}
	return out
}

func TestReassignmentAddsThenDrops(t *testing.T) {
	rec := &metadatav1.PartitionRecord{Topic: "t", Replicas: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 4, Isr: []int32{1, 2, 3}, PartitionEpoch: 7}
	next := startReassignment(rec, []int32{4, 2, 3})
	if !slices.Equal(next.GetReplicas(), []int32{4, 2, 3, 1}) || !slices.Equal(next.GetAddingReplicas(), []int32{4}) ||
		!slices.Equal(next.GetRemovingReplicas(), []int32{1}) || next.GetPartitionEpoch() != 8 {
		t.Fatalf("started: %v", next)
	}
	if next.GetLeader() != 1 || next.GetLeaderEpoch() != 4 {
		t.Fatalf("starting a move changed leadership: %v", next)
	}

	// Node 4 is not in the ISR yet: nothing happens.
	if n, why := finishReassignment(next, alive(1, 2, 3, 4)); why != "" || n != next {
		t.Fatalf("finished before the new replica caught up: %v (%s)", n, why)
	}

	// Node 4 joins the ISR: the move finishes, and leadership leaves node 1
	// for the first in-sync target replica.
	next.Isr = []int32{1, 2, 3, 4}
	done, why := finishReassignment(next, alive(1, 2, 3, 4))
	if why == "" {
		t.Fatal("did not finish with every adding replica in the ISR")
	}
	if !slices.Equal(done.GetReplicas(), []int32{4, 2, 3}) || !slices.Equal(done.GetIsr(), []int32{2, 3, 4}) ||
		len(done.GetAddingReplicas())+len(done.GetRemovingReplicas()) != 0 {
		t.Fatalf("finished: %v", done)
	}
	if done.GetLeader() != 4 || done.GetLeaderEpoch() != 5 {
		t.Fatalf("leader %d epoch %d, want 4 at epoch 5", done.GetLeader(), done.GetLeaderEpoch())
	}
}

func TestReassignmentKeepsAKeptLeader(t *testing.T) {
	rec := &metadatav1.PartitionRecord{Replicas: []int32{1, 2, 3}, Leader: 2, LeaderEpoch: 1, Isr: []int32{1, 2, 3}}
	next := startReassignment(rec, []int32{4, 2, 5})
	next.Isr = []int32{1, 2, 3, 4, 5}
	done, why := finishReassignment(next, alive(1, 2, 3, 4, 5))
	if why == "" || done.GetLeader() != 2 || done.GetLeaderEpoch() != 1 {
		t.Fatalf("kept leader moved or epoch bumped: %v (%s)", done, why)
	}
}

func TestReassignmentWaitsForALiveInSyncLeader(t *testing.T) {
	rec := &metadatav1.PartitionRecord{Replicas: []int32{1}, Leader: 1, Isr: []int32{1}}
	next := startReassignment(rec, []int32{2})
	next.Isr = []int32{1, 2}
	if _, why := finishReassignment(next, alive(1)); why != "" {
		t.Fatalf("finished with the only new replica dead: %s", why)
	}
	done, why := finishReassignment(next, alive(1, 2))
	if why == "" || done.GetLeader() != 2 || !slices.Equal(done.GetIsr(), []int32{2}) {
		t.Fatalf("did not move to node 2: %v (%s)", done, why)
	}
}

func TestReassignmentShrinkNeedsAnInSyncTarget(t *testing.T) {
	rec := &metadatav1.PartitionRecord{Replicas: []int32{1, 2, 3}, Leader: 3, Isr: []int32{3}}
	next := startReassignment(rec, []int32{1, 2})
	if len(next.GetAddingReplicas()) != 0 || !slices.Equal(next.GetRemovingReplicas(), []int32{3}) {
		t.Fatalf("started: %v", next)
	}
	if _, why := finishReassignment(next, alive(1, 2, 3)); why != "" {
		t.Fatalf("finished a shrink that leaves no in-sync replica: %s", why)
	}
}

func TestReorderIsNotAReassignment(t *testing.T) {
	rec := &metadatav1.PartitionRecord{Replicas: []int32{1, 2, 3}, Leader: 1, Isr: []int32{1, 2, 3}}
	next := startReassignment(rec, []int32{3, 1, 2})
	if inReassignment(next) || !slices.Equal(next.GetReplicas(), []int32{3, 1, 2}) {
		t.Fatalf("reorder: %v", next)
	}
}

func TestValidTarget(t *testing.T) {
	reg, live := alive(1, 2, 3, 4), alive(1, 2, 3)
	for _, target := range [][]int32{nil, {1, 1}, {1, 9}, {1, 4}} {
		if err := validTarget(target, reg, live); !errs.Is(err, errs.InvalidReplicationFactor) {
			t.Errorf("target %v: err %v, want INVALID_REPLICATION_FACTOR", target, err)
		}
	}
	if err := validTarget([]int32{3, 1}, reg, live); err != nil {
		t.Errorf("good target refused: %v", err)
	}
}

func TestPreferredLeaderOnlyWhenAliveAndInSync(t *testing.T) {
	rec := &metadatav1.PartitionRecord{Replicas: []int32{1, 2, 3}, Leader: 2, LeaderEpoch: 3, Isr: []int32{2, 3}, PartitionEpoch: 5}
	never := func(int32) bool { return false }
	if got := preferredLeader(rec, alive(1, 2, 3), never); got != rec {
		t.Fatalf("elected node 1 while out of sync: %v", got)
	}
	rec.Isr = []int32{1, 2, 3}
	if got := preferredLeader(rec, alive(2, 3), never); got != rec {
		t.Fatalf("elected dead node 1: %v", got)
	}
	if got := preferredLeader(rec, alive(1, 2, 3), func(id int32) bool { return id == 1 }); got != rec {
		t.Fatalf("elected node 1 while it shuts down: %v", got)
	}
	got := preferredLeader(rec, alive(1, 2, 3), never)
	if got.GetLeader() != 1 || got.GetLeaderEpoch() != 4 || got.GetPartitionEpoch() != 6 {
		t.Fatalf("preferred election: %v", got)
	}
}

func TestWithoutNodeMovesLeadershipAndLeavesTheISR(t *testing.T) {
	rec := &metadatav1.PartitionRecord{Replicas: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 2, Isr: []int32{1, 2, 3}}
	next, still := withoutNode(rec, 1, alive(1, 2, 3))
	if still || next.GetLeader() != 2 || next.GetLeaderEpoch() != 3 || !slices.Equal(next.GetIsr(), []int32{2, 3}) {
		t.Fatalf("leader shutdown: %v still=%v", next, still)
	}
	next, still = withoutNode(rec, 3, alive(1, 2, 3))
	if still || next.GetLeader() != 1 || next.GetLeaderEpoch() != 2 || !slices.Equal(next.GetIsr(), []int32{1, 2}) {
		t.Fatalf("follower shutdown: %v still=%v", next, still)
	}
	alone := &metadatav1.PartitionRecord{Replicas: []int32{1, 2}, Leader: 1, Isr: []int32{1}}
	if next, still := withoutNode(alone, 1, alive(1, 2)); !still || next != alone {
		t.Fatalf("sole in-sync leader gave up leadership: %v still=%v", next, still)
	}
	if next, still := withoutNode(rec, 1, alive(1)); !still || next != rec {
		t.Fatalf("leadership moved to a dead node: %v", next)
	}
}
