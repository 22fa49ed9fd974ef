package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/testutil"
)

// replicasOn asks a storage node which replica directories it holds.
func replicasOn(t *testing.T, n *node) ([]string, error) {
	conn, err := dialRole(n.grpc)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := storagev1.NewStorageServiceClient(conn).ListReplicas(ctx, &storagev1.ListReplicasRequest{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range resp.GetReplicas() {
		if _, err := os.Stat(r.GetDir()); err != nil {
			return nil, fmt.Errorf("replica dir %s: %w", r.GetDir(), err)
		}
		out = append(out, fmt.Sprintf("%s-%d", r.GetTopic(), r.GetPartition()))
	}
	sort.Strings(out)
	return out, nil
}

func TestTopicLifecycle(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3})

	out := c.admin("topic", "create", "orders", "--partitions", "6", "--replication-factor", "3", "--config", "retention.ms=3600000")
	if !strings.Contains(out, "Created topic orders") {
		t.Fatalf("create said %q", out)
	}

	var topic topicInfo
	c.adminJSON(&topic, "topic", "describe", "orders")
	if topic.Name != "orders" || len(topic.Partitions) != 6 || topic.Configs["retention.ms"] != "3600000" {
		t.Fatalf("describe: %+v", topic)
	}
	leaders := map[int32]int{}
	replicas := map[int32]int{}
	for i, p := range topic.Partitions {
		if p.Partition != int32(i) || len(p.Replicas) != 3 || len(p.ISR) != 3 || p.Leader != p.Replicas[0] || p.LeaderEpoch != 0 {
			t.Errorf("partition %d: %+v", i, p)
		}
		seen := map[int32]bool{}
		for _, r := range p.Replicas {
			if seen[r] {
				t.Errorf("partition %d has two replicas on node %d", i, r)
			}
			seen[r] = true
			replicas[r]++
		}
		leaders[p.Leader]++
	}
	for id := int32(1); id <= 3; id++ {
		if leaders[id] != 2 || replicas[id] != 6 {
			t.Errorf("node %d leads %d and holds %d replicas; want 2 and 6", id, leaders[id], replicas[id])
		}
	}

	// Every storage node creates a directory for each replica it was given.
	for _, n := range c.storage {
		testutil.WaitFor(t, 10*time.Second, func() error {
			got, err := replicasOn(t, n)
			if err != nil {
				return err
			}
			if len(got) != 6 || got[0] != "orders-0" {
				return fmt.Errorf("%s holds %v", n.name, got)
			}
			return nil
		})
	}

	var list []topicSummary
	c.adminJSON(&list, "topic", "list")
	if len(list) != 1 || list[0] != (topicSummary{"orders", 6, 3}) {
		t.Fatalf("list: %+v", list)
	}

	c.admin("topic", "add-partitions", "orders", "--total", "8")
	c.admin("topic", "alter", "orders", "--config", "cleanup.policy=compact")
	c.adminJSON(&topic, "topic", "describe", "orders")
	if len(topic.Partitions) != 8 || topic.Configs["cleanup.policy"] != "compact" || topic.Configs["retention.ms"] != "3600000" {
		t.Fatalf("after add-partitions and alter: %+v", topic)
	}

	var cl clusterInfo
	c.adminJSON(&cl, "cluster", "describe")
	if len(cl.StorageNodes) != 3 || len(cl.Controllers) != 1 || !cl.Controllers[0].Active || len(cl.Gateways) != 1 {
		t.Fatalf("cluster: %+v", cl)
	}
	for _, n := range cl.StorageNodes {
		if n.State != "alive" || n.Replicas != 8 {
			t.Errorf("storage node %+v", n)
		}
	}

	c.admin("topic", "delete", "orders")
	c.adminJSON(&list, "topic", "list")
	if len(list) != 0 {
		t.Fatalf("list after delete: %+v", list)
	}
	for _, n := range c.storage {
		testutil.WaitFor(t, 10*time.Second, func() error {
			got, err := replicasOn(t, n)
			if err != nil {
				return err
			}
			if len(got) != 0 {
				return fmt.Errorf("%s still holds %v", n.name, got)
			}
			entries, _ := filepath.Glob(filepath.Join(n.dataDir, "orders-*"))
			if len(entries) != 0 {
				return fmt.Errorf("%s still has dirs %v", n.name, entries)
			}
			return nil
		})
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 2})
	c.admin("topic", "create", "exists", "--partitions", "1", "--replication-factor", "1")

	cases := []struct {
		args []string
		want string
	}{
		{[]string{"topic", "create", "bad name"}, "illegal character"},
		{[]string{"topic", "create", ".."}, `cannot be ".."`},
		{[]string{"topic", "create", strings.Repeat("x", 250)}, "limit of 249"},
		{[]string{"topic", "create", "t", "--partitions", "0"}, "between 1 and 10000"},
		{[]string{"topic", "create", "t", "--partitions", "1000000000"}, "between 1 and 10000"},
		{[]string{"topic", "create", "t", "--replication-factor", "3"}, "replication factor 3 is larger than the 2 live storage nodes"},
		{[]string{"topic", "create", "t", "--config", "retention.mss=1"}, `unknown config "retention.mss"`},
		{[]string{"topic", "create", "t", "--config", "min.insync.replicas=zero"}, "min.insync.replicas"},
		{[]string{"topic", "create", "exists"}, "already exists"},
		{[]string{"topic", "describe", "missing"}, "not found"},
		{[]string{"topic", "delete", "missing"}, "not found"},
		{[]string{"topic", "add-partitions", "exists", "--total", "1"}, "only grow"},
		{[]string{"topic", "alter", "exists", "--config", "retention.ms=soon"}, "retention.ms"},
		{[]string{"topic", "alter", "exists", "--config", "no.such.key=1"}, "unknown config"},
	}
	for _, tc := range cases {
		msg := c.adminFails(tc.args...)
		if !strings.Contains(msg, tc.want) {
			t.Errorf("strata %v: error %q does not say %q", tc.args, msg, tc.want)
		}
	}

	var list []topicSummary
	c.adminJSON(&list, "topic", "list")
	if len(list) != 1 || list[0] != (topicSummary{"exists", 1, 1}) {
		t.Fatalf("bad requests changed the topics: %+v", list)
	}
	var topic topicInfo
	c.adminJSON(&topic, "topic", "describe", "exists")
	if len(topic.Configs) != 0 || len(topic.Partitions) != 1 {
		t.Fatalf("bad requests changed the topic: %+v", topic)
	}
}

func TestDefaultTopicConfigsApplyToNewTopics(t *testing.T) {
	dir := t.TempDir()
	grpcAddr := testutil.FreeAddr(t)
	start(t, "controller", "controller", "--name", "c1", "--data-dir", dir, "--grpc-addr", grpcAddr,
		"--http-addr", testutil.FreeAddr(t), "--etcd-peer-addr", testutil.FreeAddr(t), "--etcd-client-addr", testutil.FreeAddr(t),
		"--default-topic-config", "min.insync.replicas=2", "--default-topic-config", "retention.ms=1000")
	waitHealthy(t, grpcAddr, 60*time.Second)
	storageAddr := testutil.FreeAddr(t)
	start(t, "storage", "storage", "--data-dir", t.TempDir(), "--grpc-addr", storageAddr,
		"--http-addr", testutil.FreeAddr(t), "--controllers", grpcAddr)
	waitHealthy(t, storageAddr, 30*time.Second)
	// The controller serves the admin API too, so no gateway is needed here.
	mustCLI(t, "topic", "create", "a", "--config", "retention.ms=5", "--server", grpcAddr)
	var topic topicInfo
	cliJSON(t, &topic, "topic", "describe", "a", "--server", grpcAddr)
	if topic.Configs["min.insync.replicas"] != "2" || topic.Configs["retention.ms"] != "5" {
		t.Fatalf("configs %v: want the cluster default min.insync.replicas=2 and the topic's own retention.ms=5", topic.Configs)
	}
	_, errOut, code := cli(t, "controller", "--default-topic-config", "min.insync.replicas=0", "--data-dir", t.TempDir())
	if code == 0 || !strings.Contains(errOut, "default-topic-config") {
		t.Fatalf("a bad default config was accepted: %q", errOut)
	}
}
