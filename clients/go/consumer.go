package strata

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
)

// ConsumerOpt configures a [Consumer]; pass it to [Client.NewConsumer].
type ConsumerOpt interface{ applyConsumer(*consumerConfig) }

type consumerOpt func(*consumerConfig)

func (o consumerOpt) applyConsumer(c *consumerConfig) { o(c) }

type consumerConfig struct {
	start          Offset
	sessionTimeout time.Duration
	instanceID     string
	clientID       string
	autoCommit     bool
	interval       time.Duration
	manualMarks    bool
	maxPollRecords int
	bufRecords     int64
	bufBytes       int64
	onAssigned     func(context.Context, map[string][]int32)
	onRevoked      func(context.Context, map[string][]int32)
}

// ConsumeStartOffset is where the group starts a partition it has no
// committed offset for (and restarts one whose offset left the log):
// [AtStart] or [AtEnd] (the default, Kafka's auto.offset.reset=latest).
func ConsumeStartOffset(o Offset) ConsumerOpt {
	return consumerOpt(func(c *consumerConfig) { c.start = o })
}

// SessionTimeout is Kafka's session.timeout.ms, also the rebalance timeout:
// 6s to 30m, default the gateway's 45s.
func SessionTimeout(d time.Duration) ConsumerOpt {
	return consumerOpt(func(c *consumerConfig) { c.sessionTimeout = d })
}

// InstanceID makes the member static (Kafka's group.instance.id): a
// reconnect within the session timeout keeps its assignment without a
// rebalance.
func InstanceID(id string) ConsumerOpt {
	return consumerOpt(func(c *consumerConfig) { c.instanceID = id })
}

// ClientID is what group tools show for the member (default
// "strata-grpc").
func ClientID(id string) ConsumerOpt {
	return consumerOpt(func(c *consumerConfig) { c.clientID = id })
}

// AutoCommitInterval sets how often marked offsets are committed (default
// 5s).
func AutoCommitInterval(d time.Duration) ConsumerOpt {
	return consumerOpt(func(c *consumerConfig) {
		if d > 0 {
			c.interval = d
		}
	})
}

// DisableAutoCommit turns periodic commits off: only CommitSync and
// CommitRecords commit.
func DisableAutoCommit() ConsumerOpt {
	return consumerOpt(func(c *consumerConfig) { c.autoCommit = false })
}

// ManualMarking stops Poll from marking the records of the previous Poll
// as processed: only MarkCommit (and CommitRecords) mark offsets.
func ManualMarking() ConsumerOpt {
	return consumerOpt(func(c *consumerConfig) { c.manualMarks = true })
}

// MaxPollRecords bounds the records one Poll returns (default 1,000).
func MaxPollRecords(n int) ConsumerOpt {
	return consumerOpt(func(c *consumerConfig) {
		if n > 0 {
			c.maxPollRecords = n
		}
	})
}

// ConsumerBuffer bounds the records and bytes (keys, values, headers) the
// gateway may send ahead of Poll: the stream's credit. The defaults, 50,000
// records and 50 MiB, are what a Kafka consumer asks of one fetch
// (fetch.max.bytes, franz-go's FetchMaxBytes); a smaller buffer costs
// throughput, as a round trip then drains it.
func ConsumerBuffer(records, bytes int64) ConsumerOpt {
	return consumerOpt(func(c *consumerConfig) {
		if records > 0 {
			c.bufRecords = records
		}
		if bytes > 0 {
			c.bufBytes = bytes
		}
	})
}

// OnAssigned is called after every rebalance with the member's full new
// assignment (topic → partitions), before Poll returns records of it.
// It runs on the consumer's stream goroutine: while it runs nothing else
// is received, so it must not wait for CommitSync (whose answer comes on
// that goroutine).
func OnAssigned(fn func(ctx context.Context, assigned map[string][]int32)) ConsumerOpt {
	return consumerOpt(func(c *consumerConfig) { c.onAssigned = fn })
}

// OnRevoked is called when partitions are taken away (under an eager
// assignor every one of the member's before each rebalance; under
// cooperative-sticky those that move) and when the stream breaks. On a
// rebalance the partitions are still the member's while it runs, as in
// Kafka's onPartitionsRevoked: Poll no longer returns them, and OnRevoked
// may commit what was processed of them (CommitSync); with auto-commit the
// marks not yet committed are committed after it returns. The gateway
// waits for that (at most the session timeout). When the stream broke (or
// the member was fenced) they are already lost: commits fail. Marks not
// committed are then dropped and the next owner gets those records again
// from the last commit (at least once).
func OnRevoked(fn func(ctx context.Context, revoked map[string][]int32)) ConsumerOpt {
	return consumerOpt(func(c *consumerConfig) { c.onRevoked = fn })
}

// Consumer is one member of a consumer group for as long as it is open,
// over one Consume stream (reopened after a failure). The group is the one
// Kafka clients join under the same id, so gRPC and Kafka members can share
// it. Records come from Poll, per partition in offset order from the
// group's committed offset.
//
// Commits: Poll marks the records the previous Poll returned as processed
// (unless [ManualMarking]), MarkCommit marks explicitly, and marked offsets
// are committed every [AutoCommitInterval] (unless [DisableAutoCommit]),
// by CommitSync, and at Close. An offset is committed only if it was
// marked, and only for a partition the member still holds, so the group's
// offsets never pass what was processed. Delivery is at least once:
// records processed after the last commit of a partition that moves are
// delivered again to its next owner.
//
// Poll, MarkCommit, CommitSync, Pause and Resume may be called from
// different goroutines.
type Consumer struct {
	c      *Client
	cfg    consumerConfig
	group  string
	topics []string

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // the stream goroutine ended

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced when the buffer or state changes
	stream     streamv1.StreamService_ConsumeClient
	sendMu     sync.Mutex // one Send at a time on stream
	generation int32
	memberID   string
	assigned   map[topicPartition]bool
	buf        map[topicPartition][]*Record
	bufOrder   []topicPartition // partitions with buffered records, oldest first
	paused     map[topicPartition]bool
	marks      map[topicPartition]int64 // next offset to commit
	committed  map[topicPartition]int64
	lastPolled map[topicPartition]int64 // offset after the previous Poll's records
	commitSeq  uint64
	waiters    map[uint64]chan commitOutcome
	err        error // fatal: the consumer stopped
	closed     bool
	// processing: records the last Poll returned are in the caller's
	// hands (until it calls Poll again).
	processing bool
}

type commitOutcome struct {
	res *streamv1.ConsumeCommitResult
	err error
}

// NewConsumer joins group, consuming topics, and returns at once; the
// member joins in the background and Poll returns records once it has an
// assignment.
func (c *Client) NewConsumer(group string, topics []string, opts ...ConsumerOpt) (*Consumer, error) {
	cfg := consumerConfig{start: AtEnd(), autoCommit: true, interval: 5 * time.Second, maxPollRecords: 1000,
		bufRecords: 50000, bufBytes: 50 << 20}
	for _, o := range opts {
		o.applyConsumer(&cfg)
	}
	if group == "" {
		return nil, fmt.Errorf("strata: new consumer: %w: empty group id", ErrInvalidRequest)
	}
	if len(topics) == 0 {
		return nil, fmt.Errorf("strata: new consumer of %s: %w: no topics", group, ErrInvalidRequest)
	}
	if cfg.start.kind != offsetStart && cfg.start.kind != offsetEnd {
		return nil, fmt.Errorf("strata: new consumer of %s: %w: start offset must be AtStart or AtEnd", group, ErrInvalidRequest)
	}
	if c.ctx.Err() != nil {
		return nil, ErrClosed
	}
	k := &Consumer{c: c, cfg: cfg, group: group, topics: slices.Clone(topics), done: make(chan struct{}),
		changed: make(chan struct{}), assigned: map[topicPartition]bool{}, buf: map[topicPartition][]*Record{},
		paused: map[topicPartition]bool{}, marks: map[topicPartition]int64{}, committed: map[topicPartition]int64{},
		lastPolled: map[topicPartition]int64{}, waiters: map[uint64]chan commitOutcome{}}
	k.ctx, k.cancel = context.WithCancel(c.ctx)
	go k.run()
	if cfg.autoCommit {
		go k.autoCommit()
	}
	return k, nil
}

// notify wakes Poll and other waiters; k.mu must be held.
func (k *Consumer) notify() {
	close(k.changed)
	k.changed = make(chan struct{})
}

// run keeps a Consume stream open until the consumer closes or fails.
func (k *Consumer) run() {
	defer close(k.done)
	what := "consume group " + k.group
	for attempt := 1; ; attempt++ {
		err := k.session()
		k.lose(err)
		k.mu.Lock()
		closed := k.closed
		k.mu.Unlock()
		if k.ctx.Err() != nil || closed {
			return
		}
		// The server's own verdicts (a Strata or Kafka code) that a retry
		// cannot fix stop the consumer; transport failures reconnect.
		var e *Error
		if errors.As(err, &e) && !e.Retriable && (e.Code != 0 || e.KafkaCode != 0) {
			k.mu.Lock()
			k.err = err
			k.notify()
			k.mu.Unlock()
			k.c.cfg.logger.Warn("strata: consumer stopped", "group", k.group, "err", err)
			return
		}
		k.c.cfg.logger.Info("strata: consumer stream broke; reconnecting", "group", k.group, "attempt", attempt, "err", err)
		k.c.eachHook(func(h Hook) {
			if hr, ok := h.(HookReconnect); ok {
				hr.OnReconnect(what, err)
			}
		})
		if !sleepCtx(k.ctx, k.c.cfg.backoff(attempt)) {
			return
		}
	}
}

// session opens one stream and serves it until it ends.
func (k *Consumer) session() error {
	op := "consume group " + k.group
	ctx, cancel := context.WithCancel(k.ctx)
	defer cancel()
	st, err := k.c.stream.Consume(ctx, grpc.ForceCodecV2(consumeCodec{}))
	if err != nil {
		return wrapErr(op, err)
	}
	open := &streamv1.ConsumeOpen{GroupId: k.group, Topics: k.topics, ClientId: k.cfg.clientID,
		StartPosition: streamv1.LogPosition_LOG_POSITION_LATEST, RevokeAck: true, RecordBatches: true}
	if k.cfg.start.kind == offsetStart {
		open.StartPosition = streamv1.LogPosition_LOG_POSITION_EARLIEST
	}
	if k.cfg.instanceID != "" {
		open.InstanceId = &k.cfg.instanceID
	}
	if k.cfg.sessionTimeout > 0 {
		open.SessionTimeout = durationpb.New(k.cfg.sessionTimeout)
	}
	k.mu.Lock()
	if k.memberID != "" {
		id := k.memberID
		open.MemberId = &id
	}
	k.mu.Unlock()
	if err := k.send(st, &streamv1.ConsumeRequest{Message: &streamv1.ConsumeRequest_Open{Open: open}}); err != nil {
		return wrapErr(op, recvConsumeErr(st, err))
	}
	if err := k.send(st, creditMsg(k.cfg.bufRecords, k.cfg.bufBytes)); err != nil {
		return wrapErr(op, recvConsumeErr(st, err))
	}
	// Only now may Poll, commits and pauses use the stream: the open goes
	// first, then the partitions paused so far.
	// sendMu is taken first (as everywhere: never while k.mu is held), so
	// a Pause or Resume made meanwhile is sent after this set.
	k.sendMu.Lock()
	k.mu.Lock()
	paused := groupByTopic(slices.Collect(maps.Keys(k.paused)))
	k.stream = st
	k.mu.Unlock()
	var perr error
	if len(paused) > 0 {
		perr = st.SendMsg(pauseMsg(paused, false))
	}
	k.sendMu.Unlock()
	if perr != nil {
		return wrapErr(op, recvConsumeErr(st, perr))
	}
	defer func() {
		k.mu.Lock()
		k.stream = nil
		k.mu.Unlock()
	}()
	for {
		msg, err := st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return &Error{Op: op, Message: "the gateway ended the stream", Retriable: true}
			}
			return wrapErr(op, err)
		}
		switch m := msg.GetMessage().(type) {
		case *streamv1.ConsumeResponse_Assigned:
			k.assign(m.Assigned)
		case *streamv1.ConsumeResponse_Revoked:
			parts := partsOf(m.Revoked.GetPartitions())
			if m.Revoked.GetAwaitingDone() {
				// Off this goroutine, which must go on receiving the
				// answers of the commits made meanwhile.
				go k.revokeAndAnswer(st, parts)
			} else {
				k.drop(parts, true)
			}
		case *streamv1.ConsumeResponse_Records:
			if err := k.received(st, m.Records); err != nil {
				return &Error{Op: op, Message: err.Error(), Retriable: true}
			}
		case *streamv1.ConsumeResponse_CommitResult:
			k.mu.Lock()
			w := k.waiters[m.CommitResult.GetCommitId()]
			delete(k.waiters, m.CommitResult.GetCommitId())
			k.mu.Unlock()
			if w != nil {
				w <- commitOutcome{res: m.CommitResult}
			}
		}
	}
}

func recvConsumeErr(st streamv1.StreamService_ConsumeClient, sendErr error) error {
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

func creditMsg(records, bytes int64) *streamv1.ConsumeRequest {
	return &streamv1.ConsumeRequest{Message: &streamv1.ConsumeRequest_Credit{Credit: &streamv1.ConsumeCredit{Records: records, Bytes: bytes}}}
}

func (k *Consumer) send(st streamv1.StreamService_ConsumeClient, m *streamv1.ConsumeRequest) error {
	k.sendMu.Lock()
	defer k.sendMu.Unlock()
	return st.SendMsg(m)
}

// assign takes a new assignment.
func (k *Consumer) assign(a *streamv1.ConsumeAssigned) {
	k.mu.Lock()
	k.generation, k.memberID = a.GetGeneration(), a.GetMemberId()
	k.assigned = map[topicPartition]bool{}
	for _, tp := range a.GetPartitions() {
		for _, p := range tp.GetPartitions() {
			k.assigned[topicPartition{tp.GetTopic(), p}] = true
		}
	}
	assigned := groupByTopic(slices.Collect(maps.Keys(k.assigned)))
	k.notify()
	k.mu.Unlock()
	k.c.cfg.logger.Debug("strata: consumer assigned", "group", k.group, "generation", a.GetGeneration(), "partitions", assigned)
	if k.cfg.onAssigned != nil {
		k.cfg.onAssigned(k.ctx, assigned)
	}
}

func partsOf(tps []*streamv1.TopicPartitions) []topicPartition {
	var parts []topicPartition
	for _, tp := range tps {
		for _, p := range tp.GetPartitions() {
			parts = append(parts, topicPartition{tp.GetTopic(), p})
		}
	}
	return parts
}

// revokeAndAnswer gives up partitions the gateway keeps the member's until
// it answers: Poll stops returning them, OnRevoked runs (and may commit
// them), the marks not yet committed are committed (with auto-commit),
// and then they are dropped and the gateway told.
func (k *Consumer) revokeAndAnswer(st streamv1.StreamService_ConsumeClient, parts []topicPartition) {
	k.unbuffer(parts)
	k.awaitPollDone()
	revoked := groupByTopic(parts)
	if k.cfg.onRevoked != nil {
		k.cfg.onRevoked(k.ctx, revoked)
	}
	if k.cfg.autoCommit {
		ctx, cancel := context.WithTimeout(k.ctx, revokeCommitTimeout)
		if err := k.CommitSync(ctx); err != nil {
			k.c.cfg.logger.Info("strata: commit before revocation failed", "group", k.group, "partitions", revoked, "err", err)
		}
		cancel()
	}
	k.drop(parts, false)
	_ = k.send(st, &streamv1.ConsumeRequest{Message: &streamv1.ConsumeRequest_RevokeDone{RevokeDone: &streamv1.ConsumeRevokeDone{}}})
}

// revokeCommitTimeout bounds the commit made before a revocation is
// answered.
const revokeCommitTimeout = 10 * time.Second

// awaitPollDone waits until the records the last Poll returned are done
// with (the caller polls again, or closes), as a Kafka consumer revokes
// only inside poll: what was processed of them is then marked. It waits
// at most two thirds of the session timeout, within which the gateway
// must hear back.
func (k *Consumer) awaitPollDone() {
	session := k.cfg.sessionTimeout
	if session <= 0 {
		session = 45 * time.Second
	}
	deadline := time.NewTimer(session * 2 / 3)
	defer deadline.Stop()
	k.mu.Lock()
	defer k.mu.Unlock()
	for k.processing && !k.closed {
		ch := k.changed
		k.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			k.mu.Lock()
			return
		case <-k.ctx.Done():
			k.mu.Lock()
			return
		}
		k.mu.Lock()
	}
}

// unbuffer drops the buffered records of parts (giving their credit back)
// so that Poll no longer returns them.
func (k *Consumer) unbuffer(parts []topicPartition) {
	k.mu.Lock()
	var recs, bytes int64
	for _, tp := range parts {
		for _, r := range k.buf[tp] {
			recs++
			bytes += int64(r.size())
		}
		delete(k.buf, tp)
	}
	k.bufOrder = slices.DeleteFunc(k.bufOrder, func(tp topicPartition) bool { return k.buf[tp] == nil })
	st := k.stream
	k.notify()
	k.mu.Unlock()
	if st != nil && recs > 0 {
		_ = k.send(st, creditMsg(recs, bytes))
	}
}

// lose gives up every partition after the stream ended.
func (k *Consumer) lose(err error) {
	k.mu.Lock()
	parts := slices.Collect(maps.Keys(k.assigned))
	waiters := k.waiters
	k.waiters = map[uint64]chan commitOutcome{}
	k.mu.Unlock()
	for _, w := range waiters {
		w <- commitOutcome{err: err}
	}
	k.drop(parts, true)
	k.mu.Lock()
	// The new stream gets fresh credit; nothing buffered is left.
	k.buf, k.bufOrder = map[topicPartition][]*Record{}, nil
	k.mu.Unlock()
}

// drop gives partitions up: their buffered records (whose credit goes
// back) and their marks; callback says whether OnRevoked is still to run.
func (k *Consumer) drop(parts []topicPartition, callback bool) {
	if len(parts) == 0 {
		return
	}
	k.unbuffer(parts)
	k.mu.Lock()
	for _, tp := range parts {
		delete(k.assigned, tp)
		delete(k.marks, tp)
		delete(k.committed, tp)
		delete(k.lastPolled, tp)
	}
	k.notify()
	k.mu.Unlock()
	revoked := groupByTopic(parts)
	k.c.cfg.logger.Debug("strata: consumer revoked", "group", k.group, "partitions", revoked)
	if callback && k.cfg.onRevoked != nil {
		k.cfg.onRevoked(k.ctx, revoked)
	}
}

// received buffers records of a partition the member holds. It fails on a
// record batch it cannot decode, and then buffers nothing of m.
func (k *Consumer) received(st streamv1.StreamService_ConsumeClient, m *streamv1.ConsumeRecords) error {
	tp := topicPartition{m.GetTopic(), m.GetPartition()}
	recs, err := recordsOf(tp.topic, tp.partition, m.GetRecords(), m.GetRecordBatches())
	if err != nil {
		return fmt.Errorf("records of %s[%d]: %w", tp.topic, tp.partition, err)
	}
	bytes := 0
	for _, r := range recs {
		bytes += r.size()
	}
	k.c.eachHook(func(h Hook) {
		if hc, ok := h.(HookConsumeRecords); ok {
			hc.OnConsumeRecords(tp.topic, tp.partition, len(recs), bytes)
		}
	})
	k.mu.Lock()
	if !k.assigned[tp] {
		k.mu.Unlock()
		_ = k.send(st, creditMsg(int64(len(recs)), int64(bytes)))
		return nil
	}
	if len(k.buf[tp]) == 0 {
		k.bufOrder = append(k.bufOrder, tp)
	}
	k.buf[tp] = append(k.buf[tp], recs...)
	k.notify()
	k.mu.Unlock()
	return nil
}

// Poll returns the next records, grouped by partition, waiting until some
// are there or ctx is done (then it returns ctx's error). Unless
// ManualMarking, it first marks the records of the previous Poll as
// processed. It fails with the consumer's error once the consumer stopped
// (a fatal group error such as FENCED_INSTANCE_ID), and with ErrClosed
// after Close.
func (k *Consumer) Poll(ctx context.Context) (Fetches, error) {
	k.mu.Lock()
	if !k.cfg.manualMarks {
		for tp, next := range k.lastPolled {
			if k.assigned[tp] && next > k.marks[tp] {
				k.marks[tp] = next
			}
		}
	}
	clear(k.lastPolled)
	if k.processing {
		k.processing = false // the records of the previous Poll are done with
		k.notify()
	}
	for {
		switch {
		case k.closed:
			k.mu.Unlock()
			return nil, ErrClosed
		case k.err != nil:
			err := k.err
			k.mu.Unlock()
			return nil, err
		}
		if out, recs, bytes, st := k.take(); len(out) > 0 {
			k.processing = true
			k.mu.Unlock()
			if st != nil {
				_ = k.send(st, creditMsg(recs, bytes))
			}
			return out, nil
		}
		ch := k.changed
		k.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		k.mu.Lock()
	}
}

// take removes up to MaxPollRecords buffered records of partitions not
// paused, oldest partition first; k.mu is held.
func (k *Consumer) take() (out Fetches, recs, bytes int64, st streamv1.StreamService_ConsumeClient) {
	budget := k.cfg.maxPollRecords
	var rest []topicPartition
	for _, tp := range k.bufOrder {
		if budget == 0 || k.paused[tp] {
			rest = append(rest, tp)
			continue
		}
		b := k.buf[tp]
		n := min(len(b), budget)
		fp := FetchPartition{Topic: tp.topic, Partition: tp.partition, Records: b[:n:n], HighWatermark: -1}
		for _, r := range fp.Records {
			recs++
			bytes += int64(r.size())
		}
		budget -= n
		k.lastPolled[tp] = fp.Records[n-1].Offset + 1
		out = append(out, fp)
		if n < len(b) {
			k.buf[tp] = b[n:]
			rest = append(rest, tp)
		} else {
			delete(k.buf, tp)
		}
	}
	k.bufOrder = rest
	return out, recs, bytes, k.stream
}

// MarkCommit marks records as processed: the next commit commits, per
// partition, the offset after the highest marked record. Marks for
// partitions the member no longer holds are ignored.
func (k *Consumer) MarkCommit(records ...*Record) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, r := range records {
		if r == nil {
			continue
		}
		tp := topicPartition{r.Topic, r.Partition}
		if k.assigned[tp] && r.Offset+1 > k.marks[tp] {
			k.marks[tp] = r.Offset + 1
		}
	}
}

// CommitSync commits the marked offsets not yet committed and waits for
// the coordinator's answer. It returns nil when there is nothing to
// commit, and the partitions' errors joined when some fail (after a
// revocation: ErrIllegalGeneration).
func (k *Consumer) CommitSync(ctx context.Context) error {
	op := "commit group " + k.group
	k.mu.Lock()
	st := k.stream
	commit := &streamv1.ConsumeCommit{}
	for tp, off := range k.marks {
		if k.assigned[tp] && off > k.committed[tp] {
			commit.Offsets = append(commit.Offsets, &streamv1.ConsumeOffset{Topic: tp.topic, Partition: tp.partition, Offset: off})
		}
	}
	if len(commit.Offsets) == 0 {
		k.mu.Unlock()
		return nil
	}
	if st == nil {
		k.mu.Unlock()
		return &Error{Op: op, Message: "the consumer's stream is reconnecting", Retriable: true}
	}
	k.commitSeq++
	commit.CommitId = k.commitSeq
	w := make(chan commitOutcome, 1)
	k.waiters[commit.CommitId] = w
	k.mu.Unlock()
	if err := k.send(st, &streamv1.ConsumeRequest{Message: &streamv1.ConsumeRequest_Commit{Commit: commit}}); err != nil {
		k.mu.Lock()
		delete(k.waiters, commit.CommitId)
		k.mu.Unlock()
		return wrapErr(op, err)
	}
	var out commitOutcome
	select {
	case out = <-w:
	case <-ctx.Done():
		k.mu.Lock()
		delete(k.waiters, commit.CommitId)
		k.mu.Unlock()
		return fmt.Errorf("%s: %w", op, ctx.Err())
	}
	if out.err != nil {
		return out.err
	}
	var errs []error
	k.mu.Lock()
	for i, r := range out.res.GetResults() {
		tp := topicPartition{r.GetTopic(), r.GetPartition()}
		if e := fromDetail(fmt.Sprintf("%s %s-%d", op, tp.topic, tp.partition), r.GetError()); e != nil {
			errs = append(errs, e)
			continue
		}
		if i < len(commit.Offsets) && k.assigned[tp] && commit.Offsets[i].GetOffset() > k.committed[tp] {
			k.committed[tp] = commit.Offsets[i].GetOffset()
		}
	}
	k.mu.Unlock()
	return errors.Join(errs...)
}

// CommitRecords marks records and commits every marked offset.
func (k *Consumer) CommitRecords(ctx context.Context, records ...*Record) error {
	k.MarkCommit(records...)
	return k.CommitSync(ctx)
}

// Committed returns the offsets this member committed in its current
// assignment (topic → partition → next offset to read).
func (k *Consumer) Committed() map[string]map[int32]int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string]map[int32]int64{}
	for tp, o := range k.committed {
		if out[tp.topic] == nil {
			out[tp.topic] = map[int32]int64{}
		}
		out[tp.topic][tp.partition] = o
	}
	return out
}

// Assignment returns the partitions the member holds now.
func (k *Consumer) Assignment() map[string][]int32 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return groupByTopic(slices.Collect(maps.Keys(k.assigned)))
}

// Pause stops Poll from returning records of the partitions, and the
// gateway from fetching them, until Resume (Kafka's pause): records already
// buffered wait, and the other partitions keep flowing. The pause lasts
// across rebalances and reconnects.
func (k *Consumer) Pause(topic string, partitions ...int32) {
	k.setPaused(topic, partitions, false)
}

// Resume lets Poll return records of paused partitions again, and the
// gateway fetch them.
func (k *Consumer) Resume(topic string, partitions ...int32) {
	k.setPaused(topic, partitions, true)
}

func (k *Consumer) setPaused(topic string, partitions []int32, resume bool) {
	k.mu.Lock()
	for _, p := range partitions {
		if resume {
			delete(k.paused, topicPartition{topic, p})
		} else {
			k.paused[topicPartition{topic, p}] = true
		}
	}
	st := k.stream
	k.notify()
	k.mu.Unlock()
	if st != nil {
		// A stream that breaks meanwhile gets the whole set when it reopens.
		_ = k.send(st, pauseMsg(map[string][]int32{topic: partitions}, resume))
	}
}

func pauseMsg(parts map[string][]int32, resume bool) *streamv1.ConsumeRequest {
	return &streamv1.ConsumeRequest{Message: &streamv1.ConsumeRequest_Pause{Pause: &streamv1.ConsumePause{
		Partitions: toTopicPartitions(parts), Resume: resume}}}
}

func (k *Consumer) autoCommit() {
	t := time.NewTicker(k.cfg.interval)
	defer t.Stop()
	for {
		select {
		case <-k.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(k.ctx, k.cfg.interval)
		if err := k.CommitSync(ctx); err != nil && k.ctx.Err() == nil {
			k.c.cfg.logger.Info("strata: auto-commit", "group", k.group, "err", err)
		}
		cancel()
	}
}

// Close commits what is marked (unless auto-commit is off), then ends the
// stream, so a dynamic member leaves the group at once. ctx bounds the
// commit.
func (k *Consumer) Close(ctx context.Context) error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	if !k.cfg.manualMarks {
		for tp, next := range k.lastPolled {
			if k.assigned[tp] && next > k.marks[tp] {
				k.marks[tp] = next
			}
		}
	}
	k.mu.Unlock()
	var err error
	if k.cfg.autoCommit {
		err = k.CommitSync(ctx)
	}
	k.mu.Lock()
	k.closed = true
	st := k.stream
	k.notify()
	k.mu.Unlock()
	if st != nil {
		// Close our side and wait for the gateway to end the stream: it
		// does once the member has left the group, so the group moves the
		// partitions at once, not after the session timeout.
		k.sendMu.Lock()
		_ = st.CloseSend()
		k.sendMu.Unlock()
		t := time.NewTimer(closeLeaveWait)
		select {
		case <-k.done:
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	k.cancel()
	<-k.done
	return err
}

// closeLeaveWait bounds how long Close waits for the gateway to confirm
// the member left.
const closeLeaveWait = 5 * time.Second

func groupByTopic(parts []topicPartition) map[string][]int32 {
	out := map[string][]int32{}
	for _, tp := range parts {
		out[tp.topic] = append(out[tp.topic], tp.partition)
	}
	for _, ps := range out {
		slices.Sort(ps)
	}
	return out
}
