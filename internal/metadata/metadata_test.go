package metadata

import (
	"testing"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"google.golang.org/protobuf/proto"
)

func TestKeysRoundTrip(t *testing.T) {
	recs := map[string]proto.Message{
		TopicKey("a.b-c_d"):         &metadatav1.TopicRecord{Name: "a.b-c_d", PartitionCount: 3},
		PartitionKey("a.b-c_d", 12): &metadatav1.PartitionRecord{Topic: "a.b-c_d", Partition: 12, Replicas: []int32{1, 2}},
		NodeKey(7):                  &metadatav1.StorageNodeRecord{NodeId: 7, Address: "h:1"},
		AliveKey(7):                 &metadatav1.LivenessRecord{NodeId: 7, NodeEpoch: 2},
		GatewayKey(3):               &metadatav1.GatewayRecord{GatewayId: 3},
		ControllerKey("c1"):         &metadatav1.ControllerRecord{Name: "c1"},
	}
	for key, msg := range recs {
		rec, ok, err := Decode(key, Marshal(msg))
		if err != nil || !ok || rec.GetRecord() == nil {
			t.Fatalf("Decode(%s): ok=%v err=%v", key, ok, err)
		}
		if _, ok := DecodeKey(key); !ok {
			t.Fatalf("DecodeKey(%s) failed", key)
		}
	}
	for _, key := range []string{NodeIDCounter, ClusterIDKey, ElectionPrefix + "x"} {
		if _, ok, _ := Decode(key, []byte("{}")); ok {
			t.Errorf("Decode(%s) treated bookkeeping as a record", key)
		}
		if _, ok := DecodeKey(key); ok {
			t.Errorf("DecodeKey(%s) accepted", key)
		}
	}
	if _, ok := DecodeKey(PartitionsPrefix + "t/notanumber"); ok {
		t.Error("DecodeKey accepted a partition key without a number")
	}
	k, _ := DecodeKey(PartitionKey("t-1", 4))
	if p := k.GetPartition(); p.GetTopic() != "t-1" || p.GetPartition() != 4 {
		t.Fatalf("partition key decoded to %+v", p)
	}
}

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
