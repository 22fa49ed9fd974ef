package storage

import (
	"context"
	"slices"
	"time"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
	"google.golang.org/grpc"
)

// Leader side of replication: serve follower fetch streams and epoch
// queries.

const maxReplicaFetchWait = 5 * time.Second

// Replicate serves one follower's fetch stream: one response per request.
func (h *handler) Replicate(stream grpc.BidiStreamingServer[storagev1.ReplicateRequest, storagev1.ReplicateResponse]) error {
	// End with the node, not only with the follower, so a stopping node
	// does not wait on its followers' streams.
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	stop := context.AfterFunc(h.n.Context(), cancel)
	defer stop()
	told := map[partitionKey]answered{}
	for ctx.Err() == nil {
		req, err := stream.Recv()
		if err != nil {
			return nil // the follower went away or moved on
		}
		timing := h.n.timing()
		received := stamp(timing)
		if err := h.n.checkFollower(req.GetFollowerId(), req.GetFollowerEpoch()); err != nil {
			return err
		}
		resp, err := h.n.serveReplicaFetch(ctx, req, told)
		if err != nil {
			return err
		}
		if timing {
			h.n.Log.Debug("replica fetch served", "follower", req.GetFollowerId(), "received_ns", received, "answered_ns", stamp(true), "bytes", recordBytes(resp))
		}
		if err := stream.Send(resp); err != nil {
			return nil
		}
	}
	return nil
}

// recordBytes is the size of the batches a replica fetch answer carries.
func recordBytes(resp *storagev1.ReplicateResponse) int {
	n := 0
	for _, p := range resp.GetPartitions() {
		n += len(p.GetRecords())
	}
	return n
}

// answered is what a Replicate stream last told its follower about a
// partition.
type answered struct{ hw, logStart, leo int64 }

// serveReplicaFetch records each partition's fetch offset as the follower's
// log end offset, then returns data, waiting up to max_wait_ms when there
// is none. A partition with no data whose high watermark, log start and log
// end are what this stream last told the follower (told) is left out of the
// answer: the follower has nothing to apply, and an answer about hundreds
// of idle partitions would cost both sides a pass over each of them on
// every exchange. Errors are always answered.
func (n *Node) serveReplicaFetch(ctx context.Context, req *storagev1.ReplicateRequest, told map[partitionKey]answered) (*storagev1.ReplicateResponse, error) {
	if err := tooManyPartitions(len(req.GetPartitions())); err != nil {
		return nil, err
	}
	wait := min(time.Duration(max(req.GetMaxWaitMs(), 0))*time.Millisecond, maxReplicaFetchWait)
	var resp *storagev1.ReplicateResponse
	longPoll(ctx, wait, 1, func(first bool) (int, []<-chan struct{}, bool) {
		resp = &storagev1.ReplicateResponse{}
		var waitOn []<-chan struct{}
		failed := false
		budget := fetchBudget{left: max(int(req.GetMaxBytes()), 1)}
		for _, fp := range req.GetPartitions() {
			res := &storagev1.ReplicaFetchResult{Topic: fp.GetTopic(), Partition: fp.GetPartition(), HighWatermark: -1, LogStartOffset: -1, LogEndOffset: -1}
			resp.Partitions = append(resp.Partitions, res)
			key := partitionKey{fp.GetTopic(), fp.GetPartition()}
			ls, e := n.leaderOf(fp.GetTopic(), fp.GetPartition(), fp.GetLeaderEpoch(), req.GetFollowerId())
			if e != nil {
				res.Error, failed = e.Detail, true
				continue
			}
			p := ls.p
			waitOn = append(waitOn, p.appends.ch())
			res.HighWatermark, res.LogStartOffset, res.LogEndOffset = p.log.HighWatermark(), p.log.LogStartOffset(), p.log.LogEndOffset()
			if fp.GetFetchOffset() > res.LogEndOffset || fp.GetFetchOffset() < 0 {
				// A follower cannot have what the leader never wrote: never
				// count it as the follower's log end.
				res.Error, failed = errs.New(errs.OffsetOutOfRange, "fetch offset %d is outside the leader's log [%d, %d]",
					fp.GetFetchOffset(), res.LogStartOffset, res.LogEndOffset).Detail, true
				continue
			}
			if first {
				ls.followerFetched(req.GetFollowerId(), fp.GetFetchOffset(), fp.GetLogStartOffset())
			}
			data, err := budget.read(p, fp.GetFetchOffset(), max(int(fp.GetMaxBytes()), 1), res.LogEndOffset)
			if err != nil {
				res.Error, failed = errs.FromKafka(err).Detail, true
				continue
			}
			res.Records = data
			if prev, ok := told[key]; ok && len(data) == 0 && prev == (answered{res.HighWatermark, res.LogStartOffset, res.LogEndOffset}) {
				resp.Partitions = resp.Partitions[:len(resp.Partitions)-1] // nothing new for the follower
			}
		}
		return max(int(req.GetMaxBytes()), 1) - budget.left, waitOn, failed
	})
	for _, res := range resp.GetPartitions() {
		key := partitionKey{res.GetTopic(), res.GetPartition()}
		if res.GetError() != nil {
			delete(told, key)
			continue
		}
		told[key] = answered{res.GetHighWatermark(), res.GetLogStartOffset(), res.GetLogEndOffset()}
	}
	return resp, nil // after a timeout, with nothing new: the follower learns the high watermark
}

// leaderOf returns this node's leadership of a partition for a follower
// fetching at leaderEpoch, or the error that tells the follower what to do.
func (n *Node) leaderOf(topic string, partition int32, leaderEpoch int32, follower int32) (*leaderState, *errs.Error) {
	_, ls, rec, e := n.leaderForRec(topic, partition)
	if e != nil {
		return nil, e
	}
	switch {
	case leaderEpoch < ls.epoch:
		return nil, errs.New(errs.FencedLeaderEpoch, "follower epoch %d is older than the leader's %d", leaderEpoch, ls.epoch)
	case leaderEpoch > ls.epoch:
		return nil, errs.New(errs.UnknownLeaderEpoch, "follower epoch %d is newer than the leader's %d", leaderEpoch, ls.epoch)
	}
	if follower != anyReader && (follower == n.id() || !slices.Contains(rec.GetReplicas(), follower)) {
		return nil, errs.New(errs.NotLeaderOrFollower, "node %d is not a follower of %s", follower, replicaDir(topic, partition))
	}
	return ls, nil
}

// anyReader stands for a caller that only reads epoch boundaries
// (OffsetForLeaderEpoch); it never passes as a follower on Replicate.
const anyReader = int32(-1 << 31)

// checkFollower refuses a replica fetch from anything but a registered
// storage node at exactly its current registration epoch.
func (n *Node) checkFollower(id int32, epoch int64) error {
	node, _ := n.cache.StorageNode(id)
	switch {
	case node == nil:
		return errs.New(errs.UnknownMember, "follower %d is not a registered storage node", id)
	case node.GetNodeEpoch() != epoch:
		return errs.New(errs.StaleEpoch, "follower %d epoch %d is not its registered epoch %d", id, epoch, node.GetNodeEpoch())
	}
	return nil
}

// OffsetForLeaderEpoch answers followers' divergence checks (KIP-101).
func (h *handler) OffsetForLeaderEpoch(_ context.Context, req *storagev1.OffsetForLeaderEpochRequest) (*storagev1.OffsetForLeaderEpochResponse, error) {
	if err := tooManyPartitions(len(req.GetPartitions())); err != nil {
		return nil, err
	}
	out := &storagev1.OffsetForLeaderEpochResponse{}
	for _, q := range req.GetPartitions() {
		res := &storagev1.EpochEndOffset{Topic: q.GetTopic(), Partition: q.GetPartition(), LeaderEpoch: -1, EndOffset: -1}
		out.Partitions = append(out.Partitions, res)
		ls, e := h.n.leaderOf(q.GetTopic(), q.GetPartition(), q.GetCurrentLeaderEpoch(), anyReader)
		if e != nil {
			res.Error = e.Detail
			continue
		}
		res.LeaderEpoch, res.EndOffset = ls.p.log.EndOffsetForEpoch(q.GetLeaderEpoch())
	}
	return out, nil
}
