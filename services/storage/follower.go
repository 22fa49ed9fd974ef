package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/internal/topicconfig"
)

// Follower side of replication. A follower keeps one Replicate stream per
// leader node, carrying the fetches of every partition it follows from that
// node. Before fetching a partition under a new leader epoch it asks the
// leader where its own last epoch ended and truncates any divergent tail
// (KIP-101), so it never keeps records the leader does not have.

// Replication fetch tuning.
const (
	replicaFetchWait     = 500 * time.Millisecond
	replicaFetchMaxBytes = 4 << 20
	replicaPartitionMax  = 1 << 20
	replicaRetryBackoff  = 200 * time.Millisecond
	// replicaRetryFirst is the first wait after a fetch that every
	// partition failed: stale metadata on one side, as when a new
	// partition's leader has not yet learned that it leads, usually clears
	// within milliseconds. The waits double up to replicaRetryBackoff.
	replicaRetryFirst = 10 * time.Millisecond
)

// retryWaits spaces a fetch session's retries: replicaRetryFirst, doubling
// to replicaRetryBackoff; a fetch that succeeds starts them over.
type retryWaits struct{ next time.Duration }

// wait waits the next interval; false when ctx ended first.
func (w *retryWaits) wait(ctx context.Context) bool {
	d := max(w.next, replicaRetryFirst)
	w.next = min(2*d, replicaRetryBackoff)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func (w *retryWaits) reset() { w.next = 0 }

// followState is one partition's follower state under one leader epoch.
type followState struct {
	leaderID  int32
	epoch     int32
	truncated bool // the divergence check ran for this epoch
}

// fetchers runs exactly one fetch loop per leader node this node follows.
type fetchers struct {
	n       *Node
	mu      sync.Mutex
	running map[int32]*fetchLoop
	conns   rpc.Pool
	refused epochLatch // the leader epoch a refused truncation was last logged at, per partition
}

// epochLatch remembers one leader epoch per partition, so a refusal is
// logged once per leadership rather than on every fetch.
type epochLatch struct {
	mu sync.Mutex
	m  map[partitionKey]int32
}

// Swap stores epoch for key and returns the previous one (-1 if none).
func (l *epochLatch) Swap(key partitionKey, epoch int32) int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[partitionKey]int32{}
	}
	prev, ok := l.m[key]
	l.m[key] = epoch
	if !ok {
		return -1
	}
	return prev
}

// fetchLoop identifies one fetch loop; a loop runs only while it is the
// one registered for its leader.
type fetchLoop struct {
	leader int32
	// changes counts the partitions newly followed from the leader; renew
	// wakes the loop for them. A loop whose pending fetch, a long poll of
	// up to replicaFetchWait, was computed before the latest change fetches
	// again at once: the wait would hold a new partition's first acks=all
	// produce that long.
	changes atomic.Uint64
	renew   chan struct{}
	// fetching is the changes count the pending fetch's partitions were
	// computed after.
	fetching atomic.Uint64
}

// errLoopEnded ends a fetch session whose loop has nothing left to fetch.
var errLoopEnded = errors.New("nothing followed from this leader")

// errRenewed ends a fetch session whose partitions changed.
var errRenewed = errors.New("the followed partitions changed")

func newFetchers(n *Node) *fetchers {
	return &fetchers{n: n, running: map[int32]*fetchLoop{}}
}

// ensure starts a fetch loop for every leader that has none, and renews
// the running loop of every leader marked true (it has a partition the
// loop does not fetch yet).
func (f *fetchers) ensure(leaders map[int32]bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, added := range leaders {
		if loop := f.running[id]; loop != nil {
			if added {
				loop.changes.Add(1)
				select {
				case loop.renew <- struct{}{}:
				default: // a renewal is already due
				}
			}
			continue
		}
		loop := &fetchLoop{leader: id, renew: make(chan struct{}, 1)}
		f.running[id] = loop
		f.n.metrics.fetchLoops.Inc()
		f.n.Go(func(ctx context.Context) {
			defer f.n.metrics.fetchLoops.Dec()
			f.run(ctx, loop)
		})
	}
}

// followed returns the partitions loop fetches from its leader. When there
// are none it unregisters the loop (under the lock, so ensure starts a new
// one for a later follow) and returns errLoopEnded: the loop must end.
func (f *fetchers) followed(loop *fetchLoop) ([]*replica, error) {
	collect := func() []*replica {
		var out []*replica
		for _, p := range f.n.parts.online() {
			if fs := p.follow.Load(); fs != nil && fs.leaderID == loop.leader {
				out = append(out, p)
			}
		}
		return out
	}
	if out := collect(); len(out) > 0 {
		return out, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if out := collect(); len(out) > 0 {
		return out, nil
	}
	if f.running[loop.leader] == loop {
		delete(f.running, loop.leader)
	}
	return nil, errLoopEnded
}

// loops is how many fetch loops are registered.
func (f *fetchers) loops() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.running)
}

func (f *fetchers) close() { f.conns.Close() }

// run is the fetch loop for one leader node; it ends when this node
// follows nothing there.
func (f *fetchers) run(ctx context.Context, loop *fetchLoop) {
	for ctx.Err() == nil {
		if _, err := f.followed(loop); err != nil {
			return
		}
		err := f.session(ctx, loop)
		if ctx.Err() != nil || errors.Is(err, errLoopEnded) {
			return
		}
		if errors.Is(err, errRenewed) {
			continue
		}
		if err != nil {
			f.n.Log.Debug("replica fetch session ended", "leader", loop.leader, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(replicaRetryBackoff):
		}
	}
}

// session runs one Replicate stream to the leader until an error.
func (f *fetchers) session(ctx context.Context, loop *fetchLoop) error {
	leader := loop.leader
	node, _ := f.n.cache.StorageNode(leader)
	if node == nil {
		return errs.New(errs.UnknownMember, "leader %d has no address yet", leader)
	}
	addr := node.GetAddress()
	conn, err := f.conns.Get(addr)
	if err != nil {
		return err
	}
	client := storagev1.NewStorageServiceClient(conn)
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		for {
			select {
			case <-loop.renew:
				if loop.changes.Load() != loop.fetching.Load() {
					cancel(errRenewed) // ends the pending fetch; run starts again at once
					return
				}
			case <-sctx.Done():
				return
			}
		}
	}()
	stream, err := client.Replicate(sctx)
	if err != nil {
		return renewedOr(sctx, err)
	}
	defer func() { _ = stream.CloseSend() }()
	reg := f.n.Member.Registration()
	var retry retryWaits
	for {
		loop.fetching.Store(loop.changes.Load())
		parts, err := f.followed(loop)
		if err != nil {
			return err
		}
		// A leader that came back on another address (a container's IP
		// changes on restart) is dialled again there: the old address may
		// now be another node's, which answers every partition with an
		// error and would keep this stream alive forever.
		if now, _ := f.n.cache.StorageNode(leader); now == nil || now.GetAddress() != addr {
			return fmt.Errorf("leader %d moved from %s", leader, addr)
		}
		f.truncateDiverged(ctx, client, parts)
		req := &storagev1.ReplicateRequest{FollowerId: reg.ID, FollowerEpoch: reg.Epoch, MaxWaitMs: int32(replicaFetchWait.Milliseconds()),
			MinBytes: 1, MaxBytes: replicaFetchMaxBytes}
		states := map[partitionKey]*followState{}
		for _, p := range parts {
			fs := p.follow.Load()
			if fs == nil || !fs.truncated {
				continue
			}
			states[p.key] = fs
			req.Partitions = append(req.Partitions, &storagev1.ReplicaFetchPartition{Topic: p.key.topic, Partition: p.key.partition,
				FetchOffset: p.log.LogEndOffset(), LeaderEpoch: fs.epoch, MaxBytes: replicaPartitionMax, LogStartOffset: p.log.LogStartOffset()})
		}
		if len(req.Partitions) == 0 { // the divergence check failed; retry soon
			if !retry.wait(ctx) {
				return nil
			}
			continue
		}
		timing := f.n.timing()
		sent := stamp(timing)
		if err := stream.Send(req); err != nil {
			return renewedOr(sctx, err)
		}
		resp, err := stream.Recv()
		if err != nil {
			return renewedOr(sctx, err)
		}
		received := stamp(timing)
		applied := f.applyFetched(resp, states)
		if timing {
			f.n.Log.Debug("replica fetch applied", "leader", leader, "sent_ns", sent, "received_ns", received, "appended_ns", stamp(true), "bytes", recordBytes(resp))
		}
		if !applied { // every partition failed (stale metadata on one side): wait a little
			if !retry.wait(ctx) {
				return nil
			}
			continue
		}
		retry.reset()
	}
}

// renewedOr is errRenewed when a renewal ended the session, else err.
func renewedOr(sctx context.Context, err error) error {
	if errors.Is(context.Cause(sctx), errRenewed) {
		return errRenewed
	}
	return err
}

// applyFetched appends what the leader sent. It returns whether any
// partition succeeded; an answer that names none (nothing changed since the
// stream's previous answer) is a success too.
func (f *fetchers) applyFetched(resp *storagev1.ReplicateResponse, states map[partitionKey]*followState) bool {
	ok := len(resp.GetPartitions()) == 0
	for _, r := range resp.GetPartitions() {
		key := partitionKey{r.GetTopic(), r.GetPartition()}
		p, found := f.n.parts.get(key.topic, key.partition)
		if !found || p.follow.Load() != states[key] {
			continue // the partition changed role meanwhile
		}
		if e := r.GetError(); e != nil {
			if e.GetCode() == errs.OffsetOutOfRange {
				f.outOfRange(p, r)
			}
			continue
		}
		if len(r.GetRecords()) > 0 {
			if err := p.check(p.log.AppendReplicated(r.GetRecords())); err != nil {
				f.n.Log.Warn("appending replicated batches failed", "partition", p.name(), "err", err)
				continue
			}
			p.appends.fire()
		}
		p.setHighWatermark(min(r.GetHighWatermark(), p.log.LogEndOffset()))
		f.followLogStart(p, r.GetLogStartOffset())
		p.lagGauge(f.n.metrics).Set(float64(max(r.GetLogEndOffset()-p.log.LogEndOffset(), 0)))
		ok = true
	}
	return ok
}

// followLogStart moves the follower's log start up to the leader's (after
// DeleteRecords on the leader), as far as its own high watermark allows;
// the rest follows with later fetches.
func (f *fetchers) followLogStart(p *replica, leaderStart int64) {
	if to := min(leaderStart, p.log.HighWatermark()); to > p.log.LogStartOffset() {
		if _, err := p.log.DeleteRecordsBefore(to); p.check(err) != nil {
			f.n.Log.Warn("moving the log start to the leader's failed", "partition", p.name(), "to", to, "err", err)
			return
		}
		f.n.Log.Debug("log start moved to the leader's", "partition", p.name(), "log_start_offset", to)
	}
}

// outOfRange repairs a follower log the leader cannot continue: behind the
// leader's log start (retention deleted what it needs) it starts over there;
// ahead of the leader's end it truncates to it — but never below its own
// high watermark on the leader's word alone.
func (f *fetchers) outOfRange(p *replica, r *storagev1.ReplicaFetchResult) {
	leo := p.log.LogEndOffset()
	var err error
	switch {
	case leo < r.GetLogStartOffset():
		f.n.Log.Info("follower behind the leader's log start; starting over", "partition", p.name(), "at", r.GetLogStartOffset())
		err = p.log.TruncateFullyAndStartAt(r.GetLogStartOffset())
	case r.GetLogEndOffset() >= 0 && leo > r.GetLogEndOffset():
		if !f.mayTruncate(p, r.GetLogEndOffset(), "the leader's log ends before this replica's") {
			return
		}
		f.n.Log.Warn("follower ahead of the leader; truncating uncommitted records", "partition", p.name(), "from", leo, "to", r.GetLogEndOffset())
		err = p.log.TruncateTo(r.GetLogEndOffset())
	}
	if err = p.check(err); err != nil {
		f.n.Log.Error("repairing follower log failed", "partition", p.name(), "err", err)
	}
}

// mayTruncate refuses, loudly, a truncation below the replica's high
// watermark: everything below it was in every in-sync replica, so a leader
// elected from the ISR has it, and a leader that lacks it lost committed
// data. Only a topic that allows unclean leader election accepts that.
func (f *fetchers) mayTruncate(p *replica, to int64, why string) bool {
	hw := p.log.HighWatermark()
	if to >= hw {
		return true
	}
	if t, ok := f.n.cache.Topic(p.key.topic); ok && topicconfig.Effective(t.GetConfigs(), "unclean.leader.election.enable") == "true" {
		f.n.Log.Warn("truncating below the high watermark: unclean leader election is enabled", "partition", p.name(), "to", to, "high_watermark", hw)
		return true
	}
	if rec, ok := f.n.cache.Partition(p.key.topic, p.key.partition); ok && rec.GetUncleanLeaderEpoch() > 0 {
		if fs := p.follow.Load(); fs != nil && fs.epoch == rec.GetUncleanLeaderEpoch() {
			f.n.Log.Warn("truncating below the high watermark: the leader was elected uncleanly on request", "partition", p.name(), "to", to, "high_watermark", hw)
			return true
		}
	}
	f.n.metrics.refusedTruncations.Inc()
	if fs := p.follow.Load(); fs != nil && f.refused.Swap(p.key, fs.epoch) != fs.epoch {
		f.n.Log.Error("REFUSING TO TRUNCATE below the high watermark: the leader lacks committed records; this replica keeps them",
			"partition", p.name(), "reason", why, "to", to, "high_watermark", hw, "log_end_offset", p.log.LogEndOffset(),
			"leader", fs.leaderID, "leader_epoch", fs.epoch)
	}
	return false
}

// truncateDiverged runs the KIP-101 check for partitions that have not had
// it under their current leader epoch: ask the leader where this log's last
// epoch ends in its log, and cut everything past that.
func (f *fetchers) truncateDiverged(ctx context.Context, client storagev1.StorageServiceClient, parts []*replica) {
	req := &storagev1.OffsetForLeaderEpochRequest{}
	pending := map[partitionKey]*followState{}
	for _, p := range parts {
		fs := p.follow.Load()
		if fs == nil || fs.truncated {
			continue
		}
		epochs := p.log.LeaderEpochs()
		if len(epochs) == 0 {
			// No epoch means no data written under any leader: nothing can diverge.
			p.follow.CompareAndSwap(fs, &followState{leaderID: fs.leaderID, epoch: fs.epoch, truncated: true})
			continue
		}
		pending[p.key] = fs
		req.Partitions = append(req.Partitions, &storagev1.EpochQuery{Topic: p.key.topic, Partition: p.key.partition,
			CurrentLeaderEpoch: fs.epoch, LeaderEpoch: epochs[len(epochs)-1].Epoch})
	}
	if len(req.Partitions) == 0 {
		return
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := client.OffsetForLeaderEpoch(qctx, req)
	if err != nil {
		f.n.Log.Debug("offset for leader epoch failed", "err", err)
		return
	}
	for _, r := range resp.GetPartitions() {
		key := partitionKey{r.GetTopic(), r.GetPartition()}
		p, found := f.n.parts.get(key.topic, key.partition)
		fs := pending[key]
		if !found || fs == nil || p.follow.Load() != fs || r.GetError() != nil {
			continue
		}
		leo := p.log.LogEndOffset()
		target := leo
		if r.GetLeaderEpoch() < 0 {
			// The leader has no epoch this old: keep only what was committed.
			target = min(p.log.HighWatermark(), leo)
		} else {
			target = min(r.GetEndOffset(), leo)
			if e, end := p.log.EndOffsetForEpoch(r.GetLeaderEpoch()); e == r.GetLeaderEpoch() {
				target = min(target, end)
			}
		}
		if target < leo {
			if !f.mayTruncate(p, target, "the leader's epoch ends before this replica's high watermark") {
				continue
			}
			f.n.Log.Info("truncating divergent tail", "partition", p.name(), "from", leo, "to", target,
				"leader", fs.leaderID, "leader_epoch", fs.epoch)
			if err := p.check(p.log.TruncateTo(target)); err != nil {
				f.n.Log.Error("truncation failed", "partition", p.name(), "err", err)
				continue
			}
			f.n.metrics.truncations.Inc()
		}
		p.follow.CompareAndSwap(fs, &followState{leaderID: fs.leaderID, epoch: fs.epoch, truncated: true})
	}
}
