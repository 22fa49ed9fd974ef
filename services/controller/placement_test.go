package controller

import (
	"testing"
)

func nodesOf(racks ...string) []placementNode {
	out := make([]placementNode, len(racks))
	for i, r := range racks {
		out[i] = placementNode{id: int32(i + 1), rack: r}
	}
	return out
}

func count(assign [][]int32) (replicas, leaders map[int32]int) {
	replicas, leaders = map[int32]int{}, map[int32]int{}
	for _, rs := range assign {
		leaders[rs[0]]++
		for _, r := range rs {
			replicas[r]++
		}
	}
	return
}

func TestPlaceSpreadsReplicasAndLeadersEvenly(t *testing.T) {
	for _, tc := range []struct{ nodes, partitions, rf int }{{3, 6, 3}, {3, 6, 1}, {5, 10, 3}, {4, 12, 2}, {6, 60, 3}} {
		assign, err := place(nodesOf(make([]string, tc.nodes)...), newLoad(), 0, tc.partitions, tc.rf)
		if err != nil {
			t.Fatal(err)
		}
		for p, rs := range assign {
			seen := map[int32]bool{}
			for _, r := range rs {
				if seen[r] {
					t.Fatalf("%+v: partition %d has two replicas on node %d: %v", tc, p, r, rs)
				}
				seen[r] = true
			}
			if len(rs) != tc.rf {
				t.Fatalf("%+v: partition %d has %d replicas", tc, p, len(rs))
			}
		}
		replicas, leaders := count(assign)
		wantLeaders := tc.partitions / tc.nodes
		wantReplicas := tc.partitions * tc.rf / tc.nodes
		for id := int32(1); id <= int32(tc.nodes); id++ {
			if leaders[id] != wantLeaders || replicas[id] != wantReplicas {
				t.Errorf("%+v: node %d has %d leaders, %d replicas; want %d, %d", tc, id, leaders[id], replicas[id], wantLeaders, wantReplicas)
			}
		}
	}
}

func TestPlaceBalancesAgainstExistingLoad(t *testing.T) {
	l := newLoad()
	nodes := nodesOf("", "", "")
	first, _ := place(nodes, l, 0, 1, 1) // node 1 leads one partition
	second, _ := place(nodes, l, 0, 2, 1)
	replicas, _ := count(append(first, second...))
	for id := int32(1); id <= 3; id++ {
		if replicas[id] != 1 {
			t.Fatalf("after 1+2 partitions: %v", replicas)
		}
	}
}

func TestPlaceSpreadsRacks(t *testing.T) {
	nodes := nodesOf("a", "a", "b", "b", "c", "c")
	assign, err := place(nodes, newLoad(), 0, 12, 3)
	if err != nil {
		t.Fatal(err)
	}
	for p, rs := range assign {
		racks := map[string]bool{}
		for _, r := range rs {
			racks[nodes[r-1].rack] = true
		}
		if len(racks) != 3 {
			t.Fatalf("partition %d replicas %v use racks %v", p, rs, racks)
		}
	}
}

func TestPlaceRejectsTooFewNodes(t *testing.T) {
	if _, err := place(nodesOf("", ""), newLoad(), 0, 1, 3); err == nil {
		t.Fatal("rf 3 on 2 nodes accepted")
	}
}
