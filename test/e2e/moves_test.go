package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/testutil"
)

// Replica moves and leadership: reassignment, drain, preferred leader
// election and controlled shutdown, driven through the CLI.

// movingPartition is a partition in `topic describe -o json`, with the
// reassignment and progress fields.
type movingPartition struct {
	Partition        int32   `json:"partition"`
	Leader           int32   `json:"leader"`
	LeaderEpoch      int32   `json:"leader_epoch"`
	Replicas         []int32 `json:"replicas"`
	ISR              []int32 `json:"isr"`
	AddingReplicas   []int32 `json:"adding_replicas"`
	RemovingReplicas []int32 `json:"removing_replicas"`
	HighWatermark    int64   `json:"high_watermark"`
	LogEndOffset     int64   `json:"log_end_offset"`
	ReplicaLags      []struct {
		NodeID int32 `json:"node_id"`
		Lag    int64 `json:"lag"`
	} `json:"replica_lags"`
}

type movesOut struct {
	DryRun bool `json:"dry_run"`
	Moves  []struct {
		Topic     string  `json:"topic"`
		Partition int32   `json:"partition"`
		From      []int32 `json:"from"`
		To        []int32 `json:"to"`
	} `json:"moves"`
}

type electedLeader struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Leader    int32  `json:"leader"`
}

func describePartitions(t *testing.T, c *cluster, topic string) []movingPartition {
	t.Helper()
	var ti struct {
		Partitions []movingPartition `json:"partitions"`
	}
	c.adminJSON(&ti, "topic", "describe", topic)
	return ti.Partitions
}

// nodeIDAt returns the id of the storage node process n.
func nodeIDAt(t *testing.T, c *cluster, n *node) int32 {
	t.Helper()
	var cl clusterInfo
	c.adminJSON(&cl, "cluster", "describe")
	for _, s := range cl.StorageNodes {
		if s.Address == n.grpc {
			return s.ID
		}
	}
	t.Fatalf("no storage node at %s: %+v", n.grpc, cl.StorageNodes)
	return 0
}

func nodeWithID(t *testing.T, c *cluster, id int32) *node {
	t.Helper()
	for _, n := range c.storage {
		if nodeIDAt(t, c, n) == id {
			return n
		}
	}
	t.Fatalf("no storage node process with id %d", id)
	return nil
}

// waitInISR waits until the leader has put node in the partition's ISR
// (it does once the replica has caught up).
func waitInISR(t *testing.T, c *cluster, topic string, partition, node int32) {
	t.Helper()
	testutil.WaitFor(t, 20*time.Second, func() error {
		for _, p := range describePartitions(t, c, topic) {
			if p.Partition == partition && !slices.Contains(p.ISR, node) {
				return fmt.Errorf("node %d not in the ISR of %s-%d: %+v", node, topic, partition, p)
			}
		}
		return nil
	})
}

func TestReassignToANewNodeAddsThenDrops(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3})
	c.admin("topic", "create", "moving", "--partitions", "1", "--replication-factor", "2")
	n4 := c.addStorage()
	waitHealthy(t, n4.grpc, 20*time.Second)
	id4 := nodeIDAt(t, c, n4)

	before := describePartitions(t, c, "moving")[0]
	kept := before.Replicas[1]
	target := []int32{id4, kept}
	// Freeze the new node so the move stays in its first phase while we
	// look (its lease outlives the pause).
	n4.pause()
	out := c.admin("topic", "reassign", "moving", "--partition", "0", "--replicas", fmt.Sprintf("%d,%d", id4, kept))
	if !strings.Contains(out, "Reassigning moving-0") {
		t.Fatalf("reassign said %q", out)
	}

	// Started: the new replica is added, the old leader is on its way out,
	// leadership has not moved.
	p := describePartitions(t, c, "moving")[0]
	if !slices.Equal(p.AddingReplicas, []int32{id4}) || !slices.Equal(p.RemovingReplicas, []int32{before.Leader}) ||
		!slices.Equal(p.Replicas, []int32{id4, kept, before.Leader}) || p.Leader != before.Leader {
		t.Fatalf("after starting the move: %+v (before %+v)", p, before)
	}
	// A second move of the same partition is refused while this one runs.
	if msg := c.adminFails("topic", "reassign", "moving", "--partition", "0", "--replicas", "1"); !strings.Contains(msg, "already moving") {
		t.Errorf("second reassign: %q", msg)
	}
	n4.resume()
	// The new node creates its replica from the metadata.
	testutil.WaitFor(t, 10*time.Second, func() error {
		got, err := replicasOn(t, n4)
		if err == nil && !slices.Contains(got, "moving-0") {
			err = fmt.Errorf("node %d holds %v", id4, got)
		}
		return err
	})

	// Done once the new replica is in sync: the old leader is dropped and
	// leadership moves to the first target replica at the next epoch.
	waitInISR(t, c, "moving", 0, id4)
	testutil.WaitFor(t, 15*time.Second, func() error {
		p = describePartitions(t, c, "moving")[0]
		if len(p.AddingReplicas)+len(p.RemovingReplicas) > 0 || !slices.Equal(p.Replicas, target) {
			return fmt.Errorf("still moving: %+v", p)
		}
		return nil
	})
	if p.Leader != id4 || p.LeaderEpoch != before.LeaderEpoch+1 || slices.Contains(p.ISR, before.Leader) {
		t.Fatalf("after the move: %+v, want leader %d at epoch %d and %d out of the ISR", p, id4, before.LeaderEpoch+1, before.Leader)
	}
	// The old leader deletes its replica.
	old := nodeWithID(t, c, before.Leader)
	testutil.WaitFor(t, 10*time.Second, func() error {
		got, err := replicasOn(t, old)
		if err == nil && slices.Contains(got, "moving-0") {
			err = fmt.Errorf("node %d still holds moving-0", before.Leader)
		}
		return err
	})
}

func TestReassignCopiesRecordsToTheNewReplica(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3})
	c.admin("topic", "create", "copied", "--partitions", "1", "--replication-factor", "2")
	leader, _, leaderID := leaderClient(t, c, "copied", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 5 {
		if res, err := produce(ctx, leader, "copied", 0, batchOf(t, codec.None, fmt.Sprint(i), 10, 1000)); err != nil || res.GetError() != nil {
			t.Fatalf("produce %d: %v %v", i, err, res.GetError())
		}
	}
	n4 := c.addStorage()
	waitHealthy(t, n4.grpc, 20*time.Second)
	id4 := nodeIDAt(t, c, n4)
	before := describePartitions(t, c, "copied")[0]
	kept := before.Replicas[1]
	c.admin("topic", "reassign", "copied", "--partition", "0", "--replicas", fmt.Sprintf("%d,%d", id4, kept))

	// No help from the test this time: the move finishes only when the new
	// replica has copied the log and the leader has put it in the ISR.
	testutil.WaitFor(t, 25*time.Second, func() error {
		p := describePartitions(t, c, "copied")[0]
		if len(p.AddingReplicas) > 0 || p.Leader != id4 {
			return fmt.Errorf("still moving: %+v", p)
		}
		return nil
	})
	// A new leader learns the high watermark from its followers' next
	// fetches (as in Kafka), so it may trail for a moment.
	testutil.WaitFor(t, 10*time.Second, func() error {
		p := describePartitions(t, c, "copied")[0]
		if p.LogEndOffset != 50 || p.HighWatermark != 50 {
			return fmt.Errorf("new leader %d: LEO %d HW %d, want 50 and 50 (old leader %d)", id4, p.LogEndOffset, p.HighWatermark, leaderID)
		}
		return nil
	})
	conn, err := dialRole(n4.grpc)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := fetch(ctx, storagev1.NewStorageServiceClient(conn), "copied", 0, 0, 0, 1)
	if err != nil || res.GetError() != nil {
		t.Fatalf("fetch from the new leader: %v %v", err, res.GetError())
	}
	var got []string
	for _, b := range decodeBatches(t, res.GetRecords()) {
		got = append(got, b.values...)
	}
	if len(got) != 50 || got[0] != "0-0" || got[49] != "4-9" {
		t.Fatalf("new leader holds %d records (%v...)", len(got), got[:min(3, len(got))])
	}
}

func TestDrainMovesEveryReplicaOffANode(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3})
	c.admin("topic", "create", "drained", "--partitions", "4", "--replication-factor", "2")
	n4 := c.addStorage()
	waitHealthy(t, n4.grpc, 20*time.Second)
	victim := int32(1)

	var dry movesOut
	c.adminJSON(&dry, "cluster", "drain", fmt.Sprint(victim), "--dry-run")
	if !dry.DryRun || len(dry.Moves) == 0 {
		t.Fatalf("dry run: %+v", dry)
	}
	for _, p := range describePartitions(t, c, "drained") {
		if len(p.AddingReplicas) > 0 {
			t.Fatalf("dry run started a move: %+v", p)
		}
	}

	var moves movesOut
	c.adminJSON(&moves, "cluster", "drain", fmt.Sprint(victim))
	if len(moves.Moves) != len(dry.Moves) {
		t.Fatalf("drain started %d moves, the dry run planned %d", len(moves.Moves), len(dry.Moves))
	}
	for _, m := range moves.Moves {
		if slices.Contains(m.To, victim) || !slices.Contains(m.From, victim) || len(m.To) != 2 {
			t.Errorf("bad move %+v", m)
		}
	}
	for _, p := range describePartitions(t, c, "drained") {
		for _, a := range p.AddingReplicas {
			waitInISR(t, c, "drained", p.Partition, a)
		}
	}
	testutil.WaitFor(t, 15*time.Second, func() error {
		var cl clusterInfo
		c.adminJSON(&cl, "cluster", "describe")
		for _, n := range cl.StorageNodes {
			if n.ID == victim && (n.Replicas != 0 || n.Leaders != 0) {
				return fmt.Errorf("node %d still holds %d replicas, leads %d", victim, n.Replicas, n.Leaders)
			}
		}
		return nil
	})
	// Nothing left to move; and a drain the others cannot hold is refused.
	if out := c.admin("cluster", "drain", fmt.Sprint(victim)); !strings.Contains(out, "Nothing to move") {
		t.Errorf("second drain: %q", out)
	}
	c.admin("topic", "create", "wide", "--partitions", "1", "--replication-factor", "4")
	if msg := c.adminFails("cluster", "drain", "2"); !strings.Contains(msg, "live storage nodes") {
		t.Errorf("impossible drain: %q", msg)
	}
}

func TestElectLeadersAfterANodeReturns(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3, leaseTTL: "2s"})
	c.admin("topic", "create", "led", "--partitions", "3", "--replication-factor", "3")
	// The node that is the preferred leader of partition 0 dies.
	p0 := describePartitions(t, c, "led")[0]
	preferred := p0.Replicas[0]
	victim := nodeWithID(t, c, preferred)
	victim.kill()
	testutil.WaitFor(t, 15*time.Second, func() error {
		if p := describePartitions(t, c, "led")[0]; p.Leader == preferred || p.Leader < 0 {
			return fmt.Errorf("partition 0 still led by %d", p.Leader)
		}
		return nil
	})

	victim.restart(t)
	waitHealthy(t, victim.grpc, 20*time.Second)
	waitInISR(t, c, "led", 0, preferred)
	var elected struct {
		Elected []electedLeader `json:"elected"`
	}
	c.adminJSON(&elected, "cluster", "elect-leaders", "--topic", "led")
	if !slices.Contains(elected.Elected, electedLeader{Topic: "led", Partition: 0, Leader: preferred}) {
		t.Fatalf("elect-leaders did not move partition 0 back to %d: %+v", preferred, elected)
	}
	if p := describePartitions(t, c, "led")[0]; p.Leader != preferred {
		t.Fatalf("partition 0 led by %d, want its preferred replica %d", p.Leader, preferred)
	}
	// Everything that can be is now led by its preferred replica.
	if out := c.admin("cluster", "elect-leaders", "--topic", "led"); strings.Contains(out, "partition 0") {
		t.Errorf("second election moved partition 0 again: %q", out)
	}
	if msg := c.adminFails("cluster", "elect-leaders", "--topic", "nope"); !strings.Contains(msg, "not found") {
		t.Errorf("unknown topic: %q", msg)
	}
}

func TestSigtermMovesLeadershipBeforeTheNodeStops(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3, leaseTTL: "5s"})
	c.admin("topic", "create", "handoff", "--partitions", "3", "--replication-factor", "3")
	parts := describePartitions(t, c, "handoff")
	leader := parts[0].Leader
	var led []int32
	for _, p := range parts {
		if p.Leader == leader {
			led = append(led, p.Partition)
		}
	}
	victim := nodeWithID(t, c, leader)

	victim.signal(syscall.SIGTERM) // returns once the process exited
	out := victim.output()
	moved := strings.Index(out, "controlled shutdown: leadership moved away")
	stopped := strings.Index(out, "storage node stopped")
	if moved < 0 || stopped < 0 || moved > stopped {
		t.Fatalf("node %d did not hand off leadership before stopping:\n%s", leader, out)
	}
	ctrl := c.controllers[0].output()
	if !strings.Contains(ctrl, fmt.Sprintf("controlled shutdown of node %d", leader)) {
		t.Fatalf("controller log has no controlled shutdown of node %d:\n%s", leader, ctrl)
	}
	for _, p := range describePartitions(t, c, "handoff") {
		if slices.Contains(led, p.Partition) && (p.Leader == leader || p.Leader < 0) {
			t.Errorf("partition %d led by %d after its leader stopped", p.Partition, p.Leader)
		}
		if slices.Contains(p.ISR, leader) {
			t.Errorf("partition %d keeps stopped node %d in its ISR %v", p.Partition, leader, p.ISR)
		}
	}
}

func TestRebalanceSpreadsOntoANewNode(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3})
	c.admin("topic", "create", "spread", "--partitions", "6", "--replication-factor", "3")
	n4 := c.addStorage()
	waitHealthy(t, n4.grpc, 20*time.Second)
	id4 := nodeIDAt(t, c, n4)

	// acks=all produces to partition 0 run through the whole rebalance.
	rn := nodesByID(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h, stopHistory := startHistory(ctx, t, c, rn, "spread")
	h.waitAcked(t, 0, 20)

	var moves movesOut
	c.adminJSON(&moves, "cluster", "rebalance")
	// 18 replicas over 4 nodes: the new node takes 4 or 5, so at least 4 move.
	if len(moves.Moves) < 4 {
		t.Fatalf("rebalance started %d moves: %+v", len(moves.Moves), moves)
	}
	for _, p := range describePartitions(t, c, "spread") {
		for _, a := range p.AddingReplicas {
			waitInISR(t, c, "spread", p.Partition, a)
		}
	}
	testutil.WaitFor(t, 15*time.Second, func() error {
		var cl clusterInfo
		c.adminJSON(&cl, "cluster", "describe")
		for _, n := range cl.StorageNodes {
			if n.Replicas < 4 || n.Replicas > 5 {
				return fmt.Errorf("node %d holds %d replicas, want 4 or 5 (new node %d): %+v", n.ID, n.Replicas, id4, cl.StorageNodes)
			}
		}
		return nil
	})
	// Balanced now: the next run has nothing to move.
	if out := c.admin("cluster", "rebalance", "--dry-run"); !strings.Contains(out, "Nothing to move") {
		t.Errorf("rebalance of a balanced cluster: %q", out)
	}

	// Writes went on throughout, and nothing acknowledged was lost.
	h.waitAcked(t, h.ackedCount(), 20)
	stopHistory()
	p, err := describePartition(t, c, "spread", 0)
	if err != nil {
		t.Fatal(err)
	}
	checkHistory(t, h, readAll(ctx, t, rn.clients[p.Leader], "spread"))
	holders := replicaNodes{byID: map[int32]*node{}, clients: rn.clients}
	for _, r := range p.Replicas {
		holders.byID[r] = rn.byID[r]
	}
	replicasIdentical(t, holders, "spread")
}
