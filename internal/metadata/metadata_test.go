package metadata

import (
	"testing"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
)

func TestCacheAppliesSnapshotsAndDeltasInOrder(t *testing.T) {
	c := NewCache()
	changed := c.Changed()
	topic := func(name string) *metadatav1.Record {
		return &metadatav1.Record{Record: &metadatav1.Record_Topic{Topic: &metadatav1.TopicRecord{Name: name}}}
	}
	part := &metadatav1.Record{Record: &metadatav1.Record_Partition{Partition: &metadatav1.PartitionRecord{Topic: "a", Partition: 0, Replicas: []int32{2}}}}
	c.Apply(&controllerv1.WatchMetadataResponse{Revision: 5, Snapshot: true, Upserts: []*metadatav1.Record{topic("a"), part}})
	select {
	case <-changed:
	default:
		t.Fatal("Changed not signalled")
	}
	if !c.Synced() || c.Revision() != 5 || len(c.ReplicasOf(2)) != 1 {
		t.Fatalf("after snapshot: synced=%v rev=%d", c.Synced(), c.Revision())
	}
	// A stale delta is ignored; a newer one applies.
	c.Apply(&controllerv1.WatchMetadataResponse{Revision: 4, Deletes: []*metadatav1.RecordKey{{Key: &metadatav1.RecordKey_Topic{Topic: "a"}}}})
	if _, ok := c.Topic("a"); !ok {
		t.Fatal("stale delete applied")
	}
	c.Apply(&controllerv1.WatchMetadataResponse{Revision: 6, Deletes: []*metadatav1.RecordKey{
		{Key: &metadatav1.RecordKey_Topic{Topic: "a"}},
		{Key: &metadatav1.RecordKey_Partition{Partition: &metadatav1.PartitionKey{Topic: "a", Partition: 0}}},
	}})
	if _, ok := c.Topic("a"); ok || len(c.ReplicasOf(2)) != 0 {
		t.Fatal("delete not applied")
	}
	// A snapshot replaces everything.
	c.Apply(&controllerv1.WatchMetadataResponse{Revision: 9, Snapshot: true, Upserts: []*metadatav1.Record{topic("b")}})
	if _, ok := c.Topic("b"); !ok || c.Revision() != 9 {
		t.Fatal("snapshot not applied")
	}
}

// A snapshot that left records out makes the cache incomplete until a full
// snapshot arrives: absence then proves nothing.
func TestIncompleteSnapshotIsNotComplete(t *testing.T) {
	c := NewCache()
	if c.Complete() {
		t.Fatal("an unsynced cache is complete")
	}
	c.Apply(&controllerv1.WatchMetadataResponse{Revision: 5, Snapshot: true, Incomplete: true})
	if !c.Synced() || c.Complete() {
		t.Fatalf("after an incomplete snapshot: synced %v complete %v", c.Synced(), c.Complete())
	}
	c.Apply(&controllerv1.WatchMetadataResponse{Revision: 6, Upserts: []*metadatav1.Record{{Record: &metadatav1.Record_Topic{Topic: &metadatav1.TopicRecord{Name: "t"}}}}})
	if c.Complete() {
		t.Fatal("a delta made an incomplete cache complete")
	}
	c.Apply(&controllerv1.WatchMetadataResponse{Revision: 7, Snapshot: true})
	if !c.Complete() {
		t.Fatal("a full snapshot did not make the cache complete")
	}
}
