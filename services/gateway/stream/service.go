// Package stream serves the public data plane, strata.stream.v1.StreamService,
// on the gateway's gRPC port: Produce turns records into v2 record batches
// (the storage format) and Fetch turns stored batches back into records, so
// gRPC clients and Kafka clients read and write the same logs. Partition
// work goes through the gateway's one router (services/gateway/router),
// the same as the Kafka listener's.
//
// Errors are data: a bad request fails the call (INVALID_ARGUMENT naming
// the field, NOT_FOUND for a topic or partition that does not exist) and
// writes nothing; any other failure is reported in the entry of the record
// or partition it concerns.
//
// Consume makes the gateway a member of a consumer group on the client's
// behalf, through the controller's group coordinator (groupcall), so gRPC
// and Kafka members share groups.
package stream

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/strata-io/strata/api/kafkakey"
	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/strata-io/strata/internal/topicconfig"
	"github.com/strata-io/strata/services/gateway/pids"
	"github.com/strata-io/strata/services/gateway/router"
	"google.golang.org/protobuf/proto"
)

// Limits and defaults of the service.
const (
	// MaxProduceRecords bounds the records of one Produce call or
	// ProduceStream batch. The other request limits (partitions per call,
	// waits, fetch bytes) are buf.validate rules in stream.proto;
	// MaxFetchMaxBytes repeats one for the Consume fetcher.
	MaxProduceRecords = 10_000
	// DefaultProduceTimeout is the ACKS_ALL replication wait when the
	// request sets none (Kafka's request.timeout.ms default).
	DefaultProduceTimeout = 30 * time.Second
	// DefaultFetchMaxBytes and MaxFetchMaxBytes bound the record bytes of
	// one Fetch answer (keys, values, headers): the default stays under
	// gRPC's default 4 MiB receive limit of generated clients.
	DefaultFetchMaxBytes = 1 << 20
	MaxFetchMaxBytes     = 64 << 20
	// maxInflatedBatch caps a compressed batch inflated for a fetch, as the
	// storage node caps it on append.
	maxInflatedBatch = 64 << 20
	// deadlineMargin is kept from the client's deadline when a long poll is
	// bounded by it, so the answer arrives before the client gives up.
	deadlineMargin = 200 * time.Millisecond
)

// Service implements streamv1.StreamServiceServer.
type Service struct {
	streamv1.UnimplementedStreamServiceServer
	cache  *metadata.Cache
	router *router.Router
	pids   *pids.Allocator
	groups controllerv1.GroupCoordinatorServiceClient
	now    func() time.Time
}

// New returns the service over the gateway's metadata cache, router,
// producer id allocator (for idempotent ProduceStream sessions) and the
// controller's group coordinator (for Consume members).
func New(cache *metadata.Cache, r *router.Router, p *pids.Allocator, groups controllerv1.GroupCoordinatorServiceClient) *Service {
	return &Service{cache: cache, router: r, pids: p, groups: groups, now: time.Now}
}

// Produce implements StreamService.Produce.
func (s *Service) Produce(ctx context.Context, req *streamv1.ProduceRequest) (*streamv1.ProduceResponse, error) {
	topic, e := s.lookupTopic(ctx, req.GetTopic(), "topic")
	if e != nil {
		return nil, e
	}
	acks, e := storageAcks(req.GetAcks())
	if e != nil {
		return nil, e
	}
	c, e := codecOf(req.GetCompression())
	if e != nil {
		return nil, e
	}
	timeout := DefaultProduceTimeout
	if d := req.GetTimeout(); d != nil {
		timeout = d.AsDuration()
	}
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(min(timeout, time.Until(dl)-deadlineMargin), time.Millisecond)
	}
	recs := req.GetRecords()
	if e := checkRecords(topic, recs); e != nil {
		return nil, e
	}
	maxBatch := maxMessageBytes(topic)

	// Place every record, then write each partition's records as one
	// append, in request order.
	order, byPartition := s.place(topic, recs)
	now := s.now().UnixMilli()
	items := make([]*router.ProduceItem, 0, len(order))
	for _, p := range order {
		part := make([]*streamv1.ProduceRecord, len(byPartition[p]))
		for j, i := range byPartition[p] {
			part[j] = recs[i]
		}
		batches, err := buildBatches(chunkRecords(part, maxBatch), now, recordbatch.ProducerOptions(c))
		if err != nil {
			return nil, errs.New(errs.InvalidRecord, "records of partition %d: %v", p, err)
		}
		items = append(items, &router.ProduceItem{Part: router.Part{Topic: topic.GetName(), Partition: p, ClientEpoch: -1}, Records: batches})
	}
	s.router.Produce(ctx, acks, timeout, items)

	resp := &streamv1.ProduceResponse{Results: make([]*streamv1.ProduceResult, len(recs))}
	for _, it := range items {
		for j, i := range byPartition[it.Partition] {
			res := &streamv1.ProduceResult{Partition: it.Partition, Offset: -1, TimestampMs: now}
			if ts := recs[i].TimestampMs; ts != nil {
				res.TimestampMs = *ts
			}
			switch {
			case it.Err != nil:
				res.Error = detail(it.Err)
			case it.Result != nil:
				res.Offset = it.Result.GetBaseOffset() + int64(j)
				if t := it.Result.GetLogAppendTimeMs(); t >= 0 {
					res.TimestampMs = t
				}
			}
			resp.Results[i] = res
		}
	}
	return resp, nil
}

// place picks each record's partition: its own, the murmur2 of its key,
// or, for every keyless record of the request, one sticky partition with
// a leader. It returns the partitions in first-use order and each one's
// record indexes in request order.
func (s *Service) place(topic *metadatav1.TopicRecord, recs []*streamv1.ProduceRecord) ([]int32, map[int32][]int) {
	n := topic.GetPartitionCount()
	sticky := int32(-1)
	byPartition := map[int32][]int{}
	var order []int32
	for i, r := range recs {
		var p int32
		switch {
		case r.Partition != nil:
			p = *r.Partition
		case r.Key != nil:
			p = kafkakey.Partition(r.Key, n)
		default:
			if sticky < 0 {
				sticky = stickyPartition(n, func(p int32) bool {
					_, e := s.router.LeaderOf(topic.GetName(), p)
					return e == nil
				})
			}
			p = sticky
		}
		if _, ok := byPartition[p]; !ok {
			order = append(order, p)
		}
		byPartition[p] = append(byPartition[p], i)
	}
	return order, byPartition
}

// checkRecords validates the records of a produce to topic, in one pass
// (protovalidate leaves records to it: see stream.proto).
func checkRecords(topic *metadatav1.TopicRecord, recs []*streamv1.ProduceRecord) *errs.Error {
	switch {
	case len(recs) == 0:
		return invalid("records", "at least one record is required")
	case len(recs) > MaxProduceRecords:
		return invalid("records", "%d records, more than the limit of %d in one call", len(recs), MaxProduceRecords)
	}
	maxBatch, n := maxMessageBytes(topic), topic.GetPartitionCount()
	for i, r := range recs {
		if e := checkRecord(i, r, n, maxBatch); e != nil {
			return e
		}
	}
	return nil
}

// checkRecord validates record i of a produce to a topic of n partitions.
func checkRecord(i int, r *streamv1.ProduceRecord, n int32, maxBatch int) *errs.Error {
	field := func(name string) string { return fmt.Sprintf("records[%d]%s", i, name) }
	if r.Partition != nil && (*r.Partition < 0 || *r.Partition >= n) {
		return errs.New(errs.UnknownTopicOrPartition, "records[%d]: partition %d does not exist (the topic has %d)", i, *r.Partition, n).
			Field(field(".partition"), fmt.Sprintf("must be in [0, %d)", n))
	}
	if r.TimestampMs != nil && *r.TimestampMs < 0 {
		return errs.New(errs.InvalidTimestamp, "records[%d]: timestamp %d is negative", i, *r.TimestampMs).
			Field(field(".timestamp_ms"), "must not be negative")
	}
	for j, h := range r.GetHeaders() {
		if h.GetKey() == "" {
			return invalid(field(fmt.Sprintf(".headers[%d].key", j)), "header key must not be empty")
		}
	}
	if size := recordSize(r) + recordbatch.HeaderSize; size > maxBatch {
		return errs.New(errs.MessageTooLarge, "records[%d]: %d bytes, more than the topic's max.message.bytes %d", i, size, maxBatch).
			Field(field(""), fmt.Sprintf("%d bytes with its batch header; max.message.bytes is %d", size, maxBatch))
	}
	return nil
}

// Fetch implements StreamService.Fetch.
func (s *Service) Fetch(ctx context.Context, req *streamv1.FetchRequest) (*streamv1.FetchResponse, error) {
	parts := req.GetPartitions()
	if e := s.checkPartitions(ctx, len(parts), func(i int) (string, int32) { return parts[i].GetTopic(), parts[i].GetPartition() }); e != nil {
		return nil, e
	}
	wait := req.GetMaxWait().AsDuration()
	if dl, ok := ctx.Deadline(); ok {
		wait = max(min(wait, time.Until(dl)-deadlineMargin), 0)
	}
	minBytes, maxBytes, maxRecords := req.GetMinBytes(), req.GetMaxBytes(), req.GetMaxRecords()
	if maxBytes == 0 {
		maxBytes = DefaultFetchMaxBytes
	}
	var committed bool
	switch req.GetIsolationLevel() {
	case streamv1.IsolationLevel_ISOLATION_LEVEL_UNSPECIFIED, streamv1.IsolationLevel_ISOLATION_LEVEL_READ_COMMITTED:
		committed = true
	case streamv1.IsolationLevel_ISOLATION_LEVEL_READ_UNCOMMITTED:
	default:
		return nil, invalid("isolation_level", "unknown isolation level %d", req.GetIsolationLevel())
	}

	resp := &streamv1.FetchResponse{Partitions: make([]*streamv1.FetchPartitionResult, len(parts))}
	for i, fp := range parts {
		resp.Partitions[i] = &streamv1.FetchPartitionResult{Topic: fp.GetTopic(), Partition: fp.GetPartition(),
			NextOffset: -1, HighWatermark: -1, LogStartOffset: -1, LastStableOffset: -1}
	}
	// Positions and timestamps become offsets first.
	offsets := make([]int64, len(parts))
	var lookups []*router.ListItem
	var lookupOf []int
	for i, fp := range parts {
		switch st := fp.GetStart().(type) {
		case *streamv1.FetchPartition_Offset:
			offsets[i] = st.Offset
			continue
		case *streamv1.FetchPartition_Position:
			lookups = append(lookups, committedItem(listItem(fp.GetTopic(), fp.GetPartition(), positionTimestamp(st.Position)), committed))
		case *streamv1.FetchPartition_TimestampMs:
			lookups = append(lookups, committedItem(listItem(fp.GetTopic(), fp.GetPartition(), st.TimestampMs), committed))
		}
		lookupOf = append(lookupOf, i)
	}
	if len(lookups) > 0 {
		s.router.ListOffsets(ctx, lookups)
		var later []*router.ListItem // timestamps after every record: start at the end
		var laterOf []int
		for j, it := range lookups {
			i := lookupOf[j]
			switch {
			case it.Err != nil:
				setError(resp.Partitions[i], it.Err)
				offsets[i] = -1
			case it.Result.GetOffset() < 0:
				later = append(later, committedItem(listItem(it.Topic, it.Partition, latestTimestamp), committed))
				laterOf = append(laterOf, i)
			default:
				offsets[i] = it.Result.GetOffset()
			}
		}
		if len(later) > 0 {
			s.router.ListOffsets(ctx, later)
			for j, it := range later {
				if i := laterOf[j]; it.Err != nil {
					setError(resp.Partitions[i], it.Err)
					offsets[i] = -1
				} else {
					offsets[i] = it.Result.GetOffset()
				}
			}
		}
	}

	var items []*router.FetchItem
	var itemOf []int
	partBytes := fetchShare(maxBytes, len(parts))
	for i, fp := range parts {
		if offsets[i] < 0 {
			continue
		}
		resp.Partitions[i].NextOffset = offsets[i]
		items = append(items, &router.FetchItem{Part: router.Part{Topic: fp.GetTopic(), Partition: fp.GetPartition(), ClientEpoch: -1},
			Offset: offsets[i], MaxBytes: partBytes, Committed: committed})
		itemOf = append(itemOf, i)
	}
	if len(items) > 0 {
		s.router.Fetch(ctx, wait, max(minBytes, 1), maxBytes, items)
	}
	mode := decodeAll
	if req.GetRecordBatches() {
		mode = passWholeOneRun // a result holds records or batches
	}
	b := &budget{bytes: int(maxBytes), records: -1}
	if maxRecords > 0 {
		b.records = int(maxRecords)
	}
	for j, it := range items {
		out := resp.Partitions[itemOf[j]]
		if res := it.Result; res != nil {
			out.HighWatermark, out.LogStartOffset, out.LastStableOffset = res.GetHighWatermark(), res.GetLogStartOffset(), res.GetLastStableOffset()
		}
		if it.Err != nil {
			e := it.Err
			if e.Code() == errs.OffsetOutOfRange {
				e = &errs.Error{Detail: e.Detail, Msg: fmt.Sprintf("offset %d of %s-%d is outside the log [%d, %d]", it.Offset, it.Topic, it.Partition,
					out.LogStartOffset, out.HighWatermark)}
			}
			setError(out, e)
			continue
		}
		runs, next, err := readBatches(it.Result.GetRecords(), it.Offset, b, maxInflatedBatch, it.Result.GetAbortedTransactions(), mode)
		out.NextOffset = next
		if len(runs) > 0 {
			out.Records, out.RecordBatches = runs[0].recs, runs[0].batches
		}
		if err != nil && len(runs) == 0 {
			setError(out, errs.New(errs.CorruptMessage, "%s-%d at offset %d: %v", it.Topic, it.Partition, next, err))
		}
	}
	return resp, nil
}

// minFetchShare is the least a partition of a Fetch asks its leader for.
const minFetchShare = 64 << 10

// fetchShare is what each of n partitions asks its leader for, so that
// together they read about maxBytes: each leader bounds only its own
// answer by maxBytes, and what the gateway read past maxBytes would be
// dropped, and read again by the next fetch. A partition's leader always
// returns its first batch, however small the share.
func fetchShare(maxBytes int32, n int) int32 {
	return min(maxBytes, max(maxBytes/int32(max(n, 1)), minFetchShare))
}

// ListOffsets implements StreamService.ListOffsets.
func (s *Service) ListOffsets(ctx context.Context, req *streamv1.ListOffsetsRequest) (*streamv1.ListOffsetsResponse, error) {
	parts := req.GetPartitions()
	if e := s.checkPartitions(ctx, len(parts), func(i int) (string, int32) { return parts[i].GetTopic(), parts[i].GetPartition() }); e != nil {
		return nil, e
	}
	items := make([]*router.ListItem, len(parts))
	for i, lp := range parts {
		ts := lp.GetTimestampMs()
		if q, ok := lp.GetQuery().(*streamv1.ListOffsetsPartition_Position); ok {
			ts = positionTimestamp(q.Position)
		}
		items[i] = listItem(lp.GetTopic(), lp.GetPartition(), ts)
	}
	s.router.ListOffsets(ctx, items)
	resp := &streamv1.ListOffsetsResponse{Partitions: make([]*streamv1.ListOffsetsResult, len(items))}
	for i, it := range items {
		out := &streamv1.ListOffsetsResult{Topic: it.Topic, Partition: it.Partition, Offset: -1, TimestampMs: -1}
		if it.Err != nil {
			out.Error = detail(it.Err)
		} else {
			out.Offset, out.TimestampMs = it.Result.GetOffset(), it.Result.GetTimestamp()
		}
		resp.Partitions[i] = out
	}
	return resp, nil
}

// Storage ListOffsets timestamps of the log's ends.
const (
	latestTimestamp   = -1
	earliestTimestamp = -2
)

func positionTimestamp(p streamv1.LogPosition) int64 {
	if p == streamv1.LogPosition_LOG_POSITION_EARLIEST {
		return earliestTimestamp
	}
	return latestTimestamp
}

// committedItem makes a lookup answer latest with the last stable offset
// when the reader reads committed records.
func committedItem(it *router.ListItem, committed bool) *router.ListItem {
	it.Committed = committed
	return it
}

func listItem(topic string, partition int32, ts int64) *router.ListItem {
	return &router.ListItem{Part: router.Part{Topic: topic, Partition: partition, ClientEpoch: -1}, Timestamp: ts}
}

// checkPartitions checks the partition list of a Fetch or ListOffsets
// against the metadata: every topic and partition known, none twice.
func (s *Service) checkPartitions(ctx context.Context, n int, at func(int) (string, int32)) *errs.Error {
	type key struct {
		topic     string
		partition int32
	}
	seen := make(map[key]int, n)
	for i := range n {
		name, p := at(i)
		field := fmt.Sprintf("partitions[%d]", i)
		t, e := s.lookupTopic(ctx, name, field+".topic")
		if e != nil {
			return e
		}
		if p < 0 || p >= t.GetPartitionCount() {
			return errs.New(errs.UnknownTopicOrPartition, "%s: partition %d of topic %q does not exist (it has %d)", field, p, name, t.GetPartitionCount()).
				Field(field+".partition", fmt.Sprintf("must be in [0, %d)", t.GetPartitionCount()))
		}
		if j, dup := seen[key{name, p}]; dup {
			return invalid(field, "%s-%d is already partitions[%d]", name, p, j)
		}
		seen[key{name, p}] = i
	}
	return nil
}

// lookupTopic checks a topic name and finds the topic in the metadata; a
// topic this gateway does not know yet is looked up on the controller
// first (router.CatchUp), so one created through another gateway is found.
func (s *Service) lookupTopic(ctx context.Context, name, field string) (*metadatav1.TopicRecord, *errs.Error) {
	if err := topicconfig.ValidateName(name); err != nil {
		return nil, errs.New(errs.InvalidTopic, "%s: %v", field, err).Field(field, err.Error())
	}
	t, ok := s.cache.Topic(name)
	if !ok && s.router.CatchUp(ctx, []string{name}) {
		t, ok = s.cache.Topic(name)
	}
	if !ok {
		return nil, errs.New(errs.UnknownTopicOrPartition, "topic %q does not exist", name).Field(field, "no such topic")
	}
	return t, nil
}

// maxMessageBytes is the topic's max.message.bytes: the largest batch its
// leader accepts.
func maxMessageBytes(t *metadatav1.TopicRecord) int {
	n, err := strconv.ParseInt(topicconfig.Effective(t.GetConfigs(), "max.message.bytes"), 10, 64)
	if err != nil || n <= 0 {
		return 1048588 // Kafka's default; the controller validated the config
	}
	return int(n)
}

func storageAcks(a streamv1.Acks) (storagev1.Acks, *errs.Error) {
	switch a {
	case streamv1.Acks_ACKS_UNSPECIFIED, streamv1.Acks_ACKS_ALL:
		return storagev1.Acks_ACKS_ALL, nil
	case streamv1.Acks_ACKS_LEADER:
		return storagev1.Acks_ACKS_LEADER, nil
	case streamv1.Acks_ACKS_NONE:
		return storagev1.Acks_ACKS_NONE, nil
	}
	return 0, errs.New(errs.InvalidRequiredAcks, "acks %d is not one of none, leader or all", a).Field("acks", "unknown value")
}

func codecOf(c streamv1.Compression) (codec.Codec, *errs.Error) {
	switch c {
	case streamv1.Compression_COMPRESSION_UNSPECIFIED, streamv1.Compression_COMPRESSION_NONE:
		return codec.None, nil
	case streamv1.Compression_COMPRESSION_GZIP:
		return codec.Gzip, nil
	case streamv1.Compression_COMPRESSION_SNAPPY:
		return codec.Snappy, nil
	case streamv1.Compression_COMPRESSION_LZ4:
		return codec.LZ4, nil
	case streamv1.Compression_COMPRESSION_ZSTD:
		return codec.Zstd, nil
	}
	return 0, errs.New(errs.UnsupportedCompression, "compression %d is unknown", c).Field("compression", "unknown value")
}

func invalid(field, format string, args ...any) *errs.Error {
	msg := fmt.Sprintf(format, args...)
	return errs.New(errs.InvalidRequest, "%s: %s", field, msg).Field(field, msg)
}

func setError(out *streamv1.FetchPartitionResult, e *errs.Error) { out.Error = detail(e) }

// detail is e's detail carrying e's message (a copy when the detail came
// without it, so a detail shared by several entries is never changed).
func detail(e *errs.Error) *commonv1.ErrorDetail {
	if e.Detail.GetMessage() == e.Error() {
		return e.Detail
	}
	d := proto.Clone(e.Detail).(*commonv1.ErrorDetail)
	d.Message = e.Error()
	return d
}
