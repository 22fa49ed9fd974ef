package router

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/metadata"
	"google.golang.org/grpc"
)

// stub answers storage calls in process, by node address.
type stub struct {
	mu      sync.Mutex
	calls   map[string]int
	produce func(addr string, in *storagev1.ProduceRequest) *storagev1.ProduceResponse
	fetch   func(ctx context.Context, addr string, in *storagev1.FetchRequest) (*storagev1.FetchResponse, error)
}

func (s *stub) Client(addr string) (storagev1.StorageServiceClient, error) {
	return stubClient{s: s, addr: addr}, nil
}

type stubClient struct {
	storagev1.StorageServiceClient
	s    *stub
	addr string
}

func (c stubClient) count() {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.s.calls == nil {
		c.s.calls = map[string]int{}
	}
	c.s.calls[c.addr]++
}

func (c stubClient) Produce(_ context.Context, in *storagev1.ProduceRequest, _ ...grpc.CallOption) (*storagev1.ProduceResponse, error) {
	c.count()
	return c.s.produce(c.addr, in), nil
}

func (c stubClient) Fetch(ctx context.Context, in *storagev1.FetchRequest, _ ...grpc.CallOption) (*storagev1.FetchResponse, error) {
	c.count()
	return c.s.fetch(ctx, c.addr, in)
}

func addr(node int32) string { return "storage-" + strconv.Itoa(int(node)) + ":7000" }

// cacheWith holds partitions 0..n-1 of topic t, partition p led by node p%3+1 at epoch 1.
func cacheWith(n int32) *metadata.Cache {
	c := metadata.NewCache()
	var ups []*metadatav1.Record
	for id := int32(1); id <= 3; id++ {
		ups = append(ups, &metadatav1.Record{Record: &metadatav1.Record_StorageNode{StorageNode: &metadatav1.StorageNodeRecord{NodeId: id, Address: addr(id)}}})
	}
	for p := range n {
		ups = append(ups, &metadatav1.Record{Record: &metadatav1.Record_Partition{Partition: &metadatav1.PartitionRecord{
			Topic: "t", Partition: p, Leader: p%3 + 1, LeaderEpoch: 1, Replicas: []int32{1, 2, 3}}}})
	}
	c.Apply(&controllerv1.WatchMetadataResponse{Revision: 1, Snapshot: true, Upserts: ups})
	return c
}

func okProduce(_ string, in *storagev1.ProduceRequest) *storagev1.ProduceResponse {
	out := &storagev1.ProduceResponse{}
	for _, p := range in.GetPartitions() {
		out.Partitions = append(out.Partitions, &storagev1.ProducePartitionResult{Topic: p.GetTopic(), Partition: p.GetPartition(), BaseOffset: 7})
	}
	return out
}

func produceItems(parts ...int32) []*ProduceItem {
	var out []*ProduceItem
	for _, p := range parts {
		out = append(out, &ProduceItem{Part: Part{Topic: "t", Partition: p, ClientEpoch: -1}})
	}
	return out
}

// One storage call per leader; a missing partition fails alone.
func TestDoGroupsByLeader(t *testing.T) {
	st := &stub{produce: okProduce}
	r := New(cacheWith(6), st, nil)
	items := append(produceItems(0, 1, 2, 3, 4, 5), &ProduceItem{Part: Part{Topic: "t", Partition: 9, ClientEpoch: -1}})
	r.Produce(context.Background(), storagev1.Acks_ACKS_ALL, time.Second, items)
	for _, it := range items[:6] {
		if it.Err != nil || it.Result.GetBaseOffset() != 7 {
			t.Fatalf("partition %d: %v %v", it.Partition, it.Err, it.Result)
		}
	}
	if e := items[6].Err; e == nil || e.Code() != errs.UnknownTopicOrPartition {
		t.Fatalf("missing partition: %v", e)
	}
	if len(st.calls) != 3 || st.calls[addr(1)] != 1 || st.calls[addr(2)] != 1 || st.calls[addr(3)] != 1 {
		t.Fatalf("calls %v, want one per leader", st.calls)
	}
}

// A NOT_LEADER_OR_FOLLOWER with a hint is retried once on the hinted leader;
// a second refusal stays an error.
func TestDoRetriesOnceOnTheNewLeader(t *testing.T) {
	for _, again := range []bool{false, true} {
		st := &stub{produce: func(a string, in *storagev1.ProduceRequest) *storagev1.ProduceResponse {
			out := okProduce(a, in)
			if a == addr(1) || again {
				out.Partitions[0].Error = errs.New(errs.NotLeaderOrFollower, "moved").
					WithLeader(&commonv1.LeaderHint{LeaderId: 2, LeaderEpoch: 2, LeaderAddress: addr(2)}).Detail
				if a == addr(2) {
					out.Partitions[0].Error.Leader = nil
				}
			}
			return out
		}}
		r := New(cacheWith(1), st, nil)
		items := produceItems(0)
		start := time.Now()
		r.Produce(context.Background(), storagev1.Acks_ACKS_ALL, time.Second, items)
		if st.calls[addr(1)] != 1 || st.calls[addr(2)] != 1 {
			t.Fatalf("again=%v: calls %v", again, st.calls)
		}
		if again {
			if items[0].Err == nil || items[0].Err.Code() != errs.NotLeaderOrFollower {
				t.Fatalf("refused twice: %v, want NOT_LEADER_OR_FOLLOWER", items[0].Err)
			}
		} else if items[0].Err != nil || items[0].Leader.Node != 2 || time.Since(start) > time.Second {
			t.Fatalf("retry: err %v leader %d after %s", items[0].Err, items[0].Leader.Node, time.Since(start))
		}
	}
}

// The caller's leader epoch is checked in one place: older is fenced,
// newer unknown, and neither reaches a storage node.
func TestDoChecksLeaderEpochs(t *testing.T) {
	st := &stub{produce: okProduce}
	r := New(cacheWith(1), st, nil)
	old := &ProduceItem{Part: Part{Topic: "t", Partition: 0, ClientEpoch: 0}}
	newer := &ProduceItem{Part: Part{Topic: "t", Partition: 0, ClientEpoch: 5}}
	r.Produce(context.Background(), storagev1.Acks_ACKS_ALL, time.Second, []*ProduceItem{old, newer})
	if old.Err.Code() != errs.FencedLeaderEpoch || newer.Err.Code() != errs.UnknownLeaderEpoch || len(st.calls) != 0 {
		t.Fatalf("old %v, newer %v, calls %v", old.Err, newer.Err, st.calls)
	}
}

// Data already there is read once, from every leader, without a long
// poll: no leader's answer is thrown away.
func TestFetchReadsWhatIsThereOnce(t *testing.T) {
	var waited sync.Map
	st := &stub{fetch: func(_ context.Context, a string, in *storagev1.FetchRequest) (*storagev1.FetchResponse, error) {
		if in.GetMaxWaitMs() > 0 {
			waited.Store(a, true)
		}
		out := &storagev1.FetchResponse{}
		for _, p := range in.GetPartitions() {
			out.Partitions = append(out.Partitions, &storagev1.FetchPartitionResult{Topic: p.GetTopic(), Partition: p.GetPartition(),
				HighWatermark: 10, Records: make([]byte, 10+p.GetPartition())})
		}
		return out, nil
	}}
	r := New(cacheWith(6), st, nil)
	var items []*FetchItem
	for p := range int32(6) {
		items = append(items, &FetchItem{Part: Part{Topic: "t", Partition: p, ClientEpoch: -1}})
	}
	r.Fetch(context.Background(), 10*time.Second, 1, 1<<20, items)
	for _, it := range items {
		if it.Err != nil || len(it.Result.GetRecords()) != 10+int(it.Partition) {
			t.Fatalf("partition %d: %v %v", it.Partition, it.Err, it.Result)
		}
	}
	for id := int32(1); id <= 3; id++ {
		if _, w := waited.Load(addr(id)); st.calls[addr(id)] != 1 || w {
			t.Fatalf("node %d: %d calls (long poll %v), want one without waiting", id, st.calls[addr(id)], w)
		}
	}
}

// A partition that fails on the first read keeps its error and is not
// asked again; the others are long-polled for their data.
func TestFetchPollsWhatDidNotFail(t *testing.T) {
	st := &stub{fetch: func(_ context.Context, a string, in *storagev1.FetchRequest) (*storagev1.FetchResponse, error) {
		out := &storagev1.FetchResponse{}
		for _, p := range in.GetPartitions() {
			res := &storagev1.FetchPartitionResult{Topic: p.GetTopic(), Partition: p.GetPartition(), HighWatermark: 10}
			switch {
			case a == addr(1):
				res.Error = &commonv1.ErrorDetail{Code: errs.OffsetOutOfRange}
			case in.GetMaxWaitMs() > 0: // data arrives while it polls
				res.Records = make([]byte, 50)
			}
			out.Partitions = append(out.Partitions, res)
		}
		return out, nil
	}}
	r := New(cacheWith(2), st, nil)
	items := []*FetchItem{{Part: Part{Topic: "t", Partition: 0, ClientEpoch: -1}}, {Part: Part{Topic: "t", Partition: 1, ClientEpoch: -1}}}
	r.Fetch(context.Background(), 10*time.Second, 1, 1<<20, items)
	if items[0].Err.Code() != errs.OffsetOutOfRange || len(items[1].Result.GetRecords()) != 50 {
		t.Fatalf("partition 0 %v, partition 1 %v", items[0].Err, items[1].Result)
	}
	if st.calls[addr(1)] != 1 || st.calls[addr(2)] != 2 {
		t.Fatalf("calls %v: want the failed node asked once, the other read then polled", st.calls)
	}
}

// With several leaders and nothing there at first, the first long poll
// that reaches min bytes cuts the others short, and those are read once
// more without waiting.
func TestFetchCutsLongPollsShort(t *testing.T) {
	st := &stub{fetch: func(ctx context.Context, a string, in *storagev1.FetchRequest) (*storagev1.FetchResponse, error) {
		out := &storagev1.FetchResponse{}
		for _, p := range in.GetPartitions() {
			out.Partitions = append(out.Partitions, &storagev1.FetchPartitionResult{Topic: p.GetTopic(), Partition: p.GetPartition(), HighWatermark: 10})
		}
		if a == addr(1) && in.GetMaxWaitMs() > 0 { // data arrives while it polls
			out.Partitions[0].Records = make([]byte, 100)
			return out, nil
		}
		if in.GetMaxWaitMs() > 0 {
			<-ctx.Done() // nothing new here: poll until cut short
			return nil, ctx.Err()
		}
		return out, nil
	}}
	r := New(cacheWith(3), st, nil)
	items := []*FetchItem{{Part: Part{Topic: "t", Partition: 0, ClientEpoch: -1}}, {Part: Part{Topic: "t", Partition: 1, ClientEpoch: -1}},
		{Part: Part{Topic: "t", Partition: 2, ClientEpoch: -1}}}
	start := time.Now()
	r.Fetch(context.Background(), 10*time.Second, 1, 1<<20, items)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("fetch took %s: the polls were not cut short", took)
	}
	for _, it := range items {
		if it.Err != nil || it.Result.GetHighWatermark() != 10 {
			t.Fatalf("partition %d: %v %v", it.Partition, it.Err, it.Result)
		}
	}
	// Each node: a read without waiting, then the poll; nodes 2 and 3 are
	// read once more after theirs is cut short.
	if len(items[0].Result.GetRecords()) != 100 || st.calls[addr(1)] != 2 || st.calls[addr(2)] != 3 || st.calls[addr(3)] != 3 {
		t.Fatalf("records %d, calls %v", len(items[0].Result.GetRecords()), st.calls)
	}
}

// A leader that refuses without a hint (it leads in its own metadata but
// has not opened the log yet) is asked once more after a short pause, and
// the refused partitions of one call wait together, not one after another.
func TestDoRetriesALeaderNotReadyYet(t *testing.T) {
	var mu sync.Mutex
	refused := map[int32]bool{}
	st := &stub{produce: func(a string, in *storagev1.ProduceRequest) *storagev1.ProduceResponse {
		mu.Lock()
		defer mu.Unlock()
		out := okProduce(a, in)
		for i, p := range in.GetPartitions() {
			if !refused[p.GetPartition()] {
				refused[p.GetPartition()] = true
				out.Partitions[i].Error = errs.New(errs.NotLeaderOrFollower, "partition t-%d is not open on this node yet", p.GetPartition()).Detail
			}
		}
		return out
	}}
	r := New(cacheWith(24), st, nil)
	items := produceItems(func() (ps []int32) {
		for p := range int32(24) {
			ps = append(ps, p)
		}
		return ps
	}()...)
	start := time.Now()
	r.Produce(context.Background(), storagev1.Acks_ACKS_ALL, time.Second, items)
	for _, it := range items {
		if it.Err != nil || it.Result.GetBaseOffset() != 7 {
			t.Fatalf("partition %d: %v", it.Partition, it.Err)
		}
	}
	if took := time.Since(start); took > leaderChangeWait/2 {
		t.Fatalf("24 refused partitions took %v", took)
	}
	if st.calls[addr(1)] != 2 || st.calls[addr(2)] != 2 || st.calls[addr(3)] != 2 {
		t.Fatalf("calls %v, want two per leader", st.calls)
	}
}

// listStub answers ListOffsets, refusing each partition until ready says so.
type listStub struct {
	stub
	ready func(addr string, partition int32) bool
}

func (s *listStub) Client(addr string) (storagev1.StorageServiceClient, error) {
	return listClient{stubClient: stubClient{s: &s.stub, addr: addr}, ready: s.ready}, nil
}

type listClient struct {
	stubClient
	ready func(addr string, partition int32) bool
}

func (c listClient) ListOffsets(_ context.Context, in *storagev1.ListOffsetsRequest, _ ...grpc.CallOption) (*storagev1.ListOffsetsResponse, error) {
	c.count()
	out := &storagev1.ListOffsetsResponse{}
	for _, p := range in.GetPartitions() {
		res := &storagev1.ListOffsetsPartitionResult{Topic: p.GetTopic(), Partition: p.GetPartition()}
		if !c.ready(c.addr, p.GetPartition()) {
			res.Error = errs.New(errs.NotLeaderOrFollower, "not open yet").Detail
		}
		out.Partitions = append(out.Partitions, res)
	}
	return out, nil
}

// AwaitLeaders returns once every partition's leader answers, and names
// the partitions still not ready when its context ends.
func TestAwaitLeaders(t *testing.T) {
	var mu sync.Mutex
	asked := map[int32]int{}
	st := &listStub{ready: func(_ string, p int32) bool {
		mu.Lock()
		defer mu.Unlock()
		asked[p]++
		return p != 5 && asked[p] > 2 // ready on the third try; 5 never
	}}
	r := New(cacheWith(6), st, nil)
	if err := r.AwaitLeaders(context.Background(), "t", []int32{0, 1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := r.AwaitLeaders(ctx, "t", []int32{0, 5, 9})
	if err == nil || !strings.Contains(err.Error(), "partitions 5,9 of t") {
		t.Fatalf("err %v, want partitions 5 and 9 (9 does not exist) not ready", err)
	}
}
