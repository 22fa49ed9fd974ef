package groups

// Server-side assignors of the consumer protocol (KIP-848): "uniform"
// (Kafka's UniformAssignor: balanced and sticky) and "range" (Kafka's
// RangeAssignor: per topic, contiguous ranges, so members subscribed to
// topics with equal partition counts get the same partition numbers of
// each: co-partitioning).

import (
	"bytes"
	"cmp"
	"slices"
)

type topicID = [16]byte

// tpID is one partition of a topic, named by the topic's id.
type tpID struct {
	topic topicID
	part  int32
}

func cmpTP(a, b tpID) int {
	if c := bytes.Compare(a.topic[:], b.topic[:]); c != 0 {
		return c
	}
	return cmp.Compare(a.part, b.part)
}

// partSet is a set of partitions.
type partSet map[tpID]struct{}

func (s partSet) has(p tpID) bool { _, ok := s[p]; return ok }

func (s partSet) clone() partSet {
	out := make(partSet, len(s))
	for p := range s {
		out[p] = struct{}{}
	}
	return out
}

func (s partSet) equal(o partSet) bool {
	if len(s) != len(o) {
		return false
	}
	for p := range s {
		if !o.has(p) {
			return false
		}
	}
	return true
}

func (s partSet) sorted() []tpID {
	out := make([]tpID, 0, len(s))
	for p := range s {
		out = append(out, p)
	}
	slices.SortFunc(out, cmpTP)
	return out
}

// assignMember is one member as an assignor sees it.
type assignMember struct {
	id       string
	instance string
	topics   map[topicID]bool // resolved subscription
	current  partSet          // the previous target, for stickiness
}

// assignor computes a target assignment: member id → partitions.
// partitions gives each subscribed topic's partition count.
type assignor func(members []assignMember, partitions map[topicID]int32) map[string]partSet

var assignors = map[string]assignor{"uniform": assignUniform, "range": assignRange}

// assignUniform keeps every partition with its previous owner while that
// member is still subscribed, gives the rest to the least loaded
// subscribed member, then moves partitions from members that have two or
// more than a subscribed peer until no such move exists: with equal
// subscriptions, members' counts differ by at most one.
func assignUniform(members []assignMember, partitions map[topicID]int32) map[string]partSet {
	out := make(map[string]partSet, len(members))
	members = slices.Clone(members)
	slices.SortFunc(members, func(a, b assignMember) int { return cmp.Compare(a.id, b.id) })
	for _, m := range members {
		out[m.id] = partSet{}
	}
	var all []tpID
	for t, n := range partitions {
		for p := int32(0); p < n; p++ {
			all = append(all, tpID{t, p})
		}
	}
	slices.SortFunc(all, cmpTP)
	owner := map[tpID]string{}
	var free []tpID
	for _, tp := range all {
		kept := false
		for _, m := range members {
			if m.current.has(tp) && m.topics[tp.topic] {
				out[m.id][tp] = struct{}{}
				owner[tp] = m.id
				kept = true
				break
			}
		}
		if !kept {
			free = append(free, tp)
		}
	}
	leastLoaded := func(tp tpID) string {
		best := ""
		for _, m := range members {
			if m.topics[tp.topic] && (best == "" || len(out[m.id]) < len(out[best])) {
				best = m.id
			}
		}
		return best
	}
	for _, tp := range free {
		if id := leastLoaded(tp); id != "" {
			out[id][tp] = struct{}{}
			owner[tp] = id
		}
	}
	// Each pass moves a partition only to a member with at least two
	// fewer, so the sum of squared loads falls with every move; the pass
	// bound is a guard, not the termination argument.
	for pass := 0; pass < len(all)+1; pass++ {
		moved := false
		for _, tp := range all {
			from, ok := owner[tp]
			if !ok {
				continue
			}
			to := leastLoaded(tp)
			if to != "" && len(out[to])+1 < len(out[from]) {
				delete(out[from], tp)
				out[to][tp] = struct{}{}
				owner[tp] = to
				moved = true
			}
		}
		if !moved {
			break
		}
	}
	return out
}

// assignRange gives, for each topic, its subscribed members (ordered by
// instance id, else member id, so a static member keeps its place)
// contiguous ranges of partitions, the first members one more when the
// count does not divide evenly.
func assignRange(members []assignMember, partitions map[topicID]int32) map[string]partSet {
	out := make(map[string]partSet, len(members))
	members = slices.Clone(members)
	key := func(m assignMember) string { return cmp.Or(m.instance, m.id) }
	slices.SortFunc(members, func(a, b assignMember) int {
		return cmp.Or(cmp.Compare(key(a), key(b)), cmp.Compare(a.id, b.id))
	})
	for _, m := range members {
		out[m.id] = partSet{}
	}
	for t, n := range partitions {
		var subs []string
		for _, m := range members {
			if m.topics[t] {
				subs = append(subs, m.id)
			}
		}
		if len(subs) == 0 {
			continue
		}
		per, extra := int(n)/len(subs), int(n)%len(subs)
		next := int32(0)
		for i, id := range subs {
			count := per
			if i < extra {
				count++
			}
			for j := 0; j < count; j++ {
				out[id][tpID{t, next}] = struct{}{}
				next++
			}
		}
	}
	return out
}
