package storage

import (
	"context"
	"time"

	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
)

// DeleteRecords and DescribeProducers: the partition-leader side of Kafka's
// DeleteRecords (21) and DescribeProducers (61).
//
// DeleteRecords moves the leader's log start (checkpointed by the log
// before any segment goes, so it survives a crash), wakes the followers'
// fetches, which carry the new log start back to them, and waits until
// each live follower reports a log start at least the new one (the low
// watermark, as Kafka's DelayedDeleteRecords does; offline replicas do not
// count). Followers apply it in followLogStart; one that was away and is
// behind the new start restarts its log there (outOfRange).

// Limits of DeleteRecords.
const (
	defaultDeleteRecordsTimeout = 30 * time.Second // Kafka's request.timeout.ms
	maxDeleteRecordsTimeout     = 5 * time.Minute
)

func (h *handler) DeleteRecords(ctx context.Context, req *storagev1.DeleteRecordsRequest) (*storagev1.DeleteRecordsResponse, error) {
	if err := tooManyPartitions(len(req.GetPartitions())); err != nil {
		return nil, err
	}
	timeout := time.Duration(req.GetTimeoutMs()) * time.Millisecond
	if timeout <= 0 {
		timeout = defaultDeleteRecordsTimeout
	}
	timeout = min(timeout, maxDeleteRecordsTimeout)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	type pending struct {
		res    *storagev1.DeleteRecordsPartitionResult
		ls     *leaderState
		target int64
		counts func(int32) bool
	}
	out := &storagev1.DeleteRecordsResponse{}
	var waits []pending
	for _, dp := range req.GetPartitions() {
		res := &storagev1.DeleteRecordsPartitionResult{Topic: dp.GetTopic(), Partition: dp.GetPartition(), LowWatermark: -1}
		out.Partitions = append(out.Partitions, res)
		p, ls, e := h.n.leaderFor(dp.GetTopic(), dp.GetPartition())
		if e != nil {
			res.Error = e.Detail
			continue
		}
		offset := dp.GetOffset()
		if offset == -1 {
			offset = p.log.HighWatermark()
		}
		if offset < 0 || offset > p.log.HighWatermark() {
			res.Error = errs.New(errs.OffsetOutOfRange, "cannot delete records of %s before %d: the high watermark is %d",
				p.name(), dp.GetOffset(), p.log.HighWatermark()).Detail
			continue
		}
		start, err := p.log.DeleteRecordsBefore(offset)
		if err = p.check(err); err != nil {
			res.Error = errs.FromKafka(err).Detail
			continue
		}
		h.n.Log.Info("records deleted", "partition", p.name(), "before", offset, "log_start_offset", start)
		p.appends.fire() // followers long-polling learn the new log start now
		p.hwMoves.fire() // consumers long-polling below it get OFFSET_OUT_OF_RANGE
		waits = append(waits, pending{res, ls, offset, h.n.countsForLowWatermark(dp.GetTopic(), dp.GetPartition())})
	}
	for _, w := range waits {
		w.res.LowWatermark, w.res.Error = w.ls.waitLowWatermark(ctx, w.target, w.counts, deadline.C)
	}
	return out, nil
}

// countsForLowWatermark says which replicas of a partition the low
// watermark waits for: those on live nodes that are not offline (an
// offline replica does not fetch until its node restarts, and then
// follows the new log start anyway).
func (n *Node) countsForLowWatermark(topic string, partition int32) func(int32) bool {
	return func(id int32) bool {
		if _, alive := n.cache.StorageNode(id); !alive {
			return false
		}
		rec, ok := n.cache.Partition(topic, partition)
		return !ok || !isOfflineIn(rec, id)
	}
}

// waitLowWatermark waits until the low watermark reaches target, this node
// stops leading, ctx ends or deadline fires.
func (ls *leaderState) waitLowWatermark(ctx context.Context, target int64, counts func(int32) bool, deadline <-chan time.Time) (int64, *commonv1.ErrorDetail) {
	for {
		startCh, hwCh := ls.p.startMoves.ch(), ls.p.hwMoves.ch()
		low := ls.lowWatermark(counts)
		ls.mu.Lock()
		resigned := ls.resigned
		ls.mu.Unlock()
		switch {
		case low >= target:
			return low, nil
		case resigned:
			return -1, errs.New(errs.NotLeaderOrFollower, "leadership of %s moved before every replica deleted the records", ls.p.name()).Detail
		}
		select {
		case <-startCh:
		case <-hwCh:
		case <-ctx.Done():
			return -1, errs.New(errs.RequestTimedOut, "delete records of %s cancelled while waiting for the followers", ls.p.name()).Detail
		case <-deadline:
			return -1, errs.New(errs.RequestTimedOut, "the followers of %s did not apply log start %d in time (low watermark %d)", ls.p.name(), target, low).Detail
		}
	}
}

func (h *handler) DescribeProducers(_ context.Context, req *storagev1.DescribeProducersRequest) (*storagev1.DescribeProducersResponse, error) {
	if err := tooManyPartitions(len(req.GetPartitions())); err != nil {
		return nil, err
	}
	out := &storagev1.DescribeProducersResponse{}
	for _, ref := range req.GetPartitions() {
		res := &storagev1.DescribeProducersPartitionResult{Topic: ref.GetTopic(), Partition: ref.GetPartition()}
		out.Partitions = append(out.Partitions, res)
		p, ls, e := h.n.leaderFor(ref.GetTopic(), ref.GetPartition())
		if e != nil {
			res.Error = e.Detail
			continue
		}
		ps, err := p.describeProducers(ls.epoch)
		if err != nil {
			res.Error = errs.FromKafka(err).Detail
			continue
		}
		for _, s := range ps {
			st := &storagev1.ProducerState{ProducerId: s.id, ProducerEpoch: int32(s.epoch),
				LastSequence: s.lastSeq, LastTimestampMs: s.lastTimestamp, CurrentTxnStartOffset: -1}
			if first, ok := p.log.OngoingTxn(s.id); ok {
				st.CurrentTxnStartOffset = first
			}
			res.Producers = append(res.Producers, st)
		}
	}
	return out, nil
}
