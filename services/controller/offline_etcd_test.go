package controller

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/internal/testutil"
)

// startTestController runs one controller with its embedded etcd on free
// ports and waits until it is active.
// startActiveController starts a controller whose storage nodes stay alive
// without heartbeats and waits until it is active.
func startActiveController(t *testing.T) *Controller {
	t.Helper()
	c, _ := startTestController(t, "--member-lease-ttl", "1m", "--leader-imbalance-check-interval", "0")
	testutil.WaitFor(t, 20*time.Second, func() error {
		if !c.IsActive() {
			return errors.New("controller not active yet")
		}
		return nil
	})
	return c
}

func TestReportReplicaStates(t *testing.T) {
	c := startActiveController(t)
	conn, err := rpc.Dial(c.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctl, admin := controllerv1.NewControllerServiceClient(conn), adminv1.NewAdminServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	epochs := map[int32]int64{}
	for range 3 {
		r, err := ctl.RegisterStorageNode(ctx, &controllerv1.RegisterStorageNodeRequest{Address: "127.0.0.1:1"})
		if err != nil {
			t.Fatal(err)
		}
		epochs[r.GetNodeId()] = r.GetNodeEpoch()
	}
	if _, err := admin.CreateTopic(ctx, &adminv1.CreateTopicRequest{Name: "t", Partitions: 1, ReplicationFactor: 3}); err != nil {
		t.Fatal(err)
	}
	rec, _, err := c.partition(ctx, "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	leader := rec.GetLeader()
	report := func(node int32, epoch int64, s *controllerv1.ReplicaState) error {
		_, err := ctl.ReportReplicaStates(ctx, &controllerv1.ReportReplicaStatesRequest{NodeId: node, NodeEpoch: epoch,
			Replicas: []*controllerv1.ReplicaState{s}})
		return err
	}
	offline := &controllerv1.ReplicaState{Topic: "t", Partition: 0, TopicId: rec.GetTopicId(), Offline: true, Reason: "disk full"}

	if err := report(leader, epochs[leader]-1, offline); !errs.Is(err, errs.StaleEpoch) {
		t.Fatalf("stale node epoch: got %v, want STALE_EPOCH", err)
	}
	other := &controllerv1.ReplicaState{Topic: "t", Partition: 0, TopicId: []byte("an older topic..."), Offline: true}
	if err := report(leader, epochs[leader], other); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := c.partition(ctx, "t", 0); got.GetPartitionEpoch() != rec.GetPartitionEpoch() {
		t.Fatalf("a report about another topic id changed the partition: %v", got)
	}

	if err := report(leader, epochs[leader], offline); err != nil {
		t.Fatal(err)
	}
	got, _, err := c.partition(ctx, "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetLeader() == leader || got.GetLeader() < 0 || got.GetLeaderEpoch() != rec.GetLeaderEpoch()+1 ||
		got.GetPartitionEpoch() != rec.GetPartitionEpoch()+1 || slices.Contains(got.GetIsr(), leader) ||
		!slices.Equal(got.GetOfflineReplicas(), []int32{leader}) {
		t.Fatalf("after leader %d went offline: %v", leader, got)
	}

	// The new leader cannot bring the offline replica back into the ISR.
	_, err = ctl.AlterPartition(ctx, &controllerv1.AlterPartitionRequest{NodeId: got.GetLeader(), NodeEpoch: epochs[got.GetLeader()],
		Topic: "t", Partition: 0, LeaderEpoch: got.GetLeaderEpoch(), PartitionEpoch: got.GetPartitionEpoch(),
		NewIsr: append(slices.Clone(got.GetIsr()), leader)})
	if !errs.Is(err, errs.InvalidRequest) {
		t.Fatalf("AlterPartition adding an offline replica: got %v, want INVALID_REQUEST", err)
	}

	desc, err := admin.DescribeTopic(ctx, &adminv1.DescribeTopicRequest{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if p := desc.GetTopic().GetPartitions()[0]; !slices.Equal(p.GetOfflineReplicas(), []int32{leader}) {
		t.Fatalf("describe shows offline %v, want [%d]", p.GetOfflineReplicas(), leader)
	}
	cluster, err := admin.DescribeCluster(ctx, &adminv1.DescribeClusterRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range cluster.GetStorageNodes() {
		want := int32(0)
		if n.GetId() == leader {
			want = 1
		}
		if n.GetOfflineReplicas() != want {
			t.Fatalf("node %d has %d offline replicas, want %d", n.GetId(), n.GetOfflineReplicas(), want)
		}
	}

	online := &controllerv1.ReplicaState{Topic: "t", Partition: 0, TopicId: rec.GetTopicId()}
	if err := report(leader, epochs[leader], online); err != nil {
		t.Fatal(err)
	}
	back, _, err := c.partition(ctx, "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.GetOfflineReplicas()) != 0 || back.GetLeader() != got.GetLeader() || back.GetPartitionEpoch() != got.GetPartitionEpoch()+1 {
		t.Fatalf("after the replica came back online: %v", back)
	}
}
