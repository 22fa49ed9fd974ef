package controller

import (
	"fmt"
	"slices"
	"sort"

	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/errs"
)

// The planner computes where replicas should go for Rebalance and
// DrainNode. It starts from the current placement and changes as little as
// it can: a replica stays where it is unless its node is leaving or holds
// more than its fair share, and moves go to the nodes holding least,
// preferring racks the partition does not use yet. Leadership is balanced
// afterwards by reordering replica lists (the first replica is the
// preferred leader), which copies no data.

// plannedMove is one partition's new replica list.
type plannedMove struct {
	topic     string
	partition int32
	from, to  []int32
}

// planSlot is one partition as the planner edits it.
type planSlot struct {
	rec    *metadatav1.PartitionRecord
	to     []int32
	frozen bool // a reassignment is running: leave it alone
}

type planner struct {
	rack     map[int32]string // every registered node
	eligible map[int32]bool   // live nodes that may receive replicas
	ids      []int32          // eligible ids, sorted
	slots    []*planSlot
	count    map[int32]int // replicas per node, as planned so far
	leaders  map[int32]int // preferred leaders per node, as planned so far
	onlyNew  bool          // spread may only move replicas the plan added (drain)
}

func newPlanner(parts []*metadatav1.PartitionRecord, live []placementNode, rack map[int32]string) *planner {
	p := &planner{rack: rack, eligible: map[int32]bool{}, count: map[int32]int{}, leaders: map[int32]int{}}
	for _, n := range live {
		p.eligible[n.id] = true
		p.ids = append(p.ids, n.id)
		if _, ok := p.rack[n.id]; !ok {
			p.rack[n.id] = n.rack
		}
	}
	slices.Sort(p.ids)
	parts = slices.Clone(parts)
	sort.Slice(parts, func(i, j int) bool {
		if parts[i].GetTopic() != parts[j].GetTopic() {
			return parts[i].GetTopic() < parts[j].GetTopic()
		}
		return parts[i].GetPartition() < parts[j].GetPartition()
	})
	for _, rec := range parts {
		s := &planSlot{rec: rec, to: targetReplicas(rec), frozen: inReassignment(rec)}
		p.slots = append(p.slots, s)
		for _, r := range s.to {
			p.count[r]++
		}
		if len(s.to) > 0 {
			p.leaders[s.to[0]]++
		}
	}
	return p
}

// fairShares splits total over the eligible nodes, floor or ceil each; the
// ceil shares go to the nodes holding most now, so fewer replicas move.
func (p *planner) fairShares(total int, have map[int32]int) map[int32]int {
	out := map[int32]int{}
	if len(p.ids) == 0 {
		return out
	}
	order := slices.Clone(p.ids)
	sort.SliceStable(order, func(i, j int) bool { return have[order[i]] > have[order[j]] })
	base, extra := total/len(order), total%len(order)
	for i, id := range order {
		out[id] = base
		if i < extra {
			out[id]++
		}
	}
	return out
}

// racksOf counts the distinct declared racks of replicas, skipping one node.
func (p *planner) racksOf(replicas []int32, skip int32) map[string]bool {
	out := map[string]bool{}
	for _, r := range replicas {
		if r != skip && p.rack[r] != "" {
			out[p.rack[r]] = true
		}
	}
	return out
}

// receiver picks the best node to take donor's place in s: eligible, not
// already a replica, under its share when underOnly, then a rack the
// partition lacks, then the fewest replicas against its share, then the
// lowest id. It returns -1 when there is none, or when keepRacks and every
// candidate would leave the partition on fewer racks.
func (p *planner) receiver(s *planSlot, donor int32, share map[int32]int, underOnly, keepRacks bool) int32 {
	used := p.racksOf(s.to, donor)
	before := len(p.racksOf(s.to, -1))
	best, bestNew, bestRoom := int32(-1), false, 0
	for _, id := range p.ids {
		if slices.Contains(s.to, id) || underOnly && p.count[id] >= share[id] {
			continue
		}
		rk := p.rack[id]
		isNew := rk != "" && !used[rk]
		after := len(used)
		if isNew {
			after++
		}
		if keepRacks && after < before {
			continue
		}
		room := share[id] - p.count[id]
		if best < 0 || isNew && !bestNew || isNew == bestNew && room > bestRoom {
			best, bestNew, bestRoom = id, isNew, room
		}
	}
	return best
}

// replace moves s's replica on donor to receiver, keeping its position.
func (p *planner) replace(s *planSlot, donor, receiver int32) {
	i := slices.Index(s.to, donor)
	s.to[i] = receiver
	p.count[donor]--
	p.count[receiver]++
	if i == 0 {
		p.leaders[donor]--
		p.leaders[receiver]++
	}
}

// evacuate moves every replica held by a node that leaves (not eligible,
// or leaving(node)) to the best other node. With strict, a replica that
// has nowhere to go is an error; otherwise it stays.
func (p *planner) evacuate(leaving func(int32) bool, share map[int32]int, strict bool) error {
	for _, s := range p.slots {
		for _, r := range slices.Clone(s.to) {
			if !leaving(r) {
				continue
			}
			if s.frozen {
				if strict {
					return errs.New(errs.ReassignmentInProgress, "partition %s-%d is being reassigned to %v; retry when it finishes",
						s.rec.GetTopic(), s.rec.GetPartition(), s.to)
				}
				continue
			}
			dst := p.receiver(s, r, share, true, false)
			if dst < 0 {
				dst = p.receiver(s, r, share, false, false)
			}
			if dst < 0 {
				if strict {
					return errs.New(errs.InvalidReplicationFactor,
						"partition %s-%d has %d replicas but only %d other live storage nodes can hold them",
						s.rec.GetTopic(), s.rec.GetPartition(), len(s.to), len(p.ids)).Field("node_id", "not enough live nodes")
				}
				continue
			}
			p.replace(s, r, dst)
		}
	}
	return nil
}

// spread moves replicas from nodes over their share to nodes under it,
// one at a time, until no move helps. Followers move before leaders, and
// a move never leaves a partition on fewer racks.
func (p *planner) spread(share map[int32]int) {
	for range p.totalReplicas() + 1 { // each move lowers the total excess; this only bounds a bug
		moved := false
		donors := slices.Clone(p.ids)
		sort.SliceStable(donors, func(i, j int) bool {
			return p.count[donors[i]]-share[donors[i]] > p.count[donors[j]]-share[donors[j]]
		})
		for _, d := range donors {
			if p.count[d] <= share[d] {
				break
			}
			if p.moveOne(d, share) {
				moved = true
				break
			}
		}
		if !moved {
			return
		}
	}
}

// moveOne moves one replica off donor; it prefers a partition that donor
// does not lead and one whose racks the move improves.
func (p *planner) moveOne(donor int32, share map[int32]int) bool {
	var bestSlot *planSlot
	bestDst, bestScore := int32(-1), -1
	for _, s := range p.slots {
		if s.frozen || !slices.Contains(s.to, donor) || p.onlyNew && slices.Contains(targetReplicas(s.rec), donor) {
			continue
		}
		dst := p.receiver(s, donor, share, true, true)
		if dst < 0 {
			continue
		}
		score := 0
		if s.to[0] != donor {
			score += 2
		}
		if rk := p.rack[dst]; rk != "" && !p.racksOf(s.to, donor)[rk] {
			score++
		}
		if score > bestScore {
			bestSlot, bestDst, bestScore = s, dst, score
		}
	}
	if bestSlot == nil {
		return false
	}
	p.replace(bestSlot, donor, bestDst)
	return true
}

// balanceLeaders reorders replica lists so each eligible node is the
// preferred leader of its share of partitions.
func (p *planner) balanceLeaders() {
	share := p.fairShares(len(p.slots), p.leaders)
	for range len(p.slots) * 2 {
		moved := false
		for _, s := range p.slots {
			if s.frozen || len(s.to) < 2 {
				continue
			}
			d := s.to[0]
			if p.eligible[d] && p.leaders[d] <= share[d] {
				continue
			}
			bestI, bestRoom := -1, 0
			for i, r := range s.to[1:] {
				if room := share[r] - p.leaders[r]; p.eligible[r] && room > bestRoom {
					bestI, bestRoom = i+1, room
				}
			}
			if bestI < 0 {
				continue
			}
			s.to[0], s.to[bestI] = s.to[bestI], s.to[0]
			p.leaders[d]--
			p.leaders[s.to[0]]++
			moved = true
		}
		if !moved {
			return
		}
	}
}

// moves lists the partitions whose replica list changed.
func (p *planner) moves() []plannedMove {
	var out []plannedMove
	for _, s := range p.slots {
		if from := targetReplicas(s.rec); !s.frozen && !slices.Equal(from, s.to) {
			out = append(out, plannedMove{topic: s.rec.GetTopic(), partition: s.rec.GetPartition(), from: from, to: s.to})
		}
	}
	return out
}

func (p *planner) totalReplicas() int {
	n := 0
	for _, s := range p.slots {
		n += len(s.to)
	}
	return n
}

// planRebalance spreads replicas and preferred leaders evenly over the
// live nodes; replicas on dead nodes move to live ones.
func planRebalance(parts []*metadatav1.PartitionRecord, live []placementNode, rack map[int32]string) []plannedMove {
	p := newPlanner(parts, live, rack)
	if len(p.ids) == 0 {
		return nil
	}
	share := p.fairShares(p.totalReplicas(), p.count)
	_ = p.evacuate(func(id int32) bool { return !p.eligible[id] }, share, false)
	p.spread(share)
	p.balanceLeaders()
	return p.moves()
}

// planDrain moves every replica off node, and nothing else.
func planDrain(parts []*metadatav1.PartitionRecord, live []placementNode, rack map[int32]string, node int32) ([]plannedMove, error) {
	var rest []placementNode
	for _, n := range live {
		if n.id != node {
			rest = append(rest, n)
		}
	}
	p := newPlanner(parts, rest, rack)
	share := p.fairShares(p.totalReplicas(), p.count)
	if err := p.evacuate(func(id int32) bool { return id == node }, share, true); err != nil {
		return nil, err
	}
	// Evacuation places greedily; even out what it placed, touching nothing else.
	p.onlyNew = true
	p.spread(share)
	return p.moves(), nil
}

func (m plannedMove) String() string {
	return fmt.Sprintf("%s-%d %v -> %v", m.topic, m.partition, m.from, m.to)
}
