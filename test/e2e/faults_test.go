package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testutil"
)

func nodeState(t *testing.T, c *cluster, id int32) (string, error) {
	var cl clusterInfo
	out, errOut, code := cli(t, "cluster", "describe", "--output", "json", "--server", c.gateway.grpc)
	if code != 0 {
		return "", fmt.Errorf("cluster describe: %s", errOut)
	}
	if err := jsonUnmarshal(out, &cl); err != nil {
		return "", err
	}
	for _, n := range cl.StorageNodes {
		if n.ID == id {
			return n.State, nil
		}
	}
	return "", fmt.Errorf("node %d not listed: %+v", id, cl.StorageNodes)
}

func TestStorageNodeKilledIsDeadThenAliveWithSameID(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3, leaseTTL: "2s"})
	victim := c.storage[1]
	var cl clusterInfo
	c.adminJSON(&cl, "cluster", "describe")
	if len(cl.StorageNodes) != 3 {
		t.Fatalf("cluster: %+v", cl)
	}
	// Node ids follow registration order; find the victim's by address.
	var id int32
	for _, n := range cl.StorageNodes {
		if n.Address == victim.grpc {
			id = n.ID
		}
	}
	if id == 0 {
		t.Fatalf("no node at %s in %+v", victim.grpc, cl.StorageNodes)
	}

	victim.kill()
	killed := time.Now()
	testutil.WaitFor(t, 15*time.Second, func() error {
		st, err := nodeState(t, c, id)
		if err == nil && st != "dead" {
			err = fmt.Errorf("node %d is %s", id, st)
		}
		return err
	})
	t.Logf("node %d seen dead %s after SIGKILL", id, time.Since(killed).Round(time.Millisecond))

	victim.restart(t)
	testutil.WaitFor(t, 15*time.Second, func() error {
		st, err := nodeState(t, c, id)
		if err == nil && st != "alive" {
			err = fmt.Errorf("node %d is %s", id, st)
		}
		return err
	})
	c.adminJSON(&cl, "cluster", "describe")
	if len(cl.StorageNodes) != 3 {
		t.Fatalf("restart registered a new node instead of reusing id %d: %+v", id, cl.StorageNodes)
	}
}

func TestActiveControllerKilledAnotherTakesOver(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 3, storage: 3})
	c.admin("topic", "create", "before", "--partitions", "3", "--replication-factor", "3")

	var cl clusterInfo
	c.adminJSON(&cl, "cluster", "describe")
	active := ""
	for _, ctrl := range cl.Controllers {
		if ctrl.Active {
			active = ctrl.ID
		}
	}
	if len(cl.Controllers) != 3 || active == "" {
		t.Fatalf("controllers: %+v", cl.Controllers)
	}
	var victim *node
	for _, n := range c.controllers {
		if n.name == active {
			victim = n
		}
	}
	victim.signal(syscall.SIGKILL)
	killed := time.Now()

	testutil.WaitFor(t, 15*time.Second, func() error {
		out, errOut, code := cli(t, "cluster", "describe", "--output", "json", "--server", c.gateway.grpc, "--timeout", "3s")
		if code != 0 {
			return fmt.Errorf("%s", errOut)
		}
		var now clusterInfo
		if err := jsonUnmarshal(out, &now); err != nil {
			return err
		}
		for _, ctrl := range now.Controllers {
			if ctrl.Active && ctrl.ID != active {
				return nil
			}
		}
		return fmt.Errorf("no new active controller yet: %+v", now.Controllers)
	})
	t.Logf("new active controller %s after SIGKILL", time.Since(killed).Round(time.Millisecond))

	// Metadata survived, and writes work again through the new controller.
	var topic topicInfo
	c.adminJSON(&topic, "topic", "describe", "before")
	if len(topic.Partitions) != 3 {
		t.Fatalf("topic after failover: %+v", topic)
	}
	c.admin("topic", "create", "after", "--partitions", "2", "--replication-factor", "3")
	var list []topicSummary
	c.adminJSON(&list, "topic", "list")
	if len(list) != 2 || list[0].Name != "after" || list[1].Name != "before" {
		t.Fatalf("topics after failover: %+v", list)
	}
	if !strings.Contains(victim.output(), "now active") {
		t.Errorf("killed controller %s never logged becoming active", active)
	}
}
