//go:build compose

// Package compose is a smoke test of the Docker Compose deployment in
// deploy/compose: it builds the image, starts the cluster under its own
// project name and free loopback ports, drives it with the strata CLI from
// the host, kills the active controller's container and checks failover.
//
// It needs Docker with compose (v2 plugin or v1 docker-compose) and runs only
// with the build tag: `make test-compose` or
// `go test -tags compose ./test/compose/ -count=1 -v`.
package compose

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testutil"
)

type topicInfo struct {
	Name              string            `json:"name"`
	ReplicationFactor int               `json:"replication_factor"`
	Configs           map[string]string `json:"configs"`
	Partitions        []struct {
		Partition int     `json:"partition"`
		Leader    int32   `json:"leader"`
		Replicas  []int32 `json:"replicas"`
		ISR       []int32 `json:"isr"`
	} `json:"partitions"`
}

type clusterInfo struct {
	Controllers []struct {
		ID      string `json:"id"`
		Address string `json:"address"`
		Active  bool   `json:"active"`
	} `json:"controllers"`
	StorageNodes []struct {
		ID    int32  `json:"id"`
		Rack  string `json:"rack"`
		State string `json:"state"`
	} `json:"storage_nodes"`
	Gateways []struct {
		ID          int32  `json:"id"`
		GRPCAddress string `json:"grpc_address"`
	} `json:"gateways"`
}

func (c clusterInfo) active() []string {
	var ids []string
	for _, ctrl := range c.Controllers {
		if ctrl.Active {
			ids = append(ids, ctrl.ID)
		}
	}
	return ids
}

// env is the compose cluster under test.
type env struct {
	t       *testing.T
	root    string   // repository root
	compose []string // compose command with project and file
	environ []string // STRATA_*_PORT for compose
	strata  string   // CLI built for the host
	server  string   // gateway gRPC address on the host
}

// run runs name args... in the repository root and returns stdout, stderr
// and the exit code.
func (e *env) run(extraEnv []string, name string, args ...string) (string, string, int) {
	e.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = e.root
	cmd.Env = append(append(os.Environ(), e.environ...), extraEnv...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if errOut.Len() == 0 {
			errOut.WriteString(err.Error())
		}
	}
	return out.String(), errOut.String(), code
}

// must runs a command that has to succeed.
func (e *env) must(name string, args ...string) string {
	e.t.Helper()
	out, errOut, code := e.run(nil, name, args...)
	if code != 0 {
		e.t.Fatalf("%s %s: exit %d\n%s%s", name, strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func (e *env) composeArgs(args ...string) []string {
	return append(append([]string{}, e.compose[1:]...), args...)
}

func (e *env) dc(args ...string) string {
	e.t.Helper()
	return e.must(e.compose[0], e.composeArgs(args...)...)
}

// cli runs the strata CLI against the gateway.
func (e *env) cli(args ...string) (string, string, int) {
	e.t.Helper()
	return e.run(nil, e.strata, append(args, "--server", e.server, "--timeout", "5s")...)
}

func (e *env) cliJSON(v any, args ...string) error {
	e.t.Helper()
	out, errOut, code := e.cli(append(args, "-o", "json")...)
	if code != 0 {
		return fmt.Errorf("strata %s: exit %d: %s", strings.Join(args, " "), code, strings.TrimSpace(errOut))
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("strata %s: %v in %q", strings.Join(args, " "), err, out)
	}
	return nil
}

// composeCommand is `docker compose` when the v2 plugin is installed, else
// v1 `docker-compose`.
func composeCommand(t *testing.T) []string {
	if err := exec.Command("docker", "compose", "version").Run(); err == nil {
		return []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	t.Fatal("neither `docker compose` nor `docker-compose` is available")
	return nil
}

func freePort(t *testing.T) string {
	_, port, _ := strings.Cut(testutil.FreeAddr(t), ":")
	return port
}

func TestComposeClusterFailover(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	project := "strata-smoke-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	grpcPort, kafkaPort := freePort(t), freePort(t)
	e := &env{
		t:    t,
		root: root,
		compose: append(composeCommand(t), "-p", project,
			"-f", filepath.Join(root, "deploy/compose/docker-compose.yml")),
		// The gateway serves TLS with the certificates of make compose-certs.
		environ: []string{"STRATA_GRPC_PORT=" + grpcPort, "STRATA_HTTP_PORT=" + freePort(t), "STRATA_KAFKA_PORT=" + kafkaPort,
			"STRATA_TLS_CA=" + filepath.Join(root, "deploy/compose/certs/ca.crt")},
		strata: filepath.Join(t.TempDir(), "strata"),
		server: "127.0.0.1:" + grpcPort,
	}
	t.Logf("project %s, gateway gRPC on %s", project, e.server)

	start := time.Now()
	e.must("make", "compose-certs") // builds the image too
	e.must("go", "build", "-o", e.strata, "./cmd/strata")
	t.Logf("image and CLI built in %s", time.Since(start).Round(time.Millisecond))

	t.Cleanup(func() {
		if t.Failed() {
			out, errOut, _ := e.run(nil, e.compose[0], e.composeArgs("ps")...)
			t.Logf("compose ps:\n%s%s", out, errOut)
			out, errOut, _ = e.run(nil, e.compose[0], e.composeArgs("logs", "--no-color", "--tail", "40")...)
			t.Logf("compose logs:\n%s%s", out, errOut)
		}
		if out, errOut, code := e.run(nil, e.compose[0], e.composeArgs("--profile", "storage4", "down", "-v", "--remove-orphans", "-t", "5")...); code != 0 {
			t.Errorf("compose down: exit %d\n%s%s", code, out, errOut)
		}
	})
	start = time.Now()
	e.dc("up", "-d")
	// The gateway is started only after every controller and storage node is
	// healthy, and is ready itself only once registered and synced.
	testutil.WaitFor(t, 120*time.Second, func() error {
		if _, errOut, code := e.run(nil, e.strata, "health", "--addr", e.server, "--timeout", "2s"); code != 0 {
			return fmt.Errorf("gateway not ready: %s", strings.TrimSpace(errOut))
		}
		return nil
	})
	t.Logf("cluster healthy %s after `up -d`", time.Since(start).Round(time.Millisecond))

	// Every container reports healthy to Docker too.
	ids := strings.Fields(e.dc("ps", "-q"))
	if len(ids) != 7 {
		t.Fatalf("want 7 containers, got %d: %v", len(ids), ids)
	}
	testutil.WaitFor(t, 30*time.Second, func() error {
		out := e.must("docker", append([]string{"inspect", "-f", "{{.Name}} {{.State.Health.Status}}"}, ids...)...)
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasSuffix(line, " healthy") {
				return fmt.Errorf("not healthy: %s", line)
			}
		}
		return nil
	})

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

	// A Kafka client on the host produces (acks=all) and consumes through the
	// gateway's published Kafka port.
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Log("kcat not installed (apt-get install kcat); skipping the Kafka round trip")
	} else {
		broker := "localhost:" + kafkaPort
		produce := exec.Command("kcat", "-b", broker, "-t", "orders", "-P", "-z", "zstd", "-X", "acks=all")
		produce.Stdin = strings.NewReader("one\ntwo\nthree\n")
		if out, err := produce.CombinedOutput(); err != nil {
			t.Fatalf("kcat produce: %v: %s", err, out)
		}
		out := e.must("kcat", "-b", broker, "-t", "orders", "-C", "-o", "beginning", "-e", "-q")
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
	racks := map[string]bool{}
	for _, n := range cl.StorageNodes {
		if n.State != "alive" || n.Rack == "" {
			t.Errorf("storage node %+v: want alive with a rack", n)
		}
		racks[n.Rack] = true
	}
	if len(cl.StorageNodes) != 3 || len(racks) != 3 {
		t.Fatalf("want 3 alive storage nodes on 3 racks: %+v", cl.StorageNodes)
	}
	if len(cl.Gateways) != 1 || cl.Gateways[0].GRPCAddress != "localhost:"+grpcPort {
		t.Errorf("gateways: %+v, want one advertising localhost:%s", cl.Gateways, grpcPort)
	}

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
