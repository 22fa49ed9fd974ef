package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/testutil"
)

// diskInfo is the disk part of a storage node in cluster describe --output json.
type diskInfo struct {
	StorageNodes []struct {
		ID               int32  `json:"id"`
		LogDir           string `json:"log_dir"`
		LogDirFreeBytes  uint64 `json:"log_dir_free_bytes"`
		LogDirTotalBytes uint64 `json:"log_dir_total_bytes"`
		PartitionBytes   uint64 `json:"partition_bytes"`
		LowDiskSpace     bool   `json:"low_disk_space"`
	} `json:"storage_nodes"`
}

// flagValue is the value following name in args.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// metricValue is the value of the series name{labels} on a /metrics page;
// ok is false when the page lacks it.
func metricValue(page, name, labels string) (v float64, ok bool) {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name+"{"+labels+"}") + ` (\S+)$`).FindStringSubmatch(page)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

func metricsPage(t *testing.T, n *node) string {
	t.Helper()
	resp, err := http.Get("http://" + flagValue(n.args, "--http-addr") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDiskUsageVisible checks the disk metrics of storage nodes and the disk
// columns of cluster describe. As root, a third node's data dir is a small
// tmpfs, so its sizes are known and it is below the warning threshold.
func TestDiskUsageVisible(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 2})
	var small *node
	if os.Geteuid() != 0 {
		t.Log("not root: no tmpfs node, so the low-disk marker is not checked")
	} else {
		dir := filepath.Join(c.dir, "storage-3") // addStorage's next data dir
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", dir).CombinedOutput(); err != nil {
			t.Logf("cannot mount a tmpfs (%v: %s): no tmpfs node", err, out)
		} else {
			// Registered before the node starts, so it runs once the node is gone.
			t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
			small = c.addStorage()
			waitHealthy(t, small.grpc, 30*time.Second)
		}
	}

	c.admin("topic", "create", "disk", "--partitions", "2", "--replication-factor", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for p := int32(0); p < 2; p++ {
		leader, _, _ := leaderClient(t, c, "disk", p)
		testutil.WaitFor(t, 10*time.Second, func() error {
			res, err := produce(ctx, leader, "disk", p, batchOf(t, codec.None, "v", 20, 1000))
			if err == nil && res.GetError() != nil {
				err = fmt.Errorf("%v", res.GetError())
			}
			return err
		})
	}

	// Every node reports its log dir; the leaders of the two partitions
	// report their sizes.
	partitionSeries := func(page string) (n int) {
		for p := 0; p < 2; p++ {
			if v, ok := metricValue(page, "strata_storage_partition_size_bytes", fmt.Sprintf(`partition="%d",topic="disk"`, p)); ok && v > 0 {
				n++
			}
		}
		return n
	}
	testutil.WaitFor(t, 20*time.Second, func() error {
		series := 0
		for _, n := range c.storage {
			page := metricsPage(t, n)
			dir := `dir="` + n.dataDir + `"`
			free, ok1 := metricValue(page, "strata_storage_log_dir_free_bytes", dir)
			total, ok2 := metricValue(page, "strata_storage_log_dir_total_bytes", dir)
			if !ok1 || !ok2 || free <= 0 || total < free {
				return fmt.Errorf("%s: log dir metrics free %v total %v", n.name, free, total)
			}
			if n == small && total != 64<<20 {
				t.Fatalf("tmpfs node reports total %v bytes, want %d", total, 64<<20)
			}
			series += partitionSeries(page)
		}
		if series != 2 {
			return fmt.Errorf("%d partition size series, want 2", series)
		}
		return nil
	})

	var d diskInfo
	c.adminJSON(&d, "cluster", "describe")
	if len(d.StorageNodes) != len(c.storage) {
		t.Fatalf("describe lists %d storage nodes, want %d", len(d.StorageNodes), len(c.storage))
	}
	var partitionBytes uint64
	for _, sn := range d.StorageNodes {
		if sn.LogDir == "" || sn.LogDirFreeBytes == 0 || sn.LogDirTotalBytes < sn.LogDirFreeBytes {
			t.Errorf("node %d: describe disk %+v", sn.ID, sn)
		}
		if small != nil && sn.LogDir == small.dataDir {
			if sn.LogDirTotalBytes != 64<<20 || !sn.LowDiskSpace {
				t.Errorf("tmpfs node %d: %+v, want 64 MiB total and the low-space marker", sn.ID, sn)
			}
		}
		partitionBytes += sn.PartitionBytes
	}
	if partitionBytes == 0 {
		t.Errorf("describe reports no partition bytes: %+v", d)
	}
	if out := c.admin("cluster", "describe"); !strings.Contains(out, "FREE / TOTAL") || (small != nil && !strings.Contains(out, " LOW")) {
		t.Errorf("cluster describe table lacks the disk columns:\n%s", out)
	}
	if small != nil {
		testutil.WaitFor(t, 5*time.Second, func() error {
			if !strings.Contains(small.output(), "log dir is low on disk space") {
				return fmt.Errorf("no low-space warning in the tmpfs node's log")
			}
			return nil
		})
	}

	// Deleting the topic removes its partition series.
	c.admin("topic", "delete", "disk")
	testutil.WaitFor(t, 20*time.Second, func() error {
		for _, n := range c.storage {
			if s := partitionSeries(metricsPage(t, n)); s != 0 {
				return fmt.Errorf("%s still has %d partition size series", n.name, s)
			}
		}
		return nil
	})
}
