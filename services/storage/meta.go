package storage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/strata-io/strata/internal/fsutil"
)

// metaFile holds the node's identity, like Kafka's meta.properties: the id
// the controller allocated on first start and the cluster it belongs to.
const metaFile = "meta.properties"

type nodeMeta struct {
	NodeID    int32
	ClusterID string
}

func readMeta(dir string) (nodeMeta, error) {
	var m nodeMeta
	data, err := os.ReadFile(filepath.Join(dir, metaFile))
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("read %s: %w", metaFile, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		switch k {
		case "node.id":
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n <= 0 {
				return m, fmt.Errorf("%s: node.id %q is not a positive integer", filepath.Join(dir, metaFile), v)
			}
			m.NodeID = int32(n)
		case "cluster.id":
			m.ClusterID = v
		}
	}
	return m, nil
}

func writeMeta(dir string, m nodeMeta) error {
	body := fmt.Sprintf("# Written by strata storage. Do not edit.\nnode.id=%d\ncluster.id=%s\n", m.NodeID, m.ClusterID)
	return fsutil.WriteFileAtomic(filepath.Join(dir, metaFile), []byte(body), 0o644)
}

// cleanShutdownFile marks a node that stopped with every log closed; it is
// removed at start, so a crash afterwards leaves no marker.
const cleanShutdownFile = "clean-shutdown"

// takeCleanShutdown reports whether the last stop was clean and clears the
// marker.
func takeCleanShutdown(dir string) bool {
	path := filepath.Join(dir, cleanShutdownFile)
	if _, err := os.Stat(path); err != nil {
		return false
	}
	return os.Remove(path) == nil && fsutil.SyncDir(dir) == nil
}

func markCleanShutdown(dir string) error {
	return fsutil.WriteFileAtomic(filepath.Join(dir, cleanShutdownFile), nil, 0o644)
}
