package kafka

// DescribeLogDirs, versions 0–5. The data lives on the storage nodes, so
// every gateway answers for all of them: it asks each registered storage
// node for its replicas (StorageService.ListReplicas, in parallel, with
// logDirsTimeout) and reports one log dir per node, named
// "storage-<node id>:<data dir>" so that nodes with the same path stay
// apart, with the size of each partition replica on it, its offset lag
// (high watermark − log end offset, floored at 0, as Kafka reports it) and
// the file system's total and usable bytes (v4+). A node that is dead or
// does not answer is one dir "storage-<id>" with KAFKA_STORAGE_ERROR. A
// replica its node reports offline (after a storage fault, KIP-112) is
// listed as a dir of its own — its directory — with KAFKA_STORAGE_ERROR:
// in Strata the unit that fails is a replica, not a whole dir. A null
// topic list means every partition; partitions a node does not hold are
// left out. Nothing is cordoned (v5).

import (
	"context"
	"fmt"
	"sync"
	"time"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(35, 0, 5, handleDescribeLogDirs) }

// logDirsTimeout bounds each storage node's ListReplicas.
const logDirsTimeout = 2 * time.Second

func handleDescribeLogDirs(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	wanted := func(string, int32) bool { return true }
	if req.Topics != nil {
		want := map[string]map[int32]bool{}
		for _, t := range req.Topics {
			if want[t.Topic] == nil {
				want[t.Topic] = map[int32]bool{}
			}
			for _, p := range t.Partitions {
				want[t.Topic][p] = true
			}
		}
		wanted = func(topic string, partition int32) bool { return want[topic][partition] }
	}
	nodes, alive := s.d.Cache.StorageNodes()
	answers := make([]*storagev1.ListReplicasResponse, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		if !alive[n.GetNodeId()] || n.GetAddress() == "" {
			continue
		}
		wg.Add(1)
		go func() { // writes only answers[i]
			defer wg.Done()
			a, err := s.listReplicas(ctx, n.GetAddress())
			if err != nil {
				s.log.Debug("describe log dirs: storage node did not answer", "node", n.GetNodeId(), "err", err)
				return
			}
			answers[i] = a
		}()
	}
	wg.Wait()
	for i, n := range nodes {
		a := answers[i]
		if a == nil {
			d := kmsg.NewDescribeLogDirsResponseDir()
			d.ErrorCode, d.Dir = kerr.KafkaStorageError.Code, fmt.Sprintf("storage-%d", n.GetNodeId())
			resp.Dirs = append(resp.Dirs, d)
			continue
		}
		dir := kmsg.NewDescribeLogDirsResponseDir()
		dir.Dir = fmt.Sprintf("storage-%d:%s", n.GetNodeId(), a.GetLogDir())
		if a.GetLogDirTotalBytes() > 0 {
			dir.TotalBytes, dir.UsableBytes = int64(a.GetLogDirTotalBytes()), int64(a.GetLogDirFreeBytes())
		}
		var offline []kmsg.DescribeLogDirsResponseDir
		for _, rep := range a.GetReplicas() {
			if !wanted(rep.GetTopic(), rep.GetPartition()) {
				continue
			}
			p := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			p.Partition, p.Size = rep.GetPartition(), max(rep.GetSizeBytes(), 0)
			p.OffsetLag = max(rep.GetHighWatermark()-rep.GetLogEndOffset(), 0)
			if rep.GetOffline() {
				od := kmsg.NewDescribeLogDirsResponseDir()
				od.ErrorCode = kerr.KafkaStorageError.Code
				od.Dir = fmt.Sprintf("storage-%d:%s", n.GetNodeId(), rep.GetDir())
				od.Topics = addLogDirPartition(nil, rep.GetTopic(), p)
				offline = append(offline, od)
				continue
			}
			dir.Topics = addLogDirPartition(dir.Topics, rep.GetTopic(), p)
		}
		resp.Dirs = append(resp.Dirs, dir)
		resp.Dirs = append(resp.Dirs, offline...)
	}
	return resp, nil
}

// addLogDirPartition adds p under topic.
func addLogDirPartition(ts []kmsg.DescribeLogDirsResponseDirTopic, topic string, p kmsg.DescribeLogDirsResponseDirTopicPartition) []kmsg.DescribeLogDirsResponseDirTopic {
	for i := range ts {
		if ts[i].Topic == topic {
			ts[i].Partitions = append(ts[i].Partitions, p)
			return ts
		}
	}
	t := kmsg.NewDescribeLogDirsResponseDirTopic()
	t.Topic, t.Partitions = topic, []kmsg.DescribeLogDirsResponseDirTopicPartition{p}
	return append(ts, t)
}

// listReplicas asks one storage node for its replicas.
func (s *Server) listReplicas(ctx context.Context, addr string) (*storagev1.ListReplicasResponse, error) {
	if s.d.Storage == nil {
		return nil, fmt.Errorf("no storage connections")
	}
	conn, err := s.d.Storage.Get(addr)
	if err != nil {
		return nil, fmt.Errorf("connect to storage node %s: %w", addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, logDirsTimeout)
	defer cancel()
	out, err := storagev1.NewStorageServiceClient(conn).ListReplicas(ctx, &storagev1.ListReplicasRequest{})
	if err != nil {
		return nil, fmt.Errorf("list replicas of storage node %s: %w", addr, err)
	}
	return out, nil
}
