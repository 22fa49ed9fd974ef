package stream

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/api/kafkakey"
	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/strata-io/strata/services/gateway/router"
	"google.golang.org/grpc"
)

// memStorage is an in-process storage leader for every partition: it
// appends produced batches (patching offsets as the log does) and serves
// fetches from them.
type memStorage struct {
	mu    sync.Mutex
	logs  map[int32][]byte
	next  map[int32]int64
	calls int
	fail  map[int32]*errs.Error // partitions whose produce fails
}

func (m *memStorage) Client(string) (storagev1.StorageServiceClient, error) {
	return memClient{memStorage: m}, nil
}

type memClient struct {
	storagev1.StorageServiceClient // the calls not served panic
	*memStorage
}

func (m memClient) Produce(_ context.Context, in *storagev1.ProduceRequest, _ ...grpc.CallOption) (*storagev1.ProduceResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	out := &storagev1.ProduceResponse{}
	for _, p := range in.GetPartitions() {
		if e := m.fail[p.GetPartition()]; e != nil {
			out.Partitions = append(out.Partitions, &storagev1.ProducePartitionResult{Topic: p.GetTopic(), Partition: p.GetPartition(),
				BaseOffset: -1, Error: e.Detail})
			continue
		}
		base := m.next[p.GetPartition()]
		next := base
		for rest := p.GetRecords(); len(rest) > 0; {
			b, r, err := recordbatch.Next(rest)
			if err != nil {
				return nil, err
			}
			if _, err := recordbatch.ValidateProducer(b, 1<<20); err != nil {
				return nil, err
			}
			recordbatch.SetBaseOffset(b, next)
			next = recordbatch.LastOffsetOf(b) + 1
			rest = r
		}
		m.logs[p.GetPartition()] = append(m.logs[p.GetPartition()], p.GetRecords()...)
		m.next[p.GetPartition()] = next
		out.Partitions = append(out.Partitions, &storagev1.ProducePartitionResult{Topic: p.GetTopic(), Partition: p.GetPartition(),
			BaseOffset: base, LogAppendTimeMs: -1})
	}
	return out, nil
}

func (m memClient) Fetch(_ context.Context, in *storagev1.FetchRequest, _ ...grpc.CallOption) (*storagev1.FetchResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	out := &storagev1.FetchResponse{}
	for _, p := range in.GetPartitions() {
		hw := m.next[p.GetPartition()]
		res := &storagev1.FetchPartitionResult{Topic: p.GetTopic(), Partition: p.GetPartition(), HighWatermark: hw}
		if p.GetFetchOffset() > hw {
			res.Error = errs.New(errs.OffsetOutOfRange, "out of range").Detail
		} else {
			res.Records = m.logs[p.GetPartition()] // whole log: the decoder skips what lies below the offset
		}
		out.Partitions = append(out.Partitions, res)
	}
	return out, nil
}

// newTestService serves topic "t" of n partitions; partition `leaderless`
// (if not -1) has no leader.
func newTestService(n, leaderless int32) (*Service, *memStorage) {
	c := metadata.NewCache()
	ups := []*metadatav1.Record{
		{Record: &metadatav1.Record_StorageNode{StorageNode: &metadatav1.StorageNodeRecord{NodeId: 1, Address: "storage-1:7000"}}},
		{Record: &metadatav1.Record_Topic{Topic: &metadatav1.TopicRecord{Name: "t", PartitionCount: n, ReplicationFactor: 1}}},
	}
	for p := range n {
		leader := int32(1)
		if p == leaderless {
			leader = -1
		}
		ups = append(ups, &metadatav1.Record{Record: &metadatav1.Record_Partition{Partition: &metadatav1.PartitionRecord{
			Topic: "t", Partition: p, Leader: leader, Replicas: []int32{1}}}})
	}
	c.Apply(&controllerv1.WatchMetadataResponse{Revision: 1, Snapshot: true, Upserts: ups})
	m := &memStorage{logs: map[int32][]byte{}, next: map[int32]int64{}}
	return New(c, router.New(c, m, nil), nil, nil), m
}

func TestServiceProducePlacesAndReportsPerRecord(t *testing.T) {
	s, m := newTestService(4, 1)
	var recs []*streamv1.ProduceRecord
	for i := range 40 {
		r := &streamv1.ProduceRecord{Value: []byte(fmt.Sprint(i))}
		switch i % 4 {
		case 0:
			r.Key = []byte(fmt.Sprintf("key-%d", i))
		case 1:
			r.Partition = ptr(int32(3))
		}
		recs = append(recs, r)
	}
	resp, err := s.Produce(context.Background(), &streamv1.ProduceRequest{Topic: "t", Records: recs, Compression: streamv1.Compression_COMPRESSION_SNAPPY})
	if err != nil {
		t.Fatal(err)
	}
	next := map[int32]int64{}
	sticky := int32(-1)
	failed := 0
	for i, r := range resp.GetResults() {
		rec := recs[i]
		want := r.GetPartition()
		switch {
		case rec.Partition != nil:
			want = *rec.Partition
		case rec.Key != nil:
			want = kafkakey.Partition(rec.Key, 4)
		default:
			if sticky < 0 {
				sticky = r.GetPartition()
			}
			want = sticky
		}
		if r.GetPartition() != want {
			t.Fatalf("record %d: partition %d, want %d", i, r.GetPartition(), want)
		}
		if r.GetPartition() == 1 { // keyed records hashed to the leaderless partition fail alone
			if r.GetError().GetCode() != errs.LeaderNotAvailable || r.GetOffset() != -1 {
				t.Fatalf("record %d on the leaderless partition: %v offset %d", i, r.GetError(), r.GetOffset())
			}
			failed++
			continue
		}
		if r.GetError() != nil || r.GetOffset() != next[r.GetPartition()] {
			t.Fatalf("record %d: partition %d offset %d error %v, want offset %d", i, r.GetPartition(), r.GetOffset(), r.GetError(), next[r.GetPartition()])
		}
		next[r.GetPartition()]++
	}
	if failed == 0 {
		t.Fatal("no key hashed to the leaderless partition: pick other keys")
	}
	if sticky == 1 {
		t.Fatal("keyless records went to the partition without a leader")
	}
	if m.calls != 1 {
		t.Fatalf("%d storage calls for one leader, want 1", m.calls)
	}

	// Fetch every partition back through the service.
	fr, err := s.Fetch(context.Background(), &streamv1.FetchRequest{Partitions: []*streamv1.FetchPartition{
		{Topic: "t", Partition: 0, Start: &streamv1.FetchPartition_Offset{Offset: 0}},
		{Topic: "t", Partition: 2, Start: &streamv1.FetchPartition_Offset{Offset: 1}},
		{Topic: "t", Partition: 3, Start: &streamv1.FetchPartition_Offset{Offset: 0}},
		{Topic: "t", Partition: 1, Start: &streamv1.FetchPartition_Offset{Offset: 0}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range fr.GetPartitions() {
		if p.GetPartition() == 1 {
			if p.GetError().GetCode() != errs.LeaderNotAvailable {
				t.Fatalf("leaderless partition: %v", p.GetError())
			}
			continue
		}
		from := int64(0)
		if p.GetPartition() == 2 {
			from = 1
		}
		if p.GetError() != nil || int64(len(p.GetRecords())) != next[p.GetPartition()]-from || p.GetNextOffset() != next[p.GetPartition()] {
			t.Fatalf("partition %d: error %v, %d records, next %d; wrote %d", p.GetPartition(), p.GetError(), len(p.GetRecords()), p.GetNextOffset(), next[p.GetPartition()])
		}
		for j, r := range p.GetRecords() {
			if r.GetOffset() != from+int64(j) {
				t.Fatalf("partition %d record %d: offset %d", p.GetPartition(), j, r.GetOffset())
			}
		}
	}
}

func TestServiceBadRequestWritesNothing(t *testing.T) {
	s, m := newTestService(2, -1)
	good := &streamv1.ProduceRecord{Value: []byte("v")}
	for _, req := range []*streamv1.ProduceRequest{
		{Topic: "t", Records: []*streamv1.ProduceRecord{good, {Partition: ptr(int32(2))}}},
		{Topic: "t", Records: []*streamv1.ProduceRecord{good, {Headers: []*streamv1.Header{{}}}}},
		{Topic: "t", Records: []*streamv1.ProduceRecord{good, {TimestampMs: ptr(int64(-1))}}},
		{Topic: "t"},
		{Topic: "t", Records: []*streamv1.ProduceRecord{good, {Value: make([]byte, 2<<20)}}},
		{Topic: "nope", Records: []*streamv1.ProduceRecord{good}},
	} {
		if _, err := s.Produce(context.Background(), req); errs.From(err) == nil {
			t.Fatalf("%v: %v, want a Strata error", req, err)
		}
	}
	if m.calls != 0 {
		t.Fatalf("%d storage calls for bad requests", m.calls)
	}
}

// Requests a ProduceStream session writes together are each placed as
// their own call: a request's keyless records share one partition, and
// the requests do not all land on the same one.
func TestSessionPlacesEachRequestOnItsOwn(t *testing.T) {
	s, _ := newTestService(8, -1)
	sess := &session{s: s, topic: "t", acks: storagev1.Acks_ACKS_LEADER, timeout: time.Second, producer: producer{id: -1, epoch: -1}}
	calls := make([][]*streamv1.ProduceRecord, 20)
	for i := range calls {
		for range 5 {
			calls[i] = append(calls[i], &streamv1.ProduceRecord{Value: []byte("v")})
		}
	}
	as := sess.producer.clone()
	results := sess.execute(context.Background(), sess.plan(requests(calls), &as)).results
	used := map[int32]bool{}
	for i := range calls {
		rs := results[i*5 : i*5+5]
		for _, r := range rs {
			if r.GetError() != nil || r.GetPartition() != rs[0].GetPartition() {
				t.Fatalf("request %d: results %v, want one partition and no errors", i, rs)
			}
		}
		used[rs[0].GetPartition()] = true
	}
	if len(used) < 2 {
		t.Fatalf("20 requests written together all went to partition(s) %v", used)
	}
}

// A write built while the one before it runs is stamped with the sequences
// that one leaves if it succeeds; when it fails, the next write's batches
// are built again from the sequences it really left, so the leader sees no
// gap.
func TestSessionRebuildsAWriteBuiltAheadOfAFailure(t *testing.T) {
	s, m := newTestService(1, -1)
	sess := &session{s: s, topic: "t", acks: storagev1.Acks_ACKS_ALL, timeout: time.Second, idempotent: true,
		producer: producer{id: 7, seq: map[int32]int32{}}}
	recs := func(n int) [][]*streamv1.ProduceRecord {
		var out []*streamv1.ProduceRecord
		for range n {
			out = append(out, &streamv1.ProduceRecord{Partition: ptr(int32(0)), Value: []byte("v")})
		}
		return [][]*streamv1.ProduceRecord{out}
	}
	spec := sess.producer.clone()
	w1 := sess.plan(requests(recs(3)), &spec)
	w2 := sess.plan(requests(recs(2)), &spec) // built as if w1 succeeds: from sequence 3
	m.fail = map[int32]*errs.Error{0: errs.New(errs.MessageTooLarge, "refused")}
	for _, r := range sess.execute(context.Background(), w1).results {
		if r.GetError() == nil {
			t.Fatalf("w1: %v, want refused", r)
		}
	}
	m.fail = nil
	if w2.built.equal(sess.producer) {
		t.Fatal("w2 was built for the state w1 left; it cannot be, w1 failed")
	}
	spec = w2.after(sess.producer)
	w3 := sess.plan(requests(recs(4)), &spec)
	for _, w := range []*writePlan{w2, w3} {
		for _, r := range sess.execute(context.Background(), w).results {
			if r.GetError() != nil {
				t.Fatalf("write: %v", r)
			}
		}
	}
	var seqs []int32
	for rest := m.logs[0]; len(rest) > 0; {
		b, r, err := recordbatch.Next(rest)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := recordbatch.ParseHeader(b)
		seqs, rest = append(seqs, h.BaseSequence), r
	}
	if !slices.Equal(seqs, []int32{0, 2}) || sess.seq[0] != 6 {
		t.Fatalf("batches written from sequences %v, next %d; want [0 2] and 6", seqs, sess.seq[0])
	}
}

// Each request of a write gets the producer state the next request is
// stamped from, and a session resumed from the state after one request
// stamps the requests after it exactly as the first session did: the same
// batches with the same sequences, which the leader then recognises.
func TestSessionStatesResumeWithTheSameBatches(t *testing.T) {
	s, m := newTestService(2, -1)
	newSess := func(p producer) *session {
		return &session{s: s, topic: "t", acks: storagev1.Acks_ACKS_ALL, timeout: time.Second, idempotent: true, producer: p}
	}
	rec := func(p int32) *streamv1.ProduceRecord {
		return &streamv1.ProduceRecord{Partition: ptr(p), Value: []byte("v")}
	}
	calls := [][]*streamv1.ProduceRecord{
		{rec(0), rec(0), rec(0)},
		{rec(1), rec(0), rec(1)},
		{rec(1), rec(1), rec(1), rec(1)},
	}
	first := newSess(producer{id: 7, epoch: 2, seq: map[int32]int32{1: 10}})
	as := first.producer.clone()
	w := first.execute(context.Background(), first.plan(requests(calls), &as))
	seqs := func(st *streamv1.ProducerState) map[int32]int32 {
		out := map[int32]int32{}
		for _, ps := range st.GetSequences() {
			out[ps.GetPartition()] = ps.GetNextSequence()
		}
		return out
	}
	want := []map[int32]int32{{0: 3}, {0: 4, 1: 12}, {1: 16}}
	for i, st := range w.states {
		if st.GetProducerId() != 7 || st.GetProducerEpoch() != 2 || !maps.Equal(seqs(st), want[i]) {
			t.Fatalf("state after request %d: %v, want producer 7/2 and %v", i, st, want[i])
		}
	}
	headers := func(b []byte) (hs [][2]int32) {
		for rest := b; len(rest) > 0; {
			batch, r, err := recordbatch.Next(rest)
			if err != nil {
				t.Fatal(err)
			}
			h, _ := recordbatch.ParseHeader(batch)
			hs, rest = append(hs, [2]int32{h.BaseSequence, h.BaseSequence + h.LastOffsetDelta}), r
		}
		return hs
	}
	before := map[int32][][2]int32{0: headers(m.logs[0]), 1: headers(m.logs[1])}
	clear(m.logs)

	// Resume from the state after request 0 and resend requests 1 and 2,
	// each alone, as a resumed session does.
	resumed, e := resumedProducer(&streamv1.ProducerState{ProducerId: 7, ProducerEpoch: 2, Sequences: []*streamv1.PartitionSequence{
		{Partition: 0, NextSequence: 3}, {Partition: 1, NextSequence: 10}}}, 2)
	if e != nil {
		t.Fatal(e)
	}
	second := newSess(resumed)
	for _, c := range calls[1:] {
		as := second.producer.clone()
		second.execute(context.Background(), second.plan(requests([][]*streamv1.ProduceRecord{c}), &as))
	}
	after := map[int32][][2]int32{0: headers(m.logs[0]), 1: headers(m.logs[1])}
	if !slices.Equal(after[0], before[0][1:]) || !slices.Equal(after[1], before[1]) {
		t.Fatalf("resent batches %v, first written %v", after, before)
	}

	for _, bad := range []*streamv1.ProducerState{
		{ProducerId: 7, Sequences: []*streamv1.PartitionSequence{{Partition: 2}}},
		{ProducerId: 7, Sequences: []*streamv1.PartitionSequence{{Partition: 1}, {Partition: 1}}},
	} {
		if _, e := resumedProducer(bad, 2); e == nil {
			t.Errorf("resume %v accepted", bad)
		}
	}
}

// requests makes one session request of each call's records.
func requests(calls [][]*streamv1.ProduceRecord) []*streamRequest {
	out := make([]*streamRequest, len(calls))
	for i, c := range calls {
		out[i] = &streamRequest{id: uint64(i + 1), records: c}
	}
	return out
}

// A Fetch's partitions share max_bytes, so the leaders together read
// about what the answer can hold; each asks for 64 KiB at least, and none
// for more than max_bytes.
func TestFetchShare(t *testing.T) {
	for _, c := range []struct {
		max  int32
		n    int
		want int32
	}{{1 << 20, 1, 1 << 20}, {16 << 20, 4, 4 << 20}, {3 << 20, 3, 1 << 20}, {1 << 20, 100, 64 << 10}, {32 << 10, 5, 32 << 10}, {1 << 20, 0, 1 << 20}} {
		if got := fetchShare(c.max, c.n); got != c.want {
			t.Errorf("fetchShare(%d, %d) = %d, want %d", c.max, c.n, got, c.want)
		}
	}
}
