package storage

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/member"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/internal/roles"
	"google.golang.org/grpc"
)

// fakeLeader is a storage node that answers replica fetch streams with
// nothing new, and counts the streams open to it: one per fetch loop of
// the follower under test.
type fakeLeader struct {
	storagev1.UnimplementedStorageServiceServer
	addr string

	mu      sync.Mutex
	open    int
	maxOpen int
}

func startFakeLeader(t *testing.T) *fakeLeader {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &fakeLeader{addr: lis.Addr().String()}
	s := grpc.NewServer()
	storagev1.RegisterStorageServiceServer(s, fl)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return fl
}

func (fl *fakeLeader) Replicate(stream grpc.BidiStreamingServer[storagev1.ReplicateRequest, storagev1.ReplicateResponse]) error {
	fl.mu.Lock()
	fl.open++
	fl.maxOpen = max(fl.maxOpen, fl.open)
	fl.mu.Unlock()
	defer func() {
		fl.mu.Lock()
		fl.open--
		fl.mu.Unlock()
	}()
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		select { // a short long-poll: nothing new arrives
		case <-stream.Context().Done():
			return nil
		case <-time.After(10 * time.Millisecond):
		}
		resp := &storagev1.ReplicateResponse{}
		for _, p := range req.GetPartitions() {
			resp.Partitions = append(resp.Partitions, &storagev1.ReplicaFetchResult{Topic: p.GetTopic(), Partition: p.GetPartition()})
		}
		if err := stream.Send(resp); err != nil {
			return nil
		}
	}
}

// streams is how many replica fetch streams are open to the leader.
func (fl *fakeLeader) streams() int {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.open
}

// fakeController takes a member's unregistration; nothing else is called.
type fakeController struct {
	controllerv1.ControllerServiceClient
}

func (fakeController) Unregister(context.Context, *controllerv1.UnregisterRequest, ...grpc.CallOption) (*controllerv1.UnregisterResponse, error) {
	return &controllerv1.UnregisterResponse{}, nil
}

// followerNode is a Node with only what its fetchers use: replicas, the
// metadata cache (for the leaders' addresses), metrics and a membership.
func followerNode(t *testing.T, partitions int, leaders map[int32]*fakeLeader) (*Node, []*replica) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := member.Register(context.Background(), controllerv1.MemberKind(0), fakeController{}, 1,
		func(context.Context, int32) (member.Registration, error) {
			return member.Registration{ID: 1, Epoch: 1}, nil
		}, logger)
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{Base: roles.Base{Log: logger, Member: m},
		cache: metadata.NewCache(), metrics: newMetrics(prometheus.NewRegistry()), parts: newPartitions(t.TempDir())}
	n.fetchers = newFetchers(n)
	snap := &controllerv1.WatchMetadataResponse{Snapshot: true, Revision: 1}
	for id, fl := range leaders {
		snap.Upserts = append(snap.Upserts, &metadatav1.Record{Record: &metadatav1.Record_StorageNode{
			StorageNode: &metadatav1.StorageNodeRecord{NodeId: id, Address: fl.addr, NodeEpoch: 1}}})
	}
	n.cache.Apply(snap)
	var want []assignment
	for p := range partitions {
		want = append(want, testAssignment("t", int32(p), fmt.Sprintf("%02x", p+1)))
	}
	if err := n.parts.reconcile(want, keepAll, &testHost{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.Base.Stop()
		n.fetchers.close()
		n.parts.closeAll()
	})
	return n, n.parts.all()
}

// loopsGauge is the value of strata_storage_replica_fetch_loops.
func loopsGauge(t *testing.T, n *Node) int {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(n.metrics.fetchLoops)
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("gathering the fetch loop gauge: %v %v", mfs, err)
	}
	return int(mfs[0].GetMetric()[0].GetGauge().GetValue())
}

// follow sets each replica's leader (-1: none) as applyRoles does, then
// ensures the fetch loops.
func follow(n *Node, reps []*replica, leader func(i int) int32, epoch int32) {
	leaders := map[int32]bool{}
	for i, r := range reps {
		id := leader(i)
		if id < 0 {
			r.follow.Store(nil)
			continue
		}
		if fs := r.follow.Load(); fs == nil || fs.leaderID != id || fs.epoch != epoch {
			r.follow.Store(&followState{leaderID: id, epoch: epoch})
			leaders[id] = true
		} else if _, ok := leaders[id]; !ok {
			leaders[id] = false
		}
	}
	n.fetchers.ensure(leaders)
}

// holdingLeader is a storage node whose replica fetch long-polls hold for
// 5 s (nothing new arrives), reporting the partitions each fetch names.
type holdingLeader struct {
	storagev1.UnimplementedStorageServiceServer
	addr    string
	fetched chan []int32
}

func (hl *holdingLeader) Replicate(stream grpc.BidiStreamingServer[storagev1.ReplicateRequest, storagev1.ReplicateResponse]) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		var parts []int32
		for _, p := range req.GetPartitions() {
			parts = append(parts, p.GetPartition())
		}
		hl.fetched <- parts
		select {
		case <-stream.Context().Done():
			return nil
		case <-time.After(5 * time.Second):
		}
		if err := stream.Send(&storagev1.ReplicateResponse{}); err != nil {
			return nil
		}
	}
}

// A partition newly followed from a leader is fetched at once, not after
// the loop's pending long poll over the partitions it followed before:
// that wait would hold a new topic's first acks=all produces (up to
// replicaFetchWait, 500 ms).
func TestNewlyFollowedPartitionIsFetchedWithoutWaitingOutTheLongPoll(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl := &holdingLeader{addr: lis.Addr().String(), fetched: make(chan []int32, 16)}
	s := grpc.NewServer()
	storagev1.RegisterStorageServiceServer(s, hl)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	n, reps := followerNode(t, 2, map[int32]*fakeLeader{2: {addr: hl.addr}})
	next := func(within time.Duration) []int32 {
		t.Helper()
		select {
		case parts := <-hl.fetched:
			return parts
		case <-time.After(within):
			t.Fatalf("no replica fetch within %v", within)
			return nil
		}
	}
	follow(n, reps[:1], func(int) int32 { return 2 }, 1)
	if parts := next(10 * time.Second); len(parts) != 1 {
		t.Fatalf("first fetch names partitions %v, want one", parts)
	}
	follow(n, reps, func(int) int32 { return 2 }, 1) // the second partition is followed too
	for deadline := time.Now().Add(2 * time.Second); ; {
		if parts := next(time.Until(deadline)); len(parts) == 2 {
			return
		}
	}
}

// steadyLoops checks, for a second, that each leader has exactly want[id]
// streams open, and the gauge and registry count one loop per leader.
func steadyLoops(t *testing.T, n *Node, leaders map[int32]*fakeLeader, want map[int32]int) {
	t.Helper()
	total := 0
	for _, w := range want {
		total += w
	}
	settle := time.Now().Add(10 * time.Second) // a loaded machine starts loops late
	for {                                      // loops that are ending get a moment to end
		ok := true
		for id, fl := range leaders {
			ok = ok && fl.streams() == want[id]
		}
		if ok && n.fetchers.loops() == total && loopsGauge(t, n) == total {
			break
		}
		if time.Now().After(settle) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		for id, fl := range leaders {
			if got := fl.streams(); got != want[id] {
				t.Fatalf("leader %d has %d fetch streams open from this follower, want %d", id, got, want[id])
			}
		}
		if got := n.fetchers.loops(); got != total {
			t.Fatalf("%d fetch loops registered, want %d", got, total)
		}
		if got := loopsGauge(t, n); got != total {
			t.Fatalf("strata_storage_replica_fetch_loops = %d, want %d", got, total)
		}
	}
}

// A loop that found nothing to follow ends; it must not come back to life
// beside the loop a new follow started meanwhile (the bug under topic
// churn: two loops appended the same fetched batches).
func TestFetchLoopThatUnregisteredNeverRunsBesideItsSuccessor(t *testing.T) {
	fl := startFakeLeader(t)
	leaders := map[int32]*fakeLeader{2: fl}
	n, reps := followerNode(t, 1, leaders)

	follow(n, reps, func(int) int32 { return 2 }, 1)
	steadyLoops(t, n, leaders, map[int32]int{2: 1})

	// The topic goes; the loop notices at its next fetch, unregisters and
	// closes its stream.
	follow(n, reps, func(int) int32 { return -1 }, 1)
	deadline := time.Now().Add(10 * time.Second)
	for n.fetchers.loops() != 0 || fl.streams() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the fetch loop never ended after its last partition went: %d loops, %d streams", n.fetchers.loops(), fl.streams())
		}
		time.Sleep(time.Millisecond)
	}
	// A new topic is followed from the same leader at once.
	follow(n, reps, func(int) int32 { return 2 }, 2)
	steadyLoops(t, n, leaders, map[int32]int{2: 1})
}

// Partitions follow, switch and drop leaders at random (topic churn,
// leader elections); whenever it settles, each followed leader has exactly
// one loop and one stream, and a leader followed for nothing has none.
func TestFetchersRunOneLoopPerLeaderUnderChurn(t *testing.T) {
	leaders := map[int32]*fakeLeader{2: startFakeLeader(t), 3: startFakeLeader(t)}
	n, reps := followerNode(t, 4, leaders)
	rng := rand.New(rand.NewSource(1))
	choices := []int32{-1, 2, 3}
	for round := range 3 {
		for epoch := range int32(60) {
			follow(n, reps, func(int) int32 { return choices[rng.Intn(len(choices))] }, epoch)
			time.Sleep(time.Duration(rng.Intn(25)) * time.Millisecond)
		}
		switch round {
		case 0: // everything from leader 2
			follow(n, reps, func(int) int32 { return 2 }, 100)
			steadyLoops(t, n, leaders, map[int32]int{2: 1})
		case 1: // split between both leaders
			follow(n, reps, func(i int) int32 { return int32(2 + i%2) }, 100)
			steadyLoops(t, n, leaders, map[int32]int{2: 1, 3: 1})
		case 2: // every topic deleted
			follow(n, reps, func(int) int32 { return -1 }, 100)
			steadyLoops(t, n, leaders, map[int32]int{})
		}
	}
	for id, fl := range leaders {
		fl.mu.Lock()
		t.Logf("leader %d: at most %d streams open at once", id, fl.maxOpen)
		fl.mu.Unlock()
	}
}

// Stopping the node ends every fetch loop and closes its streams.
func TestFetchLoopsEndWhenTheNodeStops(t *testing.T) {
	fl := startFakeLeader(t)
	leaders := map[int32]*fakeLeader{2: fl}
	n, reps := followerNode(t, 2, leaders)
	follow(n, reps, func(int) int32 { return 2 }, 1)
	steadyLoops(t, n, leaders, map[int32]int{2: 1})
	done := make(chan struct{})
	go func() {
		n.Base.Stop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the node's background work did not stop: a fetch loop is stuck")
	}
	if got := loopsGauge(t, n); got != 0 {
		t.Fatalf("strata_storage_replica_fetch_loops = %d after stop, want 0", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for fl.streams() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d fetch streams still open after stop", fl.streams())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// refusingLeader answers its first fetches with NOT_LEADER_OR_FOLLOWER for
// every partition (a leader that has not yet learned it leads), and
// reports when each fetch arrives.
type refusingLeader struct {
	storagev1.UnimplementedStorageServiceServer
	refuse  int
	arrived chan time.Time
}

func (rl *refusingLeader) Replicate(stream grpc.BidiStreamingServer[storagev1.ReplicateRequest, storagev1.ReplicateResponse]) error {
	for i := 0; ; i++ {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		rl.arrived <- time.Now()
		resp := &storagev1.ReplicateResponse{}
		for _, p := range req.GetPartitions() {
			res := &storagev1.ReplicaFetchResult{Topic: p.GetTopic(), Partition: p.GetPartition()}
			if i < rl.refuse {
				res.Error = errs.New(errs.NotLeaderOrFollower, "not yet").Detail
			}
			resp.Partitions = append(resp.Partitions, res)
		}
		if i >= rl.refuse {
			select { // nothing new: a long poll
			case <-stream.Context().Done():
				return nil
			case <-time.After(5 * time.Second):
			}
		}
		if err := stream.Send(resp); err != nil {
			return nil
		}
	}
}

// A follower whose leader refuses every partition of a fetch (its metadata
// is behind, as right after a topic is created) asks again within
// milliseconds, backing off from there, instead of waiting 200 ms each
// time: that wait held a new topic's first acks=all produces.
func TestFollowerRetriesARefusedFetchSoon(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rl := &refusingLeader{refuse: 3, arrived: make(chan time.Time, 16)}
	s := grpc.NewServer()
	storagev1.RegisterStorageServiceServer(s, rl)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	n, reps := followerNode(t, 1, map[int32]*fakeLeader{2: {addr: lis.Addr().String()}})
	follow(n, reps, func(int) int32 { return 2 }, 1)
	var at []time.Time
	for len(at) < 4 { // three refused fetches and the one after them
		select {
		case ts := <-rl.arrived:
			at = append(at, ts)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d replica fetches within 10s, want 4", len(at))
		}
	}
	if d := at[3].Sub(at[0]); d >= 400*time.Millisecond {
		t.Fatalf("three refused fetches took %v to be retried, want well under 3 × 200ms", d)
	}
}
