package storage

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/fsutil"
	"github.com/strata-io/strata/internal/topicconfig"
)

// partitionMetaFile records which topic incarnation a replica directory
// belongs to, so a topic deleted and created again under the same name
// never inherits old data.
const partitionMetaFile = "partition.metadata"

// replicaDir is the directory name of a partition replica: <topic>-<n>.
func replicaDir(topic string, partition int32) string {
	return topic + "-" + strconv.Itoa(int(partition))
}

// parseReplicaDir splits <topic>-<n>; ok is false for other names.
func parseReplicaDir(name string) (topic string, partition int32, ok bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || n < 0 || topicconfig.ValidateName(name[:i]) != nil {
		return "", 0, false
	}
	return name[:i], int32(n), true
}

type localReplica struct {
	topic     string
	partition int32
	topicID   string // hex
}

// scanReplicas lists the replica directories under dir.
func scanReplicas(dir string) (map[string]localReplica, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", dir, err)
	}
	out := map[string]localReplica{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		topic, p, ok := parseReplicaDir(e.Name())
		if !ok {
			continue
		}
		id, _ := os.ReadFile(filepath.Join(dir, e.Name(), partitionMetaFile))
		out[e.Name()] = localReplica{topic: topic, partition: p, topicID: strings.TrimSpace(strings.TrimPrefix(string(id), "topic_id="))}
	}
	return out, nil
}

// reconcile makes the replica directories under dir match assigned: it
// creates missing ones and deletes ones no longer assigned or belonging to
// an older topic incarnation. It returns the directories now present.
func reconcile(dir string, assigned []*metadatav1.PartitionRecord) ([]localReplica, error) {
	have, err := scanReplicas(dir)
	if err != nil {
		return nil, err
	}
	want := map[string]localReplica{}
	for _, p := range assigned {
		want[replicaDir(p.GetTopic(), p.GetPartition())] = localReplica{topic: p.GetTopic(), partition: p.GetPartition(), topicID: hex.EncodeToString(p.GetTopicId())}
	}
	for name, r := range have {
		if w, ok := want[name]; !ok || w.topicID != r.topicID {
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("delete replica %s: %w", name, err)
			}
			delete(have, name)
		}
	}
	for name, w := range want {
		if _, ok := have[name]; ok {
			continue
		}
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(path, 0o755); err != nil {
			return nil, fmt.Errorf("create replica %s: %w", name, err)
		}
		if err := fsutil.WriteFileAtomic(filepath.Join(path, partitionMetaFile), []byte("topic_id="+w.topicID+"\n"), 0o644); err != nil {
			return nil, err
		}
		have[name] = w
	}
	if err := fsutil.SyncDir(dir); err != nil {
		return nil, err
	}
	out := make([]localReplica, 0, len(have))
	for _, r := range have {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].topic != out[j].topic {
			return out[i].topic < out[j].topic
		}
		return out[i].partition < out[j].partition
	})
	return out, nil
}
