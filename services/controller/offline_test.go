package controller

import (
	"slices"
	"testing"

	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
)

func offlinePart(leader, epoch int32, replicas, isr, offline []int32) *metadatav1.PartitionRecord {
	rec := part(leader, epoch, replicas, isr)
	rec.OfflineReplicas = offline
	return rec
}

func TestOfflineLeaderMovesToALiveInSyncReplica(t *testing.T) {
	// 2 is first in preference order but out of sync; 3 leads.
	next, why := withReplicaOffline(part(1, 4, []int32{1, 2, 3}, []int32{1, 3}), 1, alive(1, 2, 3))
	if why == "" || next.GetLeader() != 3 || next.GetLeaderEpoch() != 5 ||
		!slices.Equal(next.GetIsr(), []int32{3}) || !slices.Equal(next.GetOfflineReplicas(), []int32{1}) {
		t.Fatalf("got %v (%s); want leader 3 at epoch 5, ISR [3], offline [1]", next, why)
	}
	// A dead in-sync replica cannot lead either.
	next, _ = withReplicaOffline(part(1, 4, []int32{1, 2, 3}, []int32{1, 2, 3}), 1, alive(1, 3))
	if next.GetLeader() != 3 {
		t.Fatalf("leader %d; want 3 (2 is dead)", next.GetLeader())
	}
	// Nor another offline one.
	next, _ = withReplicaOffline(offlinePart(1, 4, []int32{1, 2, 3}, []int32{1, 2, 3}, []int32{2}), 1, alive(1, 2, 3))
	if next.GetLeader() != 3 || !slices.Equal(next.GetOfflineReplicas(), []int32{2, 1}) {
		t.Fatalf("got %v; want leader 3, offline [2 1]", next)
	}
}

func TestOfflineFollowerLeavesTheISR(t *testing.T) {
	rec := part(1, 4, []int32{1, 2, 3}, []int32{1, 2, 3})
	next, why := withReplicaOffline(rec, 2, alive(1, 2, 3))
	if why == "" || next.GetLeader() != 1 || next.GetLeaderEpoch() != 4 || !slices.Equal(next.GetIsr(), []int32{1, 3}) {
		t.Fatalf("got %v (%s); want leader 1 kept at epoch 4, ISR [1 3]", next, why)
	}
	if again, why := withReplicaOffline(next, 2, alive(1, 2, 3)); again != next || why != "" {
		t.Fatalf("a repeated report changed the record: %v (%s)", again, why)
	}
}

func TestLastInSyncReplicaOfflineLeavesThePartitionLeaderless(t *testing.T) {
	next, why := withReplicaOffline(part(1, 4, []int32{1, 2, 3}, []int32{1}), 1, alive(1, 2, 3))
	if why == "" || next.GetLeader() != -1 || next.GetLeaderEpoch() != 5 || !slices.Equal(next.GetIsr(), []int32{1}) {
		t.Fatalf("got %v (%s); want no leader at epoch 5, ISR [1] kept", next, why)
	}
	// No clean election picks it while it is offline.
	c := testController()
	if n, why := c.electIfLeaderDead(next, view(1, 2, 3)); why != "" || n != next {
		t.Fatalf("an offline replica was elected: %v (%s)", n, why)
	}
	// Online again, it leads again.
	back, _ := withReplicaOnline(next, 1)
	if len(back.GetOfflineReplicas()) != 0 {
		t.Fatalf("still offline: %v", back)
	}
	if n, _ := c.electIfLeaderDead(back, view(1, 2, 3)); n.GetLeader() != 1 || n.GetLeaderEpoch() != 6 {
		t.Fatalf("got %v; want leader 1 at epoch 6", n)
	}
}

func TestUncleanElectionSkipsOfflineReplicas(t *testing.T) {
	c := testController()
	v := view(1, 2, 3)
	v.topics["t"].Configs = map[string]string{"unclean.leader.election.enable": "true"}
	next, _ := c.electIfLeaderDead(offlinePart(-1, 5, []int32{1, 2, 3}, []int32{1}, []int32{1, 2}), v)
	if next.GetLeader() != 3 || !slices.Equal(next.GetIsr(), []int32{3}) {
		t.Fatalf("unclean election gave %v; want leader 3 with ISR [3]", next)
	}
}

func TestDeadLeaderElectionSkipsOfflineReplicas(t *testing.T) {
	c := testController()
	next, _ := c.electIfLeaderDead(offlinePart(1, 4, []int32{1, 2, 3}, []int32{1, 2, 3}, []int32{2}), view(2, 3))
	if next.GetLeader() != 3 || next.GetLeaderEpoch() != 5 {
		t.Fatalf("got %v; want leader 3 at epoch 5 (2 is offline)", next)
	}
}

func TestControlledShutdownSkipsOfflineReplicas(t *testing.T) {
	rec := offlinePart(1, 4, []int32{1, 2, 3}, []int32{1, 2, 3}, []int32{2})
	next, still := withoutNode(rec, 1, alive(1, 2, 3))
	if still || next.GetLeader() != 3 {
		t.Fatalf("got %v still=%v; want leader 3", next, still)
	}
	rec.OfflineReplicas = []int32{2, 3}
	if next, still := withoutNode(rec, 1, alive(1, 2, 3)); !still || next != rec {
		t.Fatalf("leadership moved to an offline replica: %v", next)
	}
}

func TestPreferredLeaderSkipsOfflineReplicas(t *testing.T) {
	rec := offlinePart(2, 4, []int32{1, 2, 3}, []int32{1, 2, 3}, []int32{1})
	if got := preferredLeader(rec, alive(1, 2, 3), func(int32) bool { return false }); got != rec {
		t.Fatalf("elected offline node 1: %v", got)
	}
}

func TestReassignmentSkipsAndDropsOfflineReplicas(t *testing.T) {
	// Moving from [1 2 3] to [3 4 2]: 1 leads and leaves; 3 is offline, so 4 leads.
	rec := &metadatav1.PartitionRecord{Replicas: []int32{3, 4, 2, 1}, AddingReplicas: []int32{4}, RemovingReplicas: []int32{1},
		Leader: 1, LeaderEpoch: 2, Isr: []int32{1, 2, 3, 4}, OfflineReplicas: []int32{3, 1}}
	next, why := finishReassignment(rec, alive(1, 2, 3, 4))
	if why == "" || next.GetLeader() != 4 || !slices.Equal(next.GetOfflineReplicas(), []int32{3}) {
		t.Fatalf("got %v (%s); want leader 4, offline [3]", next, why)
	}
}

func TestReconcileMovesLeadershipOffAnOfflineLeader(t *testing.T) {
	// Recorded offline (say by the previous controller) but still leading.
	c := testController()
	rec := offlinePart(1, 4, []int32{1, 2, 3}, []int32{1, 2, 3}, []int32{1})
	next, why := c.moveOffOffline(rec, view(1, 2, 3))
	if why == "" || next.GetLeader() != 2 || next.GetLeaderEpoch() != 5 || !slices.Equal(next.GetIsr(), []int32{2, 3}) {
		t.Fatalf("got %v (%s); want leader 2 at epoch 5, ISR [2 3]", next, why)
	}
	if again, why := c.moveOffOffline(next, view(1, 2, 3)); again != next || why != "" {
		t.Fatalf("reconcile is not idempotent: %v (%s)", again, why)
	}
}

func TestOnlineClearsTheOfflineMarkOnly(t *testing.T) {
	rec := offlinePart(1, 4, []int32{1, 2, 3}, []int32{1, 3}, []int32{2})
	next, why := withReplicaOnline(rec, 2)
	if why == "" || len(next.GetOfflineReplicas()) != 0 || !slices.Equal(next.GetIsr(), []int32{1, 3}) || next.GetLeaderEpoch() != 4 {
		t.Fatalf("got %v (%s); want offline cleared, ISR and leader unchanged", next, why)
	}
	if same, why := withReplicaOnline(next, 2); same != next || why != "" {
		t.Fatalf("an online replica changed the record: %v (%s)", same, why)
	}
}
