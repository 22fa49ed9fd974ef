package storage

import (
	"context"
	"time"

	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/recordbatch"
	"google.golang.org/grpc/status"
)

// Limits of the data-plane calls.
const (
	maxFetchWait         = 5 * time.Minute
	defaultFetchMaxBytes = 50 << 20 // Kafka's fetch.max.bytes
	maxRequestPartitions = 100000
	// defaultProduceTimeout applies to acks=all without a timeout (Kafka's
	// request.timeout.ms default).
	defaultProduceTimeout = 30 * time.Second
)

// leaderFor returns the open replica of a partition this node leads and
// its leadership (whose epoch is the one to stamp on appends); otherwise
// the error to report.
func (n *Node) leaderFor(topic string, partition int32) (*replica, *leaderState, *errs.Error) {
	p, ls, _, e := n.leaderForRec(topic, partition)
	return p, ls, e
}

// leaderForRec is leaderFor that also returns the partition record it
// checked.
func (n *Node) leaderForRec(topic string, partition int32) (*replica, *leaderState, *metadatav1.PartitionRecord, *errs.Error) {
	rec, ok := n.cache.Partition(topic, partition)
	if !ok {
		return nil, nil, nil, errs.New(errs.UnknownTopicOrPartition, "partition %s-%d does not exist", topic, partition)
	}
	me := n.Member.Registration().ID
	if rec.GetLeader() != me {
		hint := &commonv1.LeaderHint{Topic: topic, Partition: partition, LeaderId: rec.GetLeader(), LeaderEpoch: rec.GetLeaderEpoch()}
		if node, _ := n.cache.StorageNode(rec.GetLeader()); node != nil {
			hint.LeaderAddress = node.GetAddress()
		}
		return nil, nil, nil, errs.New(errs.NotLeaderOrFollower, "node %d does not lead %s-%d; node %d does at epoch %d",
			me, topic, partition, rec.GetLeader(), rec.GetLeaderEpoch()).WithLeader(hint)
	}
	p, ok := n.parts.get(topic, partition)
	if !ok {
		// Assigned in metadata but not opened yet (reconcile is catching up).
		return nil, nil, nil, errs.New(errs.NotLeaderOrFollower, "partition %s-%d is not open on this node yet", topic, partition)
	}
	if e := p.offlineErr(); e != nil {
		return nil, nil, nil, e // the controller is moving leadership away
	}
	ls := p.leader.Load()
	if ls == nil || ls.epoch != rec.GetLeaderEpoch() {
		// Not a leader until it has taken the leadership up (applyRoles):
		// the gateways ask again shortly.
		return nil, nil, nil, errs.New(errs.NotLeaderOrFollower, "node %d has not taken up the leadership of %s-%d at epoch %d yet",
			me, topic, partition, rec.GetLeaderEpoch())
	}
	return p, ls, rec, nil
}

func tooManyPartitions(n int) error {
	if n > maxRequestPartitions {
		return errs.New(errs.InvalidRequest, "%d partitions in one request; the limit is %d", n, maxRequestPartitions)
	}
	return nil
}

func (h *handler) Produce(ctx context.Context, req *storagev1.ProduceRequest) (*storagev1.ProduceResponse, error) {
	acksAll := req.GetAcks() == storagev1.Acks_ACKS_ALL
	switch req.GetAcks() {
	case storagev1.Acks_ACKS_NONE, storagev1.Acks_ACKS_LEADER, storagev1.Acks_ACKS_ALL:
	default:
		return nil, errs.New(errs.InvalidRequiredAcks, "acks must be none, leader or all").Field("acks", "unspecified")
	}
	if err := tooManyPartitions(len(req.GetPartitions())); err != nil {
		return nil, err
	}
	out := &storagev1.ProduceResponse{Partitions: make([]*storagev1.ProducePartitionResult, 0, len(req.GetPartitions()))}
	type pending struct {
		res  *storagev1.ProducePartitionResult
		ls   *leaderState
		last int64
	}
	var waits []pending
	timing := h.n.timing()
	received, appended := stamp(timing), int64(0)
	for _, pp := range req.GetPartitions() {
		res := &storagev1.ProducePartitionResult{Topic: pp.GetTopic(), Partition: pp.GetPartition(), BaseOffset: -1, LogStartOffset: -1, LogAppendTimeMs: -1}
		out.Partitions = append(out.Partitions, res)
		p, ls, e := h.n.leaderFor(pp.GetTopic(), pp.GetPartition())
		if e != nil {
			res.Error = e.Detail
			continue
		}
		if isr := ls.isrSize(); acksAll && isr < p.minISR {
			res.Error = errs.New(errs.NotEnoughReplicas, "%s has %d in-sync replicas, fewer than min.insync.replicas %d; nothing was written",
				replicaDir(pp.GetTopic(), pp.GetPartition()), isr, p.minISR).Detail
			continue
		}
		base, err := p.appendProducedTxn(ls.epoch, pp.GetRecords(), pp.GetTransactionalId()) // idempotence and transaction checks, then the log's Append
		if err != nil {
			res.Error = errs.FromKafka(err).Detail
			continue
		}
		appended = stamp(timing) // the last partition's, before its followers wake
		p.appends.fire()
		ls.advanceHighWatermark()
		res.BaseOffset, res.LogStartOffset = base, p.log.LogStartOffset()
		if h, err := recordbatch.ParseHeader(pp.GetRecords()); err == nil && h.LogAppendTime() && h.BaseOffset == base {
			res.LogAppendTimeMs = h.MaxTimestamp // the log stamped the request's batches in place
		}
		if acksAll {
			waits = append(waits, pending{res, ls, base + offsetSpan(pp.GetRecords())})
		}
	}
	timeout := time.Duration(req.GetTimeoutMs()) * time.Millisecond
	if timeout <= 0 {
		timeout = defaultProduceTimeout
	}
	for _, w := range waits {
		if e := w.ls.waitReplicated(ctx, w.last, timeout); e != nil {
			w.res.Error = e.Detail
		}
	}
	if timing && len(waits) > 0 {
		h.n.Log.Debug("produce timing", "partitions", len(req.GetPartitions()), "received_ns", received, "appended_ns", appended, "replicated_ns", stamp(true))
	}
	if req.GetAcks() == storagev1.Acks_ACKS_NONE {
		return &storagev1.ProduceResponse{}, nil
	}
	return out, nil
}

// offsetSpan is the last offset of batches minus the first batch's base
// offset. It holds whether or not the log patched the offsets, so it also
// serves a duplicate that was answered with its original offset: acks=all
// then waits for that original to be replicated.
func offsetSpan(batches []byte) int64 {
	first, last := int64(-1), int64(-1)
	for rest := batches; len(rest) > 0; {
		b, r, err := recordbatch.Next(rest)
		if err != nil {
			break
		}
		if first < 0 {
			if h, err := recordbatch.ParseHeader(b); err == nil {
				first = h.BaseOffset
			}
		}
		last = recordbatch.LastOffsetOf(b)
		rest = r
	}
	return max(last-first, 0)
}

func (h *handler) Fetch(ctx context.Context, req *storagev1.FetchRequest) (*storagev1.FetchResponse, error) {
	if err := tooManyPartitions(len(req.GetPartitions())); err != nil {
		return nil, err
	}
	reqCtx := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(h.n.Context(), cancel)() // a stopping node answers at once
	wait := min(time.Duration(max(req.GetMaxWaitMs(), 0))*time.Millisecond, maxFetchWait)
	var resp *storagev1.FetchResponse
	res := longPoll(ctx, wait, int(req.GetMinBytes()), func(bool) (size int, waitOn []<-chan struct{}, failed bool) {
		resp, size, waitOn, failed = h.fetchOnce(req)
		return size, waitOn, failed
	})
	if err := reqCtx.Err(); res == waitCancelled && err != nil {
		return nil, status.FromContextError(err).Err()
	}
	return resp, nil // a stopping node answers with what there is
}

// fetchOnce reads every partition once. It returns the bytes read, the
// channels that signal new data, and whether any partition failed (a
// failure answers at once, as in Kafka).
func (h *handler) fetchOnce(req *storagev1.FetchRequest) (*storagev1.FetchResponse, int, []<-chan struct{}, bool) {
	maxBytes := int(req.GetMaxBytes())
	if maxBytes <= 0 {
		maxBytes = defaultFetchMaxBytes
	}
	budget := fetchBudget{left: maxBytes}
	out := &storagev1.FetchResponse{Partitions: make([]*storagev1.FetchPartitionResult, 0, len(req.GetPartitions()))}
	var waitOn []<-chan struct{}
	failed := false
	committed := req.GetIsolationLevel() == storagev1.IsolationLevel_ISOLATION_LEVEL_READ_COMMITTED
	for _, fp := range req.GetPartitions() {
		res := &storagev1.FetchPartitionResult{Topic: fp.GetTopic(), Partition: fp.GetPartition(), HighWatermark: -1, LogStartOffset: -1, LastStableOffset: -1}
		out.Partitions = append(out.Partitions, res)
		p, _, e := h.n.leaderFor(fp.GetTopic(), fp.GetPartition())
		if e != nil {
			res.Error, failed = e.Detail, true
			continue
		}
		waitOn = append(waitOn, p.hwMoves.ch())
		hw, lso := p.log.HighWatermark(), p.log.LastStableOffset()
		res.HighWatermark, res.LogStartOffset, res.LastStableOffset = hw, p.log.LogStartOffset(), lso
		upTo := hw
		if committed {
			upTo = lso
		}
		data, err := budget.read(p, fp.GetFetchOffset(), int(fp.GetMaxBytes()), upTo)
		if err != nil {
			res.Error, failed = errs.FromKafka(err).Detail, true
			continue
		}
		res.Records = data
		if committed && len(data) > 0 {
			res.AbortedTransactions = abortedIn(p, fp.GetFetchOffset(), data)
		}
	}
	return out, maxBytes - budget.left, waitOn, failed
}

// abortedIn lists the aborted transactions overlapping the batches read
// from offset, which a read_committed reader drops.
func abortedIn(p *replica, from int64, data []byte) []*storagev1.AbortedTxn {
	end := from
	for rest := data; len(rest) > 0; {
		b, r, err := recordbatch.Next(rest)
		if err != nil {
			break
		}
		end = recordbatch.LastOffsetOf(b) + 1
		rest = r
	}
	var out []*storagev1.AbortedTxn
	for _, a := range p.log.AbortedTxns(from, end) {
		out = append(out, &storagev1.AbortedTxn{ProducerId: a.ProducerID, FirstOffset: a.FirstOffset, LastOffset: a.LastOffset})
	}
	return out
}

func (h *handler) ListOffsets(_ context.Context, req *storagev1.ListOffsetsRequest) (*storagev1.ListOffsetsResponse, error) {
	if err := tooManyPartitions(len(req.GetPartitions())); err != nil {
		return nil, err
	}
	out := &storagev1.ListOffsetsResponse{}
	for _, lp := range req.GetPartitions() {
		res := &storagev1.ListOffsetsPartitionResult{Topic: lp.GetTopic(), Partition: lp.GetPartition(), Offset: -1, Timestamp: -1}
		out.Partitions = append(out.Partitions, res)
		p, _, e := h.n.leaderFor(lp.GetTopic(), lp.GetPartition())
		if e != nil {
			res.Error = e.Detail
			continue
		}
		off, ts, err := p.log.OffsetForTimestamp(lp.GetTimestamp())
		if err = p.check(err); err != nil {
			res.Error = errs.FromKafka(err).Detail
			continue
		}
		if req.GetIsolationLevel() == storagev1.IsolationLevel_ISOLATION_LEVEL_READ_COMMITTED && off >= 0 {
			// Kafka: latest is the LSO, and a timestamp lookup never
			// answers past it.
			if lp.GetTimestamp() == -1 {
				off = p.log.LastStableOffset()
			} else if lso := p.log.LastStableOffset(); off > lso {
				off, ts = -1, -1
			}
		}
		res.Offset, res.Timestamp = off, ts
	}
	return out, nil
}

// maintain runs the background work of every replica: the flush.ms timer
// each second, retention and compaction every retention-check-interval.
func (n *Node) maintain(ctx context.Context) {
	flush := time.NewTicker(time.Second)
	defer flush.Stop()
	retention := time.NewTicker(n.cfg.RetentionCheckInterval)
	defer retention.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
			for _, p := range n.parts.online() {
				if err := p.check(p.log.MaybeFlush()); err != nil {
					n.Log.Error("flush failed", "partition", p.name(), "err", err)
				}
			}
		case <-retention.C:
			for _, p := range n.parts.online() {
				n.cleanUp(p)
			}
		}
	}
}

func (n *Node) cleanUp(p *replica) {
	name := p.name()
	if deleted, err := p.log.DeleteOldSegments(); p.check(err) != nil {
		n.Log.Warn("retention failed", "partition", name, "err", err)
	} else if deleted > 0 {
		n.Log.Debug("retention deleted segments", "partition", name, "segments", deleted, "log_start_offset", p.log.LogStartOffset())
	}
	if _, err := p.log.Compact(); p.check(err) != nil {
		n.Log.Warn("compaction failed", "partition", name, "err", err)
	}
	if gone := p.expireProducers(n.cfg.ProducerIDExpiration); gone > 0 {
		n.Log.Debug("idle producers expired", "partition", name, "producers", gone)
	}
}
