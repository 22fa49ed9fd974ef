package kafka

import (
	"context"
	"slices"
	"testing"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A gateway describes its own broker id with typed, documented, read-only
// configs; another id is INVALID_REQUEST; the empty name has none.
func TestDescribeBrokerConfigs(t *testing.T) {
	s := &Server{cfg: Config{MaxRequestBytes: DefaultMaxRequestBytes, IdleTimeout: DefaultIdleTimeout, DefaultPartitions: 1},
		d: Deps{Cache: metadata.NewCache(), NodeID: 7}}
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version, req.IncludeDocumentation, req.IncludeSynonyms = 4, true, true
	for _, name := range []string{"7", "8", ""} {
		res := kmsg.NewDescribeConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeBroker, name
		req.Resources = append(req.Resources, res)
	}
	out, err := handleDescribeConfigs(context.Background(), s, &request{body: req})
	if err != nil {
		t.Fatal(err)
	}
	resp := out.(*kmsg.DescribeConfigsResponse)
	own, other, cluster := resp.Resources[0], resp.Resources[1], resp.Resources[2]
	if own.ErrorCode != 0 || len(own.Configs) != len(s.brokerConfigs()) {
		t.Fatalf("own broker: error %d, %d configs", own.ErrorCode, len(own.Configs))
	}
	if n := len(s.brokerConfigs()); n < 13+len(logDefaults) {
		t.Errorf("%d broker configs: a log default's topic config is missing from topicconfig", n)
	}
	var names []string
	for _, c := range own.Configs {
		names = append(names, c.Name)
		if c.ConfigType == kmsg.ConfigTypeUnknown || !c.ReadOnly || c.Value == nil || c.Documentation == nil || *c.Documentation == "" ||
			len(c.ConfigSynonyms) != 1 {
			t.Errorf("broker config %s: %+v", c.Name, c)
		}
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("broker config names not sorted and unique: %v", names)
	}
	if other.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("another broker's id: error %d, want INVALID_REQUEST", other.ErrorCode)
	}
	if cluster.ErrorCode != 0 || len(cluster.Configs) != 0 {
		t.Errorf("cluster defaults: %+v, want none", cluster)
	}
}

// ListPartitionReassignments lists the moving partitions only.
func TestListPartitionReassignments(t *testing.T) {
	cache := metadata.NewCache()
	cache.Apply(&controllerv1.WatchMetadataResponse{Snapshot: true, Revision: 1, Upserts: []*metadatav1.Record{
		{Record: &metadatav1.Record_Topic{Topic: &metadatav1.TopicRecord{Name: "t", PartitionCount: 2, ReplicationFactor: 2}}},
		{Record: &metadatav1.Record_Partition{Partition: &metadatav1.PartitionRecord{Topic: "t", Partition: 0, Replicas: []int32{1, 2}, Leader: 1, Isr: []int32{1, 2}}}},
		{Record: &metadatav1.Record_Partition{Partition: &metadatav1.PartitionRecord{Topic: "t", Partition: 1, Replicas: []int32{3, 2, 1}, Leader: 1,
			Isr: []int32{1, 2}, AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}}}},
	}})
	s := &Server{d: Deps{Cache: cache}}
	list := func(req *kmsg.ListPartitionReassignmentsRequest) []kmsg.ListPartitionReassignmentsResponseTopic {
		out, err := handleListPartitionReassignments(context.Background(), s, &request{body: req})
		if err != nil {
			t.Fatal(err)
		}
		return out.(*kmsg.ListPartitionReassignmentsResponse).Topics
	}
	all := list(kmsg.NewPtrListPartitionReassignmentsRequest())
	if len(all) != 1 || len(all[0].Partitions) != 1 {
		t.Fatalf("every reassignment: %+v, want t-1 only", all)
	}
	p := all[0].Partitions[0]
	if p.Partition != 1 || !slices.Equal(p.Replicas, []int32{3, 2, 1}) || !slices.Equal(p.AddingReplicas, []int32{3}) || !slices.Equal(p.RemovingReplicas, []int32{1}) {
		t.Errorf("t-1: %+v", p)
	}
	named := kmsg.NewPtrListPartitionReassignmentsRequest()
	named.Topics = []kmsg.ListPartitionReassignmentsRequestTopic{{Topic: "t", Partitions: []int32{0, 9}}, {Topic: "nope", Partitions: []int32{0}}}
	if got := list(named); len(got) != 0 {
		t.Errorf("stable, unknown and missing partitions: %+v, want none", got)
	}
}
