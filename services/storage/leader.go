package storage

import (
	"context"
	"slices"
	"sync"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
)

// leaderState is what a partition's leader knows about its replication:
// each follower's log end offset (from its fetch offset), when it was last
// caught up, and the ISR as the controller last confirmed it. The high
// watermark is the smallest log end offset over the ISR.
type leaderState struct {
	p     *replica
	epoch int32 // leader epoch of this leadership
	// startOffset is the log end offset when this leadership began: a
	// follower rejoins the ISR only once it has reached it.
	startOffset int64

	mu             sync.Mutex
	partitionEpoch int32
	isr            []int32
	followers      map[int32]*followerProgress
	altering       bool // an AlterPartition is in flight
	// adding holds the followers an in-flight expansion adds: until the
	// controller confirms it, the high watermark counts them too (Kafka's
	// maximal ISR), so a replica the controller may elect as soon as it
	// confirms has everything below the high watermark.
	adding   []int32
	resigned bool
}

type followerProgress struct {
	leo            int64 // -1 until the first fetch of this leadership
	caughtUp       time.Time
	lastFetch      time.Time
	leaderLEOAtHim int64 // leader LEO at the previous fetch
	logStart       int64 // the follower's log start, -1 until its first fetch
}

func newLeaderState(p *replica, rec *metadatav1.PartitionRecord) *leaderState {
	ls := &leaderState{p: p, epoch: rec.GetLeaderEpoch(), startOffset: p.log.LogEndOffset(), followers: map[int32]*followerProgress{}}
	ls.apply(rec)
	return ls
}

// apply takes a newer record of the same leadership (ISR, replicas).
func (ls *leaderState) apply(rec *metadatav1.PartitionRecord) {
	ls.mu.Lock()
	if rec.GetPartitionEpoch() >= ls.partitionEpoch {
		ls.partitionEpoch = rec.GetPartitionEpoch()
		ls.isr = slices.Clone(rec.GetIsr())
	}
	now := time.Now()
	me, _ := ls.p.host.registration()
	for _, r := range rec.GetReplicas() {
		if _, ok := ls.followers[r]; !ok && r != me {
			// A new follower gets the full lag time to show up.
			ls.followers[r] = &followerProgress{leo: -1, caughtUp: now, logStart: -1}
		}
	}
	for id := range ls.followers {
		if !slices.Contains(rec.GetReplicas(), id) {
			delete(ls.followers, id)
		}
	}
	ls.mu.Unlock()
	ls.advanceHighWatermark()
	ls.p.hwMoves.fire() // waiters re-check the ISR size
}

// resign ends this leadership: waiting produces fail over to the new leader.
func (ls *leaderState) resign() {
	ls.mu.Lock()
	ls.resigned = true
	ls.mu.Unlock()
	ls.p.hwMoves.fire()
}

func (ls *leaderState) isrSize() int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return len(ls.isr)
}

// advanceHighWatermark moves the high watermark to the smallest log end
// offset over the ISR and the followers being added; it never moves back.
func (ls *leaderState) advanceHighWatermark() {
	ls.mu.Lock()
	hw := ls.p.log.LogEndOffset()
	me, _ := ls.p.host.registration()
	for _, r := range slices.Concat(ls.isr, ls.adding) {
		if r == me {
			continue
		}
		f, ok := ls.followers[r]
		if !ok || f.leo < 0 {
			ls.mu.Unlock()
			return // an ISR member has not reported yet
		}
		hw = min(hw, f.leo)
	}
	ls.mu.Unlock()
	if hw > ls.p.log.HighWatermark() {
		ls.p.setHighWatermark(hw)
	}
}

// followerFetched records a follower's fetch offset (everything below it is
// in the follower's log) and log start offset.
func (ls *leaderState) followerFetched(id int32, fetchOffset, logStart int64) {
	now := time.Now()
	leo := ls.p.log.LogEndOffset()
	ls.mu.Lock()
	f, ok := ls.followers[id]
	if !ok {
		ls.mu.Unlock()
		return
	}
	switch {
	case fetchOffset >= leo:
		f.caughtUp = now
	case fetchOffset >= f.leaderLEOAtHim && !f.lastFetch.IsZero():
		// It has everything the leader had at its previous fetch.
		f.caughtUp = f.lastFetch
	}
	moved := f.leo != fetchOffset
	f.leo, f.lastFetch, f.leaderLEOAtHim = fetchOffset, now, leo
	startMoved := f.logStart != logStart
	f.logStart = logStart
	ls.mu.Unlock()
	if startMoved {
		ls.p.startMoves.fire()
	}
	if moved {
		// Unmoved, this follower cannot move the high watermark: appends and
		// ISR changes advance it themselves. A fetch of many idle
		// partitions skips the work.
		ls.advanceHighWatermark()
	}
	ls.maybeExpand(id)
}

// maybeExpand asks the controller to add a caught-up follower to the ISR.
func (ls *leaderState) maybeExpand(id int32) {
	ls.mu.Lock()
	f := ls.followers[id]
	hw := ls.p.log.HighWatermark()
	if ls.altering || ls.resigned || slices.Contains(ls.isr, id) || f == nil || f.leo < hw || f.leo < ls.startOffset {
		ls.mu.Unlock()
		return
	}
	isr := append(slices.Clone(ls.isr), id)
	ls.mu.Unlock()
	ls.alter(isr, "expand")
}

// checkLag drops followers that have not caught up within the lag time
// and returns the longest time any follower has not been caught up.
func (ls *leaderState) checkLag(maxLag time.Duration) time.Duration {
	now := time.Now()
	ls.mu.Lock()
	var longest time.Duration
	for _, f := range ls.followers {
		longest = max(longest, now.Sub(f.caughtUp))
	}
	if ls.altering || ls.resigned {
		ls.mu.Unlock()
		return longest
	}
	var keep []int32
	for _, r := range ls.isr {
		if f, ok := ls.followers[r]; ok && now.Sub(f.caughtUp) > maxLag {
			continue
		}
		keep = append(keep, r)
	}
	shrink := len(keep) < len(ls.isr)
	ls.mu.Unlock()
	if shrink {
		ls.alter(keep, "shrink")
	}
	return longest
}

// alter sends an ISR change to the controller, one at a time per
// partition. The controller fences it by leader and partition epoch; the
// result (or the metadata stream) updates the local ISR.
func (ls *leaderState) alter(isr []int32, direction string) {
	ls.mu.Lock()
	if ls.altering {
		ls.mu.Unlock()
		return
	}
	ls.altering = true
	pe := ls.partitionEpoch
	for _, r := range isr {
		if !slices.Contains(ls.isr, r) {
			ls.adding = append(ls.adding, r)
		}
	}
	ls.mu.Unlock()
	go func() {
		done := func() {
			ls.mu.Lock()
			ls.altering, ls.adding = false, nil
			ls.mu.Unlock()
		}
		id, epoch := ls.p.host.registration()
		ctx, cancel := context.WithTimeout(ls.p.host.context(), 5*time.Second)
		defer cancel()
		resp, err := ls.p.host.controller().AlterPartition(ctx, &controllerv1.AlterPartitionRequest{
			NodeId: id, NodeEpoch: epoch, Topic: ls.p.key.topic, Partition: ls.p.key.partition,
			LeaderEpoch: ls.epoch, PartitionEpoch: pe, NewIsr: isr,
		})
		if err != nil {
			done()
			ls.advanceHighWatermark() // the followers it was adding count no more
			ls.p.host.logger().Debug("ISR change refused", "partition", ls.p.name(), "direction", direction, "err", err)
			return
		}
		ls.p.host.isrChanged(direction)
		ls.apply(resp.GetPartition()) // the confirmed ISR replaces the pending additions
		done()
	}()
}

// waitReplicated blocks until the high watermark passes lastOffset (every
// ISR member has it), the ISR falls below min.insync.replicas, this node
// stops leading, or the timeout passes.
func (ls *leaderState) waitReplicated(ctx context.Context, lastOffset int64, timeout time.Duration) *errs.Error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		ch := ls.p.hwMoves.ch()
		ls.mu.Lock()
		resigned, isr := ls.resigned, len(ls.isr)
		ls.mu.Unlock()
		switch {
		case ls.p.log.HighWatermark() > lastOffset:
			return nil
		case resigned:
			return errs.New(errs.NotLeaderOrFollower, "leadership of %s moved before the batch was replicated", replicaDir(ls.p.key.topic, ls.p.key.partition))
		case isr < ls.p.minISR:
			return errs.New(errs.NotEnoughReplicasAfter, "the ISR of %s shrank to %d, below min.insync.replicas %d, after the append",
				replicaDir(ls.p.key.topic, ls.p.key.partition), isr, ls.p.minISR)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return errs.New(errs.RequestTimedOut, "produce cancelled while waiting for replication")
		case <-timer.C:
			return errs.New(errs.RequestTimedOut, "the ISR of %s did not replicate the batch within %s", replicaDir(ls.p.key.topic, ls.p.key.partition), timeout)
		}
	}
}

// progress reports every replica's progress, for ListReplicas.
func (ls *leaderState) progress() []*storagev1.ReplicaProgress {
	now := time.Now()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	me, _ := ls.p.host.registration()
	out := []*storagev1.ReplicaProgress{{NodeId: me, LogEndOffset: ls.p.log.LogEndOffset(), InSync: true}}
	for id, f := range ls.followers {
		out = append(out, &storagev1.ReplicaProgress{NodeId: id, LogEndOffset: f.leo,
			CaughtUpMsAgo: now.Sub(f.caughtUp).Milliseconds(), InSync: slices.Contains(ls.isr, id)})
	}
	slices.SortFunc(out[1:], func(a, b *storagev1.ReplicaProgress) int { return int(a.GetNodeId() - b.GetNodeId()) })
	return out
}

// underReplicated reports whether the ISR is smaller than the replica set.
func (ls *leaderState) underReplicated() bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return len(ls.isr) < len(ls.followers)+1
}

// lowWatermark is the smallest log start offset over this leader and the
// followers counts accepts (Kafka's low watermark: the live ones); such a
// follower that has not fetched in this leadership yet counts as -1.
func (ls *leaderState) lowWatermark(counts func(int32) bool) int64 {
	low := ls.p.log.LogStartOffset()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for id, f := range ls.followers {
		if counts(id) {
			low = min(low, f.logStart)
		}
	}
	return low
}
