package kafka

// Fetch, versions 4–12: v2 record batches as stored (v0–3 would need
// down-conversion to magic 0/1; v13+ address topics by id). Fetch sessions
// (KIP-227, v7+) are served as in Kafka (fetch_session.go): epoch -1 is a
// sessionless full fetch, epoch 0 a full fetch that opens a session,
// epochs 1, 2, … incremental fetches of the session's partitions, answered
// with only the partitions that have records, a moved high watermark or log
// start offset, or an error; FETCH_SESSION_ID_NOT_FOUND and
// INVALID_FETCH_SESSION_EPOCH as from Kafka. The router
// (services/gateway/router) fetches the partitions from their storage
// leaders in parallel, each leader long-polling up to max_wait_ms; as soon
// as the responses in hand reach min_bytes the others are cut short and
// asked once more without waiting, so the answer is prompt and carries
// every partition's high watermark. A partition whose storage node is no
// longer its leader is asked once more of the new leader, without waiting
// (FENCED_LEADER_EPOCH if the client named the old leader epoch). The whole
// response keeps to max_bytes except for its first batch (KIP-74). A
// current_leader_epoch older than the partition's gets FENCED_LEADER_EPOCH,
// a newer one UNKNOWN_LEADER_EPOCH. isolation_level=read_committed reads
// stop at the partition's last stable offset and carry the aborted
// transactions of the range, which the client drops
// (docs/transactions.md). An incremental fetch need not compare last
// stable offsets: the LSO moves only with a transaction marker, which moves
// the high watermark too.

import (
	"context"
	"time"

	"github.com/strata-io/strata/internal/acl"
	"github.com/strata-io/strata/internal/limits"
	"github.com/strata-io/strata/services/gateway/router"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(1, 4, 12, handleFetch) }

const (
	maxFetchWait         = 5 * time.Minute
	defaultFetchMaxBytes = 50 << 20
)

// fetched is one partition's answer.
type fetched struct {
	code             int16
	highWatermark    int64
	lastStableOffset int64
	logStartOffset   int64
	records          []byte
	aborted          []kmsg.FetchResponseTopicPartitionAbortedTransaction
}

func handleFetch(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	resp.SessionID = 0
	clampFetch(req)
	q, quotaed := s.fetchQuota(r.clientID)
	if quotaed { // never more than the quota allows in one window (Kafka's getMaxValueInQuotaWindow)
		if req.MaxBytes <= 0 {
			req.MaxBytes = defaultFetchMaxBytes
		}
		req.MaxBytes = int32(min(float64(req.MaxBytes), max(s.quotas.MaxValueInWindow(q), 1)))
	}
	if req.Version < 7 || req.SessionEpoch == sessionlessEpoch || req.SessionEpoch == initialEpoch {
		if req.Version >= 7 && req.SessionID != 0 {
			s.sessions.remove(req.SessionID) // a full fetch closes the session it names
		}
		parts := requestParts(req)
		results := s.fetchParts(ctx, req, parts)
		for i, p := range parts {
			appendFetched(resp, p, results[i])
		}
		if s.throttleFetch(r, resp) {
			return resp, nil // empty, without a session (Kafka's throttled full fetch)
		}
		if req.Version >= 7 && req.SessionEpoch == initialEpoch {
			if sess := s.sessions.create(sessionParts(parts, results)); sess != nil {
				resp.SessionID = sess.id
			}
		}
		return resp, nil
	}
	sess, ok := s.sessions.get(req.SessionID)
	if !ok {
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp, nil
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	switch {
	case !sess.cached.Load(): // evicted while this request waited for it
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp, nil
	case sess.epoch != req.SessionEpoch:
		resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
		return resp, nil
	}
	var forgotten []topicPartition
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			forgotten = append(forgotten, topicPartition{ft.Topic, p})
		}
	}
	changed := requestParts(req)
	wants := make([]sessionPart, len(changed))
	for i, p := range changed {
		wants[i] = *p
	}
	sess.update(wants, forgotten)
	if len(sess.parts) == 0 { // nothing left: the session ends (as in Kafka)
		s.sessions.remove(sess.id)
		return resp, nil
	}
	s.sessions.touch(sess)
	sess.epoch = nextSessionEpoch(sess.epoch)
	results := s.fetchParts(ctx, req, sess.parts)
	var sent []int
	for i, p := range sess.parts {
		res := results[i]
		must := len(res.records) > 0 || res.code != 0 || p.highWatermark != res.highWatermark || p.logStartOffset != res.logStartOffset
		p.highWatermark, p.logStartOffset = res.highWatermark, res.logStartOffset
		if res.code != 0 {
			p.highWatermark = -1 // sent again once the error clears
		}
		if must {
			appendFetched(resp, p, res)
			sent = append(sent, i)
		}
	}
	if s.throttleFetch(r, resp) {
		for _, i := range sent { // not told: sent again next time
			sess.parts[i].highWatermark = -1
		}
		sent = nil
	}
	sess.moveToEnd(sent)
	resp.SessionID = sess.id
	return resp, nil
}

// clampFetch bounds what a client may ask for: max_bytes to fetch.max.bytes
// (unset: a client's default, 50 MiB) and every partition_max_bytes to
// 0..fetch.max.bytes, as a Kafka broker does.
func clampFetch(req *kmsg.FetchRequest) {
	if req.MaxBytes <= 0 {
		req.MaxBytes = defaultFetchMaxBytes
	}
	req.MaxBytes = min(req.MaxBytes, limits.FetchMaxBytes)
	for i := range req.Topics {
		for j := range req.Topics[i].Partitions {
			p := &req.Topics[i].Partitions[j]
			p.PartitionMaxBytes = min(max(p.PartitionMaxBytes, 0), limits.MaxPartitionFetchBytes)
		}
	}
}

// requestParts lists the request's partitions in request order.
func requestParts(req *kmsg.FetchRequest) []*sessionPart {
	var out []*sessionPart
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			out = append(out, &sessionPart{topic: rt.Topic, partition: rp.Partition, fetchOffset: rp.FetchOffset,
				maxBytes: rp.PartitionMaxBytes, leaderEpoch: rp.CurrentLeaderEpoch, highWatermark: -1, logStartOffset: -1})
		}
	}
	return out
}

// sessionParts is a new session's partitions after a full fetch: each
// partition once, with what the client was just told.
func sessionParts(parts []*sessionPart, results []fetched) []*sessionPart {
	seen := make(map[topicPartition]bool, len(parts))
	out := make([]*sessionPart, 0, len(parts))
	for i, p := range parts {
		k := topicPartition{p.topic, p.partition}
		if seen[k] {
			continue
		}
		seen[k] = true
		p.highWatermark, p.logStartOffset = results[i].highWatermark, results[i].logStartOffset
		if results[i].code != 0 {
			p.highWatermark = -1
		}
		out = append(out, p)
	}
	return out
}

// appendFetched adds one partition to the response, under the last topic
// entry when it is the same topic (so request order is kept).
func appendFetched(resp *kmsg.FetchResponse, p *sessionPart, res fetched) {
	if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != p.topic {
		t := kmsg.NewFetchResponseTopic()
		t.Topic = p.topic
		resp.Topics = append(resp.Topics, t)
	}
	t := &resp.Topics[len(resp.Topics)-1]
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.Partition, rp.ErrorCode = p.partition, res.code
	rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = res.highWatermark, res.lastStableOffset, res.logStartOffset
	rp.RecordBatches, rp.AbortedTransactions = res.records, res.aborted
	if rp.RecordBatches == nil {
		rp.RecordBatches = []byte{} // never null: librdkafka refuses a null record set
	}
	t.Partitions = append(t.Partitions, rp)
}

// fetchParts reads parts from their leaders, long-polling as the request
// says, and keeps the records to the request's max_bytes: the first
// non-empty partition is always whole.
func (s *Server) fetchParts(ctx context.Context, req *kmsg.FetchRequest, parts []*sessionPart) []fetched {
	out := make([]fetched, len(parts))
	if len(parts) == 0 {
		return out
	}
	items := make([]*router.FetchItem, 0, len(parts))
	at := make([]int, 0, len(parts)) // the part of each item
	z, authzOn := s.authzFor(ctx)
	for i, p := range parts {
		if authzOn && !z.topic(acl.OpRead, p.topic) { // Kafka's READ on the topic, per partition
			out[i] = fetched{code: errTopicAuthz, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1}
			continue
		}
		at = append(at, i)
		items = append(items, &router.FetchItem{Part: router.Part{Topic: p.topic, Partition: p.partition, ClientEpoch: p.leaderEpoch},
			Offset: p.fetchOffset, MaxBytes: p.maxBytes, Committed: req.IsolationLevel == 1})
	}
	if len(items) == 0 {
		return out
	}
	maxBytes := req.MaxBytes
	if maxBytes <= 0 {
		maxBytes = defaultFetchMaxBytes
	}
	wait := min(time.Duration(max(req.MaxWaitMillis, 0))*time.Millisecond, maxFetchWait)
	c, _ := ctx.Value(connKey{}).(*conn)
	var ra *readAhead
	if c != nil {
		ra = s.takeReadAhead(c, items, maxBytes)
	}
	if ra == nil || !s.answerFromReadAhead(ctx, ra, items, max(req.MinBytes, 0)) {
		s.router.Fetch(ctx, wait, max(req.MinBytes, 0), maxBytes, items)
	}
	used := 0
	for k, it := range items {
		o := &out[at[k]]
		o.highWatermark, o.lastStableOffset, o.logStartOffset = -1, -1, -1
		if res := it.Result; res != nil {
			o.highWatermark, o.lastStableOffset, o.logStartOffset = res.GetHighWatermark(), res.GetLastStableOffset(), res.GetLogStartOffset()
		}
		if it.Err != nil {
			o.code = it.Err.KafkaCode()
			continue
		}
		n := len(it.Result.GetRecords())
		if n == 0 || used > 0 && used+n > int(maxBytes) {
			continue
		}
		o.records = it.Result.GetRecords()
		used += n
		for _, a := range it.Result.GetAbortedTransactions() {
			at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
			at.ProducerID, at.FirstOffset = a.GetProducerId(), a.GetFirstOffset()
			o.aborted = append(o.aborted, at)
		}
	}
	if c != nil && s.cfg.FetchReadAheadBytes > 0 {
		records := make([][]byte, len(items))
		for k := range items {
			records[k] = out[at[k]].records
		}
		s.startReadAhead(c, items, records, maxBytes)
	}
	return out
}
