package groups

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func tid(n byte) topicID { return topicID{15: n} }

// checkCover fails unless every partition of every topic is assigned to
// exactly one member subscribed to its topic.
func checkCover(t *testing.T, members []assignMember, parts map[topicID]int32, out map[string]partSet) {
	t.Helper()
	seen := map[tpID]string{}
	subs := map[string]map[topicID]bool{}
	for _, m := range members {
		subs[m.id] = m.topics
	}
	for id, s := range out {
		for p := range s {
			if o, dup := seen[p]; dup {
				t.Fatalf("%v assigned to %s and %s", p, o, id)
			}
			if !subs[id][p.topic] {
				t.Fatalf("%v assigned to %s, which does not subscribe to its topic", p, id)
			}
			seen[p] = id
		}
	}
	for topic, n := range parts {
		for p := int32(0); p < n; p++ {
			if _, ok := seen[tpID{topic, p}]; !ok {
				t.Fatalf("%v is not assigned", tpID{topic, p})
			}
		}
	}
}

func spread(out map[string]partSet) (lo, hi int) {
	lo = 1 << 30
	for _, s := range out {
		lo, hi = min(lo, len(s)), max(hi, len(s))
	}
	return lo, hi
}

// With equal subscriptions the uniform assignor's counts differ by at most
// one, also when members come and go on top of a previous target, and it
// moves no more partitions than balance needs.
func TestUniformAssignorBalancesWithinOneAndSticks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		parts := map[topicID]int32{}
		for i := 0; i < 1+rng.IntN(4); i++ {
			parts[tid(byte(i))] = int32(1 + rng.IntN(20))
		}
		sub := map[topicID]bool{}
		total := 0
		for id, n := range parts {
			sub[id] = true
			total += int(n)
		}
		var members []assignMember
		for i := 0; i < 1+rng.IntN(8); i++ {
			members = append(members, assignMember{id: fmt.Sprintf("m%d", i), topics: sub, current: partSet{}})
		}
		out := assignUniform(members, parts)
		checkCover(t, members, parts, out)
		if lo, hi := spread(out); hi-lo > 1 {
			t.Fatalf("round %d: counts from %d to %d", round, lo, hi)
		}
		// One member leaves and two join: survivors keep what they had up
		// to their new share.
		for i := range members {
			members[i].current = out[members[i].id]
		}
		members = append(members[1:], assignMember{id: "n1", topics: sub, current: partSet{}}, assignMember{id: "n2", topics: sub, current: partSet{}})
		next := assignUniform(members, parts)
		checkCover(t, members, parts, next)
		if lo, hi := spread(next); hi-lo > 1 {
			t.Fatalf("round %d after churn: counts from %d to %d", round, lo, hi)
		}
		quota := total / len(members)
		for _, m := range members {
			kept := 0
			for p := range m.current {
				if next[m.id].has(p) {
					kept++
				}
			}
			if kept < min(len(m.current), quota) {
				t.Fatalf("round %d: %s kept %d of its %d partitions, share %d", round, m.id, kept, len(m.current), quota)
			}
		}
	}
}

// Members subscribed to different topics get partitions of their topics
// only, and each topic is spread over its subscribers.
func TestUniformAssignorHeterogeneous(t *testing.T) {
	parts := map[topicID]int32{tid(1): 6, tid(2): 3}
	members := []assignMember{
		{id: "a", topics: map[topicID]bool{tid(1): true}},
		{id: "b", topics: map[topicID]bool{tid(1): true, tid(2): true}},
		{id: "c", topics: map[topicID]bool{tid(2): true}},
	}
	out := assignUniform(members, parts)
	checkCover(t, members, parts, out)
	if lo, hi := spread(out); hi-lo > 1 {
		t.Fatalf("counts from %d to %d: %v", lo, hi, out)
	}
}

// The range assignor co-partitions: with topics of equal partition counts
// each member gets the same partition numbers of every topic, the first
// members one more when the count does not divide.
func TestRangeAssignorCoPartitions(t *testing.T) {
	parts := map[topicID]int32{tid(1): 7, tid(2): 7}
	both := map[topicID]bool{tid(1): true, tid(2): true}
	members := []assignMember{{id: "d", topics: both}, {id: "b", topics: both}, {id: "a", topics: both}}
	out := assignRange(members, parts)
	checkCover(t, members, parts, out)
	want := map[string][]int32{"a": {0, 1, 2}, "b": {3, 4}, "d": {5, 6}}
	for id, ps := range want {
		if len(out[id]) != 2*len(ps) {
			t.Fatalf("%s has %d partitions, want %d: %v", id, len(out[id]), 2*len(ps), out[id])
		}
		for _, p := range ps {
			if !out[id].has(tpID{tid(1), p}) || !out[id].has(tpID{tid(2), p}) {
				t.Fatalf("%s lacks partition %d of both topics: %v", id, p, out[id])
			}
		}
	}
	// A static member keeps its place by instance id, whatever its member id.
	members[0].instance, members[2].instance = "i0", "i9"
	out = assignRange(members, parts)
	// Order: b, then d (i0), then a (i9).
	if !out["b"].has(tpID{tid(1), 0}) || !out["d"].has(tpID{tid(1), 3}) || !out["a"].has(tpID{tid(1), 6}) {
		t.Fatalf("range by instance id: %v", out)
	}
}
