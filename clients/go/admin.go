package strata

import (
	"context"
	"fmt"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Admin administers topics, configs, the cluster, consumer groups and
// offsets (strata.admin.v1.AdminService and strata.stream.v1.GroupService).
// Every call is retried on retriable failures (a controller election, an
// unreachable gateway) within its context; a retried create or delete may
// then report that the topic already exists or is gone.
type Admin struct{ c *Client }

// Admin returns the client's admin API.
func (c *Client) Admin() *Admin { return &Admin{c: c} }

// Topic describes a topic.
type Topic struct {
	Name              string
	ID                string // the topic id, unique across deletes and re-creates
	Partitions        int32
	ReplicationFactor int32
	// Configs are the configs set on the topic (not the defaults).
	Configs map[string]string
	// PartitionDetails is filled by DescribeTopic (and the calls that
	// answer with the topic), not by ListTopics.
	PartitionDetails []PartitionDetail
}

// PartitionDetail is one partition of a topic.
type PartitionDetail struct {
	Partition   int32
	Leader      int32 // storage node id, -1 without a leader
	LeaderEpoch int32
	Replicas    []int32
	ISR         []int32
	// HighWatermark and LogEndOffset come from the leader; -1 when it did
	// not answer in time.
	HighWatermark int64
	LogEndOffset  int64
	// OfflineReplicas are the replicas their storage node reported offline
	// after a storage fault (a failed or full log dir).
	OfflineReplicas []int32
}

func topicFromProto(t *adminv1.Topic) *Topic {
	out := &Topic{Name: t.GetName(), ID: t.GetTopicId(), Partitions: t.GetPartitionCount(),
		ReplicationFactor: t.GetReplicationFactor(), Configs: t.GetConfigs()}
	for _, p := range t.GetPartitions() {
		out.PartitionDetails = append(out.PartitionDetails, PartitionDetail{Partition: p.GetPartition(), Leader: p.GetLeader(),
			LeaderEpoch: p.GetLeaderEpoch(), Replicas: p.GetReplicas(), ISR: p.GetIsr(),
			HighWatermark: p.GetHighWatermark(), LogEndOffset: p.GetLogEndOffset(), OfflineReplicas: p.GetOfflineReplicas()})
	}
	return out
}

// CreateTopic creates a topic with partitions partitions, each on
// replicationFactor storage nodes, and the given configs (nil for none).
func (a *Admin) CreateTopic(ctx context.Context, name string, partitions, replicationFactor int32, configs map[string]string) (*Topic, error) {
	resp, err := retry(ctx, a.c, "create topic "+name, func(ctx context.Context) (*adminv1.CreateTopicResponse, error) {
		return a.c.admin.CreateTopic(ctx, &adminv1.CreateTopicRequest{Name: name, Partitions: partitions,
			ReplicationFactor: replicationFactor, Configs: configs})
	})
	if err != nil {
		return nil, err
	}
	return topicFromProto(resp.GetTopic()), nil
}

// DeleteTopic deletes a topic and its data.
func (a *Admin) DeleteTopic(ctx context.Context, name string) error {
	_, err := retry(ctx, a.c, "delete topic "+name, func(ctx context.Context) (*adminv1.DeleteTopicResponse, error) {
		return a.c.admin.DeleteTopic(ctx, &adminv1.DeleteTopicRequest{Name: name})
	})
	return err
}

// ListTopics lists every topic, sorted by name.
func (a *Admin) ListTopics(ctx context.Context) ([]*Topic, error) {
	resp, err := retry(ctx, a.c, "list topics", func(ctx context.Context) (*adminv1.ListTopicsResponse, error) {
		return a.c.admin.ListTopics(ctx, &adminv1.ListTopicsRequest{})
	})
	if err != nil {
		return nil, err
	}
	out := make([]*Topic, 0, len(resp.GetTopics()))
	for _, t := range resp.GetTopics() {
		out = append(out, topicFromProto(t))
	}
	return out, nil
}

// DescribeTopic returns a topic with its partitions.
func (a *Admin) DescribeTopic(ctx context.Context, name string) (*Topic, error) {
	resp, err := retry(ctx, a.c, "describe topic "+name, func(ctx context.Context) (*adminv1.DescribeTopicResponse, error) {
		return a.c.admin.DescribeTopic(ctx, &adminv1.DescribeTopicRequest{Name: name})
	})
	if err != nil {
		return nil, err
	}
	return topicFromProto(resp.GetTopic()), nil
}

// AddPartitions grows a topic to total partitions (counts only grow).
func (a *Admin) AddPartitions(ctx context.Context, name string, total int32) (*Topic, error) {
	resp, err := retry(ctx, a.c, "add partitions to "+name, func(ctx context.Context) (*adminv1.AddPartitionsResponse, error) {
		return a.c.admin.AddPartitions(ctx, &adminv1.AddPartitionsRequest{Name: name, TotalCount: total})
	})
	if err != nil {
		return nil, err
	}
	return topicFromProto(resp.GetTopic()), nil
}

// AlterTopicConfigs sets and removes configs of a topic in one step and
// returns the topic's configs after it.
func (a *Admin) AlterTopicConfigs(ctx context.Context, name string, set map[string]string, remove ...string) (map[string]string, error) {
	resp, err := retry(ctx, a.c, "alter configs of "+name, func(ctx context.Context) (*adminv1.AlterTopicConfigsResponse, error) {
		return a.c.admin.AlterTopicConfigs(ctx, &adminv1.AlterTopicConfigsRequest{Name: name, Set: set, Remove: remove})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetConfigs(), nil
}

// ConfigEntry is one topic config with its effective value.
type ConfigEntry struct {
	Name  string // e.g. retention.ms
	Value string // the effective value
	// Default is true when the value is the default, false when the topic
	// sets it.
	Default       bool
	Documentation string
}

// DescribeTopicConfigs returns every config of a topic with its effective
// value.
func (a *Admin) DescribeTopicConfigs(ctx context.Context, name string) ([]ConfigEntry, error) {
	resp, err := retry(ctx, a.c, "describe configs of "+name, func(ctx context.Context) (*adminv1.DescribeTopicConfigsResponse, error) {
		return a.c.admin.DescribeTopicConfigs(ctx, &adminv1.DescribeTopicConfigsRequest{Name: name})
	})
	if err != nil {
		return nil, err
	}
	var out []ConfigEntry
	for _, e := range resp.GetConfigs() {
		out = append(out, ConfigEntry{Name: e.GetName(), Value: e.GetValue(),
			Default: e.GetSource() != adminv1.ConfigSource_CONFIG_SOURCE_TOPIC, Documentation: e.GetDocumentation()})
	}
	return out, nil
}

// Cluster describes the cluster's roles.
type Cluster struct {
	ID           string
	Controllers  []ClusterController
	StorageNodes []StorageNode
	Gateways     []Gateway
}

// ClusterController is one controller.
type ClusterController struct {
	Name    string
	Address string
	Active  bool
}

// StorageNode is one storage node.
type StorageNode struct {
	ID       int32
	Address  string
	Rack     string
	Alive    bool  // holds its lease; false for a dead node
	Replicas int32 // partition replicas placed on it
	Leaders  int32 // partitions it leads
	// Disk usage, when the node answered the gateway (zero otherwise): its
	// log dir, that file system's free and total bytes, and the bytes its
	// replicas take.
	LogDir           string
	LogDirFreeBytes  uint64
	LogDirTotalBytes uint64
	PartitionBytes   uint64
	LowDiskSpace     bool // free bytes below the node's warning threshold
	// OfflineReplicas is how many of its replicas the node reported offline
	// after a storage fault.
	OfflineReplicas int32
}

// Gateway is one live gateway.
type Gateway struct {
	ID           int32
	KafkaAddress string
	GRPCAddress  string
}

// DescribeCluster lists the controllers, storage nodes and gateways.
func (a *Admin) DescribeCluster(ctx context.Context) (*Cluster, error) {
	resp, err := retry(ctx, a.c, "describe cluster", func(ctx context.Context) (*adminv1.DescribeClusterResponse, error) {
		return a.c.admin.DescribeCluster(ctx, &adminv1.DescribeClusterRequest{})
	})
	if err != nil {
		return nil, err
	}
	out := &Cluster{ID: resp.GetClusterId()}
	for _, c := range resp.GetControllers() {
		out.Controllers = append(out.Controllers, ClusterController{Name: c.GetName(), Address: c.GetAddress(), Active: c.GetActive()})
	}
	for _, n := range resp.GetStorageNodes() {
		out.StorageNodes = append(out.StorageNodes, StorageNode{ID: n.GetId(), Address: n.GetAddress(), Rack: n.GetRack(),
			Alive: n.GetState() == adminv1.NodeState_NODE_STATE_ALIVE, Replicas: n.GetReplicas(), Leaders: n.GetLeaders(),
			LogDir: n.GetLogDir(), LogDirFreeBytes: n.GetLogDirFreeBytes(), LogDirTotalBytes: n.GetLogDirTotalBytes(),
			PartitionBytes: n.GetPartitionBytes(), LowDiskSpace: n.GetLowDiskSpace(), OfflineReplicas: n.GetOfflineReplicas()})
	}
	for _, g := range resp.GetGateways() {
		out.Gateways = append(out.Gateways, Gateway{ID: g.GetId(), KafkaAddress: g.GetKafkaAddress(), GRPCAddress: g.GetGrpcAddress()})
	}
	return out, nil
}

// GroupListing is one consumer group of ListGroups.
type GroupListing struct {
	ID           string
	State        string // Empty, Stable, PreparingRebalance, CompletingRebalance, Dead
	ProtocolType string
}

// ListGroups lists every consumer group.
func (a *Admin) ListGroups(ctx context.Context) ([]GroupListing, error) {
	resp, err := retry(ctx, a.c, "list groups", func(ctx context.Context) (*streamv1.ListGroupsResponse, error) {
		return a.c.groups.ListGroups(ctx, &streamv1.ListGroupsRequest{})
	})
	if err != nil {
		return nil, err
	}
	var out []GroupListing
	for _, g := range resp.GetGroups() {
		out = append(out, GroupListing{ID: g.GetGroupId(), State: g.GetState(), ProtocolType: g.GetProtocolType()})
	}
	return out, nil
}

// Group describes a consumer group with its members and lag.
type Group struct {
	ID           string
	State        string // Empty, Stable, PreparingRebalance, CompletingRebalance, Dead
	ProtocolType string // "consumer" for Kafka and gRPC consumers
	Protocol     string // the assignor chosen: range, roundrobin, ...
	Members      []GroupMember
	// Partitions has one entry per partition with a committed offset.
	Partitions []PartitionLag
	TotalLag   int64 // the sum of the partitions' lags
}

// GroupMember is one member of a group.
type GroupMember struct {
	MemberID   string
	InstanceID string
	ClientID   string
	ClientHost string
	Assignment map[string][]int32 // topic → partitions
}

// PartitionLag is a group's position in one partition.
type PartitionLag struct {
	Topic           string
	Partition       int32
	CommittedOffset int64
	Metadata        string
	// LogStartOffset, LogEndOffset and Lag are -1 when the partition's
	// leader did not answer; Err says why.
	LogStartOffset int64
	LogEndOffset   int64
	Lag            int64 // LogEndOffset − CommittedOffset
	Err            error
}

// DescribeGroup returns a group's state, members, committed offsets and lag.
func (a *Admin) DescribeGroup(ctx context.Context, group string) (*Group, error) {
	op := "describe group " + group
	resp, err := retry(ctx, a.c, op, func(ctx context.Context) (*streamv1.DescribeGroupResponse, error) {
		return a.c.groups.DescribeGroup(ctx, &streamv1.DescribeGroupRequest{GroupId: group})
	})
	if err != nil {
		return nil, err
	}
	out := &Group{ID: resp.GetGroupId(), State: resp.GetState(), ProtocolType: resp.GetProtocolType(),
		Protocol: resp.GetProtocol(), TotalLag: resp.GetTotalLag()}
	for _, m := range resp.GetMembers() {
		out.Members = append(out.Members, GroupMember{MemberID: m.GetMemberId(), InstanceID: m.GetInstanceId(),
			ClientID: m.GetClientId(), ClientHost: m.GetClientHost(), Assignment: fromTopicPartitions(m.GetAssignment())})
	}
	for _, p := range resp.GetPartitions() {
		pl := PartitionLag{Topic: p.GetTopic(), Partition: p.GetPartition(), CommittedOffset: p.GetCommittedOffset(),
			Metadata: p.GetMetadata(), LogStartOffset: p.GetLogStartOffset(), LogEndOffset: p.GetLogEndOffset(), Lag: p.GetLag()}
		if e := fromDetail(fmt.Sprintf("%s %s-%d", op, p.GetTopic(), p.GetPartition()), p.GetError()); e != nil {
			pl.Err = e
		}
		out.Partitions = append(out.Partitions, pl)
	}
	return out, nil
}

// CommittedOffset is a group's committed offset of one partition.
type CommittedOffset struct {
	Topic     string
	Partition int32
	// Offset is the next offset to read; -1 when none is committed.
	Offset   int64
	Metadata string
	Err      error
}

// FetchOffsets returns the group's committed offsets of the given
// partitions (topic → partitions; nil partitions is all of the topic), or
// of every partition when topics is nil.
func (a *Admin) FetchOffsets(ctx context.Context, group string, topics map[string][]int32) ([]CommittedOffset, error) {
	op := "fetch offsets of " + group
	resp, err := retry(ctx, a.c, op, func(ctx context.Context) (*streamv1.FetchOffsetsResponse, error) {
		return a.c.groups.FetchOffsets(ctx, &streamv1.FetchOffsetsRequest{GroupId: group, Topics: toTopicPartitions(topics)})
	})
	if err != nil {
		return nil, err
	}
	var out []CommittedOffset
	for _, o := range resp.GetOffsets() {
		co := CommittedOffset{Topic: o.GetTopic(), Partition: o.GetPartition(), Offset: o.GetOffset(), Metadata: o.GetMetadata()}
		if e := fromDetail(fmt.Sprintf("%s %s-%d", op, o.GetTopic(), o.GetPartition()), o.GetError()); e != nil {
			co.Err = e
		}
		out = append(out, co)
	}
	return out, nil
}

// OffsetReset says where ResetOffsets moves a group's offsets: exactly one
// of its fields is set.
type OffsetReset struct {
	ToEarliest  bool      // to the log start offset
	ToLatest    bool      // to the log end offset
	ToOffset    *int64    // to this offset (clamped to the log)
	ToTimestamp time.Time // to the first record at or after this time
	// By moves back by a duration from now.
	By time.Duration
	// ShiftBy moves by N (negative is back).
	ShiftBy int64
}

// PlannedOffset is one partition of a reset plan.
type PlannedOffset struct {
	Topic         string
	Partition     int32
	CurrentOffset int64 // committed now; -1 when none
	NewOffset     int64 // committed after the reset (with execute)
	Err           error // this partition could not be planned
}

// ResetOffsets plans moving the group's committed offsets of topics
// (topic → partitions, nil partitions for all; nil topics for every
// partition with a committed offset) as reset says, each clamped to the
// log, and commits the plan when execute is true. The group must have no
// active members (ErrNonEmptyGroup).
func (a *Admin) ResetOffsets(ctx context.Context, group string, topics map[string][]int32, reset OffsetReset, execute bool) ([]PlannedOffset, error) {
	op := "reset offsets of " + group
	req := &streamv1.ResetOffsetsRequest{GroupId: group, Topics: toTopicPartitions(topics), Execute: execute}
	switch {
	case reset.ToEarliest:
		req.Target = &streamv1.ResetOffsetsRequest_ToEarliest{ToEarliest: true}
	case reset.ToLatest:
		req.Target = &streamv1.ResetOffsetsRequest_ToLatest{ToLatest: true}
	case reset.ToOffset != nil:
		req.Target = &streamv1.ResetOffsetsRequest_ToOffset{ToOffset: *reset.ToOffset}
	case !reset.ToTimestamp.IsZero():
		req.Target = &streamv1.ResetOffsetsRequest_ToTimestampMs{ToTimestampMs: reset.ToTimestamp.UnixMilli()}
	case reset.By > 0:
		req.Target = &streamv1.ResetOffsetsRequest_ByDuration{ByDuration: durationpb.New(reset.By)}
	case reset.ShiftBy != 0:
		req.Target = &streamv1.ResetOffsetsRequest_ShiftBy{ShiftBy: reset.ShiftBy}
	default:
		return nil, fmt.Errorf("%s: %w: the OffsetReset names no target", op, ErrInvalidRequest)
	}
	resp, err := retry(ctx, a.c, op, func(ctx context.Context) (*streamv1.ResetOffsetsResponse, error) {
		return a.c.groups.ResetOffsets(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	var out []PlannedOffset
	for _, p := range resp.GetPlan() {
		po := PlannedOffset{Topic: p.GetTopic(), Partition: p.GetPartition(), CurrentOffset: p.GetCurrentOffset(), NewOffset: p.GetNewOffset()}
		if e := fromDetail(fmt.Sprintf("%s %s-%d", op, p.GetTopic(), p.GetPartition()), p.GetError()); e != nil {
			po.Err = e
		}
		out = append(out, po)
	}
	return out, nil
}

// CommitOffsets commits offsets for a group without members (Kafka's
// simple-consumer commit): topic → partition → next offset to read. It
// returns the first failed partition's error.
func (a *Admin) CommitOffsets(ctx context.Context, group string, offsets map[string]map[int32]int64) error {
	op := "commit offsets of " + group
	req := &streamv1.CommitOffsetsRequest{GroupId: group}
	for t, ps := range offsets {
		for p, o := range ps {
			req.Offsets = append(req.Offsets, &streamv1.OffsetToCommit{Topic: t, Partition: p, Offset: o})
		}
	}
	resp, err := retry(ctx, a.c, op, func(ctx context.Context) (*streamv1.CommitOffsetsResponse, error) {
		return a.c.groups.CommitOffsets(ctx, req)
	})
	if err != nil {
		return err
	}
	for _, r := range resp.GetResults() {
		if e := fromDetail(fmt.Sprintf("%s %s-%d", op, r.GetTopic(), r.GetPartition()), r.GetError()); e != nil {
			return e
		}
	}
	return nil
}

// DeleteGroup deletes an empty group and its committed offsets.
func (a *Admin) DeleteGroup(ctx context.Context, group string) error {
	_, err := retry(ctx, a.c, "delete group "+group, func(ctx context.Context) (*streamv1.DeleteGroupResponse, error) {
		return a.c.groups.DeleteGroup(ctx, &streamv1.DeleteGroupRequest{GroupId: group})
	})
	return err
}

// DeleteOffsets deletes the group's committed offsets of the given
// partitions; it returns the first failed partition's error.
func (a *Admin) DeleteOffsets(ctx context.Context, group string, topics map[string][]int32) error {
	op := "delete offsets of " + group
	resp, err := retry(ctx, a.c, op, func(ctx context.Context) (*streamv1.DeleteOffsetsResponse, error) {
		return a.c.groups.DeleteOffsets(ctx, &streamv1.DeleteOffsetsRequest{GroupId: group, Topics: toTopicPartitions(topics)})
	})
	if err != nil {
		return err
	}
	for _, r := range resp.GetResults() {
		if e := fromDetail(fmt.Sprintf("%s %s-%d", op, r.GetTopic(), r.GetPartition()), r.GetError()); e != nil {
			return e
		}
	}
	return nil
}

func toTopicPartitions(m map[string][]int32) []*streamv1.TopicPartitions {
	var out []*streamv1.TopicPartitions
	for t, ps := range m {
		out = append(out, &streamv1.TopicPartitions{Topic: t, Partitions: ps})
	}
	return out
}

func fromTopicPartitions(tps []*streamv1.TopicPartitions) map[string][]int32 {
	out := map[string][]int32{}
	for _, tp := range tps {
		out[tp.GetTopic()] = append(out[tp.GetTopic()], tp.GetPartitions()...)
	}
	return out
}
