package storage

import (
	"fmt"
	"os"
	"strconv"
	"strings"

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

// scanReplicas lists the replica directories under dir.
func scanReplicas(dir string) (map[string]partitionKey, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", dir, err)
	}
	out := map[string]partitionKey{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if topic, p, ok := parseReplicaDir(e.Name()); ok {
			out[e.Name()] = partitionKey{topic: topic, partition: p}
		}
	}
	return out, nil
}
