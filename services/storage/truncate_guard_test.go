package storage

import (
	"testing"

	dto "github.com/prometheus/client_model/go"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
)

// A leader whose log ends below this follower's high watermark cannot make
// the follower drop committed records: the follower refuses (and counts
// it); above the high watermark it truncates the uncommitted tail. With
// unclean leader election allowed the loss is accepted.
func TestFollowerNeverTruncatesBelowItsHighWatermark(t *testing.T) {
	n, reps := followerNode(t, 1, nil)
	r := reps[0]
	for range 10 {
		if _, err := r.log.Append(batch(t, "v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	r.setHighWatermark(8)
	r.follow.Store(&followState{leaderID: 2, epoch: 1, truncated: true})
	short := func(leo int64) *storagev1.ReplicaFetchResult {
		return &storagev1.ReplicaFetchResult{Topic: "t", Partition: 0, LogStartOffset: 0, LogEndOffset: leo}
	}

	n.fetchers.outOfRange(r, short(3)) // below the high watermark of 8
	if got := r.log.LogEndOffset(); got != 10 {
		t.Fatalf("log end %d after a leader at 3 asked; want 10 kept", got)
	}
	var m dto.Metric
	if err := n.metrics.refusedTruncations.Write(&m); err != nil || m.GetCounter().GetValue() != 1 {
		got := m.GetCounter().GetValue()
		t.Fatalf("refused truncations %v, want 1", got)
	}

	n.fetchers.outOfRange(r, short(9)) // above it: the uncommitted tail goes
	if got := r.log.LogEndOffset(); got != 9 {
		t.Fatalf("log end %d after a leader at 9 asked; want 9", got)
	}

	n.cache.Apply(&controllerv1.WatchMetadataResponse{Revision: 2, Upserts: []*metadatav1.Record{{Record: &metadatav1.Record_Topic{
		Topic: &metadatav1.TopicRecord{Name: "t", Configs: map[string]string{"unclean.leader.election.enable": "true"}}}}}})
	n.fetchers.outOfRange(r, short(3))
	if got := r.log.LogEndOffset(); got != 3 {
		t.Fatalf("log end %d with unclean election allowed; want 3", got)
	}
}
