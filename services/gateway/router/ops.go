package router

import (
	"context"
	"sync"
	"time"

	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
)

// callSlack is added to a call's own timeout or long-poll wait for the
// deadline of the storage call, so the storage node answers first.
const callSlack = 30 * time.Second

// ProduceItem is one partition's batches in a routed produce.
type ProduceItem struct {
	Part
	Records []byte
	// TransactionalID is the Kafka producer's, for transactional batches.
	TransactionalID string
	// Result is the leader's answer (nil with ACKS_NONE or on Err).
	Result *storagev1.ProducePartitionResult
}

// Produce appends each item's batches on its partition's leader.
func (r *Router) Produce(ctx context.Context, acks storagev1.Acks, timeout time.Duration, items []*ProduceItem) {
	Do(ctx, r, "produce", items, func(ctx context.Context, c storagev1.StorageServiceClient, group []*ProduceItem, _ int) {
		req := &storagev1.ProduceRequest{Acks: acks, TimeoutMs: int32(timeout / time.Millisecond),
			Partitions: make([]*storagev1.ProducePartition, len(group))}
		for i, it := range group {
			req.Partitions[i] = &storagev1.ProducePartition{Topic: it.Topic, Partition: it.Partition, Records: it.Records, TransactionalId: it.TransactionalID}
		}
		cctx, cancel := context.WithTimeout(ctx, timeout+callSlack)
		defer cancel()
		resp, err := c.Produce(cctx, req)
		if err != nil {
			Fail(group, err)
			return
		}
		fill(group, resp.GetPartitions())
	})
}

// FetchItem is one partition's read in a routed fetch.
type FetchItem struct {
	Part
	Offset   int64
	MaxBytes int32
	// Committed reads with isolation_level=read_committed: up to the last
	// stable offset, with the aborted transactions of the range. The
	// items of one Fetch call share it.
	Committed bool
	// Result is the leader's answer (nil on Err).
	Result *storagev1.FetchPartitionResult
	short  bool // a long poll cut short: read again without waiting
}

// Fetch reads every item from its leader, long-polling up to wait for
// minBytes. Every leader is first read without waiting: when that brings
// minBytes it is the answer, and no leader's read is thrown away.
// Otherwise the partitions that did not fail are long-polled; as soon as
// the bytes in hand reach minBytes the other polls are cut short and
// asked once more without waiting, so the answer is prompt and carries
// every high watermark. A partition whose leader moved is read once more
// from the new one, without waiting.
func (r *Router) Fetch(ctx context.Context, wait time.Duration, minBytes, maxBytes int32, items []*FetchItem) {
	if r.fetchNow(ctx, minBytes, maxBytes, items) || wait <= 0 {
		return
	}
	var poll []*FetchItem
	for _, it := range items {
		if it.Err == nil {
			poll = append(poll, it)
		}
	}
	if len(poll) > 0 {
		r.longPoll(ctx, wait, minBytes, maxBytes, poll)
	}
}

// fetchNow reads every item without waiting and says whether that is the
// answer: minBytes or more in all, or ctx ended.
func (r *Router) fetchNow(ctx context.Context, minBytes, maxBytes int32, items []*FetchItem) bool {
	var mu sync.Mutex
	got := 0
	Do(ctx, r, "fetch", items, func(ctx context.Context, c storagev1.StorageServiceClient, group []*FetchItem, _ int) {
		n, _ := fetchFrom(ctx, ctx, c, 0, 0, maxBytes, group)
		mu.Lock()
		defer mu.Unlock()
		got += n
	})
	return got >= int(minBytes) || ctx.Err() != nil
}

// longPoll is Fetch's wait for data that was not there.
func (r *Router) longPoll(ctx context.Context, wait time.Duration, minBytes, maxBytes int32, items []*FetchItem) {
	pollCtx, stop := context.WithCancel(ctx)
	defer stop()
	var mu sync.Mutex
	got := 0
	Do(ctx, r, "fetch", items, func(ctx context.Context, c storagev1.StorageServiceClient, group []*FetchItem, attempt int) {
		if attempt > 0 {
			fetchFrom(ctx, ctx, c, 0, 0, maxBytes, group)
			return
		}
		n, ok := fetchFrom(pollCtx, ctx, c, wait, minBytes, maxBytes, group)
		mu.Lock()
		defer mu.Unlock()
		if got += n; got >= int(minBytes) && ok {
			stop()
		}
	})
	var short []*FetchItem
	for _, it := range items {
		if it.short {
			it.short, it.Err = false, nil
			short = append(short, it)
		}
	}
	if len(short) > 0 && ctx.Err() == nil {
		r.fetchNow(ctx, 0, maxBytes, short)
	}
}

// fetchFrom runs one storage Fetch; ok is false when pollCtx cut it short
// (the items are marked short then).
func fetchFrom(pollCtx, ctx context.Context, c storagev1.StorageServiceClient, wait time.Duration, minBytes, maxBytes int32, group []*FetchItem) (n int, ok bool) {
	req := &storagev1.FetchRequest{MaxWaitMs: int32(wait / time.Millisecond), MinBytes: minBytes, MaxBytes: maxBytes,
		Partitions: make([]*storagev1.FetchPartition, len(group))}
	for i, it := range group {
		req.Partitions[i] = &storagev1.FetchPartition{Topic: it.Topic, Partition: it.Partition, FetchOffset: it.Offset, MaxBytes: it.MaxBytes}
		if it.Committed {
			req.IsolationLevel = storagev1.IsolationLevel_ISOLATION_LEVEL_READ_COMMITTED
		}
	}
	cctx, cancel := context.WithTimeout(pollCtx, wait+callSlack)
	defer cancel()
	resp, err := c.Fetch(cctx, req)
	if err != nil {
		if pollCtx.Err() != nil && ctx.Err() == nil {
			for _, it := range group {
				it.short = true
			}
			return 0, false
		}
		Fail(group, err)
		return 0, true
	}
	for i, res := range resp.GetPartitions() {
		if i < len(group) {
			group[i].Result, group[i].Err = res, FromDetail(res.GetError())
			n += len(res.GetRecords())
		}
	}
	return n, true
}

// ListItem is one partition's offset lookup.
type ListItem struct {
	Part
	// Timestamp is -2 for the earliest offset, -1 for the latest, -3 for
	// the offset of the largest timestamp, or a time in ms.
	Timestamp int64
	// Committed answers latest with the last stable offset
	// (isolation_level=read_committed). The items of one call share it.
	Committed bool
	Result    *storagev1.ListOffsetsPartitionResult
}

// ListOffsets looks every item up on its leader.
func (r *Router) ListOffsets(ctx context.Context, items []*ListItem) {
	Do(ctx, r, "list_offsets", items, func(ctx context.Context, c storagev1.StorageServiceClient, group []*ListItem, _ int) {
		req := &storagev1.ListOffsetsRequest{Partitions: make([]*storagev1.ListOffsetsPartition, len(group))}
		for i, it := range group {
			req.Partitions[i] = &storagev1.ListOffsetsPartition{Topic: it.Topic, Partition: it.Partition, Timestamp: it.Timestamp}
			if it.Committed {
				req.IsolationLevel = storagev1.IsolationLevel_ISOLATION_LEVEL_READ_COMMITTED
			}
		}
		resp, err := c.ListOffsets(ctx, req)
		if err != nil {
			Fail(group, err)
			return
		}
		fill(group, resp.GetPartitions())
	})
}

// EpochItem asks where a leader epoch ends in a partition's log (KIP-320).
type EpochItem struct {
	Part
	LeaderEpoch int32
	Result      *storagev1.EpochEndOffset
}

// OffsetForLeaderEpoch asks every item's leader.
func (r *Router) OffsetForLeaderEpoch(ctx context.Context, items []*EpochItem) {
	Do(ctx, r, "offset_for_leader_epoch", items, func(ctx context.Context, c storagev1.StorageServiceClient, group []*EpochItem, _ int) {
		req := &storagev1.OffsetForLeaderEpochRequest{Partitions: make([]*storagev1.EpochQuery, len(group))}
		for i, it := range group {
			// The caller's epoch was checked against the leader's; a caller
			// without one asks at the leader's current epoch.
			current := it.ClientEpoch
			if current < 0 {
				current = it.Leader.Epoch
			}
			req.Partitions[i] = &storagev1.EpochQuery{Topic: it.Topic, Partition: it.Partition, CurrentLeaderEpoch: current, LeaderEpoch: it.LeaderEpoch}
		}
		resp, err := c.OffsetForLeaderEpoch(ctx, req)
		if err != nil {
			Fail(group, err)
			return
		}
		fill(group, resp.GetPartitions())
	})
}

// resulted is an item whose storage answer is one partition's result.
type resulted[R any] interface {
	Routed
	setResult(R)
}

func (it *ProduceItem) setResult(r *storagev1.ProducePartitionResult)  { it.Result = r }
func (it *ListItem) setResult(r *storagev1.ListOffsetsPartitionResult) { it.Result = r }
func (it *EpochItem) setResult(r *storagev1.EpochEndOffset)            { it.Result = r }

// fill records a storage answer's per-partition results, in request
// order, on the group's items, with each result's error.
func fill[R interface{ GetError() *commonv1.ErrorDetail }, T resulted[R]](group []T, results []R) {
	for i, res := range results {
		if i < len(group) {
			group[i].setResult(res)
			group[i].RoutingPart().Err = FromDetail(res.GetError())
		}
	}
}
