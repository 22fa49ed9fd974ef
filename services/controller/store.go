package controller

import (
	"context"
	"encoding/hex"
	"fmt"
	"sort"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/services/controller/mdstore"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
)

// Reads of the metadata in etcd. They run on any controller: etcd reads are
// linearizable by default, so a standby never answers from stale data.

func readErr(err error) error {
	return errs.New(errs.NotController, "reading metadata: %v", err)
}

// topic returns a topic record and its etcd mod revision.
func (c *Controller) topic(ctx context.Context, name string) (*metadatav1.TopicRecord, int64, error) {
	resp, err := c.cli.Get(ctx, mdstore.TopicKey(name))
	if err != nil {
		return nil, 0, readErr(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, errs.New(errs.UnknownTopicOrPartition, "topic %q not found", name)
	}
	t := &metadatav1.TopicRecord{}
	if err := mdstore.Unmarshal(resp.Kvs[0].Value, t); err != nil {
		return nil, 0, fmt.Errorf("topic %q: %w", name, err)
	}
	return t, resp.Kvs[0].ModRevision, nil
}

// list decodes every record under prefix into new values of T.
func list[T any, PT interface {
	*T
	proto.Message
}](ctx context.Context, cli *clientv3.Client, prefix string) ([]PT, error) {
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, readErr(err)
	}
	out := make([]PT, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var m PT = new(T)
		if err := mdstore.Unmarshal(kv.Value, m); err != nil {
			return nil, fmt.Errorf("%s: %w", kv.Key, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func (c *Controller) partitions(ctx context.Context, prefix string) ([]*metadatav1.PartitionRecord, error) {
	ps, err := list[metadatav1.PartitionRecord](ctx, c.cli, prefix)
	if err != nil {
		return nil, err
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].GetTopic() != ps[j].GetTopic() {
			return ps[i].GetTopic() < ps[j].GetTopic()
		}
		return ps[i].GetPartition() < ps[j].GetPartition()
	})
	return ps, nil
}

// storageNodes returns every registered storage node and which are alive.
func (c *Controller) storageNodes(ctx context.Context) ([]*metadatav1.StorageNodeRecord, map[int32]bool, error) {
	nodes, err := list[metadatav1.StorageNodeRecord](ctx, c.cli, mdstore.NodesPrefix)
	if err != nil {
		return nil, nil, err
	}
	alive, err := list[metadatav1.LivenessRecord](ctx, c.cli, mdstore.AlivePrefix)
	if err != nil {
		return nil, nil, err
	}
	isAlive := map[int32]bool{}
	for _, a := range alive {
		isAlive[a.GetNodeId()] = true
	}
	return nodes, isAlive, nil
}

// liveNodes returns the storage nodes that hold their lease.
func (c *Controller) liveNodes(ctx context.Context) ([]placementNode, error) {
	nodes, isAlive, err := c.storageNodes(ctx)
	if err != nil {
		return nil, err
	}
	var out []placementNode
	for _, n := range nodes {
		if isAlive[n.GetNodeId()] {
			out = append(out, placementNode{id: n.GetNodeId(), rack: n.GetRack()})
		}
	}
	return out, nil
}

// clusterLoad counts replicas and leaders per node over every partition.
func clusterLoad(ps []*metadatav1.PartitionRecord) load {
	l := newLoad()
	for _, p := range ps {
		for _, r := range p.GetReplicas() {
			l.replicas[r]++
		}
		if p.GetLeader() >= 0 {
			l.leaders[p.GetLeader()]++
		}
	}
	return l
}

func toAdminTopic(t *metadatav1.TopicRecord, ps []*metadatav1.PartitionRecord) *adminv1.Topic {
	out := &adminv1.Topic{
		Name:              t.GetName(),
		TopicId:           hex.EncodeToString(t.GetTopicId()),
		PartitionCount:    t.GetPartitionCount(),
		ReplicationFactor: t.GetReplicationFactor(),
		Configs:           t.GetConfigs(),
	}
	for _, p := range ps {
		out.Partitions = append(out.Partitions, &adminv1.Partition{
			Partition:   p.GetPartition(),
			Leader:      p.GetLeader(),
			LeaderEpoch: p.GetLeaderEpoch(),
			Replicas:    p.GetReplicas(),
			Isr:         p.GetIsr(),
			// Progress (offsets, lag) is the gateway's to fill from the leaders.
			AddingReplicas:   p.GetAddingReplicas(),
			RemovingReplicas: p.GetRemovingReplicas(),
			OfflineReplicas:  p.GetOfflineReplicas(),
			HighWatermark:    -1,
			LogEndOffset:     -1,
			LastStableOffset: -1,
		})
	}
	return out
}
