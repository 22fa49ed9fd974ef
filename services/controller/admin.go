package controller

import (
	"context"
	"crypto/rand"
	"sort"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/internal/topicconfig"
	"github.com/strata-io/strata/services/controller/mdstore"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// adminHandler implements the public AdminService. Writes reach it only on
// the active controller (the forwarder sends them there).
type adminHandler struct {
	adminv1.UnimplementedAdminServiceServer
	c *Controller
}

func validName(name string) error {
	if err := topicconfig.ValidateName(name); err != nil {
		return errs.New(errs.InvalidTopic, "%v", err).Field("name", err.Error())
	}
	return nil
}

func validConfigs(configs map[string]string) error {
	if err := topicconfig.Validate(configs); err != nil {
		return errs.New(errs.InvalidConfig, "%v", err).Field("configs", err.Error())
	}
	return nil
}

func (h *adminHandler) validPartitionCount(n int32) error {
	if n < 1 || int(n) > h.c.cfg.MaxPartitions {
		return errs.New(errs.InvalidPartitions, "partitions must be between 1 and %d, got %d", h.c.cfg.MaxPartitions, n).
			Field("partitions", "out of range")
	}
	return nil
}

// placeNew places count partitions from first over the live nodes,
// balancing against every replica already placed.
func (h *adminHandler) placeNew(ctx context.Context, first, count int, rf int32) ([][]int32, error) {
	nodes, err := h.c.liveNodes(ctx)
	if err != nil {
		return nil, err
	}
	if rf < 1 || int(rf) > len(nodes) {
		return nil, errs.New(errs.InvalidReplicationFactor,
			"replication factor %d is larger than the %d live storage nodes", rf, len(nodes)).
			Field("replication_factor", "exceeds live storage nodes")
	}
	all, err := h.c.partitions(ctx, mdstore.PartitionsPrefix)
	if err != nil {
		return nil, err
	}
	return place(nodes, clusterLoad(all), first, count, int(rf))
}

// place places count partitions from first: exactly as assigned when
// assignments are given (checked against the live nodes), else by
// placeNew.
func (h *adminHandler) place(ctx context.Context, first, count int, rf int32, assignments []*adminv1.ReplicaAssignment) ([][]int32, error) {
	if len(assignments) == 0 {
		return h.placeNew(ctx, first, count, rf)
	}
	nodes, err := h.c.liveNodes(ctx)
	if err != nil {
		return nil, err
	}
	in := make([]assignment, len(assignments))
	for i, a := range assignments {
		in[i] = assignment{partition: a.GetPartition(), replicas: a.GetReplicas()}
	}
	out, err := manualPlace(nodes, first, int(rf), in)
	if err != nil {
		return nil, errs.New(errs.InvalidReplicaAssignment, "invalid replica assignment: %v", err).Field("assignments", err.Error())
	}
	return out, nil
}

func partitionOps(t *metadatav1.TopicRecord, first int, assign [][]int32) ([]clientv3.Op, []*metadatav1.PartitionRecord) {
	ops := make([]clientv3.Op, 0, len(assign))
	recs := make([]*metadatav1.PartitionRecord, 0, len(assign))
	for i, replicas := range assign {
		p := &metadatav1.PartitionRecord{
			Topic:       t.GetName(),
			Partition:   int32(first + i),
			TopicId:     t.GetTopicId(),
			Replicas:    replicas,
			Leader:      replicas[0],
			LeaderEpoch: 0,
			Isr:         replicas,
		}
		recs = append(recs, p)
		ops = append(ops, clientv3.OpPut(mdstore.PartitionKey(p.GetTopic(), p.GetPartition()), string(mdstore.Marshal(p))))
	}
	return ops, recs
}

func (h *adminHandler) CreateTopic(ctx context.Context, req *adminv1.CreateTopicRequest) (*adminv1.CreateTopicResponse, error) {
	if err := validName(req.GetName()); err != nil {
		return nil, err
	}
	partitions, rf := req.GetPartitions(), req.GetReplicationFactor()
	if as := req.GetAssignments(); len(as) > 0 {
		n, r := int32(len(as)), int32(len(as[0].GetReplicas()))
		if partitions != 0 && partitions != n || rf != 0 && rf != r {
			return nil, errs.New(errs.InvalidReplicaAssignment,
				"%d partitions with replication factor %d do not match the %d assignments of %d replicas", partitions, rf, n, r).
				Field("assignments", "partitions or replication_factor differ from the assignments")
		}
		partitions, rf = n, r
	}
	if err := h.validPartitionCount(partitions); err != nil {
		return nil, err
	}
	if rf < 1 && len(req.GetAssignments()) == 0 { // an empty assignment is refused with the others below
		return nil, errs.New(errs.InvalidReplicationFactor, "replication factor must be at least 1, got %d", rf).
			Field("replication_factor", "must be at least 1")
	}
	if err := validConfigs(req.GetConfigs()); err != nil {
		return nil, err
	}
	if _, _, err := h.c.topic(ctx, req.GetName()); err == nil {
		return nil, errs.New(errs.TopicAlreadyExists, "topic %q already exists", req.GetName())
	} else if !errs.Is(err, errs.UnknownTopicOrPartition) {
		return nil, err
	}
	assign, err := h.place(ctx, 0, int(partitions), rf, req.GetAssignments())
	if err != nil {
		return nil, err
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	configs, _ := h.c.cfg.defaultTopicConfigs() // validated at start-up
	for k, v := range req.GetConfigs() {
		configs[k] = v
	}
	t := &metadatav1.TopicRecord{
		Name:              req.GetName(),
		TopicId:           id,
		PartitionCount:    partitions,
		ReplicationFactor: rf,
		Configs:           configs,
		CreatedUnixMs:     time.Now().UnixMilli(),
	}
	ops, recs := partitionOps(t, 0, assign)
	if req.GetValidateOnly() {
		return &adminv1.CreateTopicResponse{Topic: toAdminTopic(t, recs)}, nil
	}
	ops = append(ops, clientv3.OpPut(mdstore.TopicKey(t.GetName()), string(mdstore.Marshal(t))))
	applied, err := h.c.write(ctx, []clientv3.Cmp{
		clientv3.Compare(clientv3.CreateRevision(mdstore.TopicKey(t.GetName())), "=", 0),
	}, ops...)
	if err != nil {
		return nil, err
	}
	if !applied {
		return nil, errs.New(errs.TopicAlreadyExists, "topic %q already exists", req.GetName())
	}
	h.c.metrics.topicOps.WithLabelValues("create").Inc()
	h.c.log.Info("topic created", "topic", t.GetName(), "partitions", t.GetPartitionCount(), "replication_factor", t.GetReplicationFactor())
	return &adminv1.CreateTopicResponse{Topic: toAdminTopic(t, recs)}, nil
}

func (h *adminHandler) DeleteTopic(ctx context.Context, req *adminv1.DeleteTopicRequest) (*adminv1.DeleteTopicResponse, error) {
	if err := validName(req.GetName()); err != nil {
		return nil, err
	}
	_, rev, err := h.c.topic(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	applied, err := h.c.write(ctx,
		[]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(mdstore.TopicKey(req.GetName())), "=", rev)},
		clientv3.OpDelete(mdstore.TopicKey(req.GetName())),
		clientv3.OpDelete(mdstore.PartitionsOf(req.GetName()), clientv3.WithPrefix()),
	)
	if err != nil {
		return nil, err
	}
	if !applied {
		return nil, errs.New(errs.ConcurrentUpdate, "topic %q changed while deleting it; retry", req.GetName())
	}
	h.c.metrics.topicOps.WithLabelValues("delete").Inc()
	h.c.log.Info("topic deleted", "topic", req.GetName())
	return &adminv1.DeleteTopicResponse{}, nil
}

func (h *adminHandler) ListTopics(ctx context.Context, _ *adminv1.ListTopicsRequest) (*adminv1.ListTopicsResponse, error) {
	topics, err := list[metadatav1.TopicRecord](ctx, h.c.cli, mdstore.TopicsPrefix)
	if err != nil {
		return nil, err
	}
	out := &adminv1.ListTopicsResponse{Topics: make([]*adminv1.Topic, 0, len(topics))}
	for _, t := range topics {
		out.Topics = append(out.Topics, toAdminTopic(t, nil))
	}
	sort.Slice(out.Topics, func(i, j int) bool { return out.Topics[i].GetName() < out.Topics[j].GetName() })
	return out, nil
}

func (h *adminHandler) DescribeTopic(ctx context.Context, req *adminv1.DescribeTopicRequest) (*adminv1.DescribeTopicResponse, error) {
	if err := validName(req.GetName()); err != nil {
		return nil, err
	}
	t, _, err := h.c.topic(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	ps, err := h.c.partitions(ctx, mdstore.PartitionsOf(req.GetName()))
	if err != nil {
		return nil, err
	}
	return &adminv1.DescribeTopicResponse{Topic: toAdminTopic(t, ps)}, nil
}

func (h *adminHandler) AddPartitions(ctx context.Context, req *adminv1.AddPartitionsRequest) (*adminv1.AddPartitionsResponse, error) {
	if err := validName(req.GetName()); err != nil {
		return nil, err
	}
	t, rev, err := h.c.topic(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	if req.GetTotalCount() <= t.GetPartitionCount() {
		return nil, errs.New(errs.InvalidPartitions, "topic %q has %d partitions; the new total %d must be larger (partition counts only grow)",
			req.GetName(), t.GetPartitionCount(), req.GetTotalCount()).Field("total_count", "must exceed the current count")
	}
	if err := h.validPartitionCount(req.GetTotalCount()); err != nil {
		return nil, err
	}
	first := int(t.GetPartitionCount())
	if as := req.GetAssignments(); len(as) > 0 && len(as) != int(req.GetTotalCount())-first {
		return nil, errs.New(errs.InvalidReplicaAssignment, "%d assignments for %d new partitions of %q", len(as), int(req.GetTotalCount())-first, t.GetName()).
			Field("assignments", "one per new partition")
	}
	assign, err := h.place(ctx, first, int(req.GetTotalCount())-first, t.GetReplicationFactor(), req.GetAssignments())
	if err != nil {
		return nil, err
	}
	t = metadata.Clone(t)
	t.PartitionCount = req.GetTotalCount()
	ops, _ := partitionOps(t, first, assign)
	if !req.GetValidateOnly() {
		ops = append(ops, clientv3.OpPut(mdstore.TopicKey(t.GetName()), string(mdstore.Marshal(t))))
		applied, err := h.c.write(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(mdstore.TopicKey(t.GetName())), "=", rev)}, ops...)
		if err != nil {
			return nil, err
		}
		if !applied {
			return nil, errs.New(errs.ConcurrentUpdate, "topic %q changed concurrently; retry", t.GetName())
		}
		h.c.metrics.topicOps.WithLabelValues("add_partitions").Inc()
		h.c.log.Info("partitions added", "topic", t.GetName(), "total", t.GetPartitionCount())
	}
	resp, err := h.DescribeTopic(ctx, &adminv1.DescribeTopicRequest{Name: t.GetName()})
	if err != nil {
		return nil, err
	}
	return &adminv1.AddPartitionsResponse{Topic: resp.GetTopic()}, nil
}

func (h *adminHandler) AlterTopicConfigs(ctx context.Context, req *adminv1.AlterTopicConfigsRequest) (*adminv1.AlterTopicConfigsResponse, error) {
	if err := validName(req.GetName()); err != nil {
		return nil, err
	}
	if err := validConfigs(req.GetSet()); err != nil {
		return nil, err
	}
	for _, k := range req.GetRemove() {
		if _, ok := topicconfig.Lookup(k); !ok {
			return nil, errs.New(errs.InvalidConfig, "unknown config %q", k).Field("remove", k)
		}
	}
	t, rev, err := h.c.topic(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	t = metadata.Clone(t)
	if t.Configs == nil {
		t.Configs = map[string]string{}
	}
	for _, k := range req.GetRemove() {
		delete(t.Configs, k)
	}
	for k, v := range req.GetSet() {
		t.Configs[k] = v
	}
	if !req.GetValidateOnly() {
		applied, err := h.c.write(ctx,
			[]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(mdstore.TopicKey(t.GetName())), "=", rev)},
			clientv3.OpPut(mdstore.TopicKey(t.GetName()), string(mdstore.Marshal(t))))
		if err != nil {
			return nil, err
		}
		if !applied {
			return nil, errs.New(errs.ConcurrentUpdate, "topic %q changed concurrently; retry", t.GetName())
		}
		h.c.metrics.topicOps.WithLabelValues("alter_configs").Inc()
	}
	return &adminv1.AlterTopicConfigsResponse{Configs: t.GetConfigs()}, nil
}

func (h *adminHandler) DescribeTopicConfigs(ctx context.Context, req *adminv1.DescribeTopicConfigsRequest) (*adminv1.DescribeTopicConfigsResponse, error) {
	if err := validName(req.GetName()); err != nil {
		return nil, err
	}
	t, _, err := h.c.topic(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	out := &adminv1.DescribeTopicConfigsResponse{}
	for _, s := range topicconfig.All() {
		e := &adminv1.ConfigEntry{Name: s.Name, Value: s.Default, Source: adminv1.ConfigSource_CONFIG_SOURCE_DEFAULT, Documentation: s.Doc}
		if v, ok := t.GetConfigs()[s.Name]; ok {
			e.Value, e.Source = v, adminv1.ConfigSource_CONFIG_SOURCE_TOPIC
		}
		out.Configs = append(out.Configs, e)
	}
	return out, nil
}

func (h *adminHandler) DescribeCluster(ctx context.Context, _ *adminv1.DescribeClusterRequest) (*adminv1.DescribeClusterResponse, error) {
	c := h.c
	out := &adminv1.DescribeClusterResponse{ClusterId: c.clusterID}
	controllers, err := list[metadatav1.ControllerRecord](ctx, c.cli, mdstore.ControllersPrefix)
	if err != nil {
		return nil, err
	}
	var activeName string
	if a, err := c.elector.active(ctx); err == nil {
		activeName = a.GetName()
	}
	for _, r := range controllers {
		out.Controllers = append(out.Controllers, &adminv1.Controller{Name: r.GetName(), Address: r.GetAddress(), Active: r.GetName() == activeName})
	}
	nodes, isAlive, err := c.storageNodes(ctx)
	if err != nil {
		return nil, err
	}
	ps, err := c.partitions(ctx, mdstore.PartitionsPrefix)
	if err != nil {
		return nil, err
	}
	l := clusterLoad(ps)
	offline := map[int32]int32{}
	for _, p := range ps {
		for _, r := range p.GetOfflineReplicas() {
			offline[r]++
		}
	}
	for _, n := range nodes {
		state := adminv1.NodeState_NODE_STATE_DEAD
		if isAlive[n.GetNodeId()] {
			state = adminv1.NodeState_NODE_STATE_ALIVE
		}
		out.StorageNodes = append(out.StorageNodes, &adminv1.StorageNode{
			Id: n.GetNodeId(), Address: n.GetAddress(), Rack: n.GetRack(), State: state,
			Replicas: int32(l.replicas[n.GetNodeId()]), Leaders: int32(l.leaders[n.GetNodeId()]),
			OfflineReplicas: offline[n.GetNodeId()],
		})
	}
	sort.Slice(out.StorageNodes, func(i, j int) bool { return out.StorageNodes[i].GetId() < out.StorageNodes[j].GetId() })
	gws, err := list[metadatav1.GatewayRecord](ctx, c.cli, mdstore.GatewaysPrefix)
	if err != nil {
		return nil, err
	}
	for _, g := range gws {
		out.Gateways = append(out.Gateways, &adminv1.Gateway{Id: g.GetGatewayId(), KafkaAddress: g.GetKafkaAddress(), GrpcAddress: g.GetGrpcAddress(), HttpAddress: g.GetHttpAddress()})
	}
	sort.Slice(out.Gateways, func(i, j int) bool { return out.Gateways[i].GetId() < out.Gateways[j].GetId() })
	return out, nil
}
