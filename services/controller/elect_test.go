package controller

import (
	"slices"
	"testing"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/errs"
)

func noneGoing(int32) bool { return false }

func TestElectPreferred(t *testing.T) {
	rec := &metadatav1.PartitionRecord{Topic: "t", Replicas: []int32{1, 2, 3}, Leader: 2, LeaderEpoch: 5, Isr: []int32{1, 2, 3}}
	next, unclean, err := electOne(rec, adminv1.ElectionType_ELECTION_TYPE_PREFERRED, alive(1, 2, 3), noneGoing)
	if err != nil || unclean || next.GetLeader() != 1 || next.GetLeaderEpoch() != 6 {
		t.Fatalf("preferred election: %v %v %v", next, unclean, err)
	}
	if _, _, err := electOne(next, adminv1.ElectionType_ELECTION_TYPE_PREFERRED, alive(1, 2, 3), noneGoing); !errs.Is(err, errs.ElectionNotNeeded) {
		t.Errorf("preferred already leads: %v, want ELECTION_NOT_NEEDED", err)
	}
	for name, tc := range map[string]struct {
		rec   *metadatav1.PartitionRecord
		alive map[int32]bool
		going func(int32) bool
	}{
		"dead":          {rec, alive(2, 3), noneGoing},
		"out of ISR":    {&metadatav1.PartitionRecord{Replicas: []int32{1, 2}, Leader: 2, Isr: []int32{2}}, alive(1, 2), noneGoing},
		"offline":       {&metadatav1.PartitionRecord{Replicas: []int32{1, 2}, Leader: 2, Isr: []int32{1, 2}, OfflineReplicas: []int32{1}}, alive(1, 2), noneGoing},
		"shutting down": {rec, alive(1, 2, 3), func(r int32) bool { return r == 1 }},
	} {
		if _, _, err := electOne(tc.rec, adminv1.ElectionType_ELECTION_TYPE_PREFERRED, tc.alive, tc.going); !errs.Is(err, errs.PreferredLeaderNotAvailable) {
			t.Errorf("%s: %v, want PREFERRED_LEADER_NOT_AVAILABLE", name, err)
		}
	}
}

func TestElectUnclean(t *testing.T) {
	led := &metadatav1.PartitionRecord{Replicas: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 3, Isr: []int32{1}}
	if _, _, err := electOne(led, adminv1.ElectionType_ELECTION_TYPE_UNCLEAN, alive(1, 2, 3), noneGoing); !errs.Is(err, errs.ElectionNotNeeded) {
		t.Errorf("live leader: %v, want ELECTION_NOT_NEEDED", err)
	}
	// The only in-sync replica is dead: an out-of-sync one leads, and the
	// record says so for the followers.
	leaderless := &metadatav1.PartitionRecord{Replicas: []int32{1, 2, 3}, Leader: -1, LeaderEpoch: 4, Isr: []int32{1}, OfflineReplicas: []int32{2}}
	next, unclean, err := electOne(leaderless, adminv1.ElectionType_ELECTION_TYPE_UNCLEAN, alive(2, 3), noneGoing)
	if err != nil || !unclean || next.GetLeader() != 3 || next.GetLeaderEpoch() != 5 || next.GetUncleanLeaderEpoch() != 5 || !slices.Equal(next.GetIsr(), []int32{3}) {
		t.Fatalf("unclean election: %v %v %v", next, unclean, err)
	}
	// An in-sync replica that is alive is preferred: a clean election.
	next, unclean, err = electOne(leaderless, adminv1.ElectionType_ELECTION_TYPE_UNCLEAN, alive(1, 3), noneGoing)
	if err != nil || unclean || next.GetLeader() != 1 || next.GetUncleanLeaderEpoch() != 0 {
		t.Fatalf("clean election under UNCLEAN: %v %v %v", next, unclean, err)
	}
	if _, _, err := electOne(leaderless, adminv1.ElectionType_ELECTION_TYPE_UNCLEAN, alive(2), noneGoing); !errs.Is(err, errs.EligibleLeadersNotAvailable) {
		t.Errorf("nothing alive but an offline replica: %v, want ELIGIBLE_LEADERS_NOT_AVAILABLE", err)
	}
}

func TestRevertReassignment(t *testing.T) {
	rec := &metadatav1.PartitionRecord{Topic: "t", Replicas: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 4, Isr: []int32{1, 2, 3}, PartitionEpoch: 7}
	if _, err := revertReassignment(rec, alive(1, 2, 3)); !errs.Is(err, errs.NoReassignmentInProgress) {
		t.Fatalf("cancel without a move: %v, want NO_REASSIGNMENT_IN_PROGRESS", err)
	}
	moving := startReassignment(rec, []int32{4, 5, 3})
	moving.Isr = []int32{1, 2, 3, 4}
	moving.Leader, moving.LeaderEpoch = 4, 5 // an adding replica leads
	back, err := revertReassignment(moving, alive(1, 2, 3, 4, 5))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.GetReplicas(), []int32{3, 1, 2}) || !slices.Equal(back.GetIsr(), []int32{1, 2, 3}) ||
		len(back.GetAddingReplicas())+len(back.GetRemovingReplicas()) != 0 || back.GetLeader() != 3 || back.GetLeaderEpoch() != 6 ||
		back.GetPartitionEpoch() != moving.GetPartitionEpoch()+1 {
		t.Fatalf("reverted: %v", back)
	}
	// Nothing original is in sync: cancelling would lose records.
	moving.Isr = []int32{4}
	if _, err := revertReassignment(moving, alive(1, 2, 3, 4, 5)); !errs.Is(err, errs.InvalidReplicaAssignment) {
		t.Errorf("cancel with only new replicas in sync: %v, want INVALID_REPLICA_ASSIGNMENT", err)
	}
}
