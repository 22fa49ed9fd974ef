package kafka

// Fetch, versions 4–12: v2 record batches as stored (v0–3 would need
// down-conversion to magic 0/1; v13+ address topics by id). Fetch sessions
// (KIP-227) are answered sessionless: session id 0, so clients keep sending
// full requests; an incremental request for a session gets
// FETCH_SESSION_ID_NOT_FOUND. The router (services/gateway/router) fetches
// the partitions from their storage leaders in parallel, each leader
// long-polling up to max_wait_ms; as soon as the responses in hand reach
// min_bytes the others are cut short and asked once more without waiting,
// so the answer is prompt and carries every partition's high watermark. A
// partition whose storage node is no longer its leader is asked once more
// of the new leader, without waiting (FENCED_LEADER_EPOCH if the client
// named the old leader epoch). The whole response keeps to max_bytes
// except for its first batch (KIP-74). A current_leader_epoch older than
// the partition's gets FENCED_LEADER_EPOCH, a newer one
// UNKNOWN_LEADER_EPOCH. isolation_level=read_committed reads stop at the
// partition's last stable offset and carry the aborted transactions of
// the range, which the client drops (docs/transactions.md).

import (
	"context"
	"time"

	"github.com/strata-io/strata/services/gateway/router"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(1, 4, 12, handleFetch) }

const (
	maxFetchWait         = 5 * time.Minute
	defaultFetchMaxBytes = 50 << 20
)

func handleFetch(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	resp.SessionID = 0
	if req.SessionID != 0 {
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp, nil
	}
	var items []*router.FetchItem
	var resps []*kmsg.FetchResponseTopicPartition
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
			items = append(items, &router.FetchItem{Part: router.Part{Topic: rt.Topic, Partition: rp.Partition, ClientEpoch: rp.CurrentLeaderEpoch},
				Offset: rp.FetchOffset, MaxBytes: rp.PartitionMaxBytes, Committed: req.IsolationLevel == 1})
			resps = append(resps, p)
		}
	}
	maxBytes := req.MaxBytes
	if maxBytes <= 0 || req.Version < 3 {
		maxBytes = defaultFetchMaxBytes
	}
	if len(items) > 0 {
		wait := min(time.Duration(max(req.MaxWaitMillis, 0))*time.Millisecond, maxFetchWait)
		s.router.Fetch(ctx, wait, max(req.MinBytes, 0), maxBytes, items)
	}
	// Keep to max_bytes: the first non-empty partition is always whole.
	used := 0
	for i, it := range items {
		p := resps[i]
		if res := it.Result; res != nil {
			p.HighWatermark, p.LastStableOffset, p.LogStartOffset = res.GetHighWatermark(), res.GetLastStableOffset(), res.GetLogStartOffset()
		}
		if it.Err != nil {
			p.ErrorCode = it.Err.KafkaCode()
			continue
		}
		n := len(it.Result.GetRecords())
		if n == 0 || used > 0 && used+n > int(maxBytes) {
			continue
		}
		p.RecordBatches = it.Result.GetRecords()
		used += n
		for _, a := range it.Result.GetAbortedTransactions() {
			at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
			at.ProducerID, at.FirstOffset = a.GetProducerId(), a.GetFirstOffset()
			p.AbortedTransactions = append(p.AbortedTransactions, at)
		}
	}
	return resp, nil
}
