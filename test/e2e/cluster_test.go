package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testutil"
)

// node is one role process with its addresses.
type node struct {
	*proc
	args    []string
	grpc    string
	dataDir string
}

// restart starts the same process again (same flags, same data dir).
func (n *node) restart(t *testing.T) {
	n.proc = start(t, n.name, n.args...)
}

// cluster is a multi-process Strata cluster on loopback.
type cluster struct {
	t           *testing.T
	dir         string
	leaseTTL    string
	storageArgs []string // more storage node flags
	controllers []*node
	storage     []*node
	gateway     *node
	kafka       string // the gateway's Kafka address
	http        string // the gateway's HTTP address (REST, health, metrics)
	tlsDir      string // certificates of strata certs when every role runs TLS
}

type clusterSpec struct {
	controllers    int
	storage        int
	leaseTTL       string   // storage node and gateway lease TTL
	gatewayArgs    []string // more gateway flags
	storageArgs    []string // more storage node flags
	controllerArgs []string // more controller flags
	// tlsDir, when set, holds `strata certs` output: every role then
	// serves TLS and speaks mTLS to the others.
	tlsDir string
}

// tlsArgs are the --tls-* flags of a role using dir/name.crt.
func tlsArgs(dir, name string) []string {
	if dir == "" {
		return nil
	}
	return []string{"--tls-cert", filepath.Join(dir, name+".crt"), "--tls-key", filepath.Join(dir, name+".key"),
		"--tls-ca", filepath.Join(dir, "ca.crt")}
}

// newCluster starts controllers, storage nodes and one gateway, and waits
// until every role reports ready.
func newCluster(t *testing.T, spec clusterSpec) *cluster {
	t.Helper()
	if spec.leaseTTL == "" {
		spec.leaseTTL = "3s"
	}
	if spec.tlsDir == "" {
		spec.tlsDir = suiteTLS(t) // STRATA_E2E_TLS=1: mTLS for every suite
	}
	c := &cluster{t: t, dir: t.TempDir(), leaseTTL: spec.leaseTTL, storageArgs: spec.storageArgs, tlsDir: spec.tlsDir}
	scheme := "http://"
	if spec.tlsDir != "" {
		scheme = "https://"
	}
	type ctrlAddrs struct{ name, grpc, http, peer, client string }
	addrs := make([]ctrlAddrs, spec.controllers)
	var initial []string
	for i := range addrs {
		a := ctrlAddrs{fmt.Sprintf("c%d", i+1), testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)}
		addrs[i] = a
		initial = append(initial, a.name+"="+scheme+a.peer)
	}
	for _, a := range addrs {
		dataDir := filepath.Join(c.dir, a.name)
		args := []string{"controller", "--name", a.name, "--data-dir", dataDir,
			"--grpc-addr", a.grpc, "--http-addr", a.http, "--etcd-peer-addr", a.peer, "--etcd-client-addr", a.client,
			"--etcd-initial-cluster", strings.Join(initial, ","), "--member-lease-ttl", spec.leaseTTL, "--election-ttl", "2s",
			"--group-initial-rebalance-delay", "500ms"}
		args = append(args, tlsArgs(spec.tlsDir, "controller")...)
		args = append(args, spec.controllerArgs...)
		n := &node{args: args, grpc: a.grpc, dataDir: dataDir}
		markTLS(spec.tlsDir, a.grpc)
		n.proc = start(t, a.name, args...)
		c.controllers = append(c.controllers, n)
	}
	for _, n := range c.controllers {
		waitHealthy(t, n.grpc, 60*time.Second)
	}
	for i := 0; i < spec.storage; i++ {
		c.addStorage()
	}
	for _, n := range c.storage {
		waitHealthy(t, n.grpc, 30*time.Second)
	}
	gw := testutil.FreeAddr(t)
	c.kafka, c.http = testutil.FreeAddr(t), testutil.FreeAddr(t)
	args := []string{"gateway", "--grpc-addr", gw, "--http-addr", c.http, "--kafka-addr", c.kafka,
		"--advertise-kafka", c.kafka, "--controllers", c.controllerAddrs()}
	args = append(args, tlsArgs(spec.tlsDir, "gateway")...)
	args = append(args, spec.gatewayArgs...)
	c.gateway = &node{args: args, grpc: gw}
	markTLS(spec.tlsDir, gw)
	c.gateway.proc = start(t, "gateway", args...)
	waitHealthy(t, gw, 30*time.Second)
	return c
}

func (c *cluster) controllerAddrs() string {
	var out []string
	for _, n := range c.controllers {
		out = append(out, n.grpc)
	}
	return strings.Join(out, ",")
}

// storageOpt changes how addStorage starts a node.
type storageOpt func(*storageOpts)

type storageOpts struct {
	dataDir string
}

// withDataDir starts the node on a data dir the test prepared (a small
// tmpfs, say) instead of a fresh one under the cluster's directory.
func withDataDir(dir string) storageOpt {
	return func(o *storageOpts) { o.dataDir = dir }
}

// addStorage starts one more storage node, with a fresh data dir unless an
// option names one.
func (c *cluster) addStorage(opts ...storageOpt) *node {
	i := len(c.storage) + 1
	o := storageOpts{dataDir: filepath.Join(c.dir, fmt.Sprintf("storage-%d", i))}
	for _, opt := range opts {
		opt(&o)
	}
	dataDir := o.dataDir
	grpc := testutil.FreeAddr(c.t)
	args := []string{"storage", "--data-dir", dataDir, "--grpc-addr", grpc, "--http-addr", testutil.FreeAddr(c.t),
		"--controllers", c.controllerAddrs(), "--replica-lag-time-max", "2s"}
	args = append(args, tlsArgs(c.tlsDir, fmt.Sprintf("storage-%d", i))...)
	args = append(args, c.storageArgs...)
	n := &node{args: args, grpc: grpc, dataDir: dataDir}
	markTLS(c.tlsDir, grpc)
	n.proc = start(c.t, fmt.Sprintf("storage-%d", i), args...)
	c.storage = append(c.storage, n)
	return n
}

// admin runs an admin CLI command against the gateway.
func (c *cluster) admin(args ...string) string {
	c.t.Helper()
	return mustCLI(c.t, append(args, "--server", c.gateway.grpc)...)
}

func (c *cluster) adminJSON(v any, args ...string) {
	c.t.Helper()
	cliJSON(c.t, v, append(args, "--server", c.gateway.grpc)...)
}

// adminFails runs an admin command that must fail, and returns its one-line error.
func (c *cluster) adminFails(args ...string) string {
	c.t.Helper()
	out, errOut, code := cli(c.t, append(args, "--server", c.gateway.grpc)...)
	if code == 0 {
		c.t.Fatalf("strata %v succeeded, want failure; output %q", args, out)
	}
	if lines := strings.Count(strings.TrimSpace(errOut), "\n") + 1; lines != 1 {
		c.t.Errorf("strata %v: error is %d lines, want 1: %q", args, lines, errOut)
	}
	return errOut
}

// JSON shapes of the CLI's --output json.
type topicSummary struct {
	Name              string `json:"name"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
}

type partitionInfo struct {
	Partition   int32   `json:"partition"`
	Leader      int32   `json:"leader"`
	LeaderEpoch int32   `json:"leader_epoch"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
}

type topicInfo struct {
	Name       string            `json:"name"`
	Partitions []partitionInfo   `json:"partitions"`
	Configs    map[string]string `json:"configs"`
}

type clusterInfo struct {
	Controllers []struct {
		ID      string `json:"id"`
		Address string `json:"address"`
		Active  bool   `json:"active"`
	} `json:"controllers"`
	StorageNodes []struct {
		ID       int32  `json:"id"`
		Address  string `json:"address"`
		Rack     string `json:"rack"`
		State    string `json:"state"`
		Replicas int    `json:"replicas"`
		Leaders  int    `json:"leaders"`
	} `json:"storage_nodes"`
	Gateways []struct {
		ID           int32  `json:"id"`
		KafkaAddress string `json:"kafka_address"`
		GRPCAddress  string `json:"grpc_address"`
	} `json:"gateways"`
}
