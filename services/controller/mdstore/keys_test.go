package mdstore

import (
	"testing"

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
