package controller

import (
	"log/slog"
	"slices"
	"testing"

	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
)

func testController() *Controller { return &Controller{log: slog.New(slog.DiscardHandler)} }

func part(leader, epoch int32, replicas, isr []int32) *metadatav1.PartitionRecord {
	return &metadatav1.PartitionRecord{Topic: "t", Leader: leader, LeaderEpoch: epoch, Replicas: replicas, Isr: isr}
}

func view(alive ...int32) *clusterView {
	v := &clusterView{alive: map[int32]bool{}, topics: map[string]*metadatav1.TopicRecord{"t": {Name: "t"}}}
	for _, a := range alive {
		v.alive[a] = true
	}
	return v
}

func TestElectionPicksALiveISRMemberInPreferenceOrder(t *testing.T) {
	c := testController()
	next, why := c.electIfLeaderDead(part(1, 4, []int32{1, 2, 3}, []int32{1, 3}), view(2, 3))
	if why == "" || next.GetLeader() != 3 || next.GetLeaderEpoch() != 5 {
		t.Fatalf("got leader %d epoch %d (%s); want 3 (2 is alive but out of sync) at epoch 5", next.GetLeader(), next.GetLeaderEpoch(), why)
	}
	if _, why := c.electIfLeaderDead(part(1, 4, []int32{1, 2, 3}, []int32{1, 2, 3}), view(1, 2, 3)); why != "" {
		t.Fatalf("a live leader was replaced: %s", why)
	}
}

func TestNoLiveISRMemberLeavesThePartitionLeaderless(t *testing.T) {
	c := testController()
	rec := part(1, 4, []int32{1, 2, 3}, []int32{1})
	next, why := c.electIfLeaderDead(rec, view(2, 3))
	if why == "" || next.GetLeader() != -1 || next.GetLeaderEpoch() != 5 || !slices.Equal(next.GetIsr(), []int32{1}) {
		t.Fatalf("got %+v (%s); want no leader, epoch 5, the last ISR kept", next, why)
	}
	// The last in-sync replica returns and leads again.
	back, why := c.electIfLeaderDead(next, view(1, 2, 3))
	if back.GetLeader() != 1 || back.GetLeaderEpoch() != 6 {
		t.Fatalf("got leader %d epoch %d (%s); want 1 at 6", back.GetLeader(), back.GetLeaderEpoch(), why)
	}
}

func TestUncleanElectionOnlyWhenTheTopicAllowsIt(t *testing.T) {
	c := testController()
	v := view(2, 3)
	v.topics["t"].Configs = map[string]string{"unclean.leader.election.enable": "true"}
	next, _ := c.electIfLeaderDead(part(1, 4, []int32{1, 2, 3}, []int32{1}), v)
	if next.GetLeader() != 2 || !slices.Equal(next.GetIsr(), []int32{2}) {
		t.Fatalf("unclean election gave %+v; want leader 2 with ISR [2]", next)
	}
}

func TestDeadFollowersLeaveTheISRButNeverTheLastMember(t *testing.T) {
	c := testController()
	next, why := c.dropDeadFromISR(part(1, 4, []int32{1, 2, 3}, []int32{1, 2, 3}), view(1, 3))
	if why == "" || !slices.Equal(next.GetIsr(), []int32{1, 3}) {
		t.Fatalf("ISR %v (%s); want [1 3]", next.GetIsr(), why)
	}
	if _, why := c.dropDeadFromISR(part(-1, 4, []int32{1, 2, 3}, []int32{1}), view(2, 3)); why != "" {
		t.Fatalf("the last ISR member was dropped: %s", why)
	}
}
