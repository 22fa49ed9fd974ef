package kafka

// Produce, versions 3–11: v2 record batches only. v0–2 carry the magic 0/1
// message sets that Strata does not store (Kafka 4 dropped them too), and
// v12+ (implicit transaction partitions, KIP-890) and topic-id versions are
// not advertised. Batches pass through as bytes: the gateway groups the
// partitions by storage leader, sends one storage Produce per leader in
// parallel, and retries a partition once, after a metadata refresh, when
// its leader moved. acks must be -1, 0 or 1 (else INVALID_REQUIRED_ACKS);
// acks=0 gets no response at all; acks=-1 waits for the ISR on the storage
// leader (min.insync.replicas applies there). Transactional produce is
// refused (transactions are not supported yet): a transactional id, or a
// batch with the transactional attribute, fails every partition with
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as Kafka answers transactional
// records sent without a transactional id. The storage leader refuses such
// batches too (recordbatch.ValidateProducer), for the gRPC path.

import (
	"context"
	"sync"
	"time"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(0, 3, 11, handleProduce) }

// produceItem is one partition of a produce request.
type produceItem struct {
	topic     string
	partition int32
	records   []byte
	resp      *kmsg.ProduceResponseTopicPartition
	leader    leader
}

func handleProduce(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	var code int16
	switch {
	case req.TransactionID != nil || hasTransactionalRecords(req):
		code = errs.KafkaCode(errs.New(errs.TransactionsUnsupported, ""))
	case req.Acks != -1 && req.Acks != 0 && req.Acks != 1:
		code = kerr.InvalidRequiredAcks.Code
	}
	var items []*produceItem
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		t := &resp.Topics[i]
		t.Topic = rt.Topic
		t.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			p := &t.Partitions[j]
			p.Default()
			p.Partition, p.BaseOffset, p.LogStartOffset, p.LogAppendTime = rp.Partition, -1, -1, -1
			if code != 0 {
				p.ErrorCode = code
				continue
			}
			items = append(items, &produceItem{topic: rt.Topic, partition: rp.Partition, records: rp.Records, resp: p})
		}
	}
	if len(items) > 0 {
		timeout := time.Duration(max(req.TimeoutMillis, 0)) * time.Millisecond
		s.produce(ctx, req.Acks, timeout, items)
	}
	if req.Acks == 0 {
		return nil, nil
	}
	return resp, nil
}

// hasTransactionalRecords reports a batch with the transactional attribute
// anywhere in the request (Kafka's RequestUtils.hasTransactionalRecords).
func hasTransactionalRecords(req *kmsg.ProduceRequest) bool {
	for i := range req.Topics {
		for j := range req.Topics[i].Partitions {
			if recordbatch.AnyTransactional(req.Topics[i].Partitions[j].Records) {
				return true
			}
		}
	}
	return false
}

// produce routes items to their leaders, in parallel, retrying once those
// whose leader moved.
func (s *Server) produce(ctx context.Context, acks int16, timeout time.Duration, items []*produceItem) {
	byLeader := map[string][]*produceItem{}
	for _, it := range items {
		l, code := s.leaderOf(it.topic, it.partition)
		if code != 0 {
			it.resp.ErrorCode = code
			continue
		}
		it.leader = l
		byLeader[l.addr] = append(byLeader[l.addr], it)
	}
	retry := s.produceRound(ctx, acks, timeout, byLeader)
	if len(retry) == 0 {
		return
	}
	byLeader = map[string][]*produceItem{}
	for _, rt := range retry {
		l, code := s.awaitLeaderChange(ctx, rt.item.topic, rt.item.partition, rt.item.leader, rt.err)
		if code != 0 {
			rt.item.resp.ErrorCode = code
			continue
		}
		rt.item.leader = l
		byLeader[l.addr] = append(byLeader[l.addr], rt.item)
	}
	for _, rt := range s.produceRound(ctx, acks, timeout, byLeader) {
		rt.item.resp.ErrorCode = rt.err.KafkaCode()
	}
}

type produceRetry struct {
	item *produceItem
	err  *errs.Error
}

// produceRound sends one storage Produce per leader and returns the items
// refused with NOT_LEADER_OR_FOLLOWER.
func (s *Server) produceRound(ctx context.Context, acks int16, timeout time.Duration, byLeader map[string][]*produceItem) []produceRetry {
	var (
		mu    sync.Mutex
		retry []produceRetry
		wg    sync.WaitGroup
	)
	for addr, group := range byLeader {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := s.produceTo(ctx, addr, acks, timeout, group)
			mu.Lock()
			retry = append(retry, out...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return retry
}

func (s *Server) produceTo(ctx context.Context, addr string, acks int16, timeout time.Duration, group []*produceItem) []produceRetry {
	sreq := &storagev1.ProduceRequest{TimeoutMs: int32(timeout / time.Millisecond),
		Partitions: make([]*storagev1.ProducePartition, len(group))}
	switch acks {
	case 0:
		sreq.Acks = storagev1.Acks_ACKS_NONE
	case 1:
		sreq.Acks = storagev1.Acks_ACKS_LEADER
	default:
		sreq.Acks = storagev1.Acks_ACKS_ALL
	}
	for i, it := range group {
		sreq.Partitions[i] = &storagev1.ProducePartition{Topic: it.topic, Partition: it.partition, Records: it.records}
	}
	var retry []produceRetry
	fail := func(err error) []produceRetry {
		code := errs.KafkaCode(err)
		for _, it := range group {
			it.resp.ErrorCode = code
		}
		return nil
	}
	client, err := s.storage.client(addr)
	if err != nil {
		return fail(err)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout+30*time.Second)
	defer cancel()
	sresp, err := client.Produce(cctx, sreq)
	if err != nil {
		if e := errs.From(err); e != nil && e.Code() == errs.NotLeaderOrFollower {
			for _, it := range group {
				retry = append(retry, produceRetry{it, e})
			}
			return retry
		}
		return fail(err)
	}
	if acks == 0 {
		return nil
	}
	for i, res := range sresp.GetPartitions() {
		if i >= len(group) {
			break
		}
		it := group[i]
		if d := res.GetError(); d != nil {
			if d.GetCode() == errs.NotLeaderOrFollower {
				retry = append(retry, produceRetry{it, &errs.Error{Detail: d}})
				continue
			}
			it.resp.ErrorCode = int16(d.GetKafkaErrorCode())
			continue
		}
		it.resp.BaseOffset, it.resp.LogStartOffset, it.resp.LogAppendTime = res.GetBaseOffset(), res.GetLogStartOffset(), res.GetLogAppendTimeMs()
	}
	return retry
}
