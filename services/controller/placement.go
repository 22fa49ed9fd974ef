package controller

import (
	"fmt"
	"sort"
)

// placementNode is a live storage node as placement sees it.
type placementNode struct {
	id   int32
	rack string
}

// load counts the replicas and leaders each node already holds, so new
// partitions go where there is least.
type load struct {
	replicas map[int32]int
	leaders  map[int32]int
}

func newLoad() load { return load{replicas: map[int32]int{}, leaders: map[int32]int{}} }

// place assigns replicas for count new partitions numbered from first, with
// replication factor rf, over nodes. The first replica of each is its
// leader. Rules, in order: never two replicas of a partition on one node;
// leaders go to the node leading least; other replicas prefer racks the
// partition does not use yet, then the node holding fewest replicas. Ties
// rotate with the partition number so equal nodes take turns.
func place(nodes []placementNode, l load, first, count, rf int) ([][]int32, error) {
	if rf < 1 || rf > len(nodes) {
		return nil, fmt.Errorf("replication factor %d with %d live storage nodes", rf, len(nodes))
	}
	sorted := append([]placementNode(nil), nodes...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].id < sorted[j].id })
	n := len(sorted)
	out := make([][]int32, 0, count)
	for p := first; p < first+count; p++ {
		rank := func(i int) int { return ((i-p)%n + n) % n }
		used := map[int32]bool{}
		racks := map[string]bool{}
		replicas := make([]int32, 0, rf)
		pick := func(better func(a, b placementNode) int) {
			best := -1
			for i, nd := range sorted {
				if used[nd.id] {
					continue
				}
				if best < 0 {
					best = i
					continue
				}
				if c := better(nd, sorted[best]); c < 0 || c == 0 && rank(i) < rank(best) {
					best = i
				}
			}
			nd := sorted[best]
			used[nd.id] = true
			racks[nd.rack] = true
			replicas = append(replicas, nd.id)
			l.replicas[nd.id]++
		}
		pick(func(a, b placementNode) int {
			if d := l.leaders[a.id] - l.leaders[b.id]; d != 0 {
				return d
			}
			return l.replicas[a.id] - l.replicas[b.id]
		})
		l.leaders[replicas[0]]++
		for len(replicas) < rf {
			pick(func(a, b placementNode) int {
				if ra, rb := racks[a.rack] && a.rack != "", racks[b.rack] && b.rack != ""; ra != rb {
					if ra {
						return 1
					}
					return -1
				}
				return l.replicas[a.id] - l.replicas[b.id]
			})
		}
		out = append(out, replicas)
	}
	return out, nil
}

// assignment is one partition of a manual placement.
type assignment struct {
	partition int32
	replicas  []int32
}

// manualPlace checks a manual placement of the partitions first..first+n-1
// (Kafka's replica assignment) and returns it in partition order: the
// partitions numbered in sequence from first, each once; every partition
// with rf replicas (rf 0: as many as the first one has); no node twice in
// a partition; only live nodes. It never changes what was asked.
func manualPlace(nodes []placementNode, first int, rf int, in []assignment) ([][]int32, error) {
	alive := make(map[int32]bool, len(nodes))
	for _, n := range nodes {
		alive[n.id] = true
	}
	byPartition := make(map[int32][]int32, len(in))
	for _, a := range in {
		if _, dup := byPartition[a.partition]; dup {
			return nil, fmt.Errorf("partition %d is assigned twice", a.partition)
		}
		byPartition[a.partition] = a.replicas
	}
	out := make([][]int32, 0, len(in))
	for p := first; p < first+len(in); p++ {
		replicas, ok := byPartition[int32(p)]
		if !ok {
			return nil, fmt.Errorf("partitions must be numbered %d to %d in sequence; %d is missing", first, first+len(in)-1, p)
		}
		if len(replicas) == 0 {
			return nil, fmt.Errorf("partition %d has no replicas", p)
		}
		if rf == 0 {
			rf = len(replicas)
		}
		if len(replicas) != rf {
			return nil, fmt.Errorf("partition %d has %d replicas, others %d: every partition needs the same number", p, len(replicas), rf)
		}
		seen := map[int32]bool{}
		for _, r := range replicas {
			if seen[r] {
				return nil, fmt.Errorf("partition %d names storage node %d twice", p, r)
			}
			seen[r] = true
			if !alive[r] {
				return nil, fmt.Errorf("partition %d names storage node %d, which is not a live storage node", p, r)
			}
		}
		out = append(out, append([]int32(nil), replicas...))
	}
	return out, nil
}
