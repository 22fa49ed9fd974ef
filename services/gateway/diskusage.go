package gateway

import (
	"context"
	"sync"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
)

// Disk usage, like replication progress (progress.go), lives on the
// storage nodes: DescribeCluster answers get each live node's log dir, free
// and total bytes and partition bytes from its ListReplicas, after the call
// came back from the controller. A node that does not answer within
// progressTimeout is listed without them.

var describeClusterMethod = adminPrefix + "DescribeCluster"

// fillDiskUsage asks every live storage node of resp, in parallel, for its
// disk usage.
func (g *Gateway) fillDiskUsage(ctx context.Context, resp *adminv1.DescribeClusterResponse) {
	var wg sync.WaitGroup
	for _, sn := range resp.GetStorageNodes() {
		if sn.GetState() != adminv1.NodeState_NODE_STATE_ALIVE {
			continue
		}
		wg.Add(1)
		go func() { // each goroutine writes only its own sn
			defer wg.Done()
			r, err := g.listReplicas(ctx, sn.GetAddress())
			if err != nil {
				g.Log.Debug("no disk usage from storage node", "node", sn.GetId(), "err", err)
				return
			}
			sn.LogDir, sn.LogDirFreeBytes, sn.LogDirTotalBytes = r.GetLogDir(), r.GetLogDirFreeBytes(), r.GetLogDirTotalBytes()
			sn.LowDiskSpace = r.GetLogDirTotalBytes() > 0 && r.GetLogDirFreeBytes() < r.GetDiskFreeWarnBytes()
			for _, rep := range r.GetReplicas() {
				sn.PartitionBytes += uint64(max(0, rep.GetSizeBytes()))
			}
		}()
	}
	wg.Wait()
}
