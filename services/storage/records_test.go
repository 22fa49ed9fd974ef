package storage

import (
	"context"
	"testing"
	"time"

	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/recordbatch"
)

// The low watermark is the smallest log start over the leader and its live
// followers; a live follower that has not fetched yet holds it at -1, and
// a DeleteRecords waiter wakes when a follower reports a new start.
func TestLowWatermarkWaitsForLiveFollowers(t *testing.T) {
	ps := newPartitions(t.TempDir())
	if err := ps.reconcile([]assignment{testAssignment("t", 0, "aa")}, keepAll, &testHost{}); err != nil {
		t.Fatal(err)
	}
	defer ps.closeAll()
	r, _ := ps.get("t", 0)
	ls := newLeaderState(r, &metadatav1.PartitionRecord{Topic: "t", Replicas: []int32{1, 2, 3}, Leader: 1, Isr: []int32{1}})
	r.leader.Store(ls)
	for range 10 {
		if _, err := r.appendProduced(0, batch(t, "a")); err != nil {
			t.Fatal(err)
		}
	}
	ls.advanceHighWatermark()
	if _, err := r.log.DeleteRecordsBefore(6); err != nil {
		t.Fatal(err)
	}
	all := func(int32) bool { return true }
	if low := ls.lowWatermark(all); low != -1 {
		t.Fatalf("low watermark %d before the followers fetched, want -1", low)
	}
	if low := ls.lowWatermark(func(id int32) bool { return id == 1 }); low != 6 {
		t.Fatalf("low watermark %d with every follower dead, want the leader's 6", low)
	}
	ls.followerFetched(2, 9, 6) // below the high watermark: no ISR expansion
	ls.followerFetched(3, 9, 0)
	if low := ls.lowWatermark(all); low != 0 {
		t.Fatalf("low watermark %d with follower 3 at 0, want 0", low)
	}

	done := make(chan int64, 1)
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	go func() {
		low, e := ls.waitLowWatermark(context.Background(), 6, all, deadline.C)
		if e != nil {
			low = -2
		}
		done <- low
	}()
	select {
	case low := <-done:
		t.Fatalf("waiter returned %d before follower 3 moved its start", low)
	case <-time.After(50 * time.Millisecond):
	}
	ls.followerFetched(3, 9, 6)
	select {
	case low := <-done:
		if low != 6 {
			t.Fatalf("waiter returned %d, want 6", low)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter did not wake when follower 3 reported its new start")
	}

	// A timeout answers REQUEST_TIMED_OUT.
	expired := make(chan time.Time)
	close(expired)
	if _, e := ls.waitLowWatermark(context.Background(), 8, all, expired); e == nil || e.GetCode() != errs.RequestTimedOut {
		t.Fatalf("expired wait: %v, want REQUEST_TIMED_OUT", e)
	}
}

// DescribeProducers reports each idempotent producer's epoch, last
// sequence and the last batch's timestamp.
func TestDescribeProducers(t *testing.T) {
	ps := newPartitions(t.TempDir())
	if err := ps.reconcile([]assignment{testAssignment("t", 0, "aa")}, keepAll, &testHost{}); err != nil {
		t.Fatal(err)
	}
	defer ps.closeAll()
	r, _ := ps.get("t", 0)
	idem := func(pid int64, epoch int16, seq int32, ts int64, n int) []byte {
		opts := recordbatch.ProducerOptions(codec.None)
		opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = pid, epoch, seq
		var recs []recordbatch.BuildRecord
		for range n {
			recs = append(recs, recordbatch.BuildRecord{Value: []byte("v"), Timestamp: ts})
		}
		b, err := recordbatch.Build(opts, recs)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, b := range [][]byte{idem(7, 2, 0, 1000, 3), idem(7, 2, 3, 2000, 2), idem(9, 0, 0, 1500, 1), batch(t, "plain")} {
		if _, err := r.appendProduced(0, b); err != nil {
			t.Fatal(err)
		}
	}
	got, err := r.describeProducers(0)
	if err != nil {
		t.Fatal(err)
	}
	want := []producerInfo{{id: 7, epoch: 2, lastSeq: 4, lastTimestamp: 2000}, {id: 9, epoch: 0, lastSeq: 0, lastTimestamp: 1500}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("producers %+v, want %+v", got, want)
	}
	// Under a new leader epoch the state is rebuilt from the log: the same.
	again, err := r.describeProducers(1)
	if err != nil || len(again) != 2 || again[0] != want[0] || again[1] != want[1] {
		t.Fatalf("rebuilt producers %+v %v, want %+v", again, err, want)
	}
}
