package controller

import (
	"fmt"
	"slices"
	"testing"

	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/errs"
)

// records turns replica lists into partition records of topic "t", led by
// their first replica with a full ISR.
func records(assign [][]int32) []*metadatav1.PartitionRecord {
	out := make([]*metadatav1.PartitionRecord, len(assign))
	for i, rs := range assign {
		out[i] = &metadatav1.PartitionRecord{Topic: "t", Partition: int32(i), Replicas: rs, Leader: rs[0], Isr: rs}
	}
	return out
}

func idNodes(ids ...int32) []placementNode {
	out := make([]placementNode, len(ids))
	for i, id := range ids {
		out[i] = placementNode{id: id}
	}
	return out
}

// applyMoves returns the replica lists after the moves.
func applyMoves(assign [][]int32, moves []plannedMove) [][]int32 {
	out := slices.Clone(assign)
	for _, m := range moves {
		out[m.partition] = m.to
	}
	return out
}

// counts returns replicas and preferred leaders per node.
func counts(assign [][]int32) (replicas, leaders map[int32]int) {
	replicas, leaders = map[int32]int{}, map[int32]int{}
	for _, rs := range assign {
		for _, r := range rs {
			replicas[r]++
		}
		leaders[rs[0]]++
	}
	return replicas, leaders
}

// checkSpread fails unless every node in ids holds within one of every
// other, for replicas and for leaders, and no partition has a duplicate.
func checkSpread(t *testing.T, assign [][]int32, ids []int32) {
	t.Helper()
	replicas, leaders := counts(assign)
	for name, m := range map[string]map[int32]int{"replicas": replicas, "leaders": leaders} {
		lo, hi := 1<<30, -1
		for _, id := range ids {
			lo, hi = min(lo, m[id]), max(hi, m[id])
		}
		if hi-lo > 1 {
			t.Errorf("%s per node not even: %v (placement %v)", name, m, assign)
		}
	}
	for p, rs := range assign {
		seen := map[int32]bool{}
		for _, r := range rs {
			if seen[r] {
				t.Errorf("partition %d has node %d twice: %v", p, r, rs)
			}
			seen[r] = true
		}
	}
}

// moved counts replicas that changed node (reorders copy nothing).
func moved(moves []plannedMove) int {
	n := 0
	for _, m := range moves {
		for _, r := range m.to {
			if !slices.Contains(m.from, r) {
				n++
			}
		}
	}
	return n
}

func TestRebalanceAfterAddingANodeMovesTheMinimum(t *testing.T) {
	before, err := place(idNodes(1, 2, 3), newLoad(), 0, 6, 3)
	if err != nil {
		t.Fatal(err)
	}
	moves := planRebalance(records(before), idNodes(1, 2, 3, 4), map[int32]string{})
	after := applyMoves(before, moves)
	checkSpread(t, after, []int32{1, 2, 3, 4})
	// 18 replicas over 4 nodes: shares 5,5,4,4, so exactly 4 replicas
	// leave the full nodes for the empty one.
	if got := moved(moves); got != 4 {
		t.Errorf("moved %d replicas, want 4: %v", got, moves)
	}
	for _, m := range moves {
		if len(m.to) != 3 {
			t.Errorf("move %v changed the replication factor", m)
		}
	}
}

func TestRebalanceOfABalancedClusterDoesNothing(t *testing.T) {
	before, _ := place(idNodes(1, 2, 3), newLoad(), 0, 6, 3)
	if moves := planRebalance(records(before), idNodes(1, 2, 3), map[int32]string{}); len(moves) != 0 {
		t.Fatalf("balanced cluster got moves: %v", moves)
	}
}

func TestRebalanceSpreadsLeadersByReordering(t *testing.T) {
	before := [][]int32{{1, 2, 3}, {1, 2, 3}, {1, 2, 3}}
	moves := planRebalance(records(before), idNodes(1, 2, 3), map[int32]string{})
	after := applyMoves(before, moves)
	checkSpread(t, after, []int32{1, 2, 3})
	if got := moved(moves); got != 0 {
		t.Errorf("moved %d replicas; leader balance should only reorder: %v", got, moves)
	}
}

func TestRebalanceMovesReplicasOffDeadNodes(t *testing.T) {
	before := [][]int32{{1, 2}, {2, 3}, {3, 1}, {1, 3}}
	moves := planRebalance(records(before), idNodes(1, 2, 4), map[int32]string{}) // 3 died, 4 joined
	after := applyMoves(before, moves)
	for _, rs := range after {
		if slices.Contains(rs, 3) {
			t.Fatalf("dead node 3 still holds a replica: %v", after)
		}
	}
	checkSpread(t, after, []int32{1, 2, 4})
}

func TestRebalanceKeepsRacksSpread(t *testing.T) {
	rack := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b"}
	nodes := []placementNode{{1, "a"}, {2, "a"}, {3, "b"}}
	before, _ := place(nodes, newLoad(), 0, 8, 2)
	moves := planRebalance(records(before), append(nodes, placementNode{4, "b"}), rack)
	after := applyMoves(before, moves)
	checkSpread(t, after, []int32{1, 2, 3, 4})
	for p, rs := range after {
		if rack[rs[0]] == rack[rs[1]] {
			t.Errorf("partition %d on one rack after rebalance: %v (before %v)", p, rs, before[p])
		}
	}
}

func TestRebalanceSkipsPartitionsBeingReassigned(t *testing.T) {
	recs := records([][]int32{{1, 2}, {1, 2}, {1, 2}})
	recs[0].Replicas, recs[0].AddingReplicas, recs[0].RemovingReplicas = []int32{3, 2, 1}, []int32{3}, []int32{1}
	for _, m := range planRebalance(recs, idNodes(1, 2, 3), map[int32]string{}) {
		if m.partition == 0 {
			t.Fatalf("planned a move for a partition being reassigned: %v", m)
		}
	}
}

func TestDrainMovesOnlyTheNodesReplicas(t *testing.T) {
	// Node 2 shares a partition with each other node once: a greedy drain
	// would pile two of its replicas on one node.
	before := [][]int32{{1, 2}, {2, 3}, {3, 4}, {4, 1}, {2, 4}, {1, 3}}
	moves, err := planDrain(records(before), idNodes(1, 2, 3, 4), map[int32]string{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	after := applyMoves(before, moves)
	replicas, _ := counts(after)
	if replicas[2] != 0 {
		t.Fatalf("node 2 still holds %d replicas: %v", replicas[2], after)
	}
	before2, _ := counts(before)
	if got := moved(moves); got != before2[2] {
		t.Errorf("moved %d replicas, want exactly node 2's %d: %v", got, before2[2], moves)
	}
	for _, m := range moves {
		if !slices.Contains(m.from, 2) {
			t.Errorf("drain touched a partition node 2 does not hold: %v", m)
		}
	}
	if hi, lo := max(replicas[1], replicas[3], replicas[4]), min(replicas[1], replicas[3], replicas[4]); hi-lo > 1 {
		t.Errorf("drained replicas not spread: %v", replicas)
	}
}

func TestDrainFailsWhenTheRestCannotHoldTheReplicas(t *testing.T) {
	before, _ := place(idNodes(1, 2, 3), newLoad(), 0, 3, 3)
	_, err := planDrain(records(before), idNodes(1, 2, 3), map[int32]string{}, 1)
	if !errs.Is(err, errs.InvalidReplicationFactor) {
		t.Fatalf("drain of 1 of 3 nodes with RF 3: err %v, want INVALID_REPLICATION_FACTOR", err)
	}
}

func TestDrainOfANodeWithNothingIsEmpty(t *testing.T) {
	before, _ := place(idNodes(1, 2, 3), newLoad(), 0, 3, 3)
	moves, err := planDrain(records(before), idNodes(1, 2, 3, 4), map[int32]string{}, 4)
	if err != nil || len(moves) != 0 {
		t.Fatalf("drain of an empty node: %v, %v", moves, err)
	}
}

func TestRebalanceLargeClusterIsEven(t *testing.T) {
	for _, tc := range []struct{ nodes, added, parts, rf int }{{3, 1, 50, 3}, {5, 2, 40, 2}, {4, 4, 64, 3}, {6, 1, 7, 1}} {
		t.Run(fmt.Sprintf("%d+%d nodes %d parts rf %d", tc.nodes, tc.added, tc.parts, tc.rf), func(t *testing.T) {
			var old, all []int32
			for i := 1; i <= tc.nodes+tc.added; i++ {
				if i <= tc.nodes {
					old = append(old, int32(i))
				}
				all = append(all, int32(i))
			}
			before, _ := place(idNodes(old...), newLoad(), 0, tc.parts, tc.rf)
			moves := planRebalance(records(before), idNodes(all...), map[int32]string{})
			after := applyMoves(before, moves)
			checkSpread(t, after, all)
			// The minimum: what the nodes over their share must shed.
			share := (tc.parts * tc.rf) / len(all)
			extra := (tc.parts * tc.rf) % len(all)
			replicas, _ := counts(before)
			want := 0
			for i, id := range old {
				s := share
				if i < extra {
					s++
				}
				want += max(0, replicas[id]-s)
			}
			if got := moved(moves); got != want {
				t.Errorf("moved %d replicas, want the minimum %d", got, want)
			}
		})
	}
}
