package groups

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/strata-io/strata/services/controller/mdstore"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// loaded is a coordinator over an in-memory store, loaded as on an active
// controller (no timers run: tests drive it by calls).
func loaded(t *testing.T, store mdstore.Store) *Coordinator {
	t.Helper()
	gc := New(store, slog.New(slog.NewTextHandler(io.Discard, nil)), 0)
	if err := gc.load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return gc
}

func call[R kmsg.Response](t *testing.T, gc *Coordinator, req kmsg.Request) R {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := gc.Handle(ctx, req, "client", "/127.0.0.1")
	if err != nil {
		t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp.(R)
}

func joinReq(group, member string, instance *string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 5
	r.Group, r.MemberID, r.InstanceID = group, member, instance
	r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 10000, 10000
	r.ProtocolType = "consumer"
	r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 1}}}
	return r
}

// stableStatic makes a stable group of one static member and returns its
// member id.
func stableStatic(t *testing.T, gc *Coordinator, group, instance string) string {
	t.Helper()
	j := call[*kmsg.JoinGroupResponse](t, gc, joinReq(group, "", &instance))
	if j.ErrorCode != 0 || j.Generation != 1 || j.LeaderID != j.MemberID {
		t.Fatalf("join = code %d generation %d leader %q member %q", j.ErrorCode, j.Generation, j.LeaderID, j.MemberID)
	}
	s := kmsg.NewPtrSyncGroupRequest()
	s.Version = 3
	s.Group, s.MemberID, s.InstanceID, s.Generation = group, j.MemberID, &instance, j.Generation
	s.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: j.MemberID, MemberAssignment: []byte("a")}}
	if sr := call[*kmsg.SyncGroupResponse](t, gc, s); sr.ErrorCode != 0 || string(sr.MemberAssignment) != "a" {
		t.Fatalf("sync = %d %q", sr.ErrorCode, sr.MemberAssignment)
	}
	return j.MemberID
}

func heartbeat(t *testing.T, gc *Coordinator, group, member string, instance *string, gen int32) int16 {
	h := kmsg.NewPtrHeartbeatRequest()
	h.Version = 3
	h.Group, h.MemberID, h.InstanceID, h.Generation = group, member, instance, gen
	return call[*kmsg.HeartbeatResponse](t, gc, h).ErrorCode
}

// Two consumers with one group.instance.id: the newer takes over and the
// older is fenced on every call, instead of rejoining and replacing the
// newer one in turn.
func TestStaticMemberReplacedIsFenced(t *testing.T) {
	gc := loaded(t, mdstore.NewMemory())
	inst := "instance-1"
	old := stableStatic(t, gc, "g", inst)

	j := call[*kmsg.JoinGroupResponse](t, gc, joinReq("g", "", &inst))
	if j.ErrorCode != 0 || j.MemberID == old || j.Generation != 1 {
		t.Fatalf("takeover join = code %d member %q generation %d", j.ErrorCode, j.MemberID, j.Generation)
	}
	if code := heartbeat(t, gc, "g", j.MemberID, &inst, 1); code != 0 {
		t.Fatalf("new member heartbeat = %v", kerr.ErrorForCode(code))
	}
	if code := heartbeat(t, gc, "g", old, &inst, 1); code != kerr.FencedInstanceID.Code {
		t.Fatalf("old member heartbeat = %v, want FENCED_INSTANCE_ID", kerr.ErrorForCode(code))
	}
	if r := call[*kmsg.JoinGroupResponse](t, gc, joinReq("g", old, &inst)); r.ErrorCode != kerr.FencedInstanceID.Code {
		t.Fatalf("old member rejoin = %v, want FENCED_INSTANCE_ID", kerr.ErrorForCode(r.ErrorCode))
	}
	c := kmsg.NewPtrOffsetCommitRequest()
	c.Version = 7
	c.Group, c.MemberID, c.InstanceID, c.Generation = "g", old, &inst, 1
	c.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 5}}}}
	if r := call[*kmsg.OffsetCommitResponse](t, gc, c); r.Topics[0].Partitions[0].ErrorCode != kerr.FencedInstanceID.Code {
		t.Fatalf("old member commit = %v", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}
	// The new member still holds the group, stable, at generation 1.
	if code := heartbeat(t, gc, "g", j.MemberID, &inst, 1); code != 0 {
		t.Fatalf("new member heartbeat after the fenced calls = %v", kerr.ErrorForCode(code))
	}
}

// Committed offsets and the group metadata are in the store: a new
// coordinator (a failover) serves the stable group without a rebalance.
func TestGroupSurvivesReload(t *testing.T) {
	store := mdstore.NewMemory()
	gc := loaded(t, store)
	inst := "i"
	member := stableStatic(t, gc, "g", inst)
	c := kmsg.NewPtrOffsetCommitRequest()
	c.Version = 7
	c.Group, c.MemberID, c.InstanceID, c.Generation = "g", member, &inst, 1
	c.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 3, Offset: 42, LeaderEpoch: -1}}}}
	if r := call[*kmsg.OffsetCommitResponse](t, gc, c); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit = %v", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}

	gc2 := loaded(t, store)
	if code := heartbeat(t, gc2, "g", member, &inst, 1); code != 0 {
		t.Fatalf("heartbeat after reload = %v", kerr.ErrorForCode(code))
	}
	f := kmsg.NewPtrOffsetFetchRequest()
	f.Version = 5
	f.Group = "g"
	f.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{3}}}
	r := call[*kmsg.OffsetFetchResponse](t, gc2, f)
	if len(r.Topics) != 1 || r.Topics[0].Partitions[0].Offset != 42 {
		t.Fatalf("offset fetch = %+v", r.Topics)
	}
}

func TestNotLoadedIsNotController(t *testing.T) {
	gc := New(mdstore.NewMemory(), slog.New(slog.NewTextHandler(io.Discard, nil)), 0)
	if _, err := gc.Handle(context.Background(), joinReq("g", "", nil), "c", "h"); err == nil {
		t.Fatal("an unloaded coordinator answered")
	}
}

// OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT for a
// partition whose offset is pending in an open transaction (KIP-447).
func TestRequireStableOffsets(t *testing.T) {
	gc := loaded(t, mdstore.NewMemory())
	gc.SetPendingOffsets(func(group string) map[string]map[int32]bool {
		if group == "g" {
			return map[string]map[int32]bool{"t": {0: true}}
		}
		return nil
	})
	for _, stable := range []bool{true, false} {
		f := kmsg.NewPtrOffsetFetchRequest()
		f.Version, f.Group, f.RequireStable = 7, "g", stable
		f.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}}
		r := call[*kmsg.OffsetFetchResponse](t, gc, f)
		want := int16(0)
		if stable {
			want = kerr.UnstableOffsetCommit.Code
		}
		if got := r.Topics[0].Partitions[0].ErrorCode; got != want {
			t.Errorf("require_stable %v, pending partition: %v", stable, kerr.ErrorForCode(got))
		}
		if got := r.Topics[0].Partitions[1].ErrorCode; got != 0 {
			t.Errorf("require_stable %v, settled partition: %v", stable, kerr.ErrorForCode(got))
		}
	}
}

// TxnOffsetCommit's member check: a member of the current generation
// passes, a stale generation or an unknown member does not, and a commit
// without member information (TxnOffsetCommit v0–2) passes even while the
// group has members.
func TestCheckMemberForTxnOffsetCommit(t *testing.T) {
	gc := loaded(t, mdstore.NewMemory())
	inst := "i"
	member := stableStatic(t, gc, "g", inst)
	for _, tc := range []struct {
		member string
		inst   *string
		gen    int32
		want   int16
	}{{member, &inst, 1, 0}, {member, &inst, 0, kerr.IllegalGeneration.Code}, {"nobody", nil, 1, kerr.UnknownMemberID.Code}, {"", nil, -1, 0}} {
		if got := gc.CheckMember("g", tc.member, tc.inst, tc.gen); got != tc.want {
			t.Errorf("member %q generation %d: %v, want %v", tc.member, tc.gen, kerr.ErrorForCode(got), kerr.ErrorForCode(tc.want))
		}
	}
	if got := gc.CheckMember("", "", nil, -1); got != kerr.InvalidGroupID.Code {
		t.Errorf("empty group: %v", kerr.ErrorForCode(got))
	}
}

func commitReq(group string) *kmsg.OffsetCommitRequest {
	c := kmsg.NewPtrOffsetCommitRequest()
	c.Version = 8
	c.Group, c.Generation = group, -1
	c.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 5}}}}
	return c
}

// A group that is Empty past offsets.retention.minutes is deleted with its
// offsets; one with members, or with a fresh commit, is kept; a controller
// that loads the store counts retention from the latest commit.
func TestEmptyGroupsExpire(t *testing.T) {
	store := mdstore.NewMemory()
	gc := loaded(t, store)
	gc.SetLimits(time.Minute, 10, 10)
	ctx := context.Background()
	if r := call[*kmsg.OffsetCommitResponse](t, gc, commitReq("standalone")); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit: %d", r.Topics[0].Partitions[0].ErrorCode)
	}
	now := time.Now()
	gc.expire(ctx, now.Add(30*time.Second))
	if _, ok := gc.groups["standalone"]; !ok {
		t.Fatal("expired before its retention")
	}
	// A controller taking over keeps the commit's age.
	gc = loaded(t, store)
	gc.SetLimits(time.Minute, 10, 10)
	gc.expire(ctx, now.Add(2*time.Minute))
	if _, ok := gc.groups["standalone"]; ok {
		t.Fatal("an empty group outlived offsets.retention.minutes")
	}
	kvs, err := store.List(ctx, groupKey("standalone"))
	if err != nil || len(kvs) != 0 {
		t.Fatalf("store still holds %d keys of the expired group (%v)", len(kvs), err)
	}
	f := kmsg.NewPtrOffsetFetchRequest()
	f.Version = 5
	f.Group = "standalone"
	f.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	if r := call[*kmsg.OffsetFetchResponse](t, gc, f); r.Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("offset %d survived its group", r.Topics[0].Partitions[0].Offset)
	}
}

// A group with members never expires, however short the retention.
func TestGroupWithMembersKept(t *testing.T) {
	gc := loaded(t, mdstore.NewMemory())
	gc.SetLimits(time.Nanosecond, 10, 10)
	stableStatic(t, gc, "busy", "i")
	gc.expire(context.Background(), time.Now().Add(time.Second)) // within the 10 s session
	if _, ok := gc.groups["busy"]; !ok {
		t.Fatal("a group with members expired")
	}
}

// group.max.size: joins past it get GROUP_MAX_SIZE_REACHED.
func TestGroupMaxSize(t *testing.T) {
	gc := loaded(t, mdstore.NewMemory())
	gc.SetLimits(time.Hour, 2, 10)
	for i := range 3 {
		j := call[*kmsg.JoinGroupResponse](t, gc, joinReq("g", "", nil)) // v5: a member id to rejoin with
		want := int16(kerr.MemberIDRequired.Code)
		if i == 2 {
			want = kerr.GroupMaxSizeReached.Code
		}
		if j.ErrorCode != want {
			t.Fatalf("join %d: code %d, want %d", i+1, j.ErrorCode, want)
		}
	}
}

// Past the group cap, a call that would create a group gets
// COORDINATOR_NOT_AVAILABLE; existing groups carry on.
func TestGroupCountCapped(t *testing.T) {
	gc := loaded(t, mdstore.NewMemory())
	gc.SetLimits(time.Hour, 10, 2)
	for _, g := range []string{"a", "b"} {
		if r := call[*kmsg.OffsetCommitResponse](t, gc, commitReq(g)); r.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("commit to %s: %d", g, r.Topics[0].Partitions[0].ErrorCode)
		}
	}
	if r := call[*kmsg.OffsetCommitResponse](t, gc, commitReq("c")); r.Topics[0].Partitions[0].ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("commit to a third group: %d", r.Topics[0].Partitions[0].ErrorCode)
	}
	if j := call[*kmsg.JoinGroupResponse](t, gc, joinReq("c", "", nil)); j.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("join of a third group: %d", j.ErrorCode)
	}
	if r := call[*kmsg.OffsetCommitResponse](t, gc, commitReq("a")); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit to an existing group: %d", r.Topics[0].Partitions[0].ErrorCode)
	}
}
