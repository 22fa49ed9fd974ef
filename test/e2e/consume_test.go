package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
)

// franzPoller polls a franz-go group consumer until the test ends,
// recording the offsets it receives (one topic).
type franzPoller struct {
	mu  sync.Mutex
	got map[int32]map[int64]bool
}

func pollFranz(t *testing.T, fc *kgo.Client) *franzPoller {
	f := &franzPoller{got: map[int32]map[int64]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := fc.PollFetches(ctx)
			f.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				if f.got[r.Partition] == nil {
					f.got[r.Partition] = map[int64]bool{}
				}
				f.got[r.Partition][r.Offset] = true
			})
			f.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

func (f *franzPoller) received(p int32, o int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got[p][o]
}

// grpcConsumer is one Consume stream of a test, with what it received.
type grpcConsumer struct {
	t      *testing.T
	name   string
	st     streamv1.StreamService_ConsumeClient
	cancel context.CancelFunc
	sendMu sync.Mutex

	mu       sync.Mutex
	assigned *streamv1.ConsumeAssigned // nil after a revocation
	revokes  int
	revoked  []int32           // every partition revoked (one topic), in order
	got      map[int32][]int64 // offsets received per partition (one topic)
	next     map[int32]int64   // the offset after the last one received
	results  map[uint64]*streamv1.ConsumeCommitResult
	end      error
	done     chan struct{}
}

func openConsumer(t *testing.T, sc streamv1.StreamServiceClient, name string, open *streamv1.ConsumeOpen) *grpcConsumer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sc.Consume(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &grpcConsumer{t: t, name: name, st: st, cancel: cancel, got: map[int32][]int64{}, next: map[int32]int64{},
		results: map[uint64]*streamv1.ConsumeCommitResult{}, done: make(chan struct{})}
	t.Cleanup(func() { cancel(); <-c.done })
	c.send(&streamv1.ConsumeRequest{Message: &streamv1.ConsumeRequest_Open{Open: open}})
	go c.receive()
	return c
}

func (c *grpcConsumer) send(r *streamv1.ConsumeRequest) {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if err := c.st.Send(r); err != nil {
		c.t.Logf("%s: send: %v", c.name, err)
	}
}

func (c *grpcConsumer) receive() {
	defer close(c.done)
	for {
		m, err := c.st.Recv()
		c.mu.Lock()
		if err != nil {
			c.end = err
			c.mu.Unlock()
			return
		}
		switch msg := m.GetMessage().(type) {
		case *streamv1.ConsumeResponse_Assigned:
			c.assigned = msg.Assigned
		case *streamv1.ConsumeResponse_Revoked:
			c.assigned = nil
			c.revokes++
			for _, tp := range msg.Revoked.GetPartitions() {
				c.revoked = append(c.revoked, tp.GetPartitions()...)
			}
		case *streamv1.ConsumeResponse_Records:
			r := msg.Records
			for _, rec := range r.GetRecords() {
				c.got[r.GetPartition()] = append(c.got[r.GetPartition()], rec.GetOffset())
				c.next[r.GetPartition()] = rec.GetOffset() + 1
			}
		case *streamv1.ConsumeResponse_CommitResult:
			c.results[msg.CommitResult.GetCommitId()] = msg.CommitResult
		}
		c.mu.Unlock()
	}
}

func (c *grpcConsumer) receivedOffset(p int32, o int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.got[p], o)
}

func (c *grpcConsumer) revokeCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.revokes
}

func (c *grpcConsumer) revokedParts() []int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.revoked)
}

func (c *grpcConsumer) credit(records, bytes int64) {
	c.send(&streamv1.ConsumeRequest{Message: &streamv1.ConsumeRequest_Credit{Credit: &streamv1.ConsumeCredit{Records: records, Bytes: bytes}}})
}

// owned is the current assignment's partitions (one topic), nil while
// revoked.
func (c *grpcConsumer) owned() []int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.assigned == nil {
		return nil
	}
	var out []int32
	for _, tp := range c.assigned.GetPartitions() {
		out = append(out, tp.GetPartitions()...)
	}
	slices.Sort(out)
	return out
}

func (c *grpcConsumer) assignedGeneration() int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.assigned.GetGeneration()
}

func (c *grpcConsumer) received() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, offs := range c.got {
		n += len(offs)
	}
	return n
}

// commit commits the next offsets of the given partitions and waits for
// the result.
func (c *grpcConsumer) commit(id uint64, topic string, offsets map[int32]int64) *streamv1.ConsumeCommitResult {
	c.t.Helper()
	cm := &streamv1.ConsumeCommit{CommitId: id}
	for p, o := range offsets {
		cm.Offsets = append(cm.Offsets, &streamv1.ConsumeOffset{Topic: topic, Partition: p, Offset: o})
	}
	c.send(&streamv1.ConsumeRequest{Message: &streamv1.ConsumeRequest_Commit{Commit: cm}})
	var res *streamv1.ConsumeCommitResult
	testutil.WaitFor(c.t, 20*time.Second, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if res = c.results[id]; res == nil {
			return fmt.Errorf("%s: no result for commit %d (stream end %v)", c.name, id, c.end)
		}
		return nil
	})
	return res
}

// commitReceived commits, for every partition the consumer owns, the offset
// after the last record it received.
func (c *grpcConsumer) commitReceived(id uint64, topic string) {
	c.t.Helper()
	offsets := map[int32]int64{}
	c.mu.Lock()
	for p, n := range c.next {
		offsets[p] = n
	}
	c.mu.Unlock()
	owned := c.owned()
	for p := range offsets {
		if !slices.Contains(owned, p) {
			delete(offsets, p)
		}
	}
	for _, r := range c.commit(id, topic, offsets).GetResults() {
		if r.GetError() != nil {
			c.t.Fatalf("%s: commit %s-%d: %v", c.name, r.GetTopic(), r.GetPartition(), r.GetError())
		}
	}
}

func consumeOpen(group, topic string) *streamv1.ConsumeOpen {
	return &streamv1.ConsumeOpen{GroupId: group, Topics: []string{topic}, StartPosition: streamv1.LogPosition_LOG_POSITION_EARLIEST,
		SessionTimeout: durationpb.New(6 * time.Second)}
}

// produceKeyed writes n keyed records to topic through the stream API.
func produceKeyed(t *testing.T, sc streamv1.StreamServiceClient, topic, prefix string, n int) {
	t.Helper()
	req := &streamv1.ProduceRequest{Topic: topic}
	for i := range n {
		req.Records = append(req.Records, &streamv1.ProduceRecord{Key: fmt.Appendf(nil, "%s-key-%d", prefix, i), Value: fmt.Appendf(nil, "%s-%d", prefix, i)})
	}
	produceOK(t, sc, req)
}

// waitSplit waits until the consumers own disjoint, non-empty parts of the
// topic's n partitions that together cover all of them.
func waitSplit(t *testing.T, n int, cs ...*grpcConsumer) {
	t.Helper()
	testutil.WaitFor(t, 45*time.Second, func() error {
		var all []int32
		for _, c := range cs {
			o := c.owned()
			if len(o) == 0 {
				return fmt.Errorf("%s owns nothing", c.name)
			}
			all = append(all, o...)
		}
		slices.Sort(all)
		if len(slices.Compact(slices.Clone(all))) != len(all) || len(all) != n {
			return fmt.Errorf("assignments overlap or miss partitions: %v", all)
		}
		return nil
	})
}

// checkExactlyOnce checks that the consumers received every offset below
// each partition's count exactly once between them.
func checkExactlyOnce(t *testing.T, counts map[int32]int64, cs ...*grpcConsumer) {
	t.Helper()
	seen := map[int32]map[int64]int{}
	for _, c := range cs {
		c.mu.Lock()
		for p, offs := range c.got {
			if seen[p] == nil {
				seen[p] = map[int64]int{}
			}
			for _, o := range offs {
				seen[p][o]++
			}
		}
		c.mu.Unlock()
	}
	for p, n := range counts {
		for o := range n {
			if seen[p][o] != 1 {
				t.Errorf("partition %d offset %d received %d times", p, o, seen[p][o])
			}
		}
	}
}

// partitionCounts is the number of records in each partition of topic.
func partitionCounts(t *testing.T, sc streamv1.StreamServiceClient, topic string, n int) map[int32]int64 {
	t.Helper()
	req := &streamv1.ListOffsetsRequest{}
	for p := range n {
		req.Partitions = append(req.Partitions, &streamv1.ListOffsetsPartition{Topic: topic, Partition: int32(p),
			Query: &streamv1.ListOffsetsPartition_Position{Position: streamv1.LogPosition_LOG_POSITION_LATEST}})
	}
	resp, err := sc.ListOffsets(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for _, r := range resp.GetPartitions() {
		out[r.GetPartition()] = r.GetOffset()
	}
	return out
}

// Two gRPC members of one group split six partitions, receive all 600
// records exactly once within their credit, commit, and GroupService sees
// both members and no lag.
func TestStreamConsumeGroup(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"orders": 6})
	sc, gc := streamClient(t, c), groupClient(t, c)
	produceKeyed(t, sc, "orders", "o", 600)
	counts := partitionCounts(t, sc, "orders", 6)

	a := openConsumer(t, sc, "a", consumeOpen("shipping", "orders"))
	b := openConsumer(t, sc, "b", consumeOpen("shipping", "orders"))
	waitSplit(t, 6, a, b)
	// Credit in small steps: the server never sends beyond it.
	for _, cons := range []*grpcConsumer{a, b} {
		cons.credit(10, 1<<20)
	}
	time.Sleep(time.Second)
	if n := a.received() + b.received(); n > 20 {
		t.Fatalf("received %d records with a credit of 10 records each", n)
	}
	for _, cons := range []*grpcConsumer{a, b} {
		cons.credit(1000, 1<<20)
	}
	testutil.WaitFor(t, 30*time.Second, func() error {
		if n := a.received() + b.received(); n != 600 {
			return fmt.Errorf("received %d of 600", n)
		}
		return nil
	})
	checkExactlyOnce(t, counts, a, b)
	a.commitReceived(1, "orders")
	b.commitReceived(1, "orders")

	testutil.WaitFor(t, 20*time.Second, func() error {
		d, err := gc.DescribeGroup(context.Background(), &streamv1.DescribeGroupRequest{GroupId: "shipping"})
		if err != nil {
			return err
		}
		assigned := 0
		for _, m := range d.GetMembers() {
			for _, tp := range m.GetAssignment() {
				assigned += len(tp.GetPartitions())
			}
		}
		if d.GetState() != "Stable" || len(d.GetMembers()) != 2 || assigned != 6 || d.GetProtocol() != "range" ||
			len(d.GetPartitions()) != 6 || d.GetTotalLag() != 0 {
			return fmt.Errorf("describe: %v", d)
		}
		return nil
	})
}

// A gRPC member and a franz-go member (range assignor) share one group's
// partitions and together read every record.
func TestStreamConsumeMixedWithFranzGo(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"mixed": 6})
	sc, gc := streamClient(t, c), groupClient(t, c)
	produceKeyed(t, sc, "mixed", "m", 600)

	g := openConsumer(t, sc, "grpc", consumeOpen("both", "mixed"))
	fc := franzClient(t, c, kgo.ConsumerGroup("both"), kgo.ConsumeTopics("mixed"), kgo.Balancers(kgo.RangeBalancer()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.SessionTimeout(6*time.Second), kgo.ClientID("franz"))
	franz := pollFranz(t, fc)

	var franzParts []int32
	testutil.WaitFor(t, 45*time.Second, func() error {
		d, err := gc.DescribeGroup(context.Background(), &streamv1.DescribeGroupRequest{GroupId: "both"})
		if err != nil {
			return err
		}
		if d.GetState() != "Stable" || len(d.GetMembers()) != 2 {
			return fmt.Errorf("describe: %v", d)
		}
		franzParts = nil
		for _, m := range d.GetMembers() {
			if m.GetClientId() == "franz" {
				for _, tp := range m.GetAssignment() {
					franzParts = append(franzParts, tp.GetPartitions()...)
				}
			}
		}
		mine := g.owned()
		all := append(slices.Clone(mine), franzParts...)
		slices.Sort(all)
		if len(mine) == 0 || len(franzParts) == 0 || len(slices.Compact(slices.Clone(all))) != 6 || len(all) != 6 {
			return fmt.Errorf("gRPC owns %v, franz-go %v", mine, franzParts)
		}
		return nil
	})
	g.credit(10_000, 16<<20)
	counts := partitionCounts(t, sc, "mixed", 6)
	testutil.WaitFor(t, 30*time.Second, func() error {
		g.mu.Lock()
		defer g.mu.Unlock()
		for p, n := range counts {
			for o := range n {
				if !franz.received(p, o) && !slices.Contains(g.got[p], o) {
					return fmt.Errorf("partition %d offset %d not received", p, o)
				}
			}
		}
		return nil
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	for p := range g.got {
		if slices.Contains(franzParts, p) {
			t.Errorf("the gRPC member received partition %d, which franz-go owns", p)
		}
	}
}

// Under cooperative-sticky (a franz-go member with its default assignor
// and two gRPC members offering it), a member that leaves loses its
// partitions to the others without them giving up theirs: the remaining
// gRPC member is never sent a revocation and its kept partitions continue
// where they were, with no record sent twice.
func TestStreamConsumeCooperativeSticky(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"coop": 6})
	sc, gc := streamClient(t, c), groupClient(t, c)
	produceKeyed(t, sc, "coop", "first", 600)

	fc := franzClient(t, c, kgo.ConsumerGroup("co"), kgo.ConsumeTopics("coop"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(6*time.Second), kgo.ClientID("franz"), kgo.DisableAutoCommit())
	franz := pollFranz(t, fc)

	open := func() *streamv1.ConsumeOpen {
		o := consumeOpen("co", "coop")
		o.Assignors = []string{"cooperative-sticky"}
		return o
	}
	a := openConsumer(t, sc, "a", open())
	b := openConsumer(t, sc, "b", open())
	a.credit(100_000, 64<<20)
	b.credit(100_000, 64<<20)
	// stable waits until the group is stable on cooperative-sticky with n
	// members that own all six partitions between them.
	stable := func(n int) {
		t.Helper()
		testutil.WaitFor(t, 60*time.Second, func() error {
			d, err := gc.DescribeGroup(context.Background(), &streamv1.DescribeGroupRequest{GroupId: "co"})
			if err != nil {
				return err
			}
			var all []int32
			for _, m := range d.GetMembers() {
				for _, tp := range m.GetAssignment() {
					all = append(all, tp.GetPartitions()...)
				}
			}
			slices.Sort(all)
			if d.GetState() != "Stable" || d.GetProtocol() != "cooperative-sticky" || len(d.GetMembers()) != n ||
				len(all) != 6 || len(slices.Compact(all)) != 6 {
				return fmt.Errorf("describe: %v", d)
			}
			return nil
		})
	}
	stable(3)
	waitCovered := func(counts map[int32]int64) {
		t.Helper()
		testutil.WaitFor(t, 30*time.Second, func() error {
			for p, n := range counts {
				for o := range n {
					if !franz.received(p, o) && !a.receivedOffset(p, o) && !b.receivedOffset(p, o) {
						return fmt.Errorf("partition %d offset %d not received", p, o)
					}
				}
			}
			return nil
		})
	}
	waitCovered(partitionCounts(t, sc, "coop", 6))
	testutil.WaitFor(t, 30*time.Second, func() error {
		if len(a.owned()) == 0 {
			return fmt.Errorf("a owns nothing")
		}
		return nil
	})
	kept, revokes := a.owned(), a.revokeCount()

	b.cancel()
	stable(2)
	testutil.WaitFor(t, 30*time.Second, func() error {
		if o := a.owned(); len(o) < len(kept) {
			return fmt.Errorf("a owns %v, had %v", o, kept)
		}
		return nil
	})
	for _, p := range kept {
		if !slices.Contains(a.owned(), p) {
			t.Errorf("a lost partition %d when b left: owns %v", p, a.owned())
		}
	}
	if n := a.revokeCount(); n != revokes {
		t.Errorf("a was sent %d revocations when b left (partitions %v); cooperative-sticky revokes only what moves", n-revokes, a.revokedParts())
	}
	produceKeyed(t, sc, "coop", "second", 600)
	waitCovered(partitionCounts(t, sc, "coop", 6))
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range kept {
		if offs := a.got[p]; !slices.IsSorted(offs) || len(slices.Compact(slices.Clone(offs))) != len(offs) {
			t.Errorf("partition %d, kept by a: offsets sent again or out of order: %v", p, offs)
		}
	}
}

// When one of two gRPC members ends its stream, the other is assigned all
// partitions within the session timeout and continues from the committed
// offsets.
func TestStreamConsumeMemberLeavesPartitionsMove(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"moves": 6})
	sc := streamClient(t, c)
	produceKeyed(t, sc, "moves", "first", 300)

	a := openConsumer(t, sc, "a", consumeOpen("movers", "moves"))
	b := openConsumer(t, sc, "b", consumeOpen("movers", "moves"))
	waitSplit(t, 6, a, b)
	a.credit(100_000, 64<<20)
	b.credit(100_000, 64<<20)
	testutil.WaitFor(t, 30*time.Second, func() error {
		if n := a.received() + b.received(); n != 300 {
			return fmt.Errorf("received %d of 300", n)
		}
		return nil
	})
	a.commitReceived(1, "moves")
	b.commitReceived(1, "moves")
	bParts := b.owned()

	left := time.Now()
	b.cancel()
	testutil.WaitFor(t, 6*time.Second, func() error {
		if o := a.owned(); len(o) != 6 {
			return fmt.Errorf("a owns %v", o)
		}
		return nil
	})
	t.Logf("partitions moved in %v", time.Since(left))
	produceKeyed(t, sc, "moves", "second", 300)
	counts := partitionCounts(t, sc, "moves", 6)
	testutil.WaitFor(t, 30*time.Second, func() error {
		if n := a.received() + b.received(); n != 600 {
			return fmt.Errorf("received %d of 600", n)
		}
		return nil
	})
	checkExactlyOnce(t, counts, a, b)
	a.mu.Lock()
	defer a.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range bParts {
		if len(a.got[p]) == 0 || a.got[p][0] != b.next[p] {
			t.Errorf("partition %d: a starts at %v, b committed %d", p, a.got[p], b.next[p])
		}
	}
}

// Bad opens end the stream with a code naming the field; credit of zero is
// not an error and sends nothing; a commit of a partition the member does
// not own fails in its entry.
func TestStreamConsumeBadInput(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"bad": 2})
	sc := streamClient(t, c)
	produceKeyed(t, sc, "bad", "b", 20)

	endOf := func(open *streamv1.ConsumeOpen) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		st, err := sc.Consume(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(&streamv1.ConsumeRequest{Message: &streamv1.ConsumeRequest_Open{Open: open}}); err != nil {
			t.Fatal(err)
		}
		_, err = st.Recv()
		return err
	}
	wantCode(t, "empty group", endOf(&streamv1.ConsumeOpen{Topics: []string{"bad"}}), codes.InvalidArgument, errs.InvalidGroupID, "open.group_id")
	wantCode(t, "no topics", endOf(&streamv1.ConsumeOpen{GroupId: "g"}), codes.InvalidArgument, errs.InvalidRequest, "open.topics")
	wantCode(t, "unknown topic", endOf(&streamv1.ConsumeOpen{GroupId: "g", Topics: []string{"bad", "nope"}}),
		codes.NotFound, errs.UnknownTopicOrPartition, "open.topics[1]")
	wantCode(t, "short session", endOf(&streamv1.ConsumeOpen{GroupId: "g", Topics: []string{"bad"}, SessionTimeout: durationpb.New(time.Second)}),
		codes.InvalidArgument, errs.InvalidRequest, "open.session_timeout")

	m := openConsumer(t, sc, "m", consumeOpen("g", "bad"))
	testutil.WaitFor(t, 30*time.Second, func() error {
		if len(m.owned()) != 2 {
			return fmt.Errorf("owns %v", m.owned())
		}
		return nil
	})
	m.credit(0, 0)
	time.Sleep(time.Second)
	if n := m.received(); n != 0 {
		t.Fatalf("received %d records without credit", n)
	}
	m.credit(1, 1<<20)
	testutil.WaitFor(t, 10*time.Second, func() error {
		if n := m.received(); n != 1 {
			return fmt.Errorf("received %d records with a credit of one", n)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond)
	if n := m.received(); n != 1 {
		t.Fatalf("received %d records with a credit of one", n)
	}
	res := m.commit(7, "bad", map[int32]int64{5: 1})
	if len(res.GetResults()) != 1 || res.GetResults()[0].GetError().GetCode() != errs.IllegalGeneration {
		t.Fatalf("commit of an unowned partition: %v", res)
	}
}

// A static member (instance_id) whose stream breaks and reconnects within
// the session timeout gets its partitions back in the same generation,
// without a rebalance: the other member keeps its own throughout.
func TestStreamConsumeStaticMemberReconnectKeepsPartitions(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"static": 4})
	sc := streamClient(t, c)
	produceKeyed(t, sc, "static", "s", 40)

	open := consumeOpen("statics", "static")
	open.InstanceId = ptr("worker-1")
	open.SessionTimeout = durationpb.New(20 * time.Second)
	s1 := openConsumer(t, sc, "s1", open)
	other := consumeOpen("statics", "static")
	other.SessionTimeout = durationpb.New(20 * time.Second)
	b := openConsumer(t, sc, "b", other)
	waitSplit(t, 4, s1, b)
	before, gen := s1.owned(), s1.assignedGeneration()
	s1.credit(1000, 1<<20)
	b.credit(1000, 1<<20)
	testutil.WaitFor(t, 30*time.Second, func() error {
		if n := s1.received() + b.received(); n != 40 {
			return fmt.Errorf("received %d of 40", n)
		}
		return nil
	})
	s1.commitReceived(1, "static")

	s1.cancel()
	<-s1.done
	s2 := openConsumer(t, sc, "s2", open)
	testutil.WaitFor(t, 15*time.Second, func() error {
		if o := s2.owned(); !slices.Equal(o, before) {
			return fmt.Errorf("the reconnected member owns %v, before %v", o, before)
		}
		return nil
	})
	if g := s2.assignedGeneration(); g != gen {
		t.Errorf("reconnected in generation %d, was %d", g, gen)
	}
	s2.credit(1000, 1<<20)
	produceKeyed(t, sc, "static", "t", 40)
	counts := partitionCounts(t, sc, "static", 4)
	testutil.WaitFor(t, 30*time.Second, func() error {
		if n := s1.received() + s2.received() + b.received(); n != 80 {
			return fmt.Errorf("received %d of 80", n)
		}
		return nil
	})
	checkExactlyOnce(t, counts, s1, s2, b)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.revokes != 0 {
		t.Errorf("the other member was revoked %d times", b.revokes)
	}
}

// A storage leader is SIGKILLed while a gRPC member consumes: the member's
// fetches follow the new leaders, and every record — produced before and
// after the kill — reaches it exactly once.
func TestStreamConsumeSurvivesStorageLeaderKill(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"events": 3})
	sc := streamClient(t, c)
	rn := nodesByID(t, c)
	produceKeyed(t, sc, "events", "before", 300)
	m := openConsumer(t, sc, "m", consumeOpen("audit", "events"))
	m.credit(1_000_000, 64<<20)
	testutil.WaitFor(t, 30*time.Second, func() error {
		if n := m.received(); n < 300 {
			return fmt.Errorf("received %d of 300", n)
		}
		return nil
	})
	m.commitReceived(1, "events")
	p, err := describePartition(t, c, "events", 0)
	if err != nil {
		t.Fatal(err)
	}
	rn.byID[p.Leader].kill()
	// Produce more once every partition has a live leader again.
	testutil.WaitFor(t, 45*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req := &streamv1.ProduceRequest{Topic: "events"}
		for i := range 300 {
			req.Records = append(req.Records, &streamv1.ProduceRecord{Key: fmt.Appendf(nil, "after-key-%d", i), Value: fmt.Appendf(nil, "after-%d", i)})
		}
		resp, err := sc.Produce(ctx, req)
		if err != nil {
			return err
		}
		for _, r := range resp.GetResults() {
			if r.GetError() != nil {
				return fmt.Errorf("partition %d: %s", r.GetPartition(), r.GetError().GetMessage())
			}
		}
		return nil
	})
	counts := partitionCounts(t, sc, "events", 3)
	total := int64(0)
	for _, n := range counts {
		total += n
	}
	testutil.WaitFor(t, 45*time.Second, func() error {
		if n := m.received(); int64(n) < total {
			return fmt.Errorf("received %d of %d after the leader's death", n, total)
		}
		return nil
	})
	checkExactlyOnce(t, counts, m)
}

// Three gRPC members and a franz-go member share one group; when one gRPC
// member dies (its stream breaks), its partitions move to the others within
// the session timeout, and the group still covers every partition once.
func TestStreamConsumeThreeGRPCAndFranzGoOneDies(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"shared": 8})
	sc, gc := streamClient(t, c), groupClient(t, c)
	var gs []*grpcConsumer
	for i := range 3 {
		gs = append(gs, openConsumer(t, sc, fmt.Sprint("g", i), consumeOpen("four", "shared")))
	}
	fc := franzClient(t, c, kgo.ConsumerGroup("four"), kgo.ConsumeTopics("shared"), kgo.Balancers(kgo.RangeBalancer()),
		kgo.SessionTimeout(6*time.Second), kgo.ClientID("franz"))
	ctx, cancel := context.WithCancel(context.Background())
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for ctx.Err() == nil {
			fc.PollFetches(ctx)
		}
	}()
	defer func() { cancel(); <-polled }()

	// split waits until the group is stable with n members whose
	// assignments cover all 8 partitions once, and returns them.
	split := func(n int) map[string][]int32 {
		t.Helper()
		var owners map[string][]int32
		testutil.WaitFor(t, 45*time.Second, func() error {
			d, err := gc.DescribeGroup(context.Background(), &streamv1.DescribeGroupRequest{GroupId: "four"})
			if err != nil {
				return err
			}
			if d.GetState() != "Stable" || len(d.GetMembers()) != n {
				return fmt.Errorf("state %s with %d members, want Stable with %d", d.GetState(), len(d.GetMembers()), n)
			}
			owners = map[string][]int32{}
			var all []int32
			for _, m := range d.GetMembers() {
				for _, tp := range m.GetAssignment() {
					owners[m.GetMemberId()] = append(owners[m.GetMemberId()], tp.GetPartitions()...)
					all = append(all, tp.GetPartitions()...)
				}
			}
			slices.Sort(all)
			if len(all) != 8 || len(slices.Compact(slices.Clone(all))) != 8 {
				return fmt.Errorf("assignments %v do not cover 8 partitions once", owners)
			}
			return nil
		})
		return owners
	}
	split(4)
	dead := gs[1]
	start := time.Now()
	dead.cancel()
	split(3)
	if took := time.Since(start); took > 6*time.Second {
		t.Fatalf("partitions moved after %v, more than the 6s session timeout", took)
	}
	for _, g := range []*grpcConsumer{gs[0], gs[2]} {
		testutil.WaitFor(t, 20*time.Second, func() error {
			if len(g.owned()) == 0 {
				return fmt.Errorf("%s owns nothing after the rebalance", g.name)
			}
			return nil
		})
	}
}
