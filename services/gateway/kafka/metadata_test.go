package kafka

import (
	"context"
	"fmt"
	"testing"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/metadata"
)

func TestMetadataListsOfflineReplicas(t *testing.T) {
	cache := metadata.NewCache()
	snap := &controllerv1.WatchMetadataResponse{Snapshot: true, Revision: 1}
	for id := int32(1); id <= 3; id++ {
		snap.Upserts = append(snap.Upserts, &metadatav1.Record{Record: &metadatav1.Record_Gateway{Gateway: &metadatav1.GatewayRecord{
			GatewayId: id, KafkaAddress: fmt.Sprintf("127.0.0.1:%d", 9091+id)}}})
	}
	snap.Upserts = append(snap.Upserts,
		&metadatav1.Record{Record: &metadatav1.Record_Topic{Topic: &metadatav1.TopicRecord{Name: "t", PartitionCount: 1, ReplicationFactor: 3}}},
		&metadatav1.Record{Record: &metadatav1.Record_Partition{Partition: &metadatav1.PartitionRecord{Topic: "t", Partition: 0,
			Replicas: []int32{11, 12, 13}, Leader: 12, Isr: []int32{12, 13}, OfflineReplicas: []int32{11}}}})
	cache.Apply(snap)
	s := &Server{d: Deps{Cache: cache, NodeID: 1, Advertise: "127.0.0.1:9092"}}
	topic, ok := cache.Topic("t")
	if !ok {
		t.Fatal("topic not cached")
	}
	mp := s.topicMetadata(topic, s.brokers(context.Background())).Partitions[0]
	if len(mp.Replicas) != 3 || len(mp.ISR) != 2 || len(mp.OfflineReplicas) != 1 || mp.OfflineReplicas[0] != mp.Replicas[2] {
		t.Fatalf("replicas %v isr %v offline %v; want 3 replicas, 2 in sync, the last one offline", mp.Replicas, mp.ISR, mp.OfflineReplicas)
	}
}
