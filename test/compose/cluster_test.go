//go:build compose

// Package compose tests the Docker Compose deployment in deploy/compose:
// a smoke test (TestComposeClusterFailover) and a fault suite
// (TestComposeFaults). Each builds the image, starts the cluster under its
// own project name, free loopback ports and its own subnet, and drives it
// from the host with the strata CLI, Kafka (franz-go) and gRPC (clients/go)
// clients.
//
// It needs Docker with compose (v2 plugin or v1 docker-compose) and runs only
// with the build tag: `make test-compose`, `make test-faults-compose` or
// `go test -tags compose ./test/compose/ -count=1 -v`.
package compose

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
		ID       int32  `json:"id"`
		Address  string `json:"address"`
		Rack     string `json:"rack"`
		State    string `json:"state"`
		Replicas int    `json:"replicas"`
	} `json:"storage_nodes"`
	Gateways []struct {
		ID           int32  `json:"id"`
		GRPCAddress  string `json:"grpc_address"`
		KafkaAddress string `json:"kafka_address"`
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
	project string   // compose project name
	compose []string // compose command with project and file
	environ []string // STRATA_*_PORT for compose
	strata  string   // CLI built for the host
	server  string   // gateway gRPC address on the host the CLI uses
	// gateway1 and gateway2's host ports.
	grpc, kafka [2]string
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

// testSubnet is the compose network of the test clusters: inside the range
// make compose-certs' storage certificate covers (172.28.0.0/23), beside a
// default cluster's 172.28.0.0/24.
const testSubnet = "172.28.1.0/24"

// startCluster builds the image and the CLI, starts a compose cluster
// under its own project and waits until the gateways are ready. Cleanup
// takes it down with its volumes (logs first when the test failed).
func startCluster(t *testing.T) *env {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	project := "strata-test-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	e := &env{t: t, root: root, project: project, strata: filepath.Join(t.TempDir(), "strata")}
	for i := range 2 {
		e.grpc[i], e.kafka[i] = freePort(t), freePort(t)
	}
	e.compose = append(composeCommand(t), "-p", project, "-f", filepath.Join(root, "deploy/compose/docker-compose.yml"))
	// The gateways serve TLS with the certificates of make compose-certs.
	e.environ = []string{"STRATA_GRPC_PORT=" + e.grpc[0], "STRATA_HTTP_PORT=" + freePort(t), "STRATA_KAFKA_PORT=" + e.kafka[0],
		"STRATA_GRPC_PORT2=" + e.grpc[1], "STRATA_HTTP_PORT2=" + freePort(t), "STRATA_KAFKA_PORT2=" + e.kafka[1],
		"STRATA_SUBNET=" + testSubnet, "STRATA_TLS_CA=" + filepath.Join(root, "deploy/compose/certs/ca.crt")}
	e.server = "127.0.0.1:" + e.grpc[0]
	t.Logf("project %s, gateway gRPC on %s and 127.0.0.1:%s", project, e.server, e.grpc[1])

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
		// Paused containers would hold down up.
		for _, id := range strings.Fields(e.dcQuiet("ps", "-q")) {
			_, _, _ = e.run(nil, "docker", "unpause", id)
		}
		if out, errOut, code := e.run(nil, e.compose[0], e.composeArgs("down", "-v", "--remove-orphans", "-t", "5")...); code != 0 {
			t.Errorf("compose down: exit %d\n%s%s", code, out, errOut)
		}
	})
	start = time.Now()
	e.dc("up", "-d")
	// The gateways start only after every controller and storage node is
	// healthy, and are ready only once registered and synced.
	for i := range 2 {
		testutil.WaitFor(t, 120*time.Second, func() error {
			if _, errOut, code := e.run(nil, e.strata, "health", "--addr", "127.0.0.1:"+e.grpc[i], "--timeout", "2s"); code != 0 {
				return fmt.Errorf("gateway%d not ready: %s", i+1, strings.TrimSpace(errOut))
			}
			return nil
		})
	}
	t.Logf("cluster healthy %s after `up -d`", time.Since(start).Round(time.Millisecond))
	return e
}

// dcQuiet runs a compose command whose failure does not matter.
func (e *env) dcQuiet(args ...string) string {
	out, _, _ := e.run(nil, e.compose[0], e.composeArgs(args...)...)
	return out
}

// waitHealthy waits until every container of the project reports healthy
// to Docker.
func (e *env) waitHealthy(want int, within time.Duration) {
	e.t.Helper()
	testutil.WaitFor(e.t, within, func() error {
		ids := strings.Fields(e.dcQuiet("ps", "-q"))
		if len(ids) != want {
			return fmt.Errorf("want %d containers, got %d", want, len(ids))
		}
		out, errOut, code := e.run(nil, "docker", append([]string{"inspect", "-f", "{{.Name}} {{.State.Health.Status}}"}, ids...)...)
		if code != 0 {
			return fmt.Errorf("docker inspect: %s", errOut)
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasSuffix(line, " healthy") {
				return fmt.Errorf("not healthy: %s", line)
			}
		}
		return nil
	})
}
