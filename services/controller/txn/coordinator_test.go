package txn

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/strata-io/strata/services/controller/mdstore"
	"github.com/strata-io/strata/services/controller/pid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeLeaders records markers per partition; failing partitions refuse them.
type fakeLeaders struct {
	mu      sync.Mutex
	written map[string][]Marker
	failing map[string]bool
}

func (f *fakeLeaders) WriteMarkers(_ context.Context, ms []Marker) []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]error, len(ms))
	for i, m := range ms {
		k := fmt.Sprintf("%s-%d", m.Topic, m.Partition)
		if f.failing[k] {
			out[i] = errs.New(errs.LeaderNotAvailable, "no leader for %s", k)
			continue
		}
		f.written[k] = append(f.written[k], m)
	}
	return out
}

func (f *fakeLeaders) markers(k string) []Marker {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Marker(nil), f.written[k]...)
}

func (f *fakeLeaders) setFailing(k string, v bool) {
	f.mu.Lock()
	f.failing[k] = v
	f.mu.Unlock()
}

func (f *fakeLeaders) PartitionExists(_ context.Context, topic string, p int32) (bool, error) {
	return topic == "t" && p >= 0 && p < 4, nil
}

type fakeGroups struct{}

func (fakeGroups) CheckMember(group, member string, _ *string, gen int32) int16 {
	if gen >= 0 && member != "m" {
		return kerr.UnknownMemberID.Code
	}
	return 0
}

func offsetOp(group, topic string, p int32, off int64, _ int32, _ string) mdstore.Op {
	return mdstore.Put(fmt.Sprintf("/offsets/%s/%s/%d", group, topic, p), []byte(fmt.Sprint(off)))
}

type harness struct {
	t       *testing.T
	store   *mdstore.Memory
	leaders *fakeLeaders
	c       *Coordinator
	now     time.Time
	nowMu   sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
}

func newHarness(t *testing.T, store *mdstore.Memory, leaders *fakeLeaders) *harness {
	h := &harness{t: t, store: store, leaders: leaders, now: time.Unix(1000, 0)}
	h.c = New(Config{Store: store, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), PIDs: pid.New(store), Groups: fakeGroups{},
		OffsetOp: offsetOp, Markers: leaders, Topics: leaders, MaxTimeout: time.Minute, ExpiryCheck: 10 * time.Millisecond,
		Now: func() time.Time { h.nowMu.Lock(); defer h.nowMu.Unlock(); return h.now }})
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan struct{})
	go func() { defer close(h.done); h.c.Run(ctx) }()
	t.Cleanup(h.stop)
	testutil.WaitFor(t, 5*time.Second, func() error {
		_, err := h.c.snapshot()
		return err
	})
	return h
}

func (h *harness) stop() {
	h.cancel()
	<-h.done
}

func (h *harness) advance(d time.Duration) {
	h.nowMu.Lock()
	h.now = h.now.Add(d)
	h.nowMu.Unlock()
}

func do[R kmsg.Response](h *harness, req kmsg.Request) R {
	h.t.Helper()
	resp, err := h.c.Handle(context.Background(), req)
	if err != nil {
		h.t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp.(R)
}

func (h *harness) init(id string, pidEpoch ...int64) *kmsg.InitProducerIDResponse {
	r := kmsg.NewPtrInitProducerIDRequest()
	r.Version = 4
	r.TransactionalID, r.TransactionTimeoutMillis = &id, 10000
	if len(pidEpoch) == 2 {
		r.ProducerID, r.ProducerEpoch = pidEpoch[0], int16(pidEpoch[1])
	}
	return do[*kmsg.InitProducerIDResponse](h, r)
}

func (h *harness) add(id string, pid int64, epoch int16, parts ...int32) int16 {
	r := kmsg.NewPtrAddPartitionsToTxnRequest()
	r.Version = 3
	r.TransactionalID, r.ProducerID, r.ProducerEpoch = id, pid, epoch
	r.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: parts}}
	resp := do[*kmsg.AddPartitionsToTxnResponse](h, r)
	code := int16(0)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			code = max(code, p.ErrorCode)
		}
	}
	return code
}

func (h *harness) end(id string, pid int64, epoch int16, commit bool) int16 {
	r := kmsg.NewPtrEndTxnRequest()
	r.Version = 3
	r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Commit = id, pid, epoch, commit
	return do[*kmsg.EndTxnResponse](h, r).ErrorCode
}

func (h *harness) addOffsets(id string, pid int64, epoch int16, group string) int16 {
	r := kmsg.NewPtrAddOffsetsToTxnRequest()
	r.Version = 3
	r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Group = id, pid, epoch, group
	return do[*kmsg.AddOffsetsToTxnResponse](h, r).ErrorCode
}

func (h *harness) commitOffset(id string, pid int64, epoch int16, group string, off int64) int16 {
	r := kmsg.NewPtrTxnOffsetCommitRequest()
	r.Version = 3
	r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Group, r.Generation, r.MemberID = id, pid, epoch, group, 1, "m"
	p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset = 0, off
	r.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{p}}}
	return do[*kmsg.TxnOffsetCommitResponse](h, r).Topics[0].Partitions[0].ErrorCode
}

func (h *harness) state(id string) controllerv1.TxnState {
	txns, err := h.c.snapshot()
	if err != nil {
		h.t.Fatal(err)
	}
	return txns[id].GetState()
}

func wantCode(t *testing.T, got, want int16, what string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: %v, want %v", what, kerr.ErrorForCode(got), kerr.ErrorForCode(want))
	}
}

func newLeaders() *fakeLeaders {
	return &fakeLeaders{written: map[string][]Marker{}, failing: map[string]bool{}}
}

func TestCommitWritesMarkersAndOffsets(t *testing.T) {
	h := newHarness(t, mdstore.NewMemory(), newLeaders())
	ip := h.init("tx")
	wantCode(t, ip.ErrorCode, 0, "init")
	pid, epoch := ip.ProducerID, ip.ProducerEpoch
	wantCode(t, h.add("tx", pid, epoch, 0, 1), 0, "add partitions")
	if ms := h.leaders.markers("t-0"); len(ms) != 1 || ms[0].Type != MarkerBegin {
		t.Fatalf("markers on t-0 after AddPartitions: %+v", ms)
	}
	wantCode(t, h.commitOffset("tx", pid, epoch, "g", 5), kerr.InvalidTxnState.Code, "TxnOffsetCommit before AddOffsetsToTxn")
	wantCode(t, h.addOffsets("tx", pid, epoch, "g"), 0, "add offsets")
	wantCode(t, h.commitOffset("tx", pid, epoch, "g", 5), 0, "txn offset commit")
	if kv, _ := h.store.Get(context.Background(), "/offsets/g/t/0"); kv != nil {
		t.Fatal("the offset is visible before the commit")
	}
	if p := h.c.PendingOffsets("g"); !p["t"][0] || len(h.c.PendingOffsets("other")) != 0 {
		t.Fatalf("pending offsets = %v", p)
	}
	wantCode(t, h.end("tx", pid, epoch, true), 0, "commit")
	if st := h.state("tx"); st != controllerv1.TxnState_TXN_STATE_COMPLETE_COMMIT {
		t.Fatalf("state after commit = %v", st)
	}
	for _, k := range []string{"t-0", "t-1"} {
		if ms := h.leaders.markers(k); len(ms) != 2 || ms[1].Type != MarkerCommit || ms[1].ProducerEpoch != epoch {
			t.Fatalf("markers on %s: %+v", k, ms)
		}
	}
	if kv, _ := h.store.Get(context.Background(), "/offsets/g/t/0"); kv == nil || string(kv.Value) != "5" {
		t.Fatalf("offset after commit = %+v", kv)
	}
	if p := h.c.PendingOffsets("g"); len(p) != 0 {
		t.Fatalf("pending offsets after the commit = %v", p)
	}
	wantCode(t, h.end("tx", pid, epoch, true), 0, "a retried commit")
	wantCode(t, h.end("tx", pid, epoch, false), kerr.InvalidTxnState.Code, "abort after the commit")
}

func TestBadInput(t *testing.T) {
	h := newHarness(t, mdstore.NewMemory(), newLeaders())
	ip := h.init("tx")
	pid, epoch := ip.ProducerID, ip.ProducerEpoch
	wantCode(t, h.end("tx", pid, epoch, true), kerr.InvalidTxnState.Code, "EndTxn without a transaction")
	wantCode(t, h.end("tx", pid+1, epoch, true), kerr.InvalidProducerIDMapping.Code, "EndTxn with another producer id")
	wantCode(t, h.end("nope", pid, epoch, true), kerr.InvalidProducerIDMapping.Code, "EndTxn for an unknown id")
	wantCode(t, h.add("tx", pid, epoch-1, 0), kerr.ProducerFenced.Code, "AddPartitions with a stale epoch")
	wantCode(t, h.add("tx", pid, epoch, 9), kerr.UnknownTopicOrPartition.Code, "AddPartitions for a missing partition")
	if h.state("tx") != controllerv1.TxnState_TXN_STATE_EMPTY {
		t.Fatal("a refused AddPartitions opened a transaction")
	}
	r := kmsg.NewPtrInitProducerIDRequest()
	id := "tx2"
	r.Version, r.TransactionalID, r.TransactionTimeoutMillis = 4, &id, int32(2*time.Minute/time.Millisecond)
	wantCode(t, do[*kmsg.InitProducerIDResponse](h, r).ErrorCode, kerr.InvalidTransactionTimeout.Code, "timeout above the max")
	empty := ""
	r.TransactionalID, r.TransactionTimeoutMillis = &empty, 1000
	wantCode(t, do[*kmsg.InitProducerIDResponse](h, r).ErrorCode, kerr.InvalidRequest.Code, "empty transactional id")
	// Old request versions get INVALID_PRODUCER_EPOCH instead of PRODUCER_FENCED.
	old := kmsg.NewPtrEndTxnRequest()
	old.Version, old.TransactionalID, old.ProducerID, old.ProducerEpoch = 1, "tx", pid, epoch+3
	wantCode(t, do[*kmsg.EndTxnResponse](h, old).ErrorCode, kerr.InvalidProducerEpoch.Code, "EndTxn v1 with a wrong epoch")
}

// A second InitProducerId with the same transactional id fences the first
// producer and aborts its open transaction.
func TestInitFencesAndAborts(t *testing.T) {
	h := newHarness(t, mdstore.NewMemory(), newLeaders())
	ip := h.init("tx")
	pid, epoch := ip.ProducerID, ip.ProducerEpoch
	wantCode(t, h.add("tx", pid, epoch, 2), 0, "add")
	wantCode(t, h.addOffsets("tx", pid, epoch, "g"), 0, "add offsets")
	wantCode(t, h.commitOffset("tx", pid, epoch, "g", 7), 0, "txn offset commit")
	var second *kmsg.InitProducerIDResponse
	testutil.WaitFor(t, 5*time.Second, func() error {
		second = h.init("tx")
		if second.ErrorCode != 0 {
			return kerr.ErrorForCode(second.ErrorCode)
		}
		return nil
	})
	if second.ProducerID != pid || second.ProducerEpoch <= epoch {
		t.Fatalf("second producer %d/%d, first %d/%d", second.ProducerID, second.ProducerEpoch, pid, epoch)
	}
	ms := h.leaders.markers("t-2")
	if len(ms) != 2 || ms[1].Type != MarkerAbort || ms[1].ProducerEpoch <= epoch {
		t.Fatalf("markers on t-2: %+v", ms)
	}
	if kv, _ := h.store.Get(context.Background(), "/offsets/g/t/0"); kv != nil {
		t.Fatal("an aborted transaction's offset was committed")
	}
	wantCode(t, h.add("tx", pid, epoch, 2), kerr.ProducerFenced.Code, "the zombie adds a partition")
	wantCode(t, h.end("tx", pid, epoch, true), kerr.ProducerFenced.Code, "the zombie commits")
	wantCode(t, h.init("tx", pid, int64(epoch)).ErrorCode, kerr.ProducerFenced.Code, "the zombie re-inits with its epoch (KIP-360)")
}

// An open transaction past transaction.timeout.ms is aborted and its
// producer fenced.
func TestTimeoutAborts(t *testing.T) {
	h := newHarness(t, mdstore.NewMemory(), newLeaders())
	ip := h.init("tx")
	wantCode(t, h.add("tx", ip.ProducerID, ip.ProducerEpoch, 0), 0, "add")
	h.advance(11 * time.Second)
	testutil.WaitFor(t, 5*time.Second, func() error {
		if st := h.state("tx"); st != controllerv1.TxnState_TXN_STATE_COMPLETE_ABORT {
			return fmt.Errorf("state %v", st)
		}
		return nil
	})
	wantCode(t, h.end("tx", ip.ProducerID, ip.ProducerEpoch, true), kerr.ProducerFenced.Code, "commit after the timeout")
}

// A transaction prepared when the controller fails over is completed by
// the next one, from the store; markers are retried until written.
func TestPreparedSurvivesFailover(t *testing.T) {
	store, leaders := mdstore.NewMemory(), newLeaders()
	h := newHarness(t, store, leaders)
	ip := h.init("tx")
	wantCode(t, h.add("tx", ip.ProducerID, ip.ProducerEpoch, 0, 3), 0, "add")
	leaders.setFailing("t-3", true)
	r := kmsg.NewPtrEndTxnRequest()
	r.Version, r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Commit = 3, "tx", ip.ProducerID, ip.ProducerEpoch, true
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	resp, err := h.c.Handle(ctx, r) // answers once the prepared state is durable
	cancel()
	if err != nil || resp.(*kmsg.EndTxnResponse).ErrorCode != 0 {
		t.Fatalf("EndTxn = %v %v", resp, err)
	}
	h.stop() // the term ends with the marker for t-3 unwritten
	kv, _ := store.Get(context.Background(), recordKey("tx"))
	rec := &controllerv1.TxnRecord{}
	if err := mdstore.Unmarshal(kv.Value, rec); err != nil || rec.GetState() != controllerv1.TxnState_TXN_STATE_PREPARE_COMMIT {
		t.Fatalf("stored state %v %v", rec.GetState(), err)
	}
	leaders.setFailing("t-3", false)
	h2 := newHarness(t, store, leaders)
	testutil.WaitFor(t, 5*time.Second, func() error {
		if st := h2.state("tx"); st != controllerv1.TxnState_TXN_STATE_COMPLETE_COMMIT {
			return fmt.Errorf("state %v", st)
		}
		return nil
	})
	if ms := leaders.markers("t-3"); len(ms) != 2 || ms[1].Type != MarkerCommit {
		t.Fatalf("markers on t-3: %+v", ms)
	}
}

func TestDescribeAndList(t *testing.T) {
	h := newHarness(t, mdstore.NewMemory(), newLeaders())
	a, b := h.init("a"), h.init("b")
	wantCode(t, h.add("a", a.ProducerID, a.ProducerEpoch, 1), 0, "add")
	d := kmsg.NewPtrDescribeTransactionsRequest()
	d.TransactionalIDs = []string{"a", "missing"}
	dr := do[*kmsg.DescribeTransactionsResponse](h, d)
	if s := dr.TransactionStates[0]; s.State != "Ongoing" || s.ProducerID != a.ProducerID || len(s.Topics) != 1 || s.Topics[0].Partitions[0] != 1 {
		t.Fatalf("describe a = %+v", s)
	}
	wantCode(t, dr.TransactionStates[1].ErrorCode, kerr.TransactionalIDNotFound.Code, "describe missing")
	l := kmsg.NewPtrListTransactionsRequest()
	l.StateFilters = []string{"Empty", "Bogus"}
	lr := do[*kmsg.ListTransactionsResponse](h, l)
	if len(lr.TransactionStates) != 1 || lr.TransactionStates[0].TransactionalID != "b" || lr.TransactionStates[0].ProducerID != b.ProducerID ||
		len(lr.UnknownStateFilters) != 1 {
		t.Fatalf("list = %+v", lr)
	}
}

// A storage leader's verification (AddPartitionsToTxn v4, verify_only):
// yes for a partition of the open transaction, INVALID_TXN_STATE for one
// not added, PRODUCER_FENCED for an old epoch; adding through v4 is refused.
func TestVerifyOnly(t *testing.T) {
	h := newHarness(t, mdstore.NewMemory(), newLeaders())
	ip := h.init("tx")
	wantCode(t, h.add("tx", ip.ProducerID, ip.ProducerEpoch, 1), 0, "add")
	verify := func(epoch int16, p int32, only bool) int16 {
		r := kmsg.NewPtrAddPartitionsToTxnRequest()
		r.Version = 4
		tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
		tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = "tx", ip.ProducerID, epoch, only
		tx.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: "t", Partitions: []int32{p}}}
		r.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{tx}
		return do[*kmsg.AddPartitionsToTxnResponse](h, r).Transactions[0].Topics[0].Partitions[0].ErrorCode
	}
	wantCode(t, verify(ip.ProducerEpoch, 1, true), 0, "a partition of the transaction")
	wantCode(t, verify(ip.ProducerEpoch, 2, true), kerr.InvalidTxnState.Code, "a partition not added")
	wantCode(t, verify(ip.ProducerEpoch-1, 1, true), kerr.ProducerFenced.Code, "an old epoch")
	wantCode(t, verify(ip.ProducerEpoch, 1, false), kerr.InvalidRequest.Code, "adding through v4")
}

// A transactional id idle past transactional.id.expiration.ms is
// forgotten; one with a transaction open is not.
func TestIdleIDExpires(t *testing.T) {
	h := newHarness(t, mdstore.NewMemory(), newLeaders())
	h.init("idle")
	open := h.init("open")
	wantCode(t, h.add("open", open.ProducerID, open.ProducerEpoch, 0), 0, "add")
	h.advance(DefaultIDExpiration + time.Hour)
	// One expiry pass forgets the idle id, then aborts the open one: wait
	// for both.
	testutil.WaitFor(t, 5*time.Second, func() error {
		txns, _ := h.c.snapshot()
		if _, ok := txns["idle"]; ok {
			return fmt.Errorf("idle id still known")
		}
		// The open one timed out instead (aborted now, so not idle).
		if st := h.state("open"); st != controllerv1.TxnState_TXN_STATE_COMPLETE_ABORT && st != controllerv1.TxnState_TXN_STATE_PREPARE_ABORT {
			return fmt.Errorf("open transaction after the expiry: %v", st)
		}
		return nil
	})
	if kv, _ := h.store.Get(context.Background(), recordKey("idle")); kv != nil {
		t.Fatal("the idle id's record is still stored")
	}
	txns, err := h.c.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := txns["open"]; !ok {
		t.Fatal("the open transaction's id was forgotten: it was not idle")
	}
}

// A partition named twice is added once; a request over the partition cap
// is refused whole.
func TestAddPartitionsDuplicatesAndCap(t *testing.T) {
	h := newHarness(t, mdstore.NewMemory(), newLeaders())
	ip := h.init("tx")
	wantCode(t, h.add("tx", ip.ProducerID, ip.ProducerEpoch, 1, 1, 2), 0, "add with a duplicate")
	if ms := h.leaders.markers("t-1"); len(ms) != 1 {
		t.Fatalf("BEGIN markers on t-1: %+v", ms)
	}
	txns, _ := h.c.snapshot()
	if n := len(txns["tx"].GetPartitions()); n != 2 {
		t.Fatalf("%d partitions in the transaction, want 2", n)
	}
	many := make([]int32, maxTxnPartitions+1)
	wantCode(t, h.add("tx", ip.ProducerID, ip.ProducerEpoch, many...), kerr.InvalidRequest.Code, "over the cap")
}
