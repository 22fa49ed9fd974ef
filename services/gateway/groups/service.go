package groups

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"time"

	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/internal/topicconfig"
	"github.com/strata-io/strata/services/gateway/groupcall"
	"github.com/strata-io/strata/services/gateway/router"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka request versions the service sends the coordinator.
const (
	listGroupsVersion     = 4
	describeGroupsVersion = 5
	// consumerGroupDescribeVersion describes consumer-protocol groups.
	consumerGroupDescribeVersion = 1
	offsetCommitVersion          = 8
	deleteGroupsVersion          = 2
	offsetDeleteVersion          = 0
)

// maxGroupIDLength bounds a group id (Kafka sets none; this keeps keys sane).
const maxGroupIDLength = 255

// Service implements streamv1.GroupServiceServer.
type Service struct {
	streamv1.UnimplementedGroupServiceServer
	groups controllerv1.GroupCoordinatorServiceClient
	router *router.Router
	cache  *metadata.Cache
}

// New returns the service over the controller's group coordinator.
func New(groups controllerv1.GroupCoordinatorServiceClient, r *router.Router, cache *metadata.Cache) *Service {
	return &Service{groups: groups, router: r, cache: cache}
}

// tp is one topic partition.
type tp struct {
	topic     string
	partition int32
}

func validGroupID(id string) error {
	switch {
	case id == "":
		return errs.New(errs.InvalidGroupID, "group_id is empty").Field("group_id", "must not be empty")
	case len(id) > maxGroupIDLength:
		return errs.New(errs.InvalidGroupID, "group_id is %d bytes, more than %d", len(id), maxGroupIDLength).Field("group_id", "too long")
	}
	return nil
}

// expand turns the request's topics into partitions: every partition of a
// topic that names none. A topic that does not exist, or a partition it
// does not have, fails the call.
func (s *Service) expand(topics []*streamv1.TopicPartitions) ([]tp, error) {
	var out []tp
	for i, t := range topics {
		field := "topics[" + itoa(i) + "]"
		if err := topicconfig.ValidateName(t.GetTopic()); err != nil {
			return nil, errs.New(errs.InvalidTopic, "%v", err).Field(field+".topic", err.Error())
		}
		rec, ok := s.cache.Topic(t.GetTopic())
		if !ok {
			return nil, errs.New(errs.UnknownTopicOrPartition, "topic %q does not exist", t.GetTopic()).Field(field+".topic", "no such topic")
		}
		parts := t.GetPartitions()
		if len(parts) == 0 {
			for p := range rec.GetPartitionCount() {
				parts = append(parts, p)
			}
		}
		for _, p := range parts {
			if p < 0 || p >= rec.GetPartitionCount() {
				return nil, errs.New(errs.UnknownTopicOrPartition, "topic %q has no partition %d", t.GetTopic(), p).
					Field(field+".partitions", "no such partition")
			}
			out = append(out, tp{t.GetTopic(), p})
		}
	}
	return out, nil
}

func (s *Service) ListGroups(ctx context.Context, _ *streamv1.ListGroupsRequest) (*streamv1.ListGroupsResponse, error) {
	req := kmsg.NewPtrListGroupsRequest()
	req.SetVersion(listGroupsVersion)
	resp, err := call[*kmsg.ListGroupsResponse](ctx, s.groups, req)
	if err != nil {
		return nil, err
	}
	if e := kafkaErr(resp.ErrorCode, "list groups"); e != nil {
		return nil, e
	}
	out := &streamv1.ListGroupsResponse{}
	for _, g := range resp.Groups {
		out.Groups = append(out.Groups, &streamv1.GroupListing{GroupId: g.Group, State: g.GroupState, ProtocolType: g.ProtocolType})
	}
	sort.Slice(out.Groups, func(i, j int) bool { return out.Groups[i].GetGroupId() < out.Groups[j].GetGroupId() })
	return out, nil
}

// describe returns the coordinator's description of a group; a group it
// does not know is GROUP_ID_NOT_FOUND.
func (s *Service) describe(ctx context.Context, id string) (*kmsg.DescribeGroupsResponseGroup, error) {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.SetVersion(describeGroupsVersion)
	req.Groups = []string{id}
	resp, err := call[*kmsg.DescribeGroupsResponse](ctx, s.groups, req)
	if err != nil {
		return nil, err
	}
	if len(resp.Groups) != 1 {
		return nil, errs.New(errs.CoordinatorNotAvailable, "the coordinator described %d groups, not 1", len(resp.Groups))
	}
	g := &resp.Groups[0]
	if e := kafkaErr(g.ErrorCode, "describe group %q", id); e != nil {
		return nil, e
	}
	if g.State == "Dead" {
		// DescribeGroups describes classic groups only (as Kafka 4.0);
		// a consumer-protocol (KIP-848) group is asked for separately.
		return s.describeConsumer(ctx, id)
	}
	return g, nil
}

// describeConsumer describes a consumer-protocol group in DescribeGroups'
// terms: protocol type "consumer", the assignor as protocol, and each
// member's assignment encoded as a classic consumer's.
func (s *Service) describeConsumer(ctx context.Context, id string) (*kmsg.DescribeGroupsResponseGroup, error) {
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.SetVersion(consumerGroupDescribeVersion)
	req.Groups = []string{id}
	resp, err := call[*kmsg.ConsumerGroupDescribeResponse](ctx, s.groups, req)
	if err != nil {
		return nil, err
	}
	if len(resp.Groups) != 1 {
		return nil, errs.New(errs.CoordinatorNotAvailable, "the coordinator described %d groups, not 1", len(resp.Groups))
	}
	cg := &resp.Groups[0]
	if cg.ErrorCode == kerr.GroupIDNotFound.Code {
		return &kmsg.DescribeGroupsResponseGroup{Group: id, State: "Dead"}, errs.New(errs.GroupIDNotFound, "group %q does not exist", id)
	}
	if e := kafkaErr(cg.ErrorCode, "describe group %q", id); e != nil {
		return nil, e
	}
	g := &kmsg.DescribeGroupsResponseGroup{Group: id, State: cg.State, ProtocolType: "consumer", Protocol: cg.AssignorName}
	for _, m := range cg.Members {
		var a kmsg.ConsumerMemberAssignment
		for _, t := range m.Assignment.TopicPartitions {
			a.Topics = append(a.Topics, kmsg.ConsumerMemberAssignmentTopic{Topic: t.Topic, Partitions: t.Partitions})
		}
		g.Members = append(g.Members, kmsg.DescribeGroupsResponseGroupMember{MemberID: m.MemberID, InstanceID: m.InstanceID,
			ClientID: m.ClientID, ClientHost: m.ClientHost, MemberAssignment: a.AppendTo(nil)})
	}
	return g, nil
}

func (s *Service) DescribeGroup(ctx context.Context, req *streamv1.DescribeGroupRequest) (*streamv1.DescribeGroupResponse, error) {
	if err := validGroupID(req.GetGroupId()); err != nil {
		return nil, err
	}
	g, err := s.describe(ctx, req.GetGroupId())
	if err != nil {
		return nil, err
	}
	out := &streamv1.DescribeGroupResponse{GroupId: g.Group, State: g.State, ProtocolType: g.ProtocolType, Protocol: g.Protocol}
	for _, m := range g.Members {
		gm := &streamv1.GroupMember{MemberId: m.MemberID, ClientId: m.ClientID, ClientHost: m.ClientHost}
		if m.InstanceID != nil {
			gm.InstanceId = *m.InstanceID
		}
		if g.ProtocolType == "consumer" {
			var a kmsg.ConsumerMemberAssignment
			if a.ReadFrom(m.MemberAssignment) == nil {
				for _, t := range a.Topics {
					gm.Assignment = append(gm.Assignment, &streamv1.TopicPartitions{Topic: t.Topic, Partitions: slices.Sorted(slices.Values(t.Partitions))})
				}
			}
		}
		out.Members = append(out.Members, gm)
	}
	committed, err := s.committed(ctx, req.GetGroupId(), nil)
	if err != nil {
		return nil, err
	}
	var parts []tp
	for _, c := range committed {
		if c.GetOffset() >= 0 {
			parts = append(parts, tp{c.GetTopic(), c.GetPartition()})
		}
	}
	logs := s.logRanges(ctx, parts)
	for _, c := range committed {
		if c.GetOffset() < 0 {
			continue
		}
		lr := logs[tp{c.GetTopic(), c.GetPartition()}]
		pl := &streamv1.PartitionLag{Topic: c.GetTopic(), Partition: c.GetPartition(), CommittedOffset: c.GetOffset(),
			LogStartOffset: lr.start, LogEndOffset: lr.end, Lag: -1, Metadata: c.GetMetadata(), Error: detail(lr.err)}
		if lr.err == nil && lr.end >= 0 {
			pl.Lag = max(lr.end-c.GetOffset(), 0)
			out.TotalLag += pl.Lag
		}
		out.Partitions = append(out.Partitions, pl)
	}
	return out, nil
}

func detail(e *errs.Error) *commonv1.ErrorDetail {
	if e == nil {
		return nil
	}
	return e.Detail
}

// committed reads the group's committed offsets (all of them for nil).
func (s *Service) committed(ctx context.Context, id string, parts []tp) ([]*streamv1.CommittedOffset, error) {
	n := len(parts)
	if parts == nil {
		n = -1
	}
	req := groupcall.OffsetFetchRequest(id, n, func(i int) (string, int32) { return parts[i].topic, parts[i].partition })
	resp, err := call[*kmsg.OffsetFetchResponse](ctx, s.groups, req)
	if err != nil {
		return nil, err
	}
	if e := kafkaErr(resp.ErrorCode, "fetch the offsets of group %q", id); e != nil {
		return nil, e
	}
	var out []*streamv1.CommittedOffset
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			c := &streamv1.CommittedOffset{Topic: t.Topic, Partition: p.Partition, Offset: p.Offset,
				Error: detail(kafkaErr(p.ErrorCode, "offset of %s-%d", t.Topic, p.Partition))}
			if p.Metadata != nil {
				c.Metadata = *p.Metadata
			}
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].GetTopic() != out[j].GetTopic() {
			return out[i].GetTopic() < out[j].GetTopic()
		}
		return out[i].GetPartition() < out[j].GetPartition()
	})
	return out, nil
}

func (s *Service) FetchOffsets(ctx context.Context, req *streamv1.FetchOffsetsRequest) (*streamv1.FetchOffsetsResponse, error) {
	if err := validGroupID(req.GetGroupId()); err != nil {
		return nil, err
	}
	var parts []tp
	if len(req.GetTopics()) > 0 {
		var err error
		if parts, err = s.expand(req.GetTopics()); err != nil {
			return nil, err
		}
	}
	offsets, err := s.committed(ctx, req.GetGroupId(), parts)
	if err != nil {
		return nil, err
	}
	return &streamv1.FetchOffsetsResponse{Offsets: offsets}, nil
}

func (s *Service) CommitOffsets(ctx context.Context, req *streamv1.CommitOffsetsRequest) (*streamv1.CommitOffsetsResponse, error) {
	if err := validGroupID(req.GetGroupId()); err != nil {
		return nil, err
	}
	var plan []*streamv1.PlannedOffset
	for i, o := range req.GetOffsets() {
		field := "offsets[" + itoa(i) + "]"
		if _, err := s.expand([]*streamv1.TopicPartitions{{Topic: o.GetTopic(), Partitions: []int32{o.GetPartition()}}}); err != nil {
			if e := errs.From(err); e != nil && len(e.Detail.GetFieldViolations()) > 0 {
				e.Detail.FieldViolations[0].Field = field
			}
			return nil, err
		}
		plan = append(plan, &streamv1.PlannedOffset{Topic: o.GetTopic(), Partition: o.GetPartition(), NewOffset: o.GetOffset()})
	}
	results, err := s.commit(ctx, req.GetGroupId(), plan, func(i int) string { return req.GetOffsets()[i].GetMetadata() })
	if err != nil {
		return nil, err
	}
	return &streamv1.CommitOffsetsResponse{Results: results}, nil
}

// commit commits the plan as a simple (memberless) consumer.
func (s *Service) commit(ctx context.Context, id string, plan []*streamv1.PlannedOffset, metadata func(int) string) ([]*streamv1.PartitionResult, error) {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.SetVersion(offsetCommitVersion)
	req.Group, req.Generation, req.MemberID = id, -1, ""
	type at struct{ topic, part int }
	var where []at
	idx := map[string]int{}
	for i, p := range plan {
		ti, ok := idx[p.GetTopic()]
		if !ok {
			ti = len(req.Topics)
			idx[p.GetTopic()] = ti
			req.Topics = append(req.Topics, kmsg.OffsetCommitRequestTopic{Topic: p.GetTopic()})
		}
		md := metadata(i)
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata, rp.LeaderEpoch = p.GetPartition(), p.GetNewOffset(), &md, -1
		req.Topics[ti].Partitions = append(req.Topics[ti].Partitions, rp)
		where = append(where, at{ti, len(req.Topics[ti].Partitions) - 1})
	}
	resp, err := call[*kmsg.OffsetCommitResponse](ctx, s.groups, req)
	if err != nil {
		return nil, err
	}
	out := make([]*streamv1.PartitionResult, len(plan))
	for i, p := range plan {
		out[i] = &streamv1.PartitionResult{Topic: p.GetTopic(), Partition: p.GetPartition()}
		w := where[i]
		if w.topic < len(resp.Topics) && w.part < len(resp.Topics[w.topic].Partitions) {
			out[i].Error = detail(kafkaErr(resp.Topics[w.topic].Partitions[w.part].ErrorCode, "commit %s-%d", p.GetTopic(), p.GetPartition()))
		} else {
			out[i].Error = errs.New(errs.CoordinatorNotAvailable, "the coordinator did not answer for %s-%d", p.GetTopic(), p.GetPartition()).Detail
		}
	}
	return out, nil
}

// logRange is a partition's log start and end offsets.
type logRange struct {
	start, end int64
	err        *errs.Error
}

// logRanges asks the partitions' leaders for their log start and end.
func (s *Service) logRanges(ctx context.Context, parts []tp) map[tp]logRange {
	out := make(map[tp]logRange, len(parts))
	if len(parts) == 0 {
		return out
	}
	earliest, latest := s.listOffsets(ctx, parts, -2), s.listOffsets(ctx, parts, -1)
	for i, p := range parts {
		lr := logRange{start: -1, end: -1}
		switch {
		case earliest[i].Err != nil:
			lr.err = earliest[i].Err
		case latest[i].Err != nil:
			lr.err = latest[i].Err
		default:
			lr.start, lr.end = earliest[i].Result.GetOffset(), latest[i].Result.GetOffset()
		}
		out[p] = lr
	}
	return out
}

func (s *Service) listOffsets(ctx context.Context, parts []tp, ts int64) []*router.ListItem {
	items := make([]*router.ListItem, len(parts))
	for i, p := range parts {
		items[i] = &router.ListItem{Part: router.Part{Topic: p.topic, Partition: p.partition, ClientEpoch: -1}, Timestamp: ts}
	}
	s.router.ListOffsets(ctx, items)
	return items
}

func (s *Service) ResetOffsets(ctx context.Context, req *streamv1.ResetOffsetsRequest) (*streamv1.ResetOffsetsResponse, error) {
	if err := validGroupID(req.GetGroupId()); err != nil {
		return nil, err
	}
	g, err := s.describe(ctx, req.GetGroupId())
	if err != nil && !errs.Is(err, errs.GroupIDNotFound) {
		return nil, err
	}
	if err == nil && len(g.Members) > 0 {
		return nil, errs.New(errs.NonEmptyGroup, "group %q has %d active members (state %s): stop them before resetting its offsets",
			req.GetGroupId(), len(g.Members), g.State)
	}
	var parts []tp
	if len(req.GetTopics()) > 0 {
		if parts, err = s.expand(req.GetTopics()); err != nil {
			return nil, err
		}
	}
	committed, err := s.committed(ctx, req.GetGroupId(), parts)
	if err != nil {
		return nil, err
	}
	current := map[tp]int64{}
	all := len(req.GetTopics()) == 0 // every partition with a committed offset
	for _, c := range committed {
		current[tp{c.GetTopic(), c.GetPartition()}] = c.GetOffset()
		if all && c.GetOffset() >= 0 {
			parts = append(parts, tp{c.GetTopic(), c.GetPartition()})
		}
	}
	plan := s.plan(ctx, req, parts, current)
	out := &streamv1.ResetOffsetsResponse{Plan: plan}
	if !req.GetExecute() || len(plan) == 0 {
		return out, nil
	}
	var ok []*streamv1.PlannedOffset
	for _, p := range plan {
		if p.GetError() == nil {
			ok = append(ok, p)
		}
	}
	if len(ok) != len(plan) {
		return out, nil // a partition could not be planned: nothing is committed
	}
	results, err := s.commit(ctx, req.GetGroupId(), plan, func(int) string { return "" })
	if err != nil {
		return nil, err
	}
	out.Executed = true
	for i, r := range results {
		if r.GetError() != nil {
			plan[i].Error, out.Executed = r.GetError(), false
		}
	}
	return out, nil
}

// plan computes each partition's new offset, clamped to its log.
func (s *Service) plan(ctx context.Context, req *streamv1.ResetOffsetsRequest, parts []tp, current map[tp]int64) []*streamv1.PlannedOffset {
	logs := s.logRanges(ctx, parts)
	var byTime []*router.ListItem
	switch t := req.GetTarget().(type) {
	case *streamv1.ResetOffsetsRequest_ToTimestampMs:
		byTime = s.listOffsets(ctx, parts, t.ToTimestampMs)
	case *streamv1.ResetOffsetsRequest_ByDuration:
		byTime = s.listOffsets(ctx, parts, time.Now().Add(-t.ByDuration.AsDuration()).UnixMilli())
	}
	out := make([]*streamv1.PlannedOffset, len(parts))
	for i, p := range parts {
		cur, ok := current[p]
		if !ok {
			cur = -1
		}
		lr := logs[p]
		po := &streamv1.PlannedOffset{Topic: p.topic, Partition: p.partition, CurrentOffset: cur, NewOffset: -1}
		out[i] = po
		if lr.err != nil {
			po.Error = lr.err.Detail
			continue
		}
		var want int64
		switch t := req.GetTarget().(type) {
		case *streamv1.ResetOffsetsRequest_ToEarliest:
			want = lr.start
		case *streamv1.ResetOffsetsRequest_ToLatest:
			want = lr.end
		case *streamv1.ResetOffsetsRequest_ToOffset:
			want = t.ToOffset
		case *streamv1.ResetOffsetsRequest_ShiftBy:
			base := cur
			if base < 0 {
				base = lr.end
			}
			want = base + t.ShiftBy
		default: // by time
			if it := byTime[i]; it.Err != nil {
				po.Error = it.Err.Detail
				continue
			} else if want = it.Result.GetOffset(); want < 0 {
				want = lr.end // no record that late
			}
		}
		po.NewOffset = min(max(want, lr.start), lr.end)
	}
	return out
}

func (s *Service) DeleteGroup(ctx context.Context, req *streamv1.DeleteGroupRequest) (*streamv1.DeleteGroupResponse, error) {
	if err := validGroupID(req.GetGroupId()); err != nil {
		return nil, err
	}
	kreq := kmsg.NewPtrDeleteGroupsRequest()
	kreq.SetVersion(deleteGroupsVersion)
	kreq.Groups = []string{req.GetGroupId()}
	resp, err := call[*kmsg.DeleteGroupsResponse](ctx, s.groups, kreq)
	if err != nil {
		return nil, err
	}
	for _, g := range resp.Groups {
		if e := kafkaErr(g.ErrorCode, "delete group %q", g.Group); e != nil {
			return nil, e
		}
	}
	return &streamv1.DeleteGroupResponse{}, nil
}

func (s *Service) DeleteOffsets(ctx context.Context, req *streamv1.DeleteOffsetsRequest) (*streamv1.DeleteOffsetsResponse, error) {
	if err := validGroupID(req.GetGroupId()); err != nil {
		return nil, err
	}
	if len(req.GetTopics()) == 0 {
		return nil, errs.New(errs.InvalidRequest, "no topics").Field("topics", "must not be empty")
	}
	parts, err := s.expand(req.GetTopics())
	if err != nil {
		return nil, err
	}
	kreq := kmsg.NewPtrOffsetDeleteRequest()
	kreq.SetVersion(offsetDeleteVersion)
	kreq.Group = req.GetGroupId()
	idx := map[string]int{}
	for _, p := range parts {
		i, ok := idx[p.topic]
		if !ok {
			i = len(kreq.Topics)
			idx[p.topic] = i
			kreq.Topics = append(kreq.Topics, kmsg.OffsetDeleteRequestTopic{Topic: p.topic})
		}
		kreq.Topics[i].Partitions = append(kreq.Topics[i].Partitions, kmsg.OffsetDeleteRequestTopicPartition{Partition: p.partition})
	}
	resp, err := call[*kmsg.OffsetDeleteResponse](ctx, s.groups, kreq)
	if err != nil {
		return nil, err
	}
	if e := kafkaErr(resp.ErrorCode, "delete offsets of group %q", req.GetGroupId()); e != nil {
		return nil, e
	}
	out := &streamv1.DeleteOffsetsResponse{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out.Results = append(out.Results, &streamv1.PartitionResult{Topic: t.Topic, Partition: p.Partition,
				Error: detail(kafkaErr(p.ErrorCode, "delete the offset of %s-%d", t.Topic, p.Partition))})
		}
	}
	return out, nil
}

func itoa(i int) string { return strconv.Itoa(i) }
