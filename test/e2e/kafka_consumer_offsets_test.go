package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Committed offsets live in etcd, so Strata does not advertise a
// __consumer_offsets topic nobody could read: Metadata does not list it
// even after commits, ListOffsets on it is UNKNOWN_TOPIC_OR_PARTITION, and
// the offsets are there through the group APIs (docs/kafka.md).
func TestKafkaNoConsumerOffsetsTopic(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"orders": 2})
	cl := franzClient(t, c)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "orders", Partition: 1, At: 7, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "billing", os); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}

	meta := kmsg.NewPtrMetadataRequest() // all topics: never auto-creates
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range mresp.Topics {
		if tp.Topic != nil && *tp.Topic == "__consumer_offsets" {
			t.Fatalf("Metadata lists __consumer_offsets: %+v", tp)
		}
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "__consumer_offsets"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = 0, -1
	rt.Partitions = append(rt.Partitions, rp)
	lo.Topics = append(lo.Topics, rt)
	// franz-go answers from the metadata it asked for the topic's leader,
	// or passes the broker's answer on.
	lresp, err := lo.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(lresp.Topics[0].Partitions[0].ErrorCode)
	}
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("ListOffsets on __consumer_offsets: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	fetched, err := adm.FetchOffsets(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup("orders", 1); !ok || o.At != 7 {
		t.Fatalf("the commit through the group APIs: %+v %v", o, ok)
	}
}
