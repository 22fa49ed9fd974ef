//go:build compose

package compose

import (
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testutil"
)

// TestComposeClusterFailover: the default cluster comes up healthy (3
// controllers, 3 storage nodes, 2 gateways), a Kafka client on the host
// sees both gateways and reads through one what it wrote through the
// other, node ids survive `restart`, and the active controller's kill
// fails over.
func TestComposeClusterFailover(t *testing.T) {
	e := startCluster(t)
	e.waitHealthy(8, 30*time.Second)

	if out, errOut, code := e.cli("topic", "create", "orders", "--partitions", "6", "--replication-factor", "3"); code != 0 {
		t.Fatalf("topic create: exit %d: %s%s", code, out, errOut)
	}
	var topic topicInfo
	if err := e.cliJSON(&topic, "topic", "describe", "orders"); err != nil {
		t.Fatal(err)
	}
	if len(topic.Partitions) != 6 || topic.ReplicationFactor != 3 {
		t.Fatalf("topic: %+v", topic)
	}
	leaders := map[int32]bool{}
	for _, p := range topic.Partitions {
		if len(p.Replicas) != 3 || len(p.ISR) != 3 {
			t.Errorf("partition %d: replicas %v isr %v, want 3 each", p.Partition, p.Replicas, p.ISR)
		}
		distinct := map[int32]bool{}
		for _, r := range p.Replicas {
			distinct[r] = true
		}
		if len(distinct) != 3 {
			t.Errorf("partition %d: replicas %v are not on 3 distinct nodes", p.Partition, p.Replicas)
		}
		leaders[p.Leader] = true
	}
	if len(leaders) != 3 {
		t.Errorf("leaders on %d nodes, want all 3: %+v", len(leaders), topic.Partitions)
	}
	if topic.Configs["min.insync.replicas"] != "2" {
		t.Errorf("configs %v: the compose controllers stamp min.insync.replicas=2 on new topics", topic.Configs)
	}

	// A Kafka client on the host sees both gateways as brokers, produces
	// (acks=all) through gateway 1 and consumes through gateway 2.
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Log("kcat not installed (apt-get install kcat); skipping the Kafka round trip")
	} else {
		meta := e.must("kcat", "-b", "localhost:"+e.kafka[0], "-L")
		for _, k := range e.kafka {
			if !strings.Contains(meta, "at localhost:"+k) {
				t.Fatalf("kcat -L does not list the gateway on localhost:%s:\n%s", k, meta)
			}
		}
		produce := exec.Command("kcat", "-b", "localhost:"+e.kafka[0], "-t", "orders", "-P", "-z", "zstd", "-X", "acks=all")
		produce.Stdin = strings.NewReader("one\ntwo\nthree\n")
		if out, err := produce.CombinedOutput(); err != nil {
			t.Fatalf("kcat produce: %v: %s", err, out)
		}
		out := e.must("kcat", "-b", "localhost:"+e.kafka[1], "-t", "orders", "-C", "-o", "beginning", "-e", "-q")
		got := strings.Fields(out)
		sort.Strings(got)
		if strings.Join(got, ",") != "one,three,two" {
			t.Fatalf("kcat consumed %q", out)
		}
	}

	var cl clusterInfo
	if err := e.cliJSON(&cl, "cluster", "describe"); err != nil {
		t.Fatal(err)
	}
	active := cl.active()
	if len(cl.Controllers) != 3 || len(active) != 1 {
		t.Fatalf("want 3 controllers with exactly one active: %+v", cl.Controllers)
	}
	ids := map[int32]string{}
	for _, n := range cl.StorageNodes {
		if n.State != "alive" {
			t.Errorf("storage node %+v: want alive", n)
		}
		ids[n.ID] = n.Address
	}
	if len(cl.StorageNodes) != 3 {
		t.Fatalf("want 3 alive storage nodes: %+v", cl.StorageNodes)
	}
	var gws []string
	for _, g := range cl.Gateways {
		gws = append(gws, g.GRPCAddress+" "+g.KafkaAddress)
	}
	sort.Strings(gws)
	want := []string{"localhost:" + e.grpc[0] + " localhost:" + e.kafka[0], "localhost:" + e.grpc[1] + " localhost:" + e.kafka[1]}
	sort.Strings(want)
	if strings.Join(gws, ",") != strings.Join(want, ",") {
		t.Errorf("gateways advertise %v, want %v", gws, want)
	}

	// `restart` keeps every node id: the id lives in each container's
	// volume (addresses may change).
	e.dc("restart", "-t", "5")
	testutil.WaitFor(t, 90*time.Second, func() error {
		var now clusterInfo
		if err := e.cliJSON(&now, "cluster", "describe"); err != nil {
			return err
		}
		got := map[int32]bool{}
		for _, n := range now.StorageNodes {
			if n.State == "alive" {
				got[n.ID] = true
			}
		}
		for id := range ids {
			if !got[id] {
				return fmt.Errorf("node %d not alive after restart: %+v", id, now.StorageNodes)
			}
		}
		if len(now.StorageNodes) != len(ids) {
			return fmt.Errorf("restart made new nodes: %+v", now.StorageNodes)
		}
		if a := now.active(); len(a) != 1 {
			return fmt.Errorf("active controllers %v", a)
		}
		return nil
	})
	// Addresses move between nodes on restart: every follower must find
	// its leader at the new address and every ISR fill up again (cluster
	// health dials with STRATA_TLS_CA too).
	if out, errOut, code := e.run(nil, e.strata, "cluster", "health", "--exit-when-healthy", "--timeout", "60s", "--server", e.server); code != 0 {
		t.Fatalf("cluster health after restart: exit %d\n%s%s", code, out, errOut)
	}
	if err := e.cliJSON(&cl, "cluster", "describe"); err != nil {
		t.Fatal(err)
	}
	active = cl.active()

	// Kill the active controller's container (SIGKILL, no clean hand-off).
	victim := active[0]
	container := strings.TrimSpace(e.dc("ps", "-q", victim))
	if container == "" {
		t.Fatalf("no container for controller %s", victim)
	}
	e.must("docker", "kill", container)
	killed := time.Now()
	t.Logf("killed active controller %s (container %.12s)", victim, container)

	testutil.WaitFor(t, 20*time.Second, func() error {
		var now clusterInfo
		if err := e.cliJSON(&now, "cluster", "describe"); err != nil {
			return err
		}
		if a := now.active(); len(a) != 1 || a[0] == victim {
			return fmt.Errorf("active controllers %v (killed %s)", a, victim)
		}
		var after topicInfo
		if err := e.cliJSON(&after, "topic", "describe", "orders"); err != nil {
			return err
		}
		if len(after.Partitions) != 6 {
			return fmt.Errorf("topic after failover: %+v", after)
		}
		return nil
	})
	t.Logf("another controller active and topic described %s after docker kill", time.Since(killed).Round(time.Millisecond))

	// Writes go through the new active controller.
	if out, errOut, code := e.cli("topic", "create", "after-failover", "--partitions", "3", "--replication-factor", "3"); code != 0 {
		t.Fatalf("topic create after failover: exit %d: %s%s", code, out, errOut)
	}
}
