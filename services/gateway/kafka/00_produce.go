package kafka

// Produce, versions 3–11: v2 record batches only. v0–2 carry the magic 0/1
// message sets that Strata does not store (Kafka 4 dropped them too), and
// v12+ (implicit transaction partitions, KIP-890) and topic-id versions are
// not advertised. Batches pass through as bytes to the router
// (services/gateway/router), which sends one storage Produce per leader in
// parallel and retries a partition once when its leader moved. acks must be -1, 0 or 1 (else INVALID_REQUIRED_ACKS);
// acks=0 gets no response at all; acks=-1 waits for the ISR on the storage
// leader (min.insync.replicas applies there). Transactional records sent
// without a transactional id fail every partition with
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as in Kafka. With one, the storage
// leader accepts a transactional batch only while the transaction
// coordinator has the partition in the producer's open transaction
// (AddPartitionsToTxn), else INVALID_TXN_STATE; an older producer epoch
// gets INVALID_PRODUCER_EPOCH (services/storage/producers.go).

import (
	"context"
	"time"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/strata-io/strata/services/gateway/router"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(0, 3, 11, handleProduce) }

// produceItem is one partition of a produce request.
type produceItem struct {
	topic     string
	partition int32
	records   []byte
	txnID     string
	resp      *kmsg.ProduceResponseTopicPartition
}

func handleProduce(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	var code int16
	switch {
	case req.TransactionID == nil && hasTransactionalRecords(req):
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
			it := &produceItem{topic: rt.Topic, partition: rp.Partition, records: rp.Records, resp: p}
			if req.TransactionID != nil {
				it.txnID = *req.TransactionID
			}
			items = append(items, it)
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

// produce sends items to their leaders through the router.
func (s *Server) produce(ctx context.Context, acks int16, timeout time.Duration, items []*produceItem) {
	routed := make([]*router.ProduceItem, len(items))
	for i, it := range items {
		routed[i] = &router.ProduceItem{Part: router.Part{Topic: it.topic, Partition: it.partition, ClientEpoch: -1}, Records: it.records,
			TransactionalID: it.txnID}
	}
	sacks := storagev1.Acks_ACKS_ALL
	switch acks {
	case 0:
		sacks = storagev1.Acks_ACKS_NONE
	case 1:
		sacks = storagev1.Acks_ACKS_LEADER
	}
	s.router.Produce(ctx, sacks, timeout, routed)
	for i, ri := range routed {
		p := items[i].resp
		if ri.Err != nil {
			p.ErrorCode = ri.Err.KafkaCode()
			continue
		}
		if res := ri.Result; res != nil {
			p.BaseOffset, p.LogStartOffset, p.LogAppendTime = res.GetBaseOffset(), res.GetLogStartOffset(), res.GetLogAppendTimeMs()
		}
	}
}
