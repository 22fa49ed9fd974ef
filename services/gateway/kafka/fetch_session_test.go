package kafka

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func parts(n int) []*sessionPart {
	out := make([]*sessionPart, n)
	for i := range out {
		out[i] = &sessionPart{topic: "t", partition: int32(i)}
	}
	return out
}

// The cache evicts as Kafka's FetchSessionCache does: a stale session (idle
// past the minimum eviction age) first; else the smallest session past that
// age, only for a larger new one; never a young session otherwise.
func TestFetchSessionCacheEviction(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	now := t0
	c := newFetchSessionCache(2)
	c.now = func() time.Time { return now }
	a, b := c.create(parts(1)), c.create(parts(5))
	if a == nil || b == nil || a.id == b.id || a.id <= 0 || b.id <= 0 {
		t.Fatalf("sessions %v %v", a, b)
	}
	now = t0.Add(time.Second)
	if s := c.create(parts(10)); s != nil {
		t.Fatal("a young, recently used session was evicted")
	}
	now = t0.Add(minSessionEvictionAge + time.Second)
	b.mu.Lock()
	c.touch(b)
	b.mu.Unlock()
	cs := c.create(parts(10)) // a is stale: it goes, though it is small and the new one is large
	if cs == nil {
		t.Fatal("the stale session was not evicted")
	}
	if _, ok := c.get(a.id); ok || a.cached.Load() {
		t.Fatal("the stale session is still cached")
	}
	now = now.Add(time.Second)
	if s := c.create(parts(3)); s != nil {
		t.Fatal("a smaller session evicted a larger one")
	}
	if s := c.create(parts(5)); s != nil {
		t.Fatal("an equal session evicted another")
	}
	e := c.create(parts(6)) // b (5 partitions, old enough) goes; cs is too young
	if e == nil {
		t.Fatal("a larger session did not evict the smallest old one")
	}
	if _, ok := c.get(b.id); ok {
		t.Fatal("b is still cached")
	}
	if _, ok := c.get(cs.id); !ok {
		t.Fatal("the young session was evicted")
	}
	if n, p, ev := c.stats(); n != 2 || p != 16 || ev != 2 {
		t.Fatalf("stats %d sessions, %d partitions, %d evictions; want 2, 16, 2", n, p, ev)
	}
	if s := newFetchSessionCache(0).create(parts(1)); s != nil {
		t.Fatal("a cache of 0 slots made a session")
	}
}

func TestFetchSessionEpochWraps(t *testing.T) {
	for in, want := range map[int32]int32{0: 1, 1: 2, -1: -1, 1<<31 - 1: 1} {
		if got := nextSessionEpoch(in); got != want {
			t.Errorf("nextSessionEpoch(%d) = %d, want %d", in, got, want)
		}
	}
}

// sessionStorage serves Fetch from per-partition high watermarks and
// records which partitions each call asked for.
type sessionStorage struct {
	mu    sync.Mutex
	hw    map[int32]int64
	fail  map[int32]bool
	asked [][]int32
}

func (st *sessionStorage) fetch(_ string, in *storagev1.FetchRequest) (*storagev1.FetchResponse, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := &storagev1.FetchResponse{}
	var asked []int32
	for _, p := range in.GetPartitions() {
		asked = append(asked, p.GetPartition())
		res := &storagev1.FetchPartitionResult{Topic: p.GetTopic(), Partition: p.GetPartition(), HighWatermark: st.hw[p.GetPartition()]}
		if st.fail[p.GetPartition()] {
			res.HighWatermark = -1
			res.Error = &commonv1.ErrorDetail{Code: errs.OffsetOutOfRange, KafkaErrorCode: int32(kerr.OffsetOutOfRange.Code)}
		}
		out.Partitions = append(out.Partitions, res)
	}
	st.asked = append(st.asked, asked)
	return out, nil
}

func (st *sessionStorage) set(f func()) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f()
}

func (st *sessionStorage) askedFor() []int32 {
	st.mu.Lock()
	defer st.mu.Unlock()
	var all []int32
	for _, a := range st.asked {
		all = append(all, a...)
	}
	st.asked = nil
	slices.Sort(all)
	return all
}

type fetchCall struct {
	version          int16
	sessionID, epoch int32
	partitions       []int32 // of topic t, at offset 0
	forget           []int32
}

func doFetch(t *testing.T, s *Server, c fetchCall) *kmsg.FetchResponse {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(c.version)
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 0, 1<<20
	req.SessionID, req.SessionEpoch = c.sessionID, c.epoch
	if len(c.partitions) > 0 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "t"
		for _, p := range c.partitions {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.PartitionMaxBytes = p, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	if len(c.forget) > 0 {
		req.ForgottenTopics = []kmsg.FetchRequestForgottenTopic{{Topic: "t", Partitions: c.forget}}
	}
	r, err := parseRequest(frame(req, 1))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.dispatch(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return resp.(*kmsg.FetchResponse)
}

// responded lists the partitions of a response as "p:hw" or "p:err".
func responded(resp *kmsg.FetchResponse) []string {
	var out []string
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				out = append(out, fmt.Sprintf("%d:err", p.Partition))
				continue
			}
			out = append(out, fmt.Sprintf("%d:%d", p.Partition, p.HighWatermark))
		}
	}
	slices.Sort(out)
	return out
}

// Kafka's fetch session rules, request by request.
func TestFetchSessions(t *testing.T) {
	st := &sessionStorage{hw: map[int32]int64{0: 10, 1: 20, 2: 30}, fail: map[int32]bool{}}
	s := benchServer(t, "t", 3, &stubStorage{fetch: st.fetch})
	s.sessions = newFetchSessionCache(10)
	check := func(step string, resp *kmsg.FetchResponse, code int16, want ...string) {
		t.Helper()
		if resp.ErrorCode != code || fmt.Sprint(responded(resp)) != fmt.Sprint(want) {
			t.Fatalf("%s: error %d, partitions %v; want error %d, partitions %v", step, resp.ErrorCode, responded(resp), code, want)
		}
	}

	// What segmentio/kafka-go's Client.Fetch sends: sessionless, every time.
	for _, id := range []int32{0, -1} {
		resp := doFetch(t, s, fetchCall{version: 11, sessionID: id, epoch: -1, partitions: []int32{0, 1, 2}})
		check("sessionless", resp, 0, "0:10", "1:20", "2:30")
		if resp.SessionID != 0 {
			t.Fatalf("a sessionless fetch got session %d", resp.SessionID)
		}
	}
	if n, _, _ := s.sessions.stats(); n != 0 {
		t.Fatalf("sessionless fetches made %d sessions", n)
	}
	// Before v7 there are no sessions at all.
	check("v4", doFetch(t, s, fetchCall{version: 4, partitions: []int32{0}}), 0, "0:10")

	full := doFetch(t, s, fetchCall{version: 12, epoch: 0, partitions: []int32{0, 1, 2}})
	check("full", full, 0, "0:10", "1:20", "2:30")
	id := full.SessionID
	if id <= 0 {
		t.Fatalf("a full fetch at epoch 0 got session id %d", id)
	}
	st.askedFor()

	check("nothing new", doFetch(t, s, fetchCall{version: 12, sessionID: id, epoch: 1}), 0)
	if got := st.askedFor(); fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("an incremental fetch asked storage for %v, want every session partition", got)
	}
	check("repeated epoch", doFetch(t, s, fetchCall{version: 12, sessionID: id, epoch: 1}), kerr.InvalidFetchSessionEpoch.Code)
	check("future epoch", doFetch(t, s, fetchCall{version: 12, sessionID: id, epoch: 5}), kerr.InvalidFetchSessionEpoch.Code)
	check("unknown session", doFetch(t, s, fetchCall{version: 12, sessionID: id + 1, epoch: 1}), kerr.FetchSessionIDNotFound.Code)
	check("incremental without a session", doFetch(t, s, fetchCall{version: 12, sessionID: 0, epoch: 1}), kerr.FetchSessionIDNotFound.Code)

	st.set(func() { st.hw[1] = 21 })
	check("high watermark moved", doFetch(t, s, fetchCall{version: 12, sessionID: id, epoch: 2}), 0, "1:21")

	st.set(func() { st.fail[2] = true })
	check("error", doFetch(t, s, fetchCall{version: 12, sessionID: id, epoch: 3}), 0, "2:err")
	check("error again", doFetch(t, s, fetchCall{version: 12, sessionID: id, epoch: 4}), 0, "2:err")
	st.set(func() { st.fail[2] = false })
	check("error cleared", doFetch(t, s, fetchCall{version: 12, sessionID: id, epoch: 5}), 0, "2:30")
	check("quiet again", doFetch(t, s, fetchCall{version: 12, sessionID: id, epoch: 6}), 0)

	// A changed partition named in the request is answered; a forgotten one
	// is no longer fetched.
	st.askedFor()
	check("forget 0", doFetch(t, s, fetchCall{version: 12, sessionID: id, epoch: 7, forget: []int32{0}}), 0)
	if got := st.askedFor(); fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("after forgetting partition 0 storage was asked for %v", got)
	}
	check("add 0 back", doFetch(t, s, fetchCall{version: 12, sessionID: id, epoch: 8, partitions: []int32{0}}), 0, "0:10")

	// Forgetting everything ends the session.
	check("forget all", doFetch(t, s, fetchCall{version: 12, sessionID: id, epoch: 9, forget: []int32{0, 1, 2}}), 0)
	check("after the end", doFetch(t, s, fetchCall{version: 12, sessionID: id, epoch: 10}), kerr.FetchSessionIDNotFound.Code)

	// A full fetch naming a session closes it (epoch -1: no new session;
	// epoch 0: a new one).
	first := doFetch(t, s, fetchCall{version: 12, epoch: 0, partitions: []int32{0}}).SessionID
	second := doFetch(t, s, fetchCall{version: 12, sessionID: first, epoch: 0, partitions: []int32{0}})
	if second.SessionID == 0 || second.SessionID == first {
		t.Fatalf("a new full fetch got session %d (the old one was %d)", second.SessionID, first)
	}
	check("old session closed", doFetch(t, s, fetchCall{version: 12, sessionID: first, epoch: 1}), kerr.FetchSessionIDNotFound.Code)
	closing := doFetch(t, s, fetchCall{version: 12, sessionID: second.SessionID, epoch: -1, partitions: []int32{0}})
	check("closing fetch", closing, 0, "0:10")
	if closing.SessionID != 0 {
		t.Fatalf("a sessionless fetch answered session %d", closing.SessionID)
	}
	check("closed session", doFetch(t, s, fetchCall{version: 12, sessionID: second.SessionID, epoch: 1}), kerr.FetchSessionIDNotFound.Code)
	if n, p, _ := s.sessions.stats(); n != 0 || p != 0 {
		t.Fatalf("%d sessions with %d partitions left", n, p)
	}
}

// With max_bytes too small for every partition's records, the partitions
// sent go to the end of the session, so the next fetch starts with the
// others (Kafka's round-robin over a session).
func TestFetchSessionRotatesPartitionsSent(t *testing.T) {
	batch := recordBatch(5, 100)
	st := &stubStorage{fetch: func(_ string, in *storagev1.FetchRequest) (*storagev1.FetchResponse, error) {
		out := &storagev1.FetchResponse{}
		for _, p := range in.GetPartitions() {
			out.Partitions = append(out.Partitions, &storagev1.FetchPartitionResult{Topic: p.GetTopic(), Partition: p.GetPartition(),
				HighWatermark: 5, Records: batch})
		}
		return out, nil
	}}
	s := benchServer(t, "t", 3, st)
	s.sessions = newFetchSessionCache(10)
	full := kmsg.NewPtrFetchRequest()
	full.SetVersion(12)
	full.MaxBytes, full.SessionEpoch = 1, 0 // room for the first partition only
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "t"
	for p := range int32(3) {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes = p, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
	}
	full.Topics = []kmsg.FetchRequestTopic{rt}
	var got []int32
	var id int32
	for epoch := int32(0); epoch < 4; epoch++ {
		req := full
		if epoch > 0 {
			req = kmsg.NewPtrFetchRequest()
			req.SetVersion(12)
			req.MaxBytes, req.SessionID, req.SessionEpoch = 1, id, epoch
		}
		r, err := parseRequest(frame(req, 1))
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.dispatch(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		resp := out.(*kmsg.FetchResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("epoch %d: error %d", epoch, resp.ErrorCode)
		}
		id = resp.SessionID
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if len(p.RecordBatches) > 0 {
					got = append(got, p.Partition)
				}
			}
		}
	}
	if fmt.Sprint(got) != "[0 0 1 2]" {
		t.Fatalf("partitions with records, fetch by fetch: %v; want [0 0 1 2] (a full fetch keeps request order)", got)
	}
}

// Many consumers open, use and lose sessions at once in a small cache
// (run with -race): every answer is a session error or a proper response,
// never a panic or a race.
func TestFetchSessionsConcurrent(t *testing.T) {
	st := &sessionStorage{hw: map[int32]int64{0: 1, 1: 2, 2: 3}, fail: map[int32]bool{}}
	s := benchServer(t, "t", 3, &stubStorage{fetch: st.fetch})
	s.sessions = newFetchSessionCache(4)
	s.sessions.evictAfter = 0 // every session is evictable at once
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, epoch := int32(0), int32(0)
			for range 50 {
				resp := doFetch(t, s, fetchCall{version: 12, sessionID: id, epoch: epoch, partitions: []int32{0, 1, 2}})
				switch resp.ErrorCode {
				case 0:
					if resp.SessionID == 0 {
						id, epoch = 0, 0
						continue
					}
					id, epoch = resp.SessionID, nextSessionEpoch(epoch)
				case kerr.FetchSessionIDNotFound.Code, kerr.InvalidFetchSessionEpoch.Code:
					id, epoch = 0, 0
				default:
					t.Errorf("error %d", resp.ErrorCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n, _, _ := s.sessions.stats(); n > 4 {
		t.Fatalf("%d sessions in a cache of 4", n)
	}
}
