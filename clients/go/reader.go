package strata

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Offset is where a [Reader] starts reading a partition: [AtStart],
// [AtEnd], [At] or [AtTime].
type Offset struct {
	kind   offsetKind
	offset int64
	time   time.Time
}

type offsetKind int

const (
	offsetStart offsetKind = iota
	offsetEnd
	offsetExact
	offsetTime
)

// AtStart is the oldest record the partition keeps (its log start offset).
func AtStart() Offset { return Offset{kind: offsetStart} }

// AtEnd is the partition's high watermark: only records written from now
// on are read.
func AtEnd() Offset { return Offset{kind: offsetEnd} }

// At is an exact offset.
func At(offset int64) Offset { return Offset{kind: offsetExact, offset: offset} }

// AtTime is the first record whose timestamp is at or after t (the high
// watermark when none is that recent).
func AtTime(t time.Time) Offset { return Offset{kind: offsetTime, time: t} }

// String describes the offset.
func (o Offset) String() string {
	switch o.kind {
	case offsetEnd:
		return "end"
	case offsetExact:
		return fmt.Sprint(o.offset)
	case offsetTime:
		return "time " + o.time.Format(time.RFC3339Nano)
	}
	return "start"
}

func (o Offset) fetchPartition(topic string, partition int32) *streamv1.FetchPartition {
	fp := &streamv1.FetchPartition{Topic: topic, Partition: partition}
	switch o.kind {
	case offsetEnd:
		fp.Start = &streamv1.FetchPartition_Position{Position: streamv1.LogPosition_LOG_POSITION_LATEST}
	case offsetExact:
		fp.Start = &streamv1.FetchPartition_Offset{Offset: max(o.offset, 0)}
	case offsetTime:
		fp.Start = &streamv1.FetchPartition_TimestampMs{TimestampMs: max(o.time.UnixMilli(), 0)}
	default:
		fp.Start = &streamv1.FetchPartition_Position{Position: streamv1.LogPosition_LOG_POSITION_EARLIEST}
	}
	return fp
}

// FetchPartition is what one poll returned for one partition.
type FetchPartition struct {
	Topic     string
	Partition int32
	// Records in offset order.
	Records []*Record
	// HighWatermark is the offset after the last committed record, as of
	// this fetch (-1 when unknown).
	HighWatermark int64
	// Err is a failure of this partition (nil when it was read). A Reader
	// reports OFFSET_OUT_OF_RANGE here and moves to its reset offset.
	Err error
}

// Fetches is the result of one poll: records grouped by partition.
type Fetches []FetchPartition

// Records returns every record of f, partition after partition.
func (f Fetches) Records() []*Record {
	var n int
	for _, p := range f {
		n += len(p.Records)
	}
	out := make([]*Record, 0, n)
	for _, p := range f {
		out = append(out, p.Records...)
	}
	return out
}

// NumRecords returns how many records f holds.
func (f Fetches) NumRecords() int {
	n := 0
	for _, p := range f {
		n += len(p.Records)
	}
	return n
}

// Errors returns the partitions' errors.
func (f Fetches) Errors() []error {
	var out []error
	for _, p := range f {
		if p.Err != nil {
			out = append(out, p.Err)
		}
	}
	return out
}

// EachRecord calls fn for every record, partition after partition.
func (f Fetches) EachRecord(fn func(*Record)) {
	for _, p := range f {
		for _, r := range p.Records {
			fn(r)
		}
	}
}

// ReaderOpt configures a [Reader]; pass it to [Client.NewReader].
type ReaderOpt interface{ applyReader(*readerConfig) }

type readerOpt func(*readerConfig)

func (o readerOpt) applyReader(c *readerConfig) { o(c) }

type readerConfig struct {
	maxWait    time.Duration
	maxBytes   int32
	maxRecords int32
	reset      Offset
}

// FetchMaxWait sets how long one Fetch waits for records before answering
// empty (default 5s); Poll keeps fetching until records come or its context
// is done.
func FetchMaxWait(d time.Duration) ReaderOpt {
	return readerOpt(func(c *readerConfig) { c.maxWait = min(max(d, 0), 5*time.Minute) })
}

// FetchMaxBytes bounds the key, value and header bytes of one poll
// (default 4 MiB, at most 64 MiB; the first record comes even if larger).
func FetchMaxBytes(n int32) ReaderOpt {
	return readerOpt(func(c *readerConfig) {
		if n > 0 {
			c.maxBytes = min(n, 64<<20)
		}
	})
}

// FetchMaxRecords bounds the records of one poll (default no bound beyond
// the bytes).
func FetchMaxRecords(n int32) ReaderOpt {
	return readerOpt(func(c *readerConfig) { c.maxRecords = max(n, 0) })
}

// ResetOffset is where a partition restarts when its offset is out of the
// log's range (retention deleted it, or it was never written): default
// [AtStart], Kafka's auto.offset.reset=earliest.
func ResetOffset(o Offset) ReaderOpt {
	return readerOpt(func(c *readerConfig) { c.reset = o })
}

// Reader reads explicit partitions without a consumer group, over Fetch:
// it keeps each partition's position itself and commits nothing. It is
// safe for concurrent use, but Poll calls are serialized.
type Reader struct {
	c   *Client
	cfg readerConfig

	pollMu sync.Mutex // one Poll at a time
	mu     sync.Mutex
	pos    map[topicPartition]Offset
	paused map[topicPartition]bool
	closed bool
}

type topicPartition struct {
	topic     string
	partition int32
}

// NewReader returns a reader of the given partitions (topic → partition →
// where to start).
func (c *Client) NewReader(partitions map[string]map[int32]Offset, opts ...ReaderOpt) (*Reader, error) {
	cfg := readerConfig{maxWait: 5 * time.Second, maxBytes: 4 << 20, reset: AtStart()}
	for _, o := range opts {
		o.applyReader(&cfg)
	}
	r := &Reader{c: c, cfg: cfg, pos: map[topicPartition]Offset{}, paused: map[topicPartition]bool{}}
	for t, ps := range partitions {
		for p, o := range ps {
			if t == "" || p < 0 {
				return nil, fmt.Errorf("strata: new reader: %w: partition %q %d", ErrInvalidRequest, t, p)
			}
			r.pos[topicPartition{t, p}] = o
		}
	}
	if len(r.pos) == 0 {
		return nil, fmt.Errorf("strata: new reader: %w: no partitions", ErrInvalidRequest)
	}
	if len(r.pos) > 1000 {
		return nil, fmt.Errorf("strata: new reader: %w: %d partitions, at most 1000", ErrInvalidRequest, len(r.pos))
	}
	return r, nil
}

// Seek moves a partition (added if new) to o for the next Poll.
func (r *Reader) Seek(topic string, partition int32, o Offset) {
	r.mu.Lock()
	r.pos[topicPartition{topic, partition}] = o
	r.mu.Unlock()
}

// Position returns where the next Poll reads a partition.
func (r *Reader) Position(topic string, partition int32) (Offset, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.pos[topicPartition{topic, partition}]
	return o, ok
}

// Pause stops reading the partitions until Resume.
func (r *Reader) Pause(topic string, partitions ...int32) {
	r.mu.Lock()
	for _, p := range partitions {
		r.paused[topicPartition{topic, p}] = true
	}
	r.mu.Unlock()
}

// Resume reads paused partitions again.
func (r *Reader) Resume(topic string, partitions ...int32) {
	r.mu.Lock()
	for _, p := range partitions {
		delete(r.paused, topicPartition{topic, p})
	}
	r.mu.Unlock()
}

// Close ends the reader; Poll then fails with ErrClosed.
func (r *Reader) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
}

// Poll fetches the next records of every partition not paused, waiting
// until some come (or a partition fails) or ctx is done. Retriable failures
// (a leader moving) are retried inside Poll; other partition failures come
// back in the partition's Err.
func (r *Reader) Poll(ctx context.Context) (Fetches, error) {
	r.pollMu.Lock()
	defer r.pollMu.Unlock()
	for attempt := 1; ; {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return nil, ErrClosed
		}
		req := &streamv1.FetchRequest{MaxBytes: r.cfg.maxBytes, MaxRecords: r.cfg.maxRecords, RecordBatches: true}
		if r.cfg.maxWait > 0 {
			req.MaxWait = durationpb.New(r.cfg.maxWait)
		}
		var tps []topicPartition
		for tp, o := range r.pos {
			if !r.paused[tp] {
				tps = append(tps, tp)
				req.Partitions = append(req.Partitions, o.fetchPartition(tp.topic, tp.partition))
			}
		}
		r.mu.Unlock()
		if len(tps) == 0 {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		resp, err := retry(ctx, r.c, "fetch", func(ctx context.Context) (*streamv1.FetchResponse, error) {
			return r.c.stream.Fetch(ctx, req)
		})
		if err != nil {
			return nil, err
		}
		out, retriable := r.apply(resp)
		if len(out) > 0 {
			return out, nil
		}
		if retriable {
			if !sleepCtx(ctx, r.c.cfg.backoff(attempt)) {
				return nil, ctx.Err()
			}
			attempt++
			continue
		}
		attempt = 1
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// apply moves the positions past what resp returned, and returns the
// partitions with records or a final error; retriable says whether some
// partition failed with a retriable error.
func (r *Reader) apply(resp *streamv1.FetchResponse) (out Fetches, retriable bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range resp.GetPartitions() {
		tp := topicPartition{p.GetTopic(), p.GetPartition()}
		if _, ok := r.pos[tp]; !ok {
			continue
		}
		e := fromDetail(fmt.Sprintf("fetch %s-%d", tp.topic, tp.partition), p.GetError())
		if e != nil {
			switch {
			case errors.Is(e, ErrOffsetOutOfRange):
				r.pos[tp] = r.cfg.reset
				out = append(out, FetchPartition{Topic: tp.topic, Partition: tp.partition, HighWatermark: p.GetHighWatermark(), Err: e})
			case e.Retriable:
				retriable = true
			default:
				out = append(out, FetchPartition{Topic: tp.topic, Partition: tp.partition, HighWatermark: p.GetHighWatermark(), Err: e})
			}
			continue
		}
		recs, err := recordsOf(tp.topic, tp.partition, p.GetRecords(), p.GetRecordBatches())
		if err != nil {
			// A batch damaged on the way: read it again from the same
			// offset, as after any retriable error.
			r.c.cfg.logger.Warn("strata: fetched records not decoded", "topic", tp.topic, "partition", tp.partition, "err", err)
			retriable = true
			continue
		}
		r.pos[tp] = At(p.GetNextOffset())
		if len(recs) == 0 {
			continue
		}
		fp := FetchPartition{Topic: tp.topic, Partition: tp.partition, HighWatermark: p.GetHighWatermark(), Records: recs}
		bytes := 0
		for _, rec := range recs {
			bytes += rec.size()
		}
		r.c.eachHook(func(h Hook) {
			if hc, ok := h.(HookConsumeRecords); ok {
				hc.OnConsumeRecords(tp.topic, tp.partition, len(fp.Records), bytes)
			}
		})
		out = append(out, fp)
	}
	slices.SortFunc(out, func(a, b FetchPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	return out, retriable
}
