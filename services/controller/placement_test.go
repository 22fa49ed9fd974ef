package controller

import (
	"fmt"
	"strings"
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

// A manual placement is taken exactly as asked, or refused with the reason.
func TestManualPlace(t *testing.T) {
	nodes := []placementNode{{id: 1}, {id: 2}, {id: 3}}
	got, err := manualPlace(nodes, 0, 0, []assignment{{1, []int32{3, 1}}, {0, []int32{2, 3}}})
	if err != nil || fmt.Sprint(got) != "[[2 3] [3 1]]" {
		t.Fatalf("got %v, %v; want [[2 3] [3 1]]", got, err)
	}
	got, err = manualPlace(nodes, 4, 2, []assignment{{4, []int32{1, 2}}, {5, []int32{2, 1}}})
	if err != nil || fmt.Sprint(got) != "[[1 2] [2 1]]" {
		t.Fatalf("from 4: got %v, %v", got, err)
	}
	for name, tc := range map[string]struct {
		first, rf int
		in        []assignment
		want      string
	}{
		"gap":               {0, 0, []assignment{{0, []int32{1}}, {2, []int32{2}}}, "1 is missing"},
		"not from first":    {3, 0, []assignment{{0, []int32{1}}}, "3 is missing"},
		"twice":             {0, 0, []assignment{{0, []int32{1}}, {0, []int32{2}}}, "assigned twice"},
		"uneven":            {0, 0, []assignment{{0, []int32{1, 2}}, {1, []int32{3}}}, "same number"},
		"topic's rf":        {2, 3, []assignment{{2, []int32{1, 2}}}, "same number"},
		"duplicate node":    {0, 0, []assignment{{0, []int32{1, 1}}}, "node 1 twice"},
		"unknown node":      {0, 0, []assignment{{0, []int32{1, 9}}}, "node 9, which is not a live"},
		"no replicas":       {0, 0, []assignment{{0, nil}}, "no replicas"},
		"negative node ids": {0, 0, []assignment{{0, []int32{-1}}}, "node -1"},
	} {
		if _, err := manualPlace(nodes, tc.first, tc.rf, tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want it to mention %q", name, err, tc.want)
		}
	}
}
