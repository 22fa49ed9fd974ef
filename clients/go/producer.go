package strata

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/strata-io/strata/api/kafkabatch"
	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Producer writes records asynchronously over ProduceStream sessions, one
// per topic, which it opens on first use and reopens after a failure.
//
// The producer partitions every record itself ([KafkaPartitioner] by
// default) and sends explicit partitions, collects records into requests
// (up to [MaxBatchBytes] or 10,000 records, waiting at most [Linger]), and
// keeps within the session's in-flight budget. A record's promise is called
// once, with the record (partition, offset and timestamp filled in) and nil,
// or with the error; promises are called from one goroutine per topic, in
// order per partition.
//
// Guarantees (idempotent by default, with AcksAll): an acknowledged record
// was written exactly once, even across storage-leader failovers, which
// the gateway handles, and across broken sessions: when a session breaks
// (the gateway dies, the connection drops) the producer opens a new one
// that resumes the same idempotent producer (the state the acks reported)
// and resends, in order and unchanged, every request not yet acknowledged,
// so one the broken session wrote is recognised and not written again. A
// resent record whose batch the partition leader no longer remembers (more
// than 32 batches per partition behind) is acknowledged with Offset -1:
// written once, its offset unknown. Without idempotence a reconnect is at
// least once. See docs/clients-go.md.
//
// A Producer is safe for concurrent use. Close it (which flushes) when done.
type Producer struct {
	c   *Client
	cfg producerConfig

	ctx    context.Context // cancelled when the producer is shut down
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	changed     chan struct{} // closed and replaced when buffered space or outstanding records drop
	bufRecords  int           // records holding buffer space
	bufBytes    int64
	outstanding int // records whose promise has not returned yet
	flushing    int // Flush and ProduceSync callers waiting
	closed      bool
	topics      map[string]*topicProducer
}

// NewProducer returns a producer that writes through the client.
func (c *Client) NewProducer(opts ...ProducerOpt) (*Producer, error) {
	cfg := defaultProducerConfig()
	for _, o := range opts {
		o.applyProducer(&cfg)
	}
	if cfg.acks != AcksAll {
		cfg.idempotent = false
	}
	if c.ctx.Err() != nil {
		return nil, ErrClosed
	}
	p := &Producer{c: c, cfg: cfg, changed: make(chan struct{}), topics: map[string]*topicProducer{}}
	p.ctx, p.cancel = context.WithCancel(c.ctx)
	return p, nil
}

// pendingRecord is a record with its promise, from Produce to its ack.
type pendingRecord struct {
	r        *Record
	promise  func(*Record, error)
	deadline time.Time
	size     int // as the gateway counts it
}

// Produce buffers r to be written to r.Topic and calls promise (which may
// be nil) once its outcome is known. It blocks while the buffer is full
// (MaxBufferedRecords, MaxBufferedBytes) until there is space or ctx is
// done; ctx bounds only that wait, and DeliveryTimeout bounds the rest.
// A promise must not call a blocking Produce: it could wait for space only
// its own return frees.
func (p *Producer) Produce(ctx context.Context, r *Record, promise func(*Record, error)) {
	p.produce(ctx, r, promise, true)
}

// TryProduce is Produce without the wait: when the buffer is full it calls
// promise at once with ErrMaxBuffered.
func (p *Producer) TryProduce(ctx context.Context, r *Record, promise func(*Record, error)) {
	p.produce(ctx, r, promise, false)
}

func (p *Producer) produce(ctx context.Context, r *Record, promise func(*Record, error), block bool) {
	if promise == nil {
		promise = func(*Record, error) {}
	}
	if r == nil {
		promise(r, fmt.Errorf("%w: nil record", ErrInvalidRecord))
		return
	}
	p.c.eachHook(func(h Hook) {
		if hp, ok := h.(HookProduceRecord); ok {
			hp.OnProduceRecord(ctx, r)
		}
	})
	if err := p.validate(r); err != nil {
		promise(r, err)
		return
	}
	pr := &pendingRecord{r: r, promise: promise, deadline: time.Now().Add(p.cfg.deliveryTimeout), size: r.wireSize()}
	t, err := p.reserve(ctx, r.Topic, pr.size, block)
	if err != nil {
		promise(r, err)
		return
	}
	t.enqueue(pr)
}

func (p *Producer) validate(r *Record) error {
	if r.Topic == "" {
		return fmt.Errorf("%w: no topic", ErrInvalidRecord)
	}
	for i, h := range r.Headers {
		if h.Key == "" {
			return fmt.Errorf("%w: header %d has an empty key", ErrInvalidRecord, i)
		}
	}
	if n := r.wireSize(); n > p.cfg.maxBatchBytes {
		return fmt.Errorf("%w: record of %d bytes is larger than MaxBatchBytes %d", ErrInvalidRecord, n, p.cfg.maxBatchBytes)
	}
	if r.Timestamp.UnixMilli() < 0 && !r.Timestamp.IsZero() {
		return fmt.Errorf("%w: timestamp %v is before 1970", ErrInvalidRecord, r.Timestamp)
	}
	return nil
}

// reserve takes buffer space for one record of size bytes and returns the
// topic's producer.
func (p *Producer) reserve(ctx context.Context, topic string, size int, block bool) (*topicProducer, error) {
	p.mu.Lock()
	for {
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		if p.bufRecords < p.cfg.maxBufferedRecords && (p.bufBytes == 0 || p.bufBytes+int64(size) <= p.cfg.maxBufferedBytes) {
			break
		}
		if !block {
			p.mu.Unlock()
			return nil, ErrMaxBuffered
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("strata: waiting for producer buffer space: %w", ctx.Err())
		case <-p.ctx.Done():
			return nil, ErrClosed
		}
		p.mu.Lock()
	}
	p.bufRecords++
	p.bufBytes += int64(size)
	p.outstanding++
	t := p.topics[topic]
	if t == nil {
		t = newTopicProducer(p, topic)
		p.topics[topic] = t
		p.wg.Add(1)
		go t.run()
	}
	p.mu.Unlock()
	return t, nil
}

// release gives back the buffer space of records.
func (p *Producer) release(records int, bytes int64) {
	p.mu.Lock()
	p.bufRecords -= records
	p.bufBytes -= bytes
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// finished counts records whose promises returned.
func (p *Producer) finished(records int) {
	p.mu.Lock()
	p.outstanding -= records
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// urgent reports whether requests should be cut without lingering.
func (p *Producer) urgent() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.flushing > 0 || p.closed
}

// ProduceSync produces records and waits for all of them, without
// lingering. It returns nil when every record was written, else the errors
// joined (each naming its record's topic); the records carry their
// partitions and offsets.
func (p *Producer) ProduceSync(ctx context.Context, records ...*Record) error {
	p.startFlush()
	defer p.endFlush()
	var wg sync.WaitGroup
	errs := make([]error, len(records))
	wg.Add(len(records))
	for i, r := range records {
		p.Produce(ctx, r, func(r *Record, err error) {
			if err != nil {
				errs[i] = err
			}
			wg.Done()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (p *Producer) startFlush() {
	p.mu.Lock()
	p.flushing++
	topics := make([]*topicProducer, 0, len(p.topics))
	for _, t := range p.topics {
		topics = append(topics, t)
	}
	p.mu.Unlock()
	for _, t := range topics {
		t.signal()
	}
}

func (p *Producer) endFlush() {
	p.mu.Lock()
	p.flushing--
	p.mu.Unlock()
}

// Flush sends every buffered record at once and waits until every record
// produced before the call (and during it) has its outcome and its promise
// has returned, or ctx is done.
func (p *Producer) Flush(ctx context.Context) error {
	p.startFlush()
	defer p.endFlush()
	for {
		p.mu.Lock()
		n, ch := p.outstanding, p.changed
		p.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("strata: flush: %d records outstanding: %w", n, ctx.Err())
		}
	}
}

// BufferedRecords returns how many records are produced and not yet
// acknowledged.
func (p *Producer) BufferedRecords() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bufRecords
}

// Close stops accepting records, flushes what is buffered (each record
// still bounded by its delivery timeout), ends the sessions and fails
// whatever is left with ErrClosed. It is safe to call more than once.
func (p *Producer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.deliveryTimeout)
	err := p.Flush(ctx)
	cancel()
	p.cancel()
	p.wg.Wait()
	return err
}

// request is one ProduceStream request: records of one topic, each with an
// explicit partition.
type request struct {
	id       uint64
	recs     []*pendingRecord
	batchOf  [][]int // sent as record batches: the records (indexes in recs) of each
	bytes    int64   // as the gateway counts them
	msg      *streamv1.ProduceStreamRequest
	deadline time.Time // the earliest delivery deadline of its records
	sent     time.Time
}

// topicProducer is the producer of one topic: its queue, its requests in
// flight, and the goroutine that runs its sessions.
type topicProducer struct {
	p     *Producer
	topic string
	part  TopicPartitioner // used by the run goroutine only
	wake  chan struct{}    // capacity 1: something changed

	mu            sync.Mutex
	queue         []*pendingRecord // not yet in a request, in Produce order
	queueBytes    int
	firstAt       time.Time  // when queue[0] was produced
	inflight      []*request // sent, not acknowledged, in send order
	inflightBytes int64
	nextID        uint64
	resend        []*request // throttled: to send again on this session
	resendAt      time.Time
	retries       int       // consecutive acks with records to send again
	retryAt       time.Time // not before: the backoff of those records
	// The idempotent producer the acks reported: what a new session
	// resumes (hasState false: none yet, or not idempotent).
	hasState   bool
	producerID int64
	epoch      int32
	seqs       map[int32]int32 // next sequence per partition
}

// resumeState is what a new session resumes, or nil.
func (t *topicProducer) resumeState() *streamv1.ProducerState {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.hasState {
		return nil
	}
	st := &streamv1.ProducerState{ProducerId: t.producerID, ProducerEpoch: t.epoch}
	for p, n := range t.seqs {
		st.Sequences = append(st.Sequences, &streamv1.PartitionSequence{Partition: p, NextSequence: n})
	}
	return st
}

// noteState takes in the producer state an ack or an open reported: a new
// producer id or epoch starts over, otherwise its partitions move on.
// t.mu is held.
func (t *topicProducer) noteState(id int64, epoch int32, seqs []*streamv1.PartitionSequence) {
	if !t.hasState || id != t.producerID || epoch != t.epoch {
		t.hasState, t.producerID, t.epoch = true, id, epoch
		t.seqs = make(map[int32]int32, len(seqs))
	}
	for _, ps := range seqs {
		t.seqs[ps.GetPartition()] = ps.GetNextSequence()
	}
}

func newTopicProducer(p *Producer, topic string) *topicProducer {
	return &topicProducer{p: p, topic: topic, part: p.cfg.partitioner.ForTopic(topic), wake: make(chan struct{}, 1)}
}

func (t *topicProducer) signal() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *topicProducer) enqueue(pr *pendingRecord) {
	t.mu.Lock()
	if len(t.queue) == 0 {
		t.firstAt = time.Now()
	}
	t.queue = append(t.queue, pr)
	t.queueBytes += pr.size
	full := t.queueBytes >= t.p.cfg.maxBatchBytes || len(t.queue) >= maxRequestRecords
	first := len(t.queue) == 1
	t.mu.Unlock()
	if full || first || t.p.cfg.linger == 0 {
		t.signal()
	}
}

// idle reports whether nothing is queued or in flight.
func (t *topicProducer) idle() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.queue) == 0 && len(t.inflight) == 0
}

// run opens sessions and serves them until the producer shuts down.
func (t *topicProducer) run() {
	defer t.p.wg.Done()
	what := "produce " + t.topic
	attempt, unknown := 0, 0
	for {
		// Open a session only when there is something to send.
		for t.idle() {
			select {
			case <-t.wake:
			case <-t.p.ctx.Done():
				return
			}
		}
		if t.p.ctx.Err() != nil {
			t.failAll(ErrClosed)
			return
		}
		s, err := t.open()
		if errors.Is(err, ErrUnknownTopic) {
			if unknown++; t.p.cfg.unknownRetries >= 0 && unknown > t.p.cfg.unknownRetries {
				t.failAll(err)
				unknown = 0
				continue
			}
		}
		if err == nil {
			attempt, unknown = 0, 0
			err = s.serve()
			if err == nil {
				continue // ended on purpose: open a new one if needed
			}
		}
		if t.p.ctx.Err() != nil {
			t.failAll(ErrClosed)
			return
		}
		if !IsRetriable(err) && !isStreamBreak(err) {
			t.p.c.cfg.logger.Warn("strata: producer session refused", "topic", t.topic, "err", err)
			t.failAll(err)
			continue
		}
		attempt++
		t.p.c.cfg.logger.Info("strata: producer session broke; reconnecting", "topic", t.topic, "attempt", attempt, "err", err)
		t.p.c.eachHook(func(h Hook) {
			if hr, ok := h.(HookReconnect); ok {
				hr.OnReconnect(what, err)
			}
		})
		t.failExpired(err)
		if errors.Is(err, ErrUnknownTopic) {
			if _, merr := t.p.c.topicMeta(t.p.ctx, t.topic, true); merr != nil {
				t.p.c.cfg.logger.Debug("strata: topic metadata", "topic", t.topic, "err", merr)
			}
		}
		if !sleepCtx(t.p.ctx, t.p.c.cfg.backoff(attempt)) {
			t.failAll(ErrClosed)
			return
		}
	}
}

// isStreamBreak reports errors of a stream that ended under the client:
// the connection dropped, or the gateway went away.
func isStreamBreak(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Code == commonv1.ErrorCode_ERROR_CODE_UNSPECIFIED && e.KafkaCode == 0
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// failAll fails every queued and in-flight record with err.
func (t *topicProducer) failAll(err error) {
	t.mu.Lock()
	queue, inflight := t.queue, t.inflight
	t.queue, t.queueBytes, t.inflight, t.inflightBytes = nil, 0, nil, 0
	t.hasState = false // nothing left to recognise: the next session starts afresh
	t.mu.Unlock()
	for _, rq := range inflight {
		t.finish(rq.recs, func(int) error { return err })
	}
	t.finish(queue, func(int) error { return err })
}

// failExpired fails the records past their delivery deadline: queued ones,
// and in-flight requests whose earliest deadline passed (their outcome is
// unknown; cause says why they were not acknowledged).
func (t *topicProducer) failExpired(cause error) {
	now := time.Now()
	t.mu.Lock()
	var expired []*pendingRecord
	keep := t.queue[:0]
	for _, pr := range t.queue {
		if now.After(pr.deadline) {
			expired = append(expired, pr)
			t.queueBytes -= pr.size
		} else {
			keep = append(keep, pr)
		}
	}
	clear(t.queue[len(keep):])
	t.queue = keep
	var expiredReqs []*request
	keepReqs := t.inflight[:0]
	for _, rq := range t.inflight {
		if now.After(rq.deadline) {
			expiredReqs = append(expiredReqs, rq)
			t.inflightBytes -= rq.bytes
		} else {
			keepReqs = append(keepReqs, rq)
		}
	}
	clear(t.inflight[len(keepReqs):])
	t.inflight = keepReqs
	t.mu.Unlock()
	err := fmt.Errorf("%w (last error: %v)", ErrDeliveryTimeout, cause)
	for _, rq := range expiredReqs {
		t.finish(rq.recs, func(int) error { return err })
	}
	t.finish(expired, func(int) error { return err })
}

// finish calls the promises of recs (errOf(i) nil is success) and gives
// back their buffer space.
func (t *topicProducer) finish(recs []*pendingRecord, errOf func(i int) error) {
	if len(recs) == 0 {
		return
	}
	var bytes int64
	for _, pr := range recs {
		bytes += int64(pr.size)
	}
	t.p.release(len(recs), bytes)
	for i, pr := range recs {
		pr.promise(pr.r, errOf(i))
	}
	t.p.finished(len(recs))
}

// session is one open ProduceStream.
type session struct {
	t        *topicProducer
	stream   streamv1.StreamService_ProduceStreamClient
	cancel   context.CancelFunc
	budget   int64
	recvDone chan error
}

// open starts a session: the open message, then the server's opened.
func (t *topicProducer) open() (*session, error) {
	op := "produce " + t.topic
	if _, err := t.p.c.topicMeta(t.p.ctx, t.topic, false); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(t.p.ctx)
	st, err := t.p.c.stream.ProduceStream(ctx)
	if err != nil {
		cancel()
		return nil, wrapErr(op, err)
	}
	open := &streamv1.ProduceStreamOpen{Topic: t.topic, Acks: t.p.cfg.acks.proto(), Compression: t.p.cfg.compression.proto(),
		DisableIdempotence: !t.p.cfg.idempotent}
	open.Resume = t.resumeState()
	if t.p.cfg.requestTimeout > 0 {
		open.Timeout = durationpb.New(t.p.cfg.requestTimeout)
	}
	if err := st.Send(&streamv1.ProduceStreamRequest{Message: &streamv1.ProduceStreamRequest_Open{Open: open}}); err != nil {
		cancel()
		return nil, wrapErr(op, recvErr(st, err))
	}
	// The opened message must come within a bound, or the session is
	// abandoned and opened again.
	timer := time.AfterFunc(30*time.Second, cancel)
	msg, err := st.Recv()
	timer.Stop()
	if err != nil {
		cancel()
		return nil, wrapErr(op, err)
	}
	opened := msg.GetOpened()
	if opened == nil {
		cancel()
		return nil, &Error{Op: op, Message: "the gateway answered the open with something else than opened"}
	}
	if t.p.cfg.idempotent && open.Resume == nil {
		t.mu.Lock()
		t.noteState(opened.GetProducerId(), opened.GetProducerEpoch(), nil)
		t.mu.Unlock()
	}
	budget := t.p.cfg.maxInFlightBytes
	if b := opened.GetMaxInFlightBytes(); b > 0 {
		budget = min(budget, b)
	}
	t.p.c.cfg.logger.Debug("strata: producer session open", "topic", t.topic, "producer_id", opened.GetProducerId(),
		"producer_epoch", opened.GetProducerEpoch(), "max_in_flight_bytes", budget)
	return &session{t: t, stream: st, cancel: cancel, budget: budget, recvDone: make(chan error, 1)}, nil
}

// recvErr returns the stream's status after a failed Send (Send only says
// io.EOF; Recv has the reason).
func recvErr(st streamv1.StreamService_ProduceStreamClient, sendErr error) error {
	if !errors.Is(sendErr, io.EOF) {
		return sendErr
	}
	for {
		if _, err := st.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
}

// serve resends the requests in flight, then cuts and sends new ones while
// a goroutine reads the acks, until the stream breaks (its error) or the
// producer shuts down and everything is done (nil).
func (s *session) serve() error {
	t := s.t
	defer s.cancel()
	t.mu.Lock()
	resend := append([]*request(nil), t.inflight...)
	t.resend = nil
	t.mu.Unlock()
	go s.recv()
	for _, rq := range resend {
		// Written alone, so the gateway batches it as the first time and
		// the leader recognises what the broken session wrote.
		rq.msg.GetBatch().Resend = t.p.cfg.idempotent
		rq.sent = time.Now()
		if err := s.stream.Send(rq.msg); err != nil {
			return s.stop(err)
		}
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		rq, wait := s.throttled()
		if rq == nil && wait == 0 {
			rq, wait = s.cut()
		}
		if rq != nil {
			if err := s.stream.Send(rq.msg); err != nil {
				return s.stop(err)
			}
			continue
		}
		var timerC <-chan time.Time
		if wait > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			timerC = timer.C
		}
		select {
		case <-t.wake:
		case <-timerC:
		case err := <-s.recvDone:
			return err
		case <-t.p.ctx.Done():
			return s.stop(ErrClosed)
		}
		if timer != nil && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// stop ends the session after a failed Send or a shutdown, waits for the
// ack reader, and returns the stream's error (or cause).
func (s *session) stop(cause error) error {
	if errors.Is(cause, io.EOF) {
		// The server ended the stream: its status is what Recv returns.
		if err := <-s.recvDone; err != nil {
			return err
		}
		return io.ErrUnexpectedEOF
	}
	s.cancel()
	<-s.recvDone
	return cause
}

// throttled returns a throttled request due to be sent again, or how long
// until one is.
func (s *session) throttled() (*request, time.Duration) {
	t := s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.resend) == 0 {
		return nil, 0
	}
	if wait := time.Until(t.resendAt); wait > 0 {
		return nil, wait
	}
	rq := t.resend[0]
	t.resend = t.resend[1:]
	rq.sent = time.Now()
	return rq, 0
}

// cut takes the next request off the queue when it is due (full, lingered
// long enough, or a flush) and the in-flight budget allows it; otherwise it
// returns how long to wait before it may be due (0: until woken).
func (s *session) cut() (*request, time.Duration) {
	t := s.t
	cfg := &t.p.cfg
	urgent := t.p.urgent()
	meta, err := t.p.c.topicMeta(t.p.ctx, t.topic, false)
	if err != nil {
		return nil, 100 * time.Millisecond
	}
	var failed []*pendingRecord
	var failErr []error
	defer func() {
		for i, pr := range failed {
			t.finish([]*pendingRecord{pr}, func(int) error { return failErr[i] })
		}
	}()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.queue) == 0 {
		return nil, 0
	}
	if wait := time.Until(t.retryAt); wait > 0 {
		return nil, wait
	}
	full := t.queueBytes >= cfg.maxBatchBytes || len(t.queue) >= maxRequestRecords
	if !full && !urgent {
		if wait := cfg.linger - time.Since(t.firstAt); wait > 0 {
			return nil, wait
		}
	}
	if t.inflightBytes > 0 && t.inflightBytes+int64(min(t.queueBytes, cfg.maxBatchBytes)) > s.budget {
		return nil, 0 // an ack wakes us
	}
	available := func(i int) bool { return i < len(meta.leaders) && meta.leaders[i] }
	now := time.Now()
	rq := &request{deadline: now.Add(cfg.deliveryTimeout)}
	batch := &streamv1.ProduceStreamBatch{}
	n := 0
	for n < len(t.queue) && len(rq.recs) < maxRequestRecords {
		pr := t.queue[n]
		if len(rq.recs) > 0 && rq.bytes+int64(pr.size) > int64(cfg.maxBatchBytes) {
			break
		}
		n++
		if now.After(pr.deadline) {
			failed, failErr = append(failed, pr), append(failErr, ErrDeliveryTimeout)
			continue
		}
		part := t.part.Partition(pr.r, meta.partitions, available)
		if part < 0 || part >= meta.partitions {
			failed = append(failed, pr)
			failErr = append(failErr, fmt.Errorf("%w: partition %d of topic %s with %d partitions", ErrInvalidRecord, part, t.topic, meta.partitions))
			continue
		}
		pr.r.Partition = int32(part)
		rq.recs = append(rq.recs, pr)
		rq.bytes += int64(pr.size)
		rq.deadline = minTime(rq.deadline, pr.deadline)
		if cfg.compression != CompressionNone {
			batch.Records = append(batch.Records, pr.r.toProto())
		}
	}
	for _, pr := range t.queue[:n] {
		t.queueBytes -= pr.size
	}
	clear(t.queue[:n])
	t.queue = t.queue[n:]
	if len(t.queue) > 0 {
		t.firstAt = now
		t.signal() // more may be due at once
	}
	if len(rq.recs) == 0 {
		return nil, 0
	}
	if cfg.compression == CompressionNone {
		// Uncompressed, the records go as Kafka record batches the client
		// encodes, which the gateway writes as they are.
		batch.RecordBatches, rq.batchOf = encodeBatches(rq.recs, now)
		rq.bytes = 0
		for _, b := range batch.RecordBatches {
			rq.bytes += int64(len(b.Batch))
		}
	}
	t.part.OnNewBatch()
	t.nextID++
	rq.id = t.nextID
	batch.RequestId = rq.id
	rq.msg = &streamv1.ProduceStreamRequest{Message: &streamv1.ProduceStreamRequest_Batch{Batch: batch}}
	rq.sent = now
	t.inflight = append(t.inflight, rq)
	t.inflightBytes += rq.bytes
	return rq, 0
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// recv reads acks until the stream ends, completing requests in order.
func (s *session) recv() {
	t := s.t
	for {
		msg, err := s.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the client never closes its side first
			} else {
				err = wrapErr("produce "+t.topic, err)
			}
			s.recvDone <- err
			return
		}
		ack := msg.GetAck()
		if ack == nil {
			s.recvDone <- &Error{Op: "produce " + t.topic, Message: "the gateway sent something else than an ack"}
			return
		}
		if err := s.complete(ack); err != nil {
			s.recvDone <- err
			return
		}
		t.signal()
	}
}

// complete handles one ack: the first request in flight must be its.
func (s *session) complete(ack *streamv1.ProduceStreamAck) error {
	t := s.t
	op := "produce " + t.topic
	t.mu.Lock()
	if len(t.inflight) == 0 || t.inflight[0].id != ack.GetRequestId() {
		t.mu.Unlock()
		return &Error{Op: op, Message: fmt.Sprintf("ack for request %d out of order", ack.GetRequestId())}
	}
	rq := t.inflight[0]
	t.inflight[0] = nil
	t.inflight = t.inflight[1:]
	t.inflightBytes -= rq.bytes
	if st := ack.GetProducerState(); st != nil && t.hasState {
		t.noteState(st.GetProducerId(), st.GetProducerEpoch(), st.GetSequences())
	}
	if e := fromDetail(op, ack.GetError()); e != nil && e.Code == commonv1.ErrorCode_ERROR_CODE_THROTTLED {
		// Nothing of it was written: send it again on this session after
		// the wait the gateway asked for; its ack then comes after those
		// of the requests now in flight. The producer keeps within the
		// gateway's budget, so this should not happen; if it does, its
		// records may land after records of later requests.
		t.inflight = append(t.inflight, rq)
		t.inflightBytes += rq.bytes
		t.resend = append(t.resend, rq)
		t.resendAt = time.Now().Add(max(e.RetryAfter, 10*time.Millisecond))
		t.mu.Unlock()
		return nil
	}
	t.mu.Unlock()
	errOf := make([]error, len(rq.recs))
	var again []*pendingRecord // to send again: nothing of them was written
	if e := fromDetail(op, ack.GetError()); e != nil {
		for i := range errOf {
			errOf[i] = e
		}
	} else {
		results, within := rq.results(ack.GetResults())
		now := time.Now()
		for i, pr := range rq.recs {
			res := results[i]
			if res == nil {
				errOf[i] = &Error{Op: op, Message: "the ack has fewer results than the request has records"}
				continue
			}
			if d := res.GetError(); d != nil {
				e := fromDetail(fmt.Sprintf("produce %s-%d", t.topic, res.GetPartition()), d)
				// An idempotent session already resent the batch until its
				// timeout; a plain one did not, and these errors say nothing
				// was appended, so the record is sent again.
				if !t.p.cfg.idempotent && notWritten(e) && now.Before(pr.deadline) {
					again = append(again, pr)
					errOf[i] = errRetry
					continue
				}
				errOf[i] = e
				continue
			}
			pr.r.Partition = res.GetPartition()
			pr.r.Offset = res.GetOffset()
			if rq.batchOf == nil {
				pr.r.Timestamp = time.UnixMilli(res.GetTimestampMs())
			} else if pr.r.Offset >= 0 {
				pr.r.Offset += int64(within[i]) // a batch's result has its base offset
			}
		}
	}
	failed := 0
	done := make([]*pendingRecord, 0, len(rq.recs))
	doneErr := make([]error, 0, len(rq.recs))
	for i, pr := range rq.recs {
		if errOf[i] == errRetry {
			continue
		}
		if errOf[i] != nil {
			failed++
		}
		done, doneErr = append(done, pr), append(doneErr, errOf[i])
	}
	took := time.Since(rq.sent)
	t.p.c.eachHook(func(h Hook) {
		if ha, ok := h.(HookProduceAck); ok {
			ha.OnProduceAck(t.topic, len(rq.recs), int(rq.bytes), took, failed)
		}
	})
	t.requeue(again)
	t.finish(done, func(i int) error { return doneErr[i] })
	return nil
}

// results gives each record of the request its result from an ack's: the
// record's own, or its batch's with the record's place in the batch.
func (rq *request) results(acked []*streamv1.ProduceResult) ([]*streamv1.ProduceResult, []int) {
	out := make([]*streamv1.ProduceResult, len(rq.recs))
	if rq.batchOf == nil {
		copy(out, acked)
		return out, nil
	}
	within := make([]int, len(rq.recs))
	for b, idxs := range rq.batchOf {
		if b >= len(acked) {
			break
		}
		for k, i := range idxs {
			out[i], within[i] = acked[b], k
		}
	}
	return out, within
}

// maxEncodedBatch bounds a batch the producer encodes: Kafka's default
// max.message.bytes (1048588) less some room, as Kafka producers keep
// batch.size under it.
const maxEncodedBatch = 1 << 20

// encodeBatches encodes records (their partitions set) as Kafka record
// batches, one per partition in the order the partitions first appear (more
// when one passes maxEncodedBatch), stamping records without a timestamp
// with now. It returns the batches and the records of each.
func encodeBatches(recs []*pendingRecord, now time.Time) ([]*streamv1.RecordBatch, [][]int) {
	type open struct {
		w    kafkabatch.Builder
		idxs []int
	}
	var out []*streamv1.RecordBatch
	var of [][]int
	var order []int32
	byPartition := map[int32]*open{}
	left := map[int32]int{} // bytes of the partition's records not yet added
	for _, pr := range recs {
		left[pr.r.Partition] += pr.size
	}
	flush := func(p int32, o *open) {
		out = append(out, &streamv1.RecordBatch{Partition: p, Batch: o.w.Finish()})
		of = append(of, o.idxs)
	}
	for i, pr := range recs {
		r := pr.r
		if r.Timestamp.IsZero() {
			r.Timestamp = now
		}
		var hs []kafkabatch.Header
		if len(r.Headers) > 0 {
			hs = make([]kafkabatch.Header, len(r.Headers))
			for j, h := range r.Headers {
				hs[j] = kafkabatch.Header{Key: h.Key, Value: h.Value}
			}
		}
		o := byPartition[r.Partition]
		if o != nil && o.w.Len()+kafkabatch.RecordSize(r.Key, r.Value, hs) > maxEncodedBatch {
			flush(r.Partition, o)
			o = nil
		}
		if o == nil {
			o = &open{}
			o.w.Reset(make([]byte, 0, kafkabatch.HeaderSize+min(maxEncodedBatch, left[r.Partition])))
			if _, seen := byPartition[r.Partition]; !seen {
				order = append(order, r.Partition)
			}
			byPartition[r.Partition] = o
		}
		o.w.Add(r.Key, r.Value, r.Timestamp.UnixMilli(), hs)
		o.idxs = append(o.idxs, i)
		left[r.Partition] -= pr.size
	}
	for _, p := range order {
		flush(p, byPartition[p])
	}
	return out, of
}

// errRetry marks a record to send again.
var errRetry = errors.New("retry")

// notWritten reports errors after which the partition leader surely did
// not append the records.
func notWritten(e *Error) bool {
	switch e.Code {
	case commonv1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER, commonv1.ErrorCode_ERROR_CODE_LEADER_NOT_AVAILABLE,
		commonv1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS, commonv1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION:
		return true
	}
	return false
}

// requeue puts records back at the head of the queue, to be sent after a
// backoff; none resets the backoff.
func (t *topicProducer) requeue(recs []*pendingRecord) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(recs) == 0 {
		t.retries = 0
		return
	}
	t.retries++
	t.retryAt = time.Now().Add(t.p.c.cfg.backoff(t.retries))
	for _, pr := range recs {
		t.queueBytes += pr.size
	}
	t.queue = append(recs, t.queue...)
	t.firstAt = time.Now()
}
