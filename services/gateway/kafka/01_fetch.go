package kafka

// Fetch, versions 4–12: v2 record batches as stored (v0–3 would need
// down-conversion to magic 0/1; v13+ address topics by id). Fetch sessions
// (KIP-227) are answered sessionless: session id 0, so clients keep sending
// full requests; an incremental request for a session gets
// FETCH_SESSION_ID_NOT_FOUND. The partitions are grouped by storage leader
// and fetched in parallel, each leader long-polling up to max_wait_ms; as
// soon as the responses in hand reach min_bytes the others are cut short
// and asked once more without waiting, so the answer is prompt and carries
// every partition's high watermark. A partition whose storage node is no
// longer its leader is asked once more of the new leader, without waiting
// (FENCED_LEADER_EPOCH if the client named the old leader epoch). The whole response keeps to max_bytes
// except for its first batch (KIP-74). A current_leader_epoch older than
// the partition's gets FENCED_LEADER_EPOCH, a newer one
// UNKNOWN_LEADER_EPOCH. read_committed sees what read_uncommitted sees:
// there are no transactions, so the last stable offset is the high
// watermark.

import (
	"context"
	"sync"
	"time"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(1, 4, 12, handleFetch) }

const (
	maxFetchWait         = 5 * time.Minute
	defaultFetchMaxBytes = 50 << 20
)

type fetchItem struct {
	topic     string
	partition int32
	offset    int64
	maxBytes  int32
	epoch     int32 // the client's current_leader_epoch; -1 unknown
	resp      *kmsg.FetchResponseTopicPartition
	leader    leader
	notLeader *errs.Error // the storage node's NOT_LEADER_OR_FOLLOWER, if any
}

func handleFetch(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	resp.SessionID = 0
	if req.SessionID != 0 {
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp, nil
	}
	var items []*fetchItem
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		t := &resp.Topics[i]
		t.Topic = rt.Topic
		t.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			p := &t.Partitions[j]
			p.Default()
			p.Partition, p.HighWatermark, p.LastStableOffset, p.LogStartOffset = rp.Partition, -1, -1, -1
			p.RecordBatches = []byte{} // never null: librdkafka refuses a null record set
			l, code := s.leaderOf(rt.Topic, rp.Partition)
			if code == 0 && rp.CurrentLeaderEpoch >= 0 {
				if rp.CurrentLeaderEpoch < l.epoch {
					code = kerr.FencedLeaderEpoch.Code
				} else if rp.CurrentLeaderEpoch > l.epoch {
					code = kerr.UnknownLeaderEpoch.Code
				}
			}
			if code != 0 {
				p.ErrorCode = code
				continue
			}
			items = append(items, &fetchItem{topic: rt.Topic, partition: rp.Partition, offset: rp.FetchOffset,
				maxBytes: rp.PartitionMaxBytes, epoch: rp.CurrentLeaderEpoch, resp: p, leader: l})
		}
	}
	maxBytes := req.MaxBytes
	if maxBytes <= 0 || req.Version < 3 {
		maxBytes = defaultFetchMaxBytes
	}
	if len(items) > 0 {
		wait := min(time.Duration(max(req.MaxWaitMillis, 0))*time.Millisecond, maxFetchWait)
		s.fetch(ctx, wait, max(req.MinBytes, 0), maxBytes, items)
	}
	// Keep to max_bytes: the first non-empty partition is always whole.
	used := 0
	for _, it := range items {
		n := len(it.resp.RecordBatches)
		if n == 0 {
			continue
		}
		if used > 0 && used+n > int(maxBytes) {
			it.resp.RecordBatches = []byte{}
			continue
		}
		used += n
	}
	return resp, nil
}

// fetch fills items from their leaders, then retries once, without
// waiting, those whose leader refused with NOT_LEADER_OR_FOLLOWER, after
// the metadata cache (or the refusal's hint) names the new leader. A client
// that sent its current_leader_epoch gets FENCED_LEADER_EPOCH instead when
// the new leader's epoch differs, as from Kafka: it must refresh its
// metadata rather than read from a leader it does not know.
func (s *Server) fetch(ctx context.Context, wait time.Duration, minBytes, maxBytes int32, items []*fetchItem) {
	s.fetchOnce(ctx, wait, minBytes, maxBytes, items)
	retry := map[string][]*fetchItem{}
	for _, it := range items {
		if it.notLeader == nil {
			continue
		}
		l, code := s.awaitLeaderChange(ctx, it.topic, it.partition, it.leader, it.notLeader)
		it.notLeader = nil
		switch {
		case code != 0:
			it.resp.ErrorCode = code
		case it.epoch >= 0 && l.epoch != it.epoch:
			it.resp.ErrorCode = kerr.FencedLeaderEpoch.Code
		default:
			it.resp.ErrorCode = 0
			it.leader = l
			retry[l.addr] = append(retry[l.addr], it)
		}
	}
	if len(retry) > 0 && ctx.Err() == nil {
		s.fetchRound(ctx, ctx, 0, 0, maxBytes, retry)
		for _, group := range retry {
			for _, it := range group {
				if it.notLeader != nil {
					it.resp.ErrorCode, it.notLeader = errNotLeader, nil
				}
			}
		}
	}
}

// fetchOnce fills items from their leaders.
func (s *Server) fetchOnce(ctx context.Context, wait time.Duration, minBytes, maxBytes int32, items []*fetchItem) {
	byLeader := map[string][]*fetchItem{}
	for _, it := range items {
		byLeader[it.leader.addr] = append(byLeader[it.leader.addr], it)
	}
	if len(byLeader) == 1 || wait == 0 {
		s.fetchRound(ctx, ctx, wait, minBytes, maxBytes, byLeader)
		return
	}
	// Several leaders: long-poll them all; once the bytes in hand reach
	// min_bytes, stop the others and read them once more without waiting.
	pollCtx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		mu    sync.Mutex
		got   int
		wg    sync.WaitGroup
		short = map[string][]*fetchItem{}
	)
	for addr, group := range byLeader {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, ok := s.fetchFrom(pollCtx, ctx, addr, wait, minBytes, maxBytes, group)
			mu.Lock()
			defer mu.Unlock()
			if !ok {
				short[addr] = group
				return
			}
			got += n
			if got >= int(minBytes) {
				stop()
			}
		}()
	}
	wg.Wait()
	if len(short) > 0 && ctx.Err() == nil {
		s.fetchRound(ctx, ctx, 0, 0, maxBytes, short)
	}
}

func (s *Server) fetchRound(pollCtx, ctx context.Context, wait time.Duration, minBytes, maxBytes int32, byLeader map[string][]*fetchItem) {
	var wg sync.WaitGroup
	for addr, group := range byLeader {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.fetchFrom(pollCtx, ctx, addr, wait, minBytes, maxBytes, group)
		}()
	}
	wg.Wait()
}

// fetchFrom runs one storage Fetch. ok is false when pollCtx cut it short
// (the items are untouched then).
func (s *Server) fetchFrom(pollCtx, ctx context.Context, addr string, wait time.Duration, minBytes, maxBytes int32, group []*fetchItem) (n int, ok bool) {
	sreq := &storagev1.FetchRequest{MaxWaitMs: int32(wait / time.Millisecond), MinBytes: minBytes, MaxBytes: maxBytes,
		Partitions: make([]*storagev1.FetchPartition, len(group))}
	for i, it := range group {
		sreq.Partitions[i] = &storagev1.FetchPartition{Topic: it.topic, Partition: it.partition, FetchOffset: it.offset, MaxBytes: it.maxBytes}
	}
	fail := func(err error) (int, bool) {
		code := errs.KafkaCode(err)
		if errs.Is(err, errs.NotLeaderOrFollower) {
			code = errNotLeader
		}
		e := errs.From(err)
		for _, it := range group {
			it.resp.ErrorCode = code
			if e != nil && e.Code() == errs.NotLeaderOrFollower {
				it.notLeader = e
			}
		}
		return 0, true
	}
	client, err := s.storage.client(addr)
	if err != nil {
		return fail(err)
	}
	cctx, cancel := context.WithTimeout(pollCtx, wait+30*time.Second)
	defer cancel()
	sresp, err := client.Fetch(cctx, sreq)
	if err != nil {
		if pollCtx.Err() != nil && ctx.Err() == nil {
			return 0, false
		}
		return fail(err)
	}
	for i, res := range sresp.GetPartitions() {
		if i >= len(group) {
			break
		}
		p := group[i].resp
		p.HighWatermark, p.LastStableOffset, p.LogStartOffset = res.GetHighWatermark(), res.GetHighWatermark(), res.GetLogStartOffset()
		if d := res.GetError(); d != nil {
			p.ErrorCode = int16(d.GetKafkaErrorCode())
			if d.GetCode() == errs.NotLeaderOrFollower {
				group[i].notLeader = &errs.Error{Detail: d}
			}
			continue
		}
		if recs := res.GetRecords(); len(recs) > 0 {
			p.RecordBatches = recs
			n += len(recs)
		}
	}
	return n, true
}
