package gateway

import (
	"context"
	"slices"
	"sync"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"google.golang.org/grpc"
)

// The controller knows placement, not progress: high watermarks, log end
// offsets and follower lag live on the leaders. DescribeTopic answers
// therefore get them here, from each leader's ListReplicas, after the call
// came back from the controller. A leader that does not answer in time
// leaves its partitions at -1: describe must stay fast when a node is down.

// progressTimeout bounds the wait for one storage node.
const progressTimeout = time.Second

var describeTopicMethod = adminPrefix + "DescribeTopic"

// describeProgress fills replication progress into DescribeTopic responses
// and disk usage into DescribeCluster responses (diskusage.go). It sits in
// front of forwardAdmin in the interceptor chain.
func (g *Gateway) describeProgress(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	out, err := handler(ctx, req)
	if err != nil {
		return out, err
	}
	switch resp := out.(type) {
	case *adminv1.DescribeTopicResponse:
		if info.FullMethod == describeTopicMethod && resp.GetTopic() != nil {
			g.fillProgress(ctx, resp.GetTopic())
		}
	case *adminv1.DescribeClusterResponse:
		if info.FullMethod == describeClusterMethod {
			g.fillDiskUsage(ctx, resp)
		}
	}
	return out, nil
}

// fillProgress asks every leader of t's partitions, in parallel, for its
// replicas and copies their offsets and follower lag into t.
func (g *Gateway) fillProgress(ctx context.Context, t *adminv1.Topic) {
	var ids []int32
	for _, p := range t.GetPartitions() {
		p.HighWatermark, p.LogEndOffset, p.LastStableOffset = -1, -1, -1
		// Leaders know progress; nodes with offline replicas know why.
		for _, id := range append([]int32{p.GetLeader()}, p.GetOfflineReplicas()...) {
			if id >= 0 && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	leaders := map[int32]*storagev1.ListReplicasResponse{} // by node; written by the goroutines below
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, id := range ids {
		node, alive := g.cache.StorageNode(id)
		if node == nil || !alive {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := g.listReplicas(ctx, node.GetAddress())
			if err != nil {
				g.Log.Debug("no replication progress from storage node", "node", id, "err", err)
				return
			}
			mu.Lock()
			leaders[id] = resp
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, p := range t.GetPartitions() {
		if r := findReplica(leaders[p.GetLeader()], t.GetName(), p.GetPartition()); r != nil {
			fillPartition(p, r)
		}
		for _, id := range p.GetOfflineReplicas() {
			if r := findReplica(leaders[id], t.GetName(), p.GetPartition()); r.GetOffline() {
				p.OfflineReasons = append(p.OfflineReasons, &adminv1.OfflineReplica{NodeId: id, Reason: r.GetOfflineReason()})
			}
		}
	}
}

func (g *Gateway) listReplicas(ctx context.Context, addr string) (*storagev1.ListReplicasResponse, error) {
	conn, err := g.storage.Get(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, progressTimeout)
	defer cancel()
	return storagev1.NewStorageServiceClient(conn).ListReplicas(ctx, &storagev1.ListReplicasRequest{})
}

func findReplica(resp *storagev1.ListReplicasResponse, topic string, partition int32) *storagev1.Replica {
	for _, r := range resp.GetReplicas() {
		if r.GetTopic() == topic && r.GetPartition() == partition {
			return r
		}
	}
	return nil
}

// fillPartition copies the leader replica r's progress into p: its own
// offsets, a zero-lag entry for itself, and one entry per follower it
// tracks.
func fillPartition(p *adminv1.Partition, r *storagev1.Replica) {
	leo := r.GetLogEndOffset()
	p.HighWatermark, p.LogEndOffset, p.LastStableOffset = r.GetHighWatermark(), leo, r.GetLastStableOffset()
	p.ReplicaLags = []*adminv1.ReplicaLag{{NodeId: p.GetLeader(), LogEndOffset: leo}}
	for _, f := range r.GetFollowers() {
		if f.GetNodeId() == p.GetLeader() {
			continue
		}
		// A follower that has not fetched yet reports -1: it lacks the whole log.
		p.ReplicaLags = append(p.ReplicaLags, &adminv1.ReplicaLag{
			NodeId: f.GetNodeId(), LogEndOffset: f.GetLogEndOffset(),
			Lag: max(0, leo-max(0, f.GetLogEndOffset())), LagMs: f.GetCaughtUpMsAgo(),
		})
	}
}
