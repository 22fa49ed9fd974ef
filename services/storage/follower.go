package storage

import (
	"context"
	"sync"
	"time"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/rpc"
)

// Follower side of replication. A follower keeps one Replicate stream per
// leader node, carrying the fetches of every partition it follows from that
// node. Before fetching a partition under a new leader epoch it asks the
// leader where its own last epoch ended and truncates any divergent tail
// (KIP-101), so it never keeps records the leader does not have.

// Replication fetch tuning.
const (
	replicaFetchWait     = 500 * time.Millisecond
	replicaFetchMaxBytes = 16 << 20
	replicaPartitionMax  = 4 << 20
	replicaRetryBackoff  = 200 * time.Millisecond
)

// followState is one partition's follower state under one leader epoch.
type followState struct {
	leaderID  int32
	epoch     int32
	truncated bool // the divergence check ran for this epoch
}

// fetchers runs one fetch loop per leader node this node follows.
type fetchers struct {
	n       *Node
	mu      sync.Mutex
	running map[int32]bool
	conns   rpc.Pool
}

func newFetchers(n *Node) *fetchers {
	return &fetchers{n: n, running: map[int32]bool{}}
}

// ensure starts a fetch loop for every leader that has none.
func (f *fetchers) ensure(leaders map[int32]bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id := range leaders {
		if !f.running[id] {
			f.running[id] = true
			f.n.Go(func(ctx context.Context) { f.run(ctx, id) })
		}
	}
}

// followed returns the partitions followed from leader, or stops the loop
// (under the lock, so ensure never misses a restart) when there are none.
func (f *fetchers) followed(leader int32) []*partition {
	var out []*partition
	for _, p := range f.n.parts.all() {
		if fs := p.follow.Load(); fs != nil && fs.leaderID == leader {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, p := range f.n.parts.all() {
			if fs := p.follow.Load(); fs != nil && fs.leaderID == leader {
				return []*partition{p}
			}
		}
		delete(f.running, leader)
	}
	return out
}

func (f *fetchers) close() { f.conns.Close() }

// run is the fetch loop for one leader node; it ends when this node
// follows nothing there.
func (f *fetchers) run(ctx context.Context, leader int32) {
	for ctx.Err() == nil {
		if len(f.followed(leader)) == 0 {
			return
		}
		err := f.session(ctx, leader)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			f.n.Log.Debug("replica fetch session ended", "leader", leader, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(replicaRetryBackoff):
		}
	}
}

// session runs one Replicate stream to the leader until an error.
func (f *fetchers) session(ctx context.Context, leader int32) error {
	node, _ := f.n.cache.StorageNode(leader)
	if node == nil {
		return errs.New(errs.UnknownMember, "leader %d has no address yet", leader)
	}
	conn, err := f.conns.Get(node.GetAddress())
	if err != nil {
		return err
	}
	client := storagev1.NewStorageServiceClient(conn)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.Replicate(sctx)
	if err != nil {
		return err
	}
	defer func() { _ = stream.CloseSend() }()
	reg := f.n.Member.Registration()
	for {
		parts := f.followed(leader)
		if len(parts) == 0 {
			return nil
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
				FetchOffset: p.log.LogEndOffset(), LeaderEpoch: fs.epoch, MaxBytes: replicaPartitionMax})
		}
		if len(req.Partitions) == 0 {
			select { // the divergence check failed; retry soon
			case <-ctx.Done():
				return nil
			case <-time.After(replicaRetryBackoff):
			}
			continue
		}
		if err := stream.Send(req); err != nil {
			return err
		}
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if !f.applyFetched(resp, states) {
			select { // every partition failed (stale metadata on one side): wait a little
			case <-ctx.Done():
				return nil
			case <-time.After(replicaRetryBackoff):
			}
		}
	}
}

// applyFetched appends what the leader sent. It returns whether any
// partition succeeded.
func (f *fetchers) applyFetched(resp *storagev1.ReplicateResponse, states map[partitionKey]*followState) bool {
	ok := false
	for _, r := range resp.GetPartitions() {
		key := partitionKey{r.GetTopic(), r.GetPartition()}
		p, found := f.n.parts.get(key.topic, key.partition)
		if !found || p.follow.Load() != states[key] {
			continue // the partition changed role meanwhile
		}
		name := replicaDir(key.topic, key.partition)
		if e := r.GetError(); e != nil {
			if e.GetCode() == errs.OffsetOutOfRange {
				f.outOfRange(p, r)
			}
			continue
		}
		if len(r.GetRecords()) > 0 {
			if err := p.log.AppendReplicated(r.GetRecords()); err != nil {
				f.n.Log.Warn("appending replicated batches failed", "partition", name, "err", err)
				continue
			}
			p.appends.fire()
		}
		p.setHighWatermark(min(r.GetHighWatermark(), p.log.LogEndOffset()))
		f.n.metrics.followerLag.WithLabelValues(name).Set(float64(max(r.GetLogEndOffset()-p.log.LogEndOffset(), 0)))
		ok = true
	}
	return ok
}

// outOfRange repairs a follower log the leader cannot continue: behind the
// leader's log start (retention deleted what it needs) it starts over there;
// ahead of the leader's end it truncates to it.
func (f *fetchers) outOfRange(p *partition, r *storagev1.ReplicaFetchResult) {
	name := replicaDir(p.key.topic, p.key.partition)
	leo := p.log.LogEndOffset()
	var err error
	switch {
	case leo < r.GetLogStartOffset():
		f.n.Log.Info("follower behind the leader's log start; starting over", "partition", name, "at", r.GetLogStartOffset())
		err = p.log.TruncateFullyAndStartAt(r.GetLogStartOffset())
	case r.GetLogEndOffset() >= 0 && leo > r.GetLogEndOffset():
		f.n.Log.Warn("follower ahead of the leader; truncating", "partition", name, "from", leo, "to", r.GetLogEndOffset())
		err = p.log.TruncateTo(r.GetLogEndOffset())
	}
	if err != nil {
		f.n.Log.Error("repairing follower log failed", "partition", name, "err", err)
	}
}

// truncateDiverged runs the KIP-101 check for partitions that have not had
// it under their current leader epoch: ask the leader where this log's last
// epoch ends in its log, and cut everything past that.
func (f *fetchers) truncateDiverged(ctx context.Context, client storagev1.StorageServiceClient, parts []*partition) {
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
			f.n.Log.Info("truncating divergent tail", "partition", replicaDir(key.topic, key.partition), "from", leo, "to", target,
				"leader", fs.leaderID, "leader_epoch", fs.epoch)
			if err := p.log.TruncateTo(target); err != nil {
				f.n.Log.Error("truncation failed", "partition", replicaDir(key.topic, key.partition), "err", err)
				continue
			}
			f.n.metrics.truncations.Inc()
		}
		p.follow.CompareAndSwap(fs, &followState{leaderID: fs.leaderID, epoch: fs.epoch, truncated: true})
	}
}
