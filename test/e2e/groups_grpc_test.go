package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func groupClient(t *testing.T, c *cluster) streamv1.GroupServiceClient {
	t.Helper()
	conn, err := dialRole(c.gateway.grpc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return streamv1.NewGroupServiceClient(conn)
}

// wantCode checks a call's gRPC code, Strata code and (when set) the
// field its error names.
func wantCode(t *testing.T, what string, err error, grpcCode codes.Code, code errs.Code, field string) {
	t.Helper()
	e := errs.From(err)
	switch {
	case status.Code(err) != grpcCode || e == nil || e.Code() != code:
		t.Errorf("%s: %v, want %v %v", what, err, grpcCode, code)
	case field != "" && (len(e.Detail.GetFieldViolations()) == 0 || e.Detail.GetFieldViolations()[0].GetField() != field):
		t.Errorf("%s: field violations %v, want %q", what, e.Detail.GetFieldViolations(), field)
	}
}

func offsetsOf(t *testing.T, gc streamv1.GroupServiceClient, group string) map[int32]int64 {
	t.Helper()
	resp, err := gc.FetchOffsets(context.Background(), &streamv1.FetchOffsetsRequest{GroupId: group})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for _, o := range resp.GetOffsets() {
		out[o.GetPartition()] = o.GetOffset()
	}
	return out
}

// The typed group API sees and changes the very groups Kafka clients use:
// a franz-go consumer's group is listed and described with its member,
// assignment and lag; resets are refused while it is active, planned (dry
// run) and applied once it left; commits, offset deletion and group
// deletion agree with what Kafka's admin API (kadm) sees.
func TestGroupServiceAdministersKafkaGroups(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"orders": 3})
	gc := groupClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p := franzClient(t, c, kgo.DefaultProduceTopic("orders"))
	produce := func(n int, prefix string) {
		for i := range n {
			if err := p.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint(prefix, i)), Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(30, "a")
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.kafka), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"),
		kgo.ClientID("billing-1"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	consumeN(t, cons, 30, 30*time.Second)
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	produce(5, "b") // not consumed: lag 5

	testutil.WaitFor(t, 20*time.Second, func() error {
		d, err := gc.DescribeGroup(ctx, &streamv1.DescribeGroupRequest{GroupId: "billing"})
		if err != nil {
			return err
		}
		assigned := 0
		for _, m := range d.GetMembers() {
			for _, a := range m.GetAssignment() {
				assigned += len(a.GetPartitions())
			}
		}
		if d.GetState() != "Stable" || len(d.GetMembers()) != 1 || d.GetMembers()[0].GetClientId() != "billing-1" || assigned != 3 ||
			len(d.GetPartitions()) != 3 || d.GetTotalLag() != 5 {
			return fmt.Errorf("describe: %v", d)
		}
		return nil
	})
	list, err := gc.ListGroups(ctx, &streamv1.ListGroupsRequest{})
	if err != nil || len(list.GetGroups()) != 1 || list.GetGroups()[0].GetGroupId() != "billing" || list.GetGroups()[0].GetProtocolType() != "consumer" {
		t.Fatalf("list: %v %v", list, err)
	}
	_, err = gc.ResetOffsets(ctx, &streamv1.ResetOffsetsRequest{GroupId: "billing", Target: &streamv1.ResetOffsetsRequest_ToEarliest{ToEarliest: true}, Execute: true})
	wantCode(t, "reset with an active member", err, codes.FailedPrecondition, errs.NonEmptyGroup, "")
	_, err = gc.DeleteGroup(ctx, &streamv1.DeleteGroupRequest{GroupId: "billing"})
	wantCode(t, "delete with an active member", err, codes.FailedPrecondition, errs.NonEmptyGroup, "")

	before := offsetsOf(t, gc, "billing")
	cons.Close() // leaves the group
	testutil.WaitFor(t, 20*time.Second, func() error {
		d, err := gc.DescribeGroup(ctx, &streamv1.DescribeGroupRequest{GroupId: "billing"})
		if err != nil || d.GetState() != "Empty" {
			return fmt.Errorf("state %q err %v, want Empty", d.GetState(), err)
		}
		return nil
	})
	dry, err := gc.ResetOffsets(ctx, &streamv1.ResetOffsetsRequest{GroupId: "billing", Target: &streamv1.ResetOffsetsRequest_ToEarliest{ToEarliest: true}})
	if err != nil || dry.GetExecuted() || len(dry.GetPlan()) != 3 {
		t.Fatalf("dry run: %v %v", dry, err)
	}
	for _, po := range dry.GetPlan() {
		if po.GetNewOffset() != 0 || po.GetCurrentOffset() != before[po.GetPartition()] {
			t.Errorf("dry run plan %v, want new 0, current %d", po, before[po.GetPartition()])
		}
	}
	if got := offsetsOf(t, gc, "billing"); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("a dry run changed the offsets: %v, was %v", got, before)
	}
	shift, err := gc.ResetOffsets(ctx, &streamv1.ResetOffsetsRequest{GroupId: "billing", Target: &streamv1.ResetOffsetsRequest_ShiftBy{ShiftBy: 1000}, Execute: true})
	if err != nil || !shift.GetExecuted() {
		t.Fatalf("shift: %v %v", shift, err)
	}
	d, err := gc.DescribeGroup(ctx, &streamv1.DescribeGroupRequest{GroupId: "billing"})
	if err != nil || d.GetTotalLag() != 0 {
		t.Fatalf("after shifting past the end (clamped to the log end): lag %d, %v", d.GetTotalLag(), err)
	}
	for _, pl := range d.GetPartitions() {
		if pl.GetCommittedOffset() != pl.GetLogEndOffset() {
			t.Errorf("partition %d: committed %d, log end %d", pl.GetPartition(), pl.GetCommittedOffset(), pl.GetLogEndOffset())
		}
	}

	commit, err := gc.CommitOffsets(ctx, &streamv1.CommitOffsetsRequest{GroupId: "billing", Offsets: []*streamv1.OffsetToCommit{{Topic: "orders", Partition: 0, Offset: 7, Metadata: "grpc"}}})
	if err != nil || commit.GetResults()[0].GetError() != nil {
		t.Fatalf("commit: %v %v", commit, err)
	}
	adm := kadm.NewClient(franzClient(t, c))
	ko, err := adm.FetchOffsets(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := ko.Lookup("orders", 0); !ok || o.At != 7 || o.Metadata != "grpc" {
		t.Fatalf("Kafka sees %+v for orders-0, want 7 with metadata grpc", o)
	}
	del, err := gc.DeleteOffsets(ctx, &streamv1.DeleteOffsetsRequest{GroupId: "billing", Topics: []*streamv1.TopicPartitions{{Topic: "orders", Partitions: []int32{0}}}})
	if err != nil || len(del.GetResults()) != 1 || del.GetResults()[0].GetError() != nil {
		t.Fatalf("delete offsets: %v %v", del, err)
	}
	if got := offsetsOf(t, gc, "billing"); got[1] < 0 || func() bool { o, ok := got[0]; return ok && o >= 0 }() {
		t.Fatalf("after deleting orders-0's offset: %v", got)
	}
	if _, err := gc.DeleteGroup(ctx, &streamv1.DeleteGroupRequest{GroupId: "billing"}); err != nil {
		t.Fatal(err)
	}
	_, err = gc.DescribeGroup(ctx, &streamv1.DescribeGroupRequest{GroupId: "billing"})
	wantCode(t, "describe a deleted group", err, codes.NotFound, errs.GroupIDNotFound, "")
}

// Bad requests get a clear code and the field, and change nothing.
func TestGroupServiceBadInput(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"t": 1})
	gc := groupClient(t, c)
	ctx := context.Background()
	_, err := gc.DescribeGroup(ctx, &streamv1.DescribeGroupRequest{})
	wantCode(t, "empty group id", err, codes.InvalidArgument, errs.InvalidGroupID, "group_id")
	_, err = gc.FetchOffsets(ctx, &streamv1.FetchOffsetsRequest{GroupId: "g", Topics: []*streamv1.TopicPartitions{{Topic: "nope"}}})
	wantCode(t, "unknown topic", err, codes.NotFound, errs.UnknownTopicOrPartition, "topics[0].topic")
	_, err = gc.FetchOffsets(ctx, &streamv1.FetchOffsetsRequest{GroupId: "g", Topics: []*streamv1.TopicPartitions{{Topic: "t", Partitions: []int32{4}}}})
	wantCode(t, "unknown partition", err, codes.NotFound, errs.UnknownTopicOrPartition, "topics[0].partitions")
	_, err = gc.ResetOffsets(ctx, &streamv1.ResetOffsetsRequest{GroupId: "g"})
	wantCode(t, "reset without a target", err, codes.InvalidArgument, errs.InvalidRequest, "target")
	_, err = gc.CommitOffsets(ctx, &streamv1.CommitOffsetsRequest{GroupId: "g", Offsets: []*streamv1.OffsetToCommit{{Topic: "t", Offset: -5}}})
	wantCode(t, "negative offset", err, codes.InvalidArgument, errs.InvalidRequest, "offsets[0].offset")
	_, err = gc.CommitOffsets(ctx, &streamv1.CommitOffsetsRequest{GroupId: "g"})
	wantCode(t, "nothing to commit", err, codes.InvalidArgument, errs.InvalidRequest, "offsets")
	if list, err := gc.ListGroups(ctx, &streamv1.ListGroupsRequest{}); err != nil || len(list.GetGroups()) != 0 {
		t.Fatalf("bad requests created groups: %v %v", list, err)
	}
}
