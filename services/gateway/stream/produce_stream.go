package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"sync/atomic"
	"time"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/services/gateway/router"
	"google.golang.org/grpc"
)

// Limits of a ProduceStream session.
const (
	// StreamInFlightBytes is the record bytes a session may have sent and
	// not yet seen acknowledged. Each byte in flight is held about three
	// times (the request, its built batches, the leader's copy), so this
	// bounds the memory a session holds; 16 MiB keeps a 2-core `strata
	// dev` at full speed (docs/performance.md).
	StreamInFlightBytes = 16 << 20
	// streamQueue bounds the requests read ahead of the writer (their
	// records within StreamInFlightBytes; refused ones hold none); past it
	// the reader stops reading and gRPC's flow control holds the client.
	streamQueue = 1024
	// throttleRetryAfter is what a refused request is told to wait.
	throttleRetryAfter = 20 * time.Millisecond
	// resendBackoff spaces the resends of a batch whose outcome is unknown.
	resendBackoff = 25 * time.Millisecond
	// maxCoalesced and maxCoalescedBytes bound the queued requests written
	// together in one append per partition.
	maxCoalesced      = 32
	maxCoalescedBytes = 8 << 20
)

// streamRequest is one request of a session, as the reader queued it.
type streamRequest struct {
	id      uint64
	records []*streamv1.ProduceRecord
	batches []*streamv1.RecordBatch // instead of records: encoded by the client
	size    int64                   // counted in flight until acknowledged
	refused *errs.Error             // answered without writing
	resend  bool                    // resent on a resumed session: written alone
}

// units is how many results the request's ack has: one per record, or one
// per client-encoded batch.
func (r *streamRequest) units() int {
	if r.batches != nil {
		return len(r.batches)
	}
	return len(r.records)
}

// ProduceStream implements StreamService.ProduceStream: a reader goroutine
// checks and queues requests (refusing, in order, those past the in-flight
// budget), and the handler writes them one after another, the requests
// queued behind one together, and acknowledges each in request order. It
// places and builds the next write while the one before is being written
// (a Kafka producer builds its batches while the broker appends), stamped
// with the sequences that write leaves if it succeeds.
func (s *Service) ProduceStream(stream grpc.BidiStreamingServer[streamv1.ProduceStreamRequest, streamv1.ProduceStreamResponse]) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	open := first.GetOpen()
	if open == nil {
		return invalid("open", "the first message of a session must open it")
	}
	if e := rpc.Validate(first); e != nil {
		return e
	}
	sess, e := s.openSession(ctx, open)
	if e != nil {
		return e
	}
	if err := stream.Send(&streamv1.ProduceStreamResponse{Message: &streamv1.ProduceStreamResponse_Opened{Opened: &streamv1.ProduceStreamOpened{
		ProducerId: sess.id, ProducerEpoch: int32(sess.epoch), MaxInFlightBytes: StreamInFlightBytes}}}); err != nil {
		return err
	}
	queue := make(chan *streamRequest, streamQueue)
	var inFlight atomic.Int64
	readErr := make(chan error, 1)
	go func() {
		defer close(queue)
		readErr <- sess.read(ctx, stream, queue, &inFlight)
	}()
	// One write runs at a time, in request order; the next is placed and
	// built meanwhile, stamped with the producer state the running one
	// leaves if it succeeds (execute builds it again if not).
	var cur *flight
	finish := func() error {
		if cur == nil {
			return nil
		}
		err := cur.ack(stream, <-cur.results, &inFlight)
		cur = nil
		return err
	}
	spec := sess.producer.clone() // the state once the planned writes succeed
	var held *streamRequest       // taken from the queue but not yet answered
	closed := false               // the reader is done
	for {
		r := held
		for held = nil; r == nil; {
			switch {
			case closed:
				if err := finish(); err != nil {
					return err
				}
				return <-readErr
			case cur == nil:
				var ok bool
				r, ok = <-queue
				closed = !ok
			default:
				select {
				case q, ok := <-queue:
					r, closed = q, !ok
				case res := <-cur.results:
					err := cur.ack(stream, res, &inFlight)
					if cur = nil; err != nil {
						return err
					}
				}
			}
		}
		if r.refused != nil {
			if err := finish(); err != nil {
				return err
			}
			if err := sendAck(stream, &streamv1.ProduceStreamAck{RequestId: r.id, Error: detail(r.refused)}); err != nil {
				return err
			}
			continue
		}
		// Write the requests waiting behind this one with it, as one
		// append per partition: under load a session then pays one round
		// trip per group of requests, and per partition the records keep
		// their request order.
		// A resent request is written alone, as the session that first
		// sent it may have: its batches must be the ones written then.
		run, size := []*streamRequest{r}, r.size
	drain:
		for !closed && !r.resend && len(run) < maxCoalesced && size < maxCoalescedBytes {
			select {
			case next, ok := <-queue:
				switch {
				case !ok:
					closed = true
				case next.refused != nil || next.resend:
					held = next
					break drain
				default:
					run, size = append(run, next), size+next.size
				}
			default:
				break drain
			}
		}
		w := sess.plan(run, &spec)
		if err := finish(); err != nil {
			return err
		}
		// The write before left another state than planned (it failed, or
		// the producer was reset): plan on from the state it left.
		if sess.idempotent && !w.built.equal(sess.producer) {
			spec = w.after(sess.producer)
		}
		f := &flight{run: run, results: make(chan *written, 1)}
		if len(queue) == 0 {
			// Nothing waits to be built meanwhile: write here, without the
			// hop to another goroutine (what a lone request waits for).
			if err := f.ack(stream, sess.execute(ctx, w), &inFlight); err != nil {
				return err
			}
			continue
		}
		cur = f
		go func() { f.results <- sess.execute(ctx, w) }()
	}
}

// flight is a write being executed.
type flight struct {
	run     []*streamRequest
	results chan *written
}

// ack answers the write's requests, in order, from its results.
func (f *flight) ack(stream grpc.BidiStreamingServer[streamv1.ProduceStreamRequest, streamv1.ProduceStreamResponse],
	w *written, inFlight *atomic.Int64) error {
	results := w.results
	for i, q := range f.run {
		ack := &streamv1.ProduceStreamAck{RequestId: q.id, Results: results[:q.units()]}
		if w.states != nil {
			ack.ProducerState = w.states[i]
		}
		results = results[q.units():]
		inFlight.Add(-q.size)
		if err := sendAck(stream, ack); err != nil {
			return err
		}
	}
	return nil
}

func sendAck(stream grpc.BidiStreamingServer[streamv1.ProduceStreamRequest, streamv1.ProduceStreamResponse], ack *streamv1.ProduceStreamAck) error {
	return stream.Send(&streamv1.ProduceStreamResponse{Message: &streamv1.ProduceStreamResponse_Ack{Ack: ack}})
}

// session is one ProduceStream's producer.
type session struct {
	s          *Service
	topic      string
	acks       storagev1.Acks
	codec      codec.Codec
	timeout    time.Duration
	idempotent bool
	producer   // the id (-1 without idempotence), epoch and next sequences
}

func (s *Service) openSession(ctx context.Context, open *streamv1.ProduceStreamOpen) (*session, *errs.Error) {
	t, e := s.lookupTopic(ctx, open.GetTopic(), "open.topic")
	if e != nil {
		return nil, e
	}
	sess := &session{s: s, topic: t.GetName(), timeout: DefaultProduceTimeout, idempotent: !open.GetDisableIdempotence(), producer: producer{id: -1, epoch: -1}}
	if sess.acks, e = storageAcks(open.GetAcks()); e != nil {
		return nil, e
	}
	if sess.codec, e = codecOf(open.GetCompression()); e != nil {
		return nil, e
	}
	if d := open.GetTimeout(); d != nil {
		sess.timeout = d.AsDuration()
	}
	resume := open.GetResume()
	switch {
	case !sess.idempotent && resume != nil:
		return nil, invalid("open.resume", "only an idempotent session can be resumed")
	case !sess.idempotent:
	case sess.acks != storagev1.Acks_ACKS_ALL:
		return nil, invalid("open.acks", "an idempotent session needs ACKS_ALL (as Kafka's enable.idempotence); set disable_idempotence for other acks")
	case resume != nil:
		if sess.producer, e = resumedProducer(resume, t.GetPartitionCount()); e != nil {
			return nil, e
		}
	default:
		if e := sess.newProducer(ctx); e != nil {
			return nil, e
		}
	}
	return sess, nil
}

// resumedProducer is the producer a resumed session goes on with.
func resumedProducer(r *streamv1.ProducerState, partitions int32) (producer, *errs.Error) {
	p := producer{id: r.GetProducerId(), epoch: int16(r.GetProducerEpoch()), seq: make(map[int32]int32, len(r.GetSequences()))}
	for i, ps := range r.GetSequences() {
		if ps.GetPartition() >= partitions {
			return producer{}, invalid(fmt.Sprintf("open.resume.sequences[%d].partition", i), "partition %d does not exist (the topic has %d)", ps.GetPartition(), partitions)
		}
		if _, dup := p.seq[ps.GetPartition()]; dup {
			return producer{}, invalid(fmt.Sprintf("open.resume.sequences[%d].partition", i), "partition %d is named twice", ps.GetPartition())
		}
		p.seq[ps.GetPartition()] = ps.GetNextSequence()
	}
	return p, nil
}

// state is the producer state p reports for partitions parts.
func (p producer) state(parts []int32) *streamv1.ProducerState {
	st := &streamv1.ProducerState{ProducerId: p.id, ProducerEpoch: int32(p.epoch)}
	for _, part := range parts {
		if seq, ok := p.seq[part]; ok {
			st.Sequences = append(st.Sequences, &streamv1.PartitionSequence{Partition: part, NextSequence: seq})
		}
	}
	return st
}

// newProducer takes a fresh producer id: every partition starts again at
// sequence 0 (a storage leader lets a producer it does not know start
// anywhere).
func (sess *session) newProducer(ctx context.Context) *errs.Error {
	if sess.s.pids == nil {
		return errs.New(errs.CoordinatorNotAvailable, "no producer id allocator")
	}
	id, err := sess.s.pids.Next(ctx)
	if err != nil {
		return errs.New(errs.CoordinatorNotAvailable, "allocating a producer id: %s", errs.Message(err))
	}
	sess.producer = producer{id: id, seq: map[int32]int32{}}
	return nil
}

// read queues the session's requests until the client closes its side
// (nil) or breaks the protocol.
func (sess *session) read(ctx context.Context, stream grpc.BidiStreamingServer[streamv1.ProduceStreamRequest, streamv1.ProduceStreamResponse],
	queue chan<- *streamRequest, inFlight *atomic.Int64) error {
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		b := m.GetBatch()
		if b == nil {
			return invalid("batch", "after the open, every message must be a batch")
		}
		r := &streamRequest{id: b.GetRequestId(), records: b.GetRecords(), batches: b.GetRecordBatches(), resend: b.GetResend()}
		if len(r.batches) == 0 {
			r.batches = nil
		}
		if e := rpc.Validate(b); e != nil {
			r.refused = e
		} else if t, e := sess.s.lookupTopic(ctx, sess.topic, "topic"); e != nil {
			r.refused = e
		} else if e := sess.check(t, r); e != nil {
			r.refused = e
		} else {
			r.size = int64(recordsSize(r.records) + batchesSize(r.batches))
			// A request larger than the whole budget passes when nothing
			// else is in flight, so no request is refused forever.
			if n := inFlight.Load(); n > 0 && n+r.size > StreamInFlightBytes {
				r.refused, r.size = throttled(n), 0
			} else {
				inFlight.Add(r.size)
			}
		}
		if r.refused != nil {
			r.records, r.batches = nil, nil // answered without them
		}
		select {
		case queue <- r:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// check validates a request's records or client-encoded batches.
func (sess *session) check(t *metadatav1.TopicRecord, r *streamRequest) *errs.Error {
	if r.batches == nil {
		return checkRecords(t, r.records)
	}
	if len(r.records) > 0 {
		return invalid("record_batches", "a request has records or record_batches, not both")
	}
	return checkBatches(t, r.batches)
}

func throttled(inFlight int64) *errs.Error {
	e := errs.New(errs.Throttled, "%d bytes of records are in flight, the session's budget is %d: retry after %v",
		inFlight, StreamInFlightBytes, throttleRetryAfter)
	e.Detail.RetryAfterMs = throttleRetryAfter.Milliseconds()
	return e
}

func recordsSize(recs []*streamv1.ProduceRecord) int {
	n := 0
	for _, r := range recs {
		n += recordSize(r)
	}
	return n
}

// pending is one partition's batches of a write, sent up to roundBatches
// per round (one append) so an idempotent producer's sequences reach the
// leader in order. Each request's records make their own batches, so a
// request resent on a resumed session is batched as it was the first time.
type pending struct {
	partition int32
	indexes   []int // the positions in the write's results of the records (of a client batch: the batch)
	records   int   // records in all
	chunks    []chunk
	callOf    []int   // the request of each chunk
	bases     []int64 // each chunk's base offset once written (-1: unknown)
	err       *errs.Error
	first     []byte // the first round's batches, built by plan
	firstErr  error
}

// roundBatches is how many batches of one partition a round appends
// together: the storage leader's bound for one idempotent write, so that a
// retried write is recognised whole (maxCoalesced requests of a batch each).
const roundBatches = 32

// producer is the producer id, epoch and next sequence per partition a
// write's batches are stamped with.
type producer struct {
	id    int64
	epoch int16
	seq   map[int32]int32
}

func (p producer) clone() producer {
	p.seq = maps.Clone(p.seq)
	return p
}

func (p producer) equal(q producer) bool {
	return p.id == q.id && p.epoch == q.epoch && maps.Equal(p.seq, q.seq)
}

// writePlan is one write of a session's requests, placed and with its
// first round of batches built, so that the next write is built while the
// one before it is being written.
type writePlan struct {
	units int                       // results of the write
	calls []int                     // the results of each request, in order
	out   []*streamv1.ProduceResult // set when the write fails whole
	now   int64
	parts []*pending
	built producer // what the first round was stamped with
}

// written is what a write's requests are answered with: one result per
// record and, of an idempotent session, the producer state after each
// request.
type written struct {
	results []*streamv1.ProduceResult
	states  []*streamv1.ProducerState
}

// after is p advanced by the plan's records, as if it is written.
func (w *writePlan) after(p producer) producer {
	p = p.clone()
	for _, pp := range w.parts {
		if p.seq != nil {
			p.seq[pp.partition] = nextSequence(p.seq[pp.partition], pp.records)
		}
	}
	return p
}

// plan places the records of requests written together (each as its own
// Produce call: a request's keyless records make one sticky batch; a
// client-encoded batch goes as it is) and builds the first round of
// batches stamped by as, advancing as by every record as if the write will
// succeed.
func (sess *session) plan(run []*streamRequest, as *producer) *writePlan {
	w := &writePlan{now: sess.s.now().UnixMilli(), built: as.clone()}
	for _, q := range run {
		w.units += q.units()
		w.calls = append(w.calls, q.units())
	}
	t, ok := sess.s.cache.Topic(sess.topic)
	if !ok {
		fail := errs.New(errs.UnknownTopicOrPartition, "topic %q does not exist", sess.topic)
		w.out = make([]*streamv1.ProduceResult, w.units)
		for i := range w.out {
			w.out[i] = &streamv1.ProduceResult{Partition: -1, Offset: -1, TimestampMs: w.now, Error: detail(fail)}
		}
		return w
	}
	maxBatch := maxMessageBytes(t)
	byPartition := map[int32]*pending{}
	partition := func(p int32) *pending {
		pp := byPartition[p]
		if pp == nil {
			pp = &pending{partition: p}
			byPartition[p] = pp
			w.parts = append(w.parts, pp)
		}
		return pp
	}
	for i, base := 0, 0; i < len(run); base, i = base+run[i].units(), i+1 {
		q := run[i]
		for k, b := range q.batches {
			pp := partition(b.GetPartition())
			n := int(recordbatch.RecordCountOf(b.GetBatch()))
			pp.indexes = append(pp.indexes, base+k)
			pp.records += n
			pp.chunks, pp.callOf = append(pp.chunks, chunk{raw: b.GetBatch(), n: n}), append(pp.callOf, i)
		}
		if q.batches != nil {
			continue
		}
		order, by := sess.s.place(t, q.records)
		for _, p := range order {
			pp := partition(p)
			recs := make([]*streamv1.ProduceRecord, len(by[p]))
			for j, k := range by[p] {
				recs[j] = q.records[k]
				pp.indexes = append(pp.indexes, base+k)
			}
			pp.records += len(recs)
			for _, c := range chunkRecords(recs, maxBatch) {
				pp.chunks, pp.callOf = append(pp.chunks, chunk{recs: c, n: len(c)}), append(pp.callOf, i)
			}
		}
	}
	for _, pp := range w.parts {
		pp.first, pp.firstErr = sess.batches(*as, pp.partition, pp.chunks[:min(roundBatches, len(pp.chunks))], w.now)
	}
	*as = w.after(*as)
	return w
}

// execute writes a plan and returns one result per record, in order. It
// alone changes the session's producer; a first round built for another
// producer state than the one it finds is built again.
func (sess *session) execute(ctx context.Context, w *writePlan) *written {
	if w.out != nil {
		return &written{results: w.out}
	}
	now, parts := w.now, w.parts
	start := sess.producer.clone()
	reset := false
	for round := 0; !reset; round++ {
		var items []*router.ProduceItem
		var of []*pending
		var sent [][]chunk // the chunks of each item
		for _, pp := range parts {
			first := len(pp.bases)
			if pp.err != nil || first >= len(pp.chunks) {
				continue
			}
			chunks := pp.chunks[first:min(first+roundBatches, len(pp.chunks))]
			batches, err := pp.first, pp.firstErr
			if round > 0 || (sess.idempotent && !sess.stamped(w.built, pp.partition)) {
				batches, err = sess.batches(sess.producer, pp.partition, chunks, now)
			}
			if err != nil {
				pp.err = errs.New(errs.InvalidRecord, "records of partition %d: %v", pp.partition, err)
				continue
			}
			items = append(items, &router.ProduceItem{Part: router.Part{Topic: sess.topic, Partition: pp.partition, ClientEpoch: -1}, Records: batches})
			of, sent = append(of, pp), append(sent, chunks)
		}
		if len(items) == 0 {
			break
		}
		sess.send(ctx, items)
		var cause *errs.Error
		for k, it := range items {
			pp := of[k]
			switch {
			case it.Err == nil, it.Err.Code() == errs.DuplicateSequence:
				// DUPLICATE_SEQUENCE_NUMBER: a resend the leader held
				// before and no longer remembers the offsets of.
				base := int64(-1)
				if it.Err == nil {
					base = it.Result.GetBaseOffset()
				}
				for _, c := range sent[k] {
					pp.bases = append(pp.bases, base)
					if base >= 0 {
						base += int64(c.n)
					}
					if sess.idempotent {
						sess.seq[pp.partition] = nextSequence(sess.seq[pp.partition], c.n)
					}
				}
			default:
				pp.err = it.Err
				// An outcome that stayed unknown, or sequences the leader
				// no longer agrees with: start over under a new producer
				// id, so no later batch can be taken for a duplicate.
				if sess.idempotent && (it.Err.Detail.GetRetriable() || it.Err.Code() == errs.OutOfOrderSequence || it.Err.Code() == errs.InvalidProducerEpoch) {
					reset, cause = true, it.Err
				}
			}
		}
		if reset {
			// The rest of the write (batches of a round not yet sent) is
			// not written: every batch this write did write carries the
			// producer it started with, which the acks' states rely on.
			for _, pp := range parts {
				if pp.err == nil && len(pp.bases) < len(pp.chunks) {
					pp.err = errs.New(cause.Code(), "not written: an earlier batch of the write failed: %s", errs.Message(cause))
				}
			}
			// Without a new id (no controller) the session goes on with
			// this one: a batch after a gap is refused, and that tries
			// again.
			_ = sess.newProducer(ctx)
		}
	}
	out := make([]*streamv1.ProduceResult, w.units)
	for _, pp := range parts {
		j := 0
		for c, ch := range pp.chunks {
			// A client batch has one result, its base offset's; a
			// record one per record.
			results := max(len(ch.recs), 1)
			for k := range results {
				i := pp.indexes[j]
				j++
				res := &streamv1.ProduceResult{Partition: pp.partition, Offset: -1, TimestampMs: now}
				switch {
				case ch.raw != nil:
					res.TimestampMs = recordbatch.MaxTimestampOf(ch.raw)
				case ch.recs[k].TimestampMs != nil:
					res.TimestampMs = *ch.recs[k].TimestampMs
				}
				switch {
				case c < len(pp.bases) && sess.acks != storagev1.Acks_ACKS_NONE && pp.bases[c] >= 0:
					res.Offset = pp.bases[c] + int64(k)
				case c >= len(pp.bases) && pp.err != nil:
					res.Error = detail(pp.err)
				}
				out[i] = res
			}
		}
	}
	res := &written{results: out}
	if sess.idempotent {
		res.states = w.states(start, sess.producer)
	}
	return res
}

// states is the producer state after each request of an executed write,
// for a client to resume from: the state the next request was stamped
// from. Within the write that is start advanced by the batches written up
// to the request (a partition's batches succeed in order, and all under
// start's producer); after the last request it is end, which is another
// producer when the write failed and the session started over.
func (w *writePlan) states(start, end producer) []*streamv1.ProducerState {
	touched := make([][]int32, len(w.calls))
	for _, pp := range w.parts {
		for _, q := range pp.callOf {
			if t := touched[q]; len(t) == 0 || t[len(t)-1] != pp.partition {
				touched[q] = append(touched[q], pp.partition)
			}
		}
	}
	out := make([]*streamv1.ProducerState, len(w.calls))
	cur := start.clone()
	if cur.seq == nil {
		cur.seq = map[int32]int32{}
	}
	next := make([]int, len(w.parts)) // per partition, the next chunk to count
	for q := range w.calls {
		if q == len(w.calls)-1 {
			out[q] = end.state(touched[q])
			break
		}
		for k, pp := range w.parts {
			for ; next[k] < len(pp.bases) && pp.callOf[next[k]] <= q; next[k]++ {
				cur.seq[pp.partition] = nextSequence(cur.seq[pp.partition], pp.chunks[next[k]].n)
			}
		}
		out[q] = cur.state(touched[q])
	}
	return out
}

// stamped says whether batches built as b for partition p carry the
// session's producer id, epoch and next sequence for p.
func (sess *session) stamped(b producer, p int32) bool {
	return b.id == sess.id && b.epoch == sess.epoch && b.seq[p] == sess.seq[p]
}

// batches encodes chunks for a partition, one batch each, stamped with
// as's producer id and consecutive sequences from its next one for the
// partition when the session is idempotent.
func (sess *session) batches(as producer, partition int32, chunks []chunk, now int64) ([]byte, error) {
	opts := recordbatch.ProducerOptions(sess.codec)
	if sess.idempotent {
		opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = as.id, as.epoch, as.seq[partition]
	}
	return buildChunks(chunks, now, opts)
}

// send writes the items; an idempotent session resends, with the same
// sequences, every item that failed retriably, until it succeeds or the
// session's timeout passes. A resent batch the leader already holds is
// answered with its original offset, so it is never written twice.
func (sess *session) send(ctx context.Context, items []*router.ProduceItem) {
	deadline := time.Now().Add(sess.timeout)
	for todo := items; ; {
		sess.s.router.Produce(ctx, sess.acks, max(time.Until(deadline), time.Millisecond), todo)
		if !sess.idempotent {
			return
		}
		var again []*router.ProduceItem
		for _, it := range todo {
			if it.Err != nil && it.Err.Detail.GetRetriable() {
				again = append(again, it)
			}
		}
		if len(again) == 0 || time.Until(deadline) < resendBackoff || ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(resendBackoff):
		}
		for _, it := range again {
			it.Err, it.Result = nil, nil
		}
		todo = again
	}
}

// nextSequence advances a sequence by n records, wrapping as Kafka's do.
func nextSequence(seq int32, n int) int32 {
	next := int64(seq) + int64(n)
	if next > math.MaxInt32 {
		next -= math.MaxInt32 + 1
	}
	return int32(next)
}
